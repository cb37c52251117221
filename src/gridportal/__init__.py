"""The grid transparency portal's core: domain, use cases and adapters."""

__version__ = "0.1.0"
