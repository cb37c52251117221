"""Month shards (月度分片): the unit of published state.

Cases belong to the month they were received in (Beijing time), and never move. A
month's shard is everything published about that month's cases:

* ``cases/<id>/index.html``, one page per case;
* ``cases/<YYYY-MM>/index.html``, ``cases/<YYYY-MM>/2/index.html`` …, the month's
  listing, at most ``PAGE_SIZE`` cases a page, newest first;
* ``data/cases/<YYYY-MM>.csv`` and ``.json``, the month's open data;
* ``_state/months/<YYYY-MM>.json``, the shard's state: the manifest of its files
  (key → SHA-256), its metrics tally (``metrics.MonthTally``), its counts, the newest
  listing rows of each grid, the cases its cases were merged into and the digests of its
  archive pieces. Site-wide pages
  and metrics are made from these states alone, never from records;
* ``_state/pieces/<YYYY-MM>.csv.gz``, ``.json.gz`` and ``.events.gz`` (when
  ``job.pieces``), the month's share of the whole-archive downloads, compressed on its
  own: gzip members concatenate into one valid gzip stream, so the site-wide step joins
  the months' pieces between a head and a tail (``archive_members``) and a night
  compresses only the months it rebuilt. Pieces are staged for that step alone
  (``ShardResult.staged``), never published: a later night reads an unchanged month's
  piece back out of the published download by its byte range (``publish._pieces``).

``build_shard`` is the work of one month: a pure function of a ``ShardJob`` (the
month's records as last published, tonight's refreshed records and removals, the
shard's previous state, the shared ``SiteContext``) that writes the files whose
content changed into ``job.out_dir`` and returns a ``ShardResult``. Locally the
publisher runs shards in a process pool; on AWS a Distributed Map can run the same
function on Lambda. A case page is rendered only when its record changed (or the
templates did), a listing page only when what it shows changed (``theme.Listing``); the
month's open data are always remade. Nothing here hashes a file that was not rendered
in this call.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridportal import open311
from gridportal.adapters.directory_site import stored_name
from gridportal.adapters.infra_template import STATE_PREFIX
from gridportal.adapters.theme import (
    Listing,
    SiteContext,
    Theme,
    check_month,
    dimension_counts,
    is_open,
    is_overdue,
    list_row,
    month_listings,
    newest_first,
    safe_segment,
)
from gridportal.domain import opendata
from gridportal.domain.metrics import MonthTally, tally_months
from gridportal.domain.publication import PublishedRecord

SITE_STATE = f"{STATE_PREFIX}site.json"
# Bump when the shape of a shard state changes: older states are then rebuilt.
STATE_VERSION = 1


def month_state_key(month: str) -> str:
    return f"{STATE_PREFIX}months/{month}.json"


def case_page_key(public_id: str) -> str:
    return f"cases/{public_id}/index.html"


def staged_path(root: Path, key: str) -> Path:
    """Where ``key`` is staged in a local directory: where a directory site stores it
    (``directory_site.stored_name``: a page ``cases/<x>/index.html`` as ``cases/<x>.html``),
    so that the apply step renames each staged file into the site with no directory to
    make."""
    return Path(staged_file(os.fspath(root), key))


def staged_file(root: str, key: str) -> str:
    """``staged_path`` as text, for the loops over every case page of a build (a ``Path``
    each was a third of the apply step's own time at 100,000 files)."""
    return os.path.join(root, stored_name(key))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- Whole-archive pieces (月度压缩片段) ----

PIECE_PREFIX = f"{STATE_PREFIX}pieces/"
# zlib's default level: half the CPU of level 9 for about 4% more bytes (a month of JSON
# at a million cases: 0.5 s against 0.9 s, 4.0 MB against 3.9 MB).
PIECE_LEVEL = 6
# The whole-archive downloads' kinds: cases as CSV and JSON, steps (办理步骤) as CSV.
ARCHIVE_KINDS = ("csv", "json", "events")


def piece_key(month: str, kind: str) -> str:
    return f"{PIECE_PREFIX}{month}.{kind}.gz"


def gz(data: bytes) -> bytes:
    """One gzip member, the same bytes for the same data (no time, no name)."""
    return gzip.compress(data, compresslevel=PIECE_LEVEL, mtime=0)


def previous_pieces(month: str, state: Mapping[str, Any]) -> dict[str, str]:
    """Kind → digest of the month's pieces as last built, from its shard state (a state
    written when pieces were published has them in its manifest instead)."""
    if "pieces" in state:
        return dict(state["pieces"])
    manifest = state.get("manifest", {})
    return {
        k: manifest[piece_key(month, k)] for k in ARCHIVE_KINDS if piece_key(month, k) in manifest
    }


def month_sources(month: str) -> tuple[str, str, str]:
    """The month's open-data file each archive kind is made of (``ARCHIVE_KINDS`` order)."""
    return (*opendata.month_data_keys(month), opendata.month_events_key(month))


def _csv_head(kind: str) -> str:
    return opendata.events_csv(()) if kind == "events" else opendata.cases_csv(())


def month_piece(kind: str, text: str) -> bytes:
    """The month's share of a whole-archive download, uncompressed, from its open-data
    file: the CSV rows without the BOM and header, the JSON array's lines without the
    brackets (the separator between months is a member of its own, ``archive_members``)."""
    if kind in ("csv", "events"):
        head = _csv_head(kind)
        assert text.startswith(head)
        return text[len(head) :].encode("utf-8")
    assert text.startswith("[\n")
    return text[2:].removesuffix("\n]\n").encode("utf-8")


def archive_members(kind: str) -> tuple[bytes, bytes, bytes, bytes]:
    """(head, between months, tail, tail when no month) of a whole-archive download as
    gzip members; decompressed, head + piece + between + piece … + tail equals
    ``opendata.archive_csv``/``archive_json`` of the months' files."""
    if kind in ("csv", "events"):
        return gz(_csv_head(kind).encode("utf-8")), b"", b"", b""
    return gz(b"[\n"), gz(b",\n"), gz(b"\n]\n"), gz(b"]\n")


def parse_month_json(data: bytes | None) -> list[PublishedRecord]:
    """A month's published ``data/cases/<M>.json`` back into its records."""
    return json.loads(data) if data else []


@dataclass(frozen=True)
class ShardJob:
    """The inputs of one month's work; plain data (it crosses to worker processes)."""

    month: str
    context: SiteContext
    out_dir: str  # where changed files are written, under their keys
    fresh: tuple[PublishedRecord, ...] = ()  # refreshed tonight: replace same id
    removed: frozenset[str] = frozenset()  # public ids taken down: dropped everywhere
    previous: bytes | None = None  # the month's data/cases/<M>.json as published
    previous_state: Mapping[str, Any] | None = None  # the month's _state file
    fresh_file: str | None = None  # or tonight's records as JSON lines in a file
    render_all: bool = False  # render every case page (a full build)
    # Public ids of every case taken down: a link to one of them (merged into) is dropped.
    gone: frozenset[str] = frozenset()
    pieces: bool = False  # also make the month's whole-archive pieces
    staging: bool = False  # out_dir is the night's staging: paths by ``staged_path``


@dataclass(frozen=True)
class ShardResult:
    month: str
    state: dict[str, Any]  # the new shard state; its "manifest" lists every file
    changed: tuple[str, ...]  # keys written to out_dir: new or different content
    added: tuple[str, ...]  # those of them not published before
    deleted: tuple[str, ...]  # keys published before and no longer part of the shard
    case_pages: int  # case pages rendered
    render_seconds: float  # CPU time spent rendering, hashing and writing case pages
    records: int = 0
    state_changed: bool = True  # the state differs from ``job.previous_state``
    sizes: Mapping[str, int] = field(default_factory=dict)  # bytes of each changed file
    # Written to out_dir for the finish step only, never published: the archive's pieces.
    staged: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.records == 0


def build_shard(job: ShardJob) -> ShardResult:
    """One month shard: merge, render what changed, remake listings and open data."""
    month = check_month(job.month)
    previous_state = job.previous_state or {}
    if previous_state.get("version") != STATE_VERSION:
        previous_state = {}
    old_manifest: Mapping[str, str] = previous_state.get("manifest", {})
    render_all = job.render_all or previous_state.get("render_key") != job.context.key

    before = {r["id"]: r for r in parse_month_json(job.previous)}
    current = {i: _unlinked(r, job.gone) for i, r in before.items() if i not in job.removed}
    for record in _fresh(job):
        if record["month"] != month:
            raise ValueError(f"case {record['id']} is of {record['month']}, not {month}")
        if record["id"] in job.removed:
            continue
        current[record["id"]] = _unlinked(record, job.gone)
    records = opendata.sorted_records(current.values())
    for record in records:
        safe_segment(record["id"], "case id")

    theme = Theme(job.context)
    manifest: dict[str, str] = {}
    changed: list[str] = []

    sizes: dict[str, int] = {}
    made: set[str] = set()  # directories made for the staged files
    root = job.out_dir

    def write(key: str, data: bytes) -> None:
        # Text paths and plain os calls: this runs once for every case page.
        path = staged_file(root, key) if job.staging else os.path.join(root, key)
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(path, "wb") as handle:
            handle.write(data)
        sizes[key] = len(data)

    def emit(key: str, data: bytes) -> None:
        sha = digest(data)
        manifest[key] = sha
        if old_manifest.get(key) != sha:
            write(key, data)
            changed.append(key)

    if not records:
        # A month whose every case was taken down leaves nothing behind, as if it had
        # never had a case (a full build of the same data would not make it).
        return ShardResult(
            month=month,
            state={},
            changed=(),
            added=(),
            deleted=tuple(sorted(old_manifest)),
            case_pages=0,
            render_seconds=0.0,
        )

    # Case pages: only records that changed since the month was last published. Timed in
    # CPU seconds of this process (pages a second on one core, whatever else runs).
    started = time.process_time()
    rendered = 0
    for record in records:
        key = case_page_key(record["id"])
        known = old_manifest.get(key)
        if known is not None and not render_all and before.get(record["id"]) == record:
            manifest[key] = known
            continue
        emit(key, theme.case_page(record))
        rendered += 1
    render_seconds = time.process_time() - started

    # Listings, newest first, PAGE_SIZE a page, and the same rows by grid, community,
    # department and category (分类浏览). A page whose rows, count and place are those it
    # was last published with is not rendered again (a night touches few rows of a month).
    listed = newest_first(records)
    rows = [list_row(r) for r in listed]
    published_listings: dict[str, Listing] = {}
    if before and not render_all:
        old_rows = [list_row(r) for r in newest_first(opendata.sorted_records(before.values()))]
        published_listings = {x.key: x for x in month_listings(month, old_rows)}
    made_rows = theme.row_cache()
    for listing in month_listings(month, rows):
        known = old_manifest.get(listing.key)
        if known is not None and published_listings.get(listing.key) == listing:
            manifest[listing.key] = known
            continue
        emit(listing.key, theme.listing_page(listing, made_rows))

    csv_key, json_key = opendata.month_data_keys(month)
    csv_text, json_text = opendata.cases_csv(records), opendata.cases_json(records)
    emit(csv_key, csv_text.encode("utf-8"))
    emit(json_key, json_text.encode("utf-8"))
    events_key, events_text = opendata.month_events_key(month), opendata.events_csv(records)
    emit(events_key, events_text.encode("utf-8"))  # the steps file
    pieces: dict[str, str] = {}  # kind → digest of the month's piece
    staged: list[str] = []
    if job.pieces:
        texts = (csv_text, json_text, events_text)
        moved = any(k in changed for k in (csv_key, json_key, events_key))
        built = previous_pieces(month, previous_state)
        if moved or set(built) != set(ARCHIVE_KINDS):
            for kind, text in zip(ARCHIVE_KINDS, texts, strict=True):
                key, data = piece_key(month, kind), gz(month_piece(kind, text))
                pieces[kind] = digest(data)
                write(key, data)
                staged.append(key)
        else:  # the open data did not change: neither did its pieces (not compressed again)
            pieces = built
    for key, data in open311.month_copy(month, records).items():  # docs/open311.md
        emit(key, data)

    recent: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grid_rows = recent.setdefault(row["grid"] or "", [])
        if len(grid_rows) < 10:
            grid_rows.append(row)
    tally: MonthTally | None = tally_months(records).get(month)
    state = {
        "version": STATE_VERSION,
        "month": month,
        "render_key": job.context.key,
        "cases": len(records),
        "open": sum(1 for r in records if is_open(r)),
        "overdue": sum(1 for r in records if is_overdue(r)),
        "recent": recent,
        "by": dimension_counts(rows),
        "merged": sorted({r["merged_into"] for r in records if r["merged_into"]}),
        "tally": tally,
        "manifest": manifest,
        **({"pieces": pieces} if pieces else {}),
    }
    deleted = tuple(sorted(k for k in old_manifest if k not in manifest))
    return ShardResult(
        month=month,
        state=state,
        changed=tuple(changed),
        added=tuple(k for k in changed if k not in old_manifest),
        deleted=deleted,
        case_pages=rendered,
        render_seconds=render_seconds,
        records=len(records),
        state_changed=state != job.previous_state,
        sizes=sizes,
        staged=tuple(staged),
    )


def _unlinked(record: PublishedRecord, gone: frozenset[str]) -> PublishedRecord:
    """The record without its link to a case taken down (the page would be missing)."""
    if record.get("merged_into") in gone:
        return {**record, "merged_into": None}
    return record


def _fresh(job: ShardJob) -> Iterable[PublishedRecord]:
    yield from job.fresh
    if job.fresh_file:
        with open(job.fresh_file, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def recent_by_grid(states: Iterable[Mapping[str, Any]], per_grid: int = 10) -> dict[str, list[Any]]:
    """Each grid's newest listing rows across months (``states`` newest month first)."""
    out: dict[str, list[Any]] = {}
    for state in states:
        for grid, rows in state.get("recent", {}).items():
            have = out.setdefault(grid, [])
            have.extend(rows[: per_grid - len(have)])
    return out


def month_counts(states: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """(month, cases) of every non-empty month, newest first: the /cases/ index."""
    ordered = sorted(states, key=lambda s: s["month"], reverse=True)
    return [(s["month"], s["cases"]) for s in ordered if s["cases"]]
