"""What the build does after its plan is applied (发布之后): posters, compression, search.

Three steps that need the published site rather than the night's staging directory:

* **posters** (``gridportal.posters``): the A4 PDFs of the grids whose bulletin changed,
  written to the site target, whatever it is (directory or bucket);
* **pre-compression** (``local_server.write_compressed``): on a directory site, the
  ``.br`` and ``.gz`` siblings of the large text files published tonight (pages are
  compressed by the local origin when asked for), and the removal of those of deleted
  files (CloudFront compresses at the edge, so a bucket gets none);
* **search** (``gridportal.search``): on a directory site, Pagefind when a page was
  published or removed: over the whole site, or, above ``search.MAX_PAGES`` pages, over
  every bulletin and the newest case records.

A step whose tool is missing (WeasyPrint without Pango, Pagefind not installed) is
skipped with a warning; the build itself has succeeded by then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gridportal import posters, search
from gridportal.adapters.local_server import remove_compressed, write_compressed
from gridportal.domain.reference import District

logger = logging.getLogger(__name__)


def site_root(site: Any) -> Path | None:
    """The directory of a directory site target; None for a bucket."""
    root = getattr(site, "root", None)
    return Path(root) if root is not None else None


def after_publish(
    site: Any,
    district: District,
    site_url: str,
    uploaded: Sequence[str],
    deleted: Sequence[str],
    *,
    search_pages: int = search.MAX_PAGES,
) -> dict[str, float]:
    """Run the steps after a night's plan was applied; returns seconds by step.
    ``search_pages``: the most pages the search index takes (0: the site has none)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    written: list[str] = []
    if posters.enabled(site_url):
        result = posters.build_posters(site, district, site_url)
        written, deleted = result.written, [*deleted, *result.deleted]
        seconds["posters"] = time.perf_counter() - started
    elif site_url.startswith(("https://", "http://")):
        logger.warning("posters skipped: WeasyPrint cannot be loaded")

    root = site_root(site)
    if root is None:
        return seconds
    started = time.perf_counter()
    write_compressed(root, [*uploaded, *written])
    remove_compressed(root, deleted)
    seconds["compress"] = time.perf_counter() - started

    pages_moved = any(k.endswith(".html") for k in [*uploaded, *deleted])
    if search_pages <= 0:
        search.remove_index(root)
    elif pages_moved or not (root / search.INDEX_DIR).is_dir():
        if search.executable() is None:
            logger.warning("search index skipped: pagefind[extended] is not installed")
        else:
            seconds["search"] = search.refresh(root, search_pages)
    return seconds
