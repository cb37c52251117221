"""Helpers shared by the tests: Debian's Chromium through Playwright, the embedded AWS."""
