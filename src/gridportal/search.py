"""Site search (站内搜索): a Pagefind index over the published case records and bulletins.

Pagefind's extended build (the PyPI package ``pagefind[extended]``) segments Chinese into
words, so "垃圾清运" or "柳翠井巷" finds the records that say so; the index is static files
under ``/pagefind/`` that the search page (``search.html``, ``search.js``) fetches in
pieces, so a phone downloads a few tens of kilobytes for a query, never the whole index.
Only pages marked ``data-pagefind-body`` are indexed: case records and grid bulletins.

Pagefind has no incremental mode: it reads the whole site directory each time. The
embedded home runs it after every build that published or removed a page (``after_publish``
in ``site_extras``), over the site directory; a night without changes does not run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

INDEX_DIR = "pagefind"  # under the site root: /pagefind/pagefind.js …
# Pagefind reads every page it indexes into memory at once (about 5 GB at 100,000 case
# pages, docs/benchmarks.md): above this many pages the embedded home has no search index
# (the search page then points to the browse lists) rather than a night that cannot end.
MAX_PAGES = 20_000
# The files Pagefind reads: case pages (stored as cases/<id>.html, directory_site.stored_name)
# and bulletins (and the months' first listing pages, /cases/by/ and /cases/, which match
# too but carry no data-pagefind-body); the rest of the site is never opened. search.js
# shows a case's result at /cases/<id>/, where the origin serves it.
INDEXED_GLOB = "{cases/*.html,grids/*/index.html}"


def executable() -> Path | None:
    """The extended Pagefind binary (Chinese segmentation), or None when not installed; the
    plain build would index Chinese as unsegmented runs, so it is never used instead."""
    try:
        from pagefind_bin_extended import get_executable
    except ImportError:
        return None
    return Path(get_executable())


def pages(site_root: Path) -> int:
    """How many pages Pagefind would open (``INDEXED_GLOB``), counted without reading a
    file: the pages stored in cases/ besides its index, and the bulletins."""
    count = 0
    if (site_root / "cases").is_dir():
        count += sum(
            1
            for entry in os.scandir(site_root / "cases")
            if entry.name.endswith(".html") and entry.name != "index.html"
        )
    if (site_root / "grids").is_dir():
        count += sum(1 for entry in os.scandir(site_root / "grids") if entry.is_dir())
    return count


def refresh(site_root: Path, max_pages: int = MAX_PAGES) -> float | None:
    """Index the site again; returns the seconds it took, or None when the site has more
    than ``max_pages`` pages to index: then any older index is removed, so that no
    fragment of a page taken down since stays searchable."""
    if pages(site_root) > max_pages:
        shutil.rmtree(site_root / INDEX_DIR, ignore_errors=True)
        return None
    return build_index(site_root)


def build_index(site_root: Path) -> float:
    """Index ``site_root`` with Pagefind's extended build; returns the seconds it took.

    Pagefind adds files beside an old index and never removes one, so the index is written
    to a new directory and swapped in whole: no fragment of a case taken down stays."""
    binary = executable()
    if binary is None:
        raise RuntimeError("pagefind[extended] is not installed")
    started = time.perf_counter()
    index, fresh, old = (site_root / name for name in (INDEX_DIR, ".pagefind-new", ".pagefind-old"))
    for leftover in (fresh, old):  # of a run that was interrupted
        shutil.rmtree(leftover, ignore_errors=True)
    subprocess.run(
        [
            str(binary),
            "--site",
            str(site_root),
            "--output-path",
            str(fresh),
            "--glob",
            INDEXED_GLOB,
            "--silent",
        ],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    if index.exists():
        index.rename(old)
    fresh.rename(index)
    shutil.rmtree(old, ignore_errors=True)
    return time.perf_counter() - started
