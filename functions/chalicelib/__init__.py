"""Thin HTTP glue between Chalice and the portal's use cases."""
