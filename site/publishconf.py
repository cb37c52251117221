"""Pelican settings for the published site: ``pelicanconf.py`` plus the public address.

``SITEURL`` is the absolute address of the site (no trailing slash), used in the QR
codes on the grid bulletins. It comes from the ``PORTAL_SITE_URL`` environment
variable; ``build_site(site_url=...)`` overrides it when given.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pelicanconf import *  # noqa: F403

SITEURL = os.environ.get("PORTAL_SITE_URL", "").rstrip("/")
