"""Site search (站内搜索): a Pagefind index over the published case records and bulletins.

Pagefind's extended build (the PyPI package ``pagefind[extended]``) segments Chinese into
words, so "垃圾清运" or "柳翠井巷" finds the records that say so; the index is static files
under ``/pagefind/`` that the search page (``search.html``, ``search.js``) fetches in
pieces, so a phone downloads a few tens of kilobytes for a query, never the whole index.
Only pages marked ``data-pagefind-body`` are indexed: case records and grid bulletins.

Pagefind has no incremental mode: it reads every page it indexes, each time, and holds
them all in memory (110–140 KB a page). The embedded home runs it after every build
that published or removed a page (``after_publish`` in ``site_extras``), over at most
``MAX_PAGES`` pages: every bulletin, and the newest case records, whole days of receipt
at a time (``newest_cases``). What the index covers is written beside it
(``scope.json``), and the search page says so when older records are left out.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from gridportal.adapters.directory_site import stored_name
from gridportal.domain.opendata import (
    ID_COLUMN,
    MONTH_CASES_DIR,
    RECEIVED_COLUMN,
    month_data_keys,
)
from gridportal.shards import case_page_key

INDEX_DIR = "pagefind"  # under the site root: /pagefind/pagefind.js …
# What the index covers, beside it: read by search.js to tell people what they search.
SCOPE_FILE = "scope.json"
# Pagefind holds every page it indexes in memory, 110–140 KB a page (2.8 GB at 20,295
# pages, docs/scale.md): an index of at most this many pages stays under 2 GB (1.3–1.7
# GB) and takes 13–15 s on two cores. A larger site has its newest records indexed.
MAX_PAGES = 12_000
# The files Pagefind reads: case pages (stored as cases/<id>.html, directory_site.stored_name)
# and bulletins (and the months' first listing pages, /cases/by/ and /cases/, which match
# too but carry no data-pagefind-body); the rest of the site is never opened. search.js
# shows a case's result at /cases/<id>/, where the origin serves it.
BULLETINS_GLOB = "grids/*/index.html"
INDEXED_GLOB = "{cases/*.html," + BULLETINS_GLOB + "}"
# A site's subset to index is gathered here, as hard links: Pagefind reads a directory.
VIEW_DIR = ".pagefind-view"
# The months' open data (data/cases/<YYYY-MM>.csv) name each month's records, in order of
# receipt: its Open311 columns (domain/opendata.py) give the id and the time received.
_MONTH_RE = re.compile(r"\d{4}-\d{2}")


@dataclass(frozen=True)
class Newest:
    """The newest case records that fit an index: their pages (site keys), and the day
    of receipt (Beijing time) of the oldest of them. Every record received that day
    or later is among them, unless that day alone held more than the index takes."""

    keys: tuple[str, ...]
    since: str | None


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


def refresh(site_root: Path, max_pages: int = MAX_PAGES) -> float:
    """Index the site again; returns the seconds it took. A site of more than
    ``max_pages`` pages has every bulletin and its newest case records indexed."""
    if pages(site_root) <= max_pages:
        return build_index(site_root)
    bulletins = sorted(p.relative_to(site_root).as_posix() for p in site_root.glob(BULLETINS_GLOB))
    newest = newest_cases(site_root, max(0, max_pages - len(bulletins)))
    files = [*bulletins, *(stored_name(key) for key in newest.keys)]
    scope = {"complete": False, "since": newest.since, "cases": len(newest.keys)}
    return build_index(site_root, only=files, scope=scope)


def remove_index(site_root: Path) -> None:
    """No search index: none is kept that would go stale."""
    shutil.rmtree(site_root / INDEX_DIR, ignore_errors=True)


def newest_cases(site_root: Path, budget: int) -> Newest:
    """The newest published case records, at most ``budget``: whole days of receipt,
    newest first, read from the months' open data. When the newest day alone holds
    more, its latest ``budget`` records."""
    keys: list[str] = []
    since = None
    for day, rows in groupby(_received_newest_first(site_root), key=itemgetter(0)):
        day_keys = [case_page_key(public_id) for _, public_id in rows]
        if len(keys) + len(day_keys) > budget:
            if not keys and budget > 0:
                keys, since = day_keys[:budget], day
            break
        keys += day_keys
        since = day
    return Newest(tuple(keys), since)


def _received_newest_first(site_root: Path) -> Iterator[tuple[str, str]]:
    """(day received, public id) of every published record, newest first."""
    months = sorted(
        (
            p.stem
            for p in (site_root / MONTH_CASES_DIR).glob("*.csv")
            if _MONTH_RE.fullmatch(p.stem)
        ),
        reverse=True,
    )
    for month in months:
        with open(site_root / month_data_keys(month)[0], encoding="utf-8-sig", newline="") as f:
            rows = [(row[RECEIVED_COLUMN], row[ID_COLUMN]) for row in csv.DictReader(f)]
        rows.sort(reverse=True)  # the file lists them by time received, then id
        for received, public_id in rows:
            yield received[:10], public_id


def build_index(
    site_root: Path, only: Sequence[str] | None = None, scope: Mapping[str, object] | None = None
) -> float:
    """Index ``site_root`` with Pagefind's extended build; returns the seconds it took.

    ``only``: the files (relative to the root) to index rather than the whole site; they
    are gathered as hard links in a directory of the same layout, so that each result's
    address is the page's own. ``scope``: what the index covers, for ``scope.json``.

    Pagefind adds files beside an old index and never removes one, so the index is written
    to a new directory and swapped in whole: no fragment of a case taken down stays."""
    binary = executable()
    if binary is None:
        raise RuntimeError("pagefind[extended] is not installed")
    started = time.perf_counter()
    index, fresh, old, view = (
        site_root / name for name in (INDEX_DIR, ".pagefind-new", ".pagefind-old", VIEW_DIR)
    )
    for leftover in (fresh, old, view):  # of a run that was interrupted
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        source = site_root if only is None else _view(site_root, view, only)
        subprocess.run(
            [
                str(binary),
                "--site",
                str(source),
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
    finally:
        shutil.rmtree(view, ignore_errors=True)
    (fresh / SCOPE_FILE).write_text(
        json.dumps(scope or {"complete": True}, ensure_ascii=False), encoding="utf-8"
    )
    if index.exists():
        index.rename(old)
    fresh.rename(index)
    shutil.rmtree(old, ignore_errors=True)
    return time.perf_counter() - started


def _view(site_root: Path, view: Path, files: Sequence[str]) -> Path:
    """``files`` of the site linked into ``view`` at the same relative places (a link
    costs no copy; a record published without its page is left out)."""
    made: set[str] = set()
    for name in files:
        target = view / name
        folder = str(target.parent)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        try:
            os.link(site_root / name, target)
        except FileNotFoundError:
            continue
        except OSError:  # a file system without hard links: a copy, then
            shutil.copyfile(site_root / name, target)
    return view
