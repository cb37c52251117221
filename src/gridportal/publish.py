"""The nightly build: plan, then apply (as ``chalice deploy`` separates the two).

**Plan.** Read the cases changed since the last build plus every open case (an open
case's deadline status moves with the calendar even when nobody touches it), and the
cases taken down since. Their months are the shards to rebuild (``gridportal.shards``):
each shard reads its own month as last published (``data/cases/<M>.json``) and its
state (``_state/months/<M>.json``: manifest, metrics tally, counts), never the whole
archive; shards run in a process pool. Then the site-wide pages are made from the
shards' states alone (home, lists, grids, metrics), the whole-archive downloads are
streamed together from the month files (only when a shard changed), and Pelican makes
the editorial pages and theme assets (in a subprocess, only when they changed).
Everything to send is staged in the work directory; the ``Plan`` lists, as plain data,
the uploads in link-safe order and the deletions. ``portal build --dry-run`` prints it.

**Apply.** ``apply_plan`` alone talks to the site target (``S3Site`` or
``DirectorySite``): leaves first (case pages, data, assets), then the pages that link
to them, the entry pages last, then deletions (nothing links to them any more), then
the shard states and the site state. The build marker in the store moves only after
that, so a failed night is simply redone the next time. On a directory site with two
cores, the plan's first steps, the shards' new leaves, are applied in a process of their
own while the site-wide pages are made (``_apply_ahead``): a first build's 100,000 case
pages go up on the core the shards leave idle.

Knowing what changed never re-hashes the site: each shard's manifest is in its state,
and only files rendered tonight are hashed.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TypeVar

from gridportal import open311, posters, search, snapshots
from gridportal.adapters.s3_site import Reuse
from gridportal.adapters.theme import (
    PROJECT_ROOT,
    SiteContext,
    site_context,
    site_pages,
)
from gridportal.domain import opendata
from gridportal.domain.calendar import calendar_status
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.lifecycle import replay
from gridportal.domain.metrics import RECENT_DAYS, MonthTally, combine_metrics
from gridportal.domain.model import Event
from gridportal.domain.publication import (
    UNPUBLISHABLE,
    PublishedRecord,
    month_of,
    public_record,
    publication_version,
    unpublished,
)
from gridportal.domain.redaction import load_tables
from gridportal.ports import COMMAND_CENTRE, CaseRecord, MonthReader, Store
from gridportal.services import Portal, staff_names
from gridportal.shards import (
    ARCHIVE_KINDS,
    PIECE_LEVEL,
    SITE_STATE,
    STATE_PREFIX,
    ShardJob,
    ShardResult,
    archive_members,
    build_shard,
    digest,
    gz,
    month_counts,
    month_piece,
    month_sources,
    month_state_key,
    piece_key,
    previous_pieces,
    staged_file,
    staged_path,
)
from gridportal.site_extras import after_publish, site_root

MARKER = "build"
# A step's time is taken before its write lands, and the ``changed`` index is eventually
# consistent: re-read a margin before the last build so no late write is missed for good.
OVERLAP = timedelta(minutes=15)
# The rules' version (calendar, allowlist, redactor) is computed: publication_version. When
# it changes, the next build is a full one, so no page published under old rules stays.
VERSION_MARKER = "publication-version"
# Cases taken down by an operator (撤下): a store marker holding {tracking: {reason, at}}.
TAKEDOWNS = "takedowns"
ARCHIVE_CSV = "data/cases.csv.gz"
ARCHIVE_JSON = "data/cases.json.gz"
ARCHIVE_EVENTS = "data/events.csv.gz"
# The whole-archive download of each kind (shards.ARCHIVE_KINDS) and the table it holds.
ARCHIVES = {
    "csv": (ARCHIVE_CSV, "cases"),
    "json": (ARCHIVE_JSON, "cases"),
    "events": (ARCHIVE_EVENTS, "events"),
}
METRICS_JSON = "data/metrics.json"
LEGACY_MANIFEST = ".manifest.json"  # the single manifest of the builds before shards

_MONTH_KEY = re.compile(r"\d{4}-\d{2}\Z")
# Pages every other page links to (navigation and footer): they go up last.
ENTRY_PAGES = frozenset(
    {
        "index.html",
        "cases/index.html",
        "grids/index.html",
        "metrics/index.html",
        "data/index.html",
        "lists/index.html",
        "report/index.html",
        "lookup/index.html",
        "vote/index.html",
    }
)


class SiteTarget(Protocol):
    """Where the site is published: a directory (``DirectorySite``) or a bucket (``S3Site``)."""

    def ensure_bucket(self) -> None: ...

    def read(self, key: str) -> bytes | None: ...

    def read_range(self, key: str, start: int, length: int) -> bytes | None:
        """``length`` bytes of the file as stored, from ``start`` (None: no such file)."""
        ...

    def put(self, key: str, source: str | Path) -> None: ...

    def delete(self, key: str) -> None: ...

    def put_many(self, items: Sequence[tuple[str, str | Path]], *, move: bool = False) -> None:
        """Publish staged files; ``move``: they are the build's own, the target may take them."""
        ...

    def write(self, key: str, data: bytes) -> None: ...

    def copy_many(self, items: Sequence[tuple[str, str]]) -> None:
        """(source key, key) pairs: a file the night staged in the target, put in place."""
        ...

    def put_reusing(self, key: str, source: str | Path, reuse: Sequence[Reuse]) -> int:
        """Publish a staged file whose ``reuse`` ranges are the online file's; returns
        the bytes sent (a bucket copies those ranges server-side)."""
        ...


# ---- The plan: plain data ----


@dataclass(frozen=True, slots=True)  # a full build at a million cases plans a million
class Step:
    action: Literal["upload", "delete"]
    key: str
    tier: int  # LEAVES … ENTRY pages, DELETIONS, shard STATES, the site state last
    size: int = 0
    new: bool = False  # not online before (uploaded ahead of changed pages of its tier)
    reuse: tuple[Reuse, ...] = ()  # ranges that are the online file's (a download's months)


@dataclass
class Plan:
    full: bool
    staging: str  # directory holding every file to upload (at ``shards.staged_path``)
    steps: list[Step] = field(default_factory=list)
    months: list[str] = field(default_factory=list)  # shards rebuilt

    @property
    def uploads(self) -> list[Step]:
        return [s for s in self.steps if s.action == "upload"]

    @property
    def deletions(self) -> list[Step]:
        return [s for s in self.steps if s.action == "delete"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "full": self.full,
            "months": self.months,
            "uploads": len(self.uploads),
            "upload_bytes": sum(s.size for s in self.uploads),
            # Ranges of the downloads that are the online files' (a bucket copies them).
            "reused_bytes": sum(r.length for s in self.uploads for r in s.reuse),
            "deletions": len(self.deletions),
            "steps": [
                {"action": s.action, "key": s.key, "tier": s.tier, "size": s.size}
                for s in self.steps
            ],
        }


# The order of the plan. A page goes up after every page it links to (entry pages, which
# every page links to, go up last): case pages link to their month's first listing page,
# which links to its further pages and the month's metrics; the browse pages (cases/by/…)
# link to months' first pages and cases; grid bulletins link to cases and browse pages.
(
    LEAVES,
    LISTINGS,
    MONTH_FIRST,
    BROWSE,
    BULLETINS,
    ENTRY,
    DELETIONS,
    STATES,
    SITE_STATE_TIER,
) = range(1, 10)


def tier_of(key: str) -> int:
    """Where ``key`` goes in the plan (see the tiers above)."""
    if key.startswith(STATE_PREFIX):
        return SITE_STATE_TIER if key == SITE_STATE else STATES
    if key in ENTRY_PAGES:
        return ENTRY
    parts = key.split("/")
    if not key.endswith("index.html") or parts[0] not in ("cases", "grids", "metrics"):
        return LEAVES  # data, assets, QR codes, editorial pages: they link only to entry pages
    if parts[0] == "grids":
        return BULLETINS
    if parts[:2] == ["cases", "by"]:
        # A unit's month (and its further pages) before the unit's index, by key order.
        return BROWSE
    if parts[0] == "cases" and len(parts) == 3:
        return MONTH_FIRST if _MONTH_KEY.match(parts[1]) else LEAVES  # else: a case page
    return LISTINGS  # a month's further listing pages, a month's metrics


def order_steps(uploads: Iterable[Step], deletions: Iterable[Step]) -> list[Step]:
    """Uploads by tier (new keys before changed ones, so that siblings' links resolve),
    deletions once nothing links to them, the states last."""
    ups = sorted(uploads, key=lambda s: (s.tier, not s.new, s.key))
    pages = [s for s in ups if s.tier < DELETIONS]
    states = [s for s in ups if s.tier > DELETIONS]
    return [*pages, *sorted(deletions, key=lambda s: s.key), *states]


# ---- The report ----


@dataclass(frozen=True)
class PublishResult:
    uploaded: tuple[str, ...]
    deleted: tuple[str, ...]
    bytes: int

    def summary(self) -> dict[str, Any]:
        return {"uploaded": len(self.uploaded), "deleted": len(self.deleted), "bytes": self.bytes}


@dataclass
class BuildReport:
    full: bool
    changed: int  # records exported tonight
    total: int  # published records after the build
    plan: Plan | None = None
    published: PublishResult | None = None
    case_pages: int = 0
    case_seconds: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    # Cases the export could not publish ({tracking, reason}): the rest of the night goes on.
    unpublished: list[dict[str, str]] = field(default_factory=list)
    calendar: dict[str, Any] = field(default_factory=dict)  # calendar_status(...).to_dict()

    @property
    def warnings(self) -> list[str]:
        """What an operator must act on (zh-CN): the calendar's end, unpublished cases."""
        out = [self.calendar["message"]] if self.calendar.get("warn") else []
        if self.unpublished:
            listed = "；".join(f"{u['tracking']}（{u['reason']}）" for u in self.unpublished)
            out.append(f"{len(self.unpublished)} 件案件未能发布：{listed}")
        return out

    @property
    def case_pages_per_second(self) -> float | None:
        return self.case_pages / self.case_seconds if self.case_seconds > 0 else None

    def summary(self) -> dict[str, Any]:
        rate = self.case_pages_per_second
        return {
            "full": self.full,
            "changed_cases": self.changed,
            "total_cases": self.total,
            "months_rebuilt": len(self.plan.months) if self.plan else 0,
            "case_pages": self.case_pages,
            "case_pages_per_second": round(rate) if rate else None,
            **(self.published.summary() if self.published else {}),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "unpublished": self.unpublished,
            "calendar": self.calendar,
            "warnings": self.warnings,
        }


class _Timer:
    def __init__(self, report: BuildReport) -> None:
        self.report = report
        self.started = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.report.seconds[name] = self.report.seconds.get(name, 0.0) + now - self.started
        self.started = now


# ---- Takedowns ----


def takedowns(store: Store) -> dict[str, dict[str, str]]:
    raw = store.get_marker(TAKEDOWNS)
    return json.loads(raw) if raw else {}


def take_down(store: Store, tracking: str, reason: str, now: datetime) -> None:
    """Withdraw a case from the public site (撤下): the next build removes its page, its
    rows, its open data and its share of every number. The case itself is untouched."""
    if not reason.strip():
        raise ValueError("a takedown needs a reason")
    if store.get_case(tracking) is None:
        raise KeyError(tracking)
    listed = takedowns(store)
    listed[tracking] = {"reason": reason.strip(), "at": now.astimezone(UTC).isoformat()}
    store.set_marker(TAKEDOWNS, json.dumps(listed, ensure_ascii=False, sort_keys=True))


# ---- Export: cases → published records, spilled by month ----


def trackings_to_refresh(
    store: Store, portal: Portal, since: datetime, until: datetime
) -> set[str]:
    """Changed since the last build, plus every open case (their deadlines keep moving)."""
    trackings = set(store.changed_since(since, until))
    for queue in (COMMAND_CENTRE, *(d.id for d in portal.district.departments)):
        trackings.update(record.tracking for record in store.unit_queue(queue))
    return trackings


def histories(portal: Portal, trackings: Iterable[str]) -> Iterator[tuple[CaseRecord, list[Event]]]:
    for tracking in sorted(trackings):
        history = portal.store.get_history(tracking)
        if history is not None:
            yield history.record, list(history.events)


def published(
    portal: Portal, record: CaseRecord, events: list[Event], staff: Sequence[str] = ()
) -> PublishedRecord:
    """``staff``: display names of the staff who acted on the case (``staff_names``)."""
    state = replay(events)
    deadlines, note = portal.deadlines_of(state)
    return public_record(
        record.file,
        state,
        events,
        portal.district,
        deadlines=deadlines,
        deadline_note=note,
        public_id_of=portal.keys.public_id,
        staff_names=staff,
    )


def _line(record: PublishedRecord) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


# Replaying and redacting is most of the export's cost, and needs no store: batches of
# histories go to worker processes (forked, so they share the portal's reference data,
# calendar and keys), while this process alone reads the store and writes the spill.
EXPORT_BATCH = 200
_export_portal: Portal | None = None


def _export_batch(
    batch: list[tuple[CaseRecord, list[Event], tuple[str, ...]]],
) -> list[tuple[str, str]]:
    assert _export_portal is not None
    out = []
    for record, events, staff in batch:
        try:
            published_record = published(_export_portal, record, events, staff)
        except UNPUBLISHABLE as error:  # one bad record: listed, and the night goes on
            out.append(("", json.dumps(_failure(record, events, error), ensure_ascii=False)))
            continue
        out.append((published_record["month"], _line(published_record)))
    return out


def _failure(record: CaseRecord, events: list[Event], error: BaseException) -> dict[str, str]:
    """A case the export could not publish, for the report; its month and public id let
    the shard take its old page and rows down, as a full build (which lacks it) would."""
    return {
        **unpublished(record.tracking, error),
        "month": _month_of_history(events),
        "public_id": record.file.public_id,
    }


def _batches(
    store: Store, cases: Iterable[tuple[CaseRecord, list[Event]]]
) -> Iterator[list[tuple[CaseRecord, list[Event], tuple[str, ...]]]]:
    # Staff names are read here, in the process that holds the store.
    batch: list[tuple[CaseRecord, list[Event], tuple[str, ...]]] = []
    seen: dict[str, str] = {}
    for record, events in cases:
        batch.append((record, events, staff_names(store, events, seen)))
        if len(batch) >= EXPORT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _export(
    portal: Portal, cases: Iterable[tuple[CaseRecord, list[Event]]], workers: int | None
) -> Iterator[tuple[str, str]]:
    """(month, JSON line) of each case's published record, in a pool when it pays."""
    batches = _batches(portal.store, cases)
    first = next(batches, None)
    if first is None:
        return
    if len(first) < EXPORT_BATCH:  # a handful of cases: not worth a pool
        workers = 1
    for lines in _run_pool(_export_batch, itertools.chain([first], batches), workers, portal):
        yield from lines


class _Spill:
    """Published records appended to one JSON-lines file per month (memory stays flat)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.handles: dict[str, IO[str]] = {}
        self.counts: dict[str, int] = {}  # month → lines written

    def write(self, month: str, line: str) -> None:
        handle = self.handles.get(month)
        if handle is None:
            # One handle per month stays open for the whole export; close() ends them.
            handle = self.handles[month] = open(self.path(month), "w", encoding="utf-8")  # noqa: SIM115
        handle.write(line)
        self.counts[month] = self.counts.get(month, 0) + 1

    def path(self, month: str) -> Path:
        return self.root / f"{month}.jsonl"

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


# ---- The night's scratch space: what passes from one step to the next ----

NIGHTS_PREFIX = f"{STATE_PREFIX}nights/"
SITE_INDEX_VERSION = 2  # the site state holds the index of months (see ``_month_summary``)


class Scratch:
    """Where a night keeps what passes between its steps (plan → shards → finish): a
    local directory when the steps run in one machine's process pool, a prefix of the
    site's bucket when they run as separate Lambda invocations (whose ``/tmp`` does not
    outlive one). Names inside it: ``fresh/<M>.jsonl`` (tonight's records, exported by the
    plan), ``work/<M>.json`` (the cases a shard exports itself, and its removals),
    ``shards/<M>.json`` (a shard's result) and ``staging/<key>`` (files to publish)."""

    def __init__(
        self, *, local: Path | None = None, remote: SiteTarget | None = None, prefix: str = ""
    ) -> None:
        if (local is None) == (remote is None):
            raise ValueError("a scratch space is either local or remote")
        self.local = local
        self.remote = remote
        self.prefix = prefix

    @classmethod
    def for_night(cls, site: SiteTarget, night_id: str) -> Scratch:
        return cls(remote=site, prefix=f"{NIGHTS_PREFIX}{night_id}/")

    def key(self, name: str) -> str:
        return self.prefix + name

    def path(self, name: str) -> Path | None:
        return self.local / name if self.local is not None else None

    def read(self, name: str) -> bytes | None:
        if self.local is not None:
            try:
                return (self.local / name).read_bytes()
            except FileNotFoundError:
                return None
        assert self.remote is not None
        return self.remote.read(self.key(name))

    def write(self, name: str, data: bytes) -> None:
        if self.local is not None:
            path = self.local / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return
        assert self.remote is not None
        self.remote.write(self.key(name), data)

    def put(self, name: str, source: Path) -> None:
        """A local file into the scratch space (nothing to do when it is already there)."""
        if self.local is not None:
            target = self.local / name
            if target.resolve() != source.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            return
        assert self.remote is not None
        self.remote.put(self.key(name), source)

    def discard(self, names: Iterable[str]) -> None:
        """Remove the night's objects from the bucket once it is published."""
        if self.remote is not None:
            for name in names:
                self.remote.delete(self.key(name))


@dataclass
class Night:
    """What the plan decided, as plain data: the state machine's ``build`` item."""

    id: str
    full: bool
    now: datetime
    months: list[str]
    site_url: str = ""
    api_base: str = "/api"
    export_in_shards: bool = False  # each shard exports its own cases (on Lambda)
    # Each shard reads its whole month from the store (a full build on one machine).
    read_months: bool = False
    gone: list[str] = field(default_factory=list)  # public ids of every case taken down
    changed: int = 0  # records exported by the plan
    # Cases each month's shard works over, as far as the plan knows: the pool takes the
    # largest first, so that no large month is left to one core at the end.
    sizes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    unpublished: list[dict[str, str]] = field(default_factory=list)  # by the plan's export

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "full": self.full,
            "now": self.now.isoformat(),
            "months": self.months,
            "site_url": self.site_url,
            "api_base": self.api_base,
            "export_in_shards": self.export_in_shards,
            "read_months": self.read_months,
            "gone": self.gone,
            "changed": self.changed,
            "sizes": self.sizes,
            "seconds": self.seconds,
            "unpublished": self.unpublished,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Night:
        return cls(
            id=str(data["id"]),
            full=bool(data["full"]),
            now=datetime.fromisoformat(data["now"]),
            months=list(data["months"]),
            site_url=str(data.get("site_url", "")),
            api_base=str(data.get("api_base", "/api")),
            export_in_shards=bool(data.get("export_in_shards", False)),
            read_months=bool(data.get("read_months", False)),
            gone=list(data.get("gone", ())),
            changed=int(data.get("changed", 0)),
            sizes=dict(data.get("sizes", {})),
            seconds=dict(data.get("seconds", {})),
            unpublished=list(data.get("unpublished", ())),
        )


def _month_of_history(events: Sequence[Event]) -> str:
    """A case's month without replaying it: the time of its first event (受理), which is
    its time of receipt (``build_shard`` refuses a record filed under another month)."""
    return month_of(events[0].at)


# ---- Step 1: plan ----


def _plan(
    portal: Portal,
    site: SiteTarget,
    scratch: Scratch,
    *,
    night_id: str,
    now: datetime,
    full: bool,
    site_url: str = "",
    api_base: str = "/api",
    workers: int | None = None,
) -> Night:
    """Decide full or incremental, find tonight's cases and their months, and either
    export them (locally: the store streams once, a pool replays and redacts) or write
    each month's work list for its shard to export (on Lambda, where the plan is one
    short invocation)."""
    started = time.perf_counter()
    store = portal.store
    marker = store.get_marker(MARKER)
    site_state = _read_json(site, SITE_STATE) or {}
    if (
        full
        or marker is None
        or store.get_marker(VERSION_MARKER) != publication_version(portal.calendar)
        or site_state.get("publication_version") != publication_version(portal.calendar)
    ):
        full = True
    export_in_shards = scratch.local is None
    down = takedowns(store)
    night = Night(
        id=night_id,
        full=full,
        now=now,
        months=[],
        site_url=site_url,
        api_base=api_base,
        export_in_shards=export_in_shards,
        read_months=full and not export_in_shards and isinstance(store, MonthReader),
        gone=sorted(portal.keys.public_id(tracking) for tracking in down),
    )

    removed: dict[str, set[str]] = {}
    if full:
        cases: Iterable[tuple[CaseRecord, list[Event]]] = store.all_histories()
        withdrawn: set[str] = set()
    else:
        assert marker is not None
        since = datetime.fromisoformat(marker) - OVERLAP
        withdrawn = {t for t, v in down.items() if datetime.fromisoformat(v["at"]) > since}
        cases = histories(portal, trackings_to_refresh(store, portal, since, now) | withdrawn)

    def kept() -> Iterator[tuple[CaseRecord, list[Event]]]:
        for record, events in cases:
            if record.tracking not in down:
                yield record, events
            elif record.tracking in withdrawn:
                month = _month_of_history(events)
                removed.setdefault(month, set()).add(record.file.public_id)

    fresh: dict[str, int] = {}  # month → cases exported tonight
    work: dict[str, list[str]] = {}
    if night.read_months:  # each month's worker reads and exports it (_read_month_shard)
        assert isinstance(store, MonthReader)
        fresh = store.filed_months()
    elif export_in_shards:
        for record, events in kept():
            work.setdefault(_month_of_history(events), []).append(record.tracking)
        fresh = {month: len(trackings) for month, trackings in work.items()}
    else:
        spill = _Spill(scratch.local / "fresh")  # type: ignore[operator]
        try:
            for month, line in _export(portal, kept(), workers):
                if month:
                    spill.write(month, line)
                else:  # a case that could not be published (_export_batch): not online
                    failure = json.loads(line)
                    removed.setdefault(failure["month"], set()).add(failure["public_id"])
                    night.unpublished.append(failure)
        finally:
            spill.close()
        night.changed = sum(spill.counts.values())
        fresh = spill.counts

    # The months to rebuild: tonight's cases, removals, every month on a full build, and
    # the months whose cases were merged into a case taken down tonight (their link goes).
    index = _site_index(site, site_state)
    withdrawn_ids = {i for ids in removed.values() for i in ids}
    linking = {m for m, s in index.items() if withdrawn_ids & set(s.get("merged", ()))}
    night.months = sorted(set(fresh) | set(removed) | linking | (set(index) if full else set()))
    for month in night.months:  # a rough measure (a night's case may be counted twice)
        before = 0 if full else index.get(month, {}).get("cases") or 0
        night.sizes[month] = before + fresh.get(month, 0)
    for month in night.months:
        if export_in_shards or removed.get(month):
            item = {"trackings": work.get(month, []), "removed": sorted(removed.get(month, ()))}
            scratch.write(f"work/{month}.json", _state_bytes(item))
    night.seconds["export"] = time.perf_counter() - started
    return night


def _largest_first(night: Night) -> list[str]:
    """The order a pool takes the months in. Oldest first, a city's growing volume left
    its largest months to the end, and one core worked alone through the last of them."""
    return sorted(night.months, key=lambda month: (-night.sizes.get(month, 0), month))


# ---- Step 2: one month shard ----


def _shard_job(
    site: SiteTarget,
    scratch: Scratch,
    night: Night,
    month: str,
    context: SiteContext,
    out_dir: Path,
    fresh_file: Path | None,
) -> ShardJob:
    """The inputs of one month's shard, read from the site and the night's scratch."""
    work = json.loads(scratch.read(f"work/{month}.json") or b"{}")
    return ShardJob(
        month=month,
        context=context,
        out_dir=str(out_dir),
        fresh_file=str(fresh_file) if fresh_file and fresh_file.is_file() else None,
        removed=frozenset(work.get("removed", ())),
        previous=None if night.full else site.read(opendata.month_data_keys(month)[1]),
        previous_state=_read_json(site, month_state_key(month)),
        render_all=night.full,
        gone=frozenset(night.gone),
        pieces=True,
        staging=True,
    )


def _record_shard(
    scratch: Scratch,
    out_dir: Path,
    result: ShardResult,
    exported: int,
    unpublished: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """Keep a shard's result for the finish step: its state beside its files (staged),
    a summary under ``shards/`` (with the cases its own export could not publish); on
    Lambda the staged files go to the bucket."""
    names = list(result.changed)
    # The shard knows the size of what it wrote (no stat of every page).
    sizes = {k: result.sizes.get(k) or staged_path(out_dir, k).stat().st_size for k in names}
    if not result.empty:
        state_key = month_state_key(result.month)
        path = out_dir / state_key
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _state_bytes(result.state)
        path.write_bytes(data)
        names.append(state_key)
        sizes[state_key] = len(data)
    if scratch.local is None:
        for key in [*names, *result.staged]:
            scratch.put(f"staging/{key}", staged_path(out_dir, key))
    summary = {
        "month": result.month,
        "changed": list(result.changed),
        "added": list(result.added),
        "deleted": list(result.deleted),
        "staged": list(result.staged),
        "sizes": sizes,
        "case_pages": result.case_pages,
        "render_seconds": result.render_seconds,
        "records": result.records,
        "state_changed": result.state_changed,
        "exported": exported,
        "unpublished": list(unpublished),
    }
    scratch.write(f"shards/{result.month}.json", _state_bytes(summary))
    return {"month": result.month, "files": len(result.changed), "deleted": len(result.deleted)}


def _export_month(
    portal: Portal, cases: Iterable[tuple[CaseRecord, list[Event]]]
) -> tuple[list[PublishedRecord], list[dict[str, str]]]:
    """A shard's own export: its month's published records, and the cases that could
    not be published (listed for the report, and taken offline: ``_exported_job``)."""
    records: list[PublishedRecord] = []
    failed: list[dict[str, str]] = []
    seen: dict[str, str] = {}
    for record, events in cases:
        staff = staff_names(portal.store, events, seen)
        try:
            records.append(published(portal, record, events, staff))
        except UNPUBLISHABLE as error:  # one bad record: listed, and the shard goes on
            failed.append(_failure(record, events, error))
    return records, failed


def _exported_job(
    job: ShardJob, records: Sequence[PublishedRecord], failed: Sequence[Mapping[str, str]]
) -> ShardJob:
    """The shard's job with its own export: the records, and those it could not publish
    taken down as a full build (which lacks them) would."""
    gone = {c["public_id"] for c in failed}
    return replace(job, fresh=tuple(records), removed=job.removed | gone)


def _read_month_shard(scratch: Scratch, out_dir: Path, job: ShardJob) -> dict[str, Any]:
    """A full local build's shard, in a worker forked from the build: the month's cases
    read from the store (``MonthReader``), those taken down (``job.gone``) left out; the
    shard recorded by the worker itself (``_record_shard``), as on Lambda."""
    portal = _export_portal
    assert portal is not None and isinstance(portal.store, MonthReader)
    cases = (
        (record, events)
        for record, events in portal.store.month_histories(job.month)
        if record.file.public_id not in job.gone
    )
    records, failed = _export_month(portal, cases)
    result = build_shard(_exported_job(job, records, failed))
    return _record_shard(scratch, out_dir, result, result.records, failed)


def _build_and_record_shard(scratch: Scratch, out_dir: Path, job: ShardJob) -> dict[str, Any]:
    return _record_shard(scratch, out_dir, build_shard(job), 0)


# ---- Step 3: finish (site-wide pages, metrics, the ordered upload) ----


def _month_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """A month's entry in the site index: its state without what only the shard itself
    (manifest) or the metrics (tally) read, with the digests of its archive pieces."""
    summary = {k: v for k, v in state.items() if k not in _NOT_INDEXED}
    summary["pieces"] = previous_pieces(state["month"], state)
    return summary


_NOT_INDEXED = frozenset({"manifest", "tally", "render_key", "version", "month"})


def _site_index(site: SiteTarget, site_state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Month → summary, from the site state; a site published before the index existed
    has it made once from its month states."""
    if site_state.get("version") == SITE_INDEX_VERSION:
        return dict(site_state.get("index", {}))
    index = {}
    for month in site_state.get("months", ()):
        state = _read_json(site, month_state_key(month))
        if state:
            index[month] = _month_summary(state)
    return index


def _finish(
    portal: Portal,
    site: SiteTarget,
    scratch: Scratch,
    night: Night,
    *,
    staging: Path,
    project_root: Path | None = None,
    dry_run: bool = False,
    search_pages: int = search.MAX_PAGES,
    apply_ahead: bool = False,
) -> BuildReport:
    """Site-wide pages from the site index and tonight's shards, the plan, then (unless
    ``dry_run``) its application, the build marker and the steps after it
    (``site_extras``; ``search_pages``: the most pages to index, 0 for none).

    ``apply_ahead`` (a directory site, two cores or more): the shards' new leaves (new
    case pages and month files, the plan's first steps) go up in a process of their own
    while this one makes the site-wide pages and the plan (``_apply_ahead``)."""
    report = BuildReport(full=night.full, changed=night.changed, total=0)
    report.seconds.update(night.seconds)
    report.unpublished.extend(night.unpublished)
    today = night.now.astimezone(BEIJING).date()
    report.calendar = calendar_status(portal.calendar, today).to_dict()
    timer = _Timer(report)
    full, now = night.full, night.now
    root = Path(project_root) if project_root else PROJECT_ROOT
    context = site_context(
        portal.district, project_root=root, site_url=night.site_url, api_base=night.api_base
    )
    staging.mkdir(parents=True, exist_ok=True)
    plan = Plan(full=full, staging=str(staging), months=list(night.months))
    site_state = _read_json(site, SITE_STATE) or {}
    old_index = _site_index(site, site_state)
    index = {} if full else dict(old_index)

    uploads: list[Step] = []
    deletions: list[Step] = []
    shard_changed = False
    staged: set[str] = set()  # keys staged tonight by the shards
    sizes: dict[str, int] = {}
    for month in night.months:
        raw = scratch.read(f"shards/{month}.json")
        if raw is None:
            raise RuntimeError(f"the shard of {month} left no result")
        result = json.loads(raw)
        report.unpublished.extend(result.get("unpublished", ()))
        report.case_pages += result["case_pages"]
        report.case_seconds += result["render_seconds"]
        report.changed += result.get("exported", 0)
        sizes.update(result["sizes"])
        staged.update(result["sizes"])
        staged.update(result.get("staged", ()))
        added = set(result["added"])
        uploads.extend(
            Step("upload", key, tier_of(key), sizes[key], key in added) for key in result["changed"]
        )
        deletions.extend(Step("delete", key, DELETIONS) for key in result["deleted"])
        shard_changed = shard_changed or bool(result["changed"] or result["deleted"])
        state_key = month_state_key(month)
        if not result["records"]:
            index.pop(month, None)
            if month in old_index:
                deletions.append(Step("delete", state_key, DELETIONS))
            continue
        state = json.loads(scratch.read(f"staging/{state_key}") or b"{}")
        index[month] = _month_summary(state)
        if result["state_changed"]:
            uploads.append(
                Step("upload", state_key, STATES, sizes[state_key], month not in old_index)
            )
    for month in old_index:  # a month gone: its pieces go too (older sites may lack them)
        if month not in index:
            deletions.extend(Step("delete", piece_key(month, k), DELETIONS) for k in ARCHIVE_KINDS)
    ahead = (
        _apply_ahead(uploads, site, staging)
        if apply_ahead and not dry_run and scratch.local is not None
        else None
    )
    timer.lap("shards")

    # Metrics from the months' tallies: tonight's from the staged states, the others'
    # from the site (the one step that still reads every month; see docs/scale.md).
    months = sorted(index)
    rebuilt = set(night.months)

    def tallies() -> Iterator[MonthTally]:
        for month in months:
            key = month_state_key(month)
            raw = scratch.read(f"staging/{key}") if month in rebuilt else site.read(key)
            tally = json.loads(raw).get("tally") if raw else None
            if tally:
                yield tally

    metrics = combine_metrics(tallies(), portal.district, now=now)
    # Final months' dated snapshots, staged before the pages that link to them (snapshots.py).
    snapped = snapshots.stage(
        site, scratch, staging, metrics, now=now, context=context, taken_down=night.gone
    )
    metrics["snapshots"] = snapped.index
    uploads.extend(_upload(staging, key, new=new) for key, new in snapped.uploads)
    summaries = [{"month": m, **index[m]} for m in months]
    report.total = sum(s["cases"] or 0 for s in summaries)
    timer.lap("metrics")

    old_site_manifest: Mapping[str, str] = site_state.get("manifest", {})
    previous_as_of = site_state.get("as_of")
    as_of = now if (shard_changed or full or not previous_as_of) else _at(previous_as_of)
    site_files = _site_files(context, portal, metrics, summaries, as_of, staging)
    if as_of != now and any(old_site_manifest.get(k) != d for k, d in site_files.items()):
        # Something site-wide moved although no case did (a warning left its window):
        # tonight is a new edition after all.
        as_of = now
        site_files = _site_files(context, portal, metrics, summaries, as_of, staging)
    timer.lap("site")
    # The whole-archive downloads, joined from the months' pieces, only when one changed;
    # where each month's piece is in them, so that a later night reads it back from there.
    _missing_pieces(site, scratch, index, staged, staging)
    spans: dict[str, dict[str, list[int]]] = {}
    reuse: dict[str, list[Reuse]] = {}
    old_spans: Mapping[str, Mapping[str, Sequence[int]]] = site_state.get("archives", {})
    for kind, key in ((k, _archive_key(k)) for k in ARCHIVE_KINDS):
        sha = _archive_digest(kind, index, months)
        site_files[key] = sha
        if old_site_manifest.get(key) != sha:
            pieces = _pieces(
                site, scratch, staged, staging, index, months, kind, old_spans.get(kind, {})
            )
            spans[kind], reuse[key] = _write_archive(staging / key, kind, pieces)
        elif kind in old_spans:
            spans[kind] = {m: list(span) for m, span in old_spans[kind].items()}
    if site_state:
        # Older builds published each piece as a file of its own: a month's go once the
        # downloads say where its pieces are (a month rebuilt tonight has had them deleted).
        for month in months:
            placed = all(month in spans.get(k, ()) for k in ARCHIVE_KINDS)
            before = all(month in old_spans.get(k, ()) for k in ARCHIVE_KINDS)
            if month not in rebuilt and placed and not before:
                deletions.extend(
                    Step("delete", piece_key(month, k), DELETIONS) for k in ARCHIVE_KINDS
                )
    timer.lap("archive")
    editorial = _editorial(root, context, site_state, staging / "_editorial", full)
    timer.lap("site")

    manifest: dict[str, str] = dict(site_files)
    if editorial is None:  # unchanged: keep what is online
        manifest.update(site_state.get("editorial_manifest", {}))
        editorial_manifest = site_state.get("editorial_manifest", {})
    else:
        editorial_manifest = editorial
        manifest.update(editorial)
    for key, sha in manifest.items():
        if old_site_manifest.get(key) != sha:
            new = key not in old_site_manifest
            uploads.append(_upload(staging, key, new=new, reuse=reuse.get(key, ())))
    deletions.extend(Step("delete", k, DELETIONS) for k in old_site_manifest if k not in manifest)
    if full:
        legacy = _read_json(site, LEGACY_MANIFEST)
        if legacy:
            produced = set(manifest)
            for month in night.months:
                state = json.loads(scratch.read(f"staging/{month_state_key(month)}") or b"{}")
                produced.update(state.get("manifest", ()))
            deletions.extend(Step("delete", k, DELETIONS) for k in legacy if k not in produced)
            deletions.append(Step("delete", LEGACY_MANIFEST, DELETIONS))

    new_site_state = {
        "version": SITE_INDEX_VERSION,
        "publication_version": publication_version(portal.calendar),
        "as_of": as_of.isoformat(),
        "months": months,
        "index": index,
        "manifest": manifest,
        "editorial_manifest": editorial_manifest,
        "editorial_key": _editorial_key(root, context),
        "archives": spans,
    }
    site_state_bytes = _state_bytes(new_site_state)
    if uploads or deletions or _state_bytes(site_state) != site_state_bytes:
        (staging / SITE_STATE).parent.mkdir(parents=True, exist_ok=True)
        (staging / SITE_STATE).write_bytes(site_state_bytes)
        uploads.append(_upload(staging, SITE_STATE, new=not site_state))
    plan.steps = order_steps(_unique(uploads), _unique(deletions))
    report.plan = plan
    timer.lap("plan")

    if dry_run:
        return report
    if ahead is None:
        report.published = apply_plan(plan, site, scratch)
    else:
        report.published = _apply_rest(plan, site, scratch, ahead)
    portal.store.set_marker(MARKER, now.isoformat())
    portal.store.set_marker(VERSION_MARKER, publication_version(portal.calendar))
    scratch.discard(_scratch_names(night, staged))
    timer.lap("upload")
    # Posters, compressed siblings and the search index (site_extras).
    report.seconds.update(
        after_publish(
            site,
            portal.district,
            context.site_url,
            report.published.uploaded,
            report.published.deleted,
            search_pages=search_pages,
        )
    )
    return report


def _scratch_names(night: Night, staged: Iterable[str]) -> Iterator[str]:
    for month in night.months:
        yield f"shards/{month}.json"
        yield f"work/{month}.json"
    for key in staged:
        yield f"staging/{key}"


# ---- The build in one machine ----


def publish(
    portal: Portal,
    site: SiteTarget,
    *,
    work_dir: Path,
    site_url: str = "",
    full: bool = False,
    now: datetime | None = None,
    project_root: Path | None = None,
    dry_run: bool = False,
    workers: int | None = None,
    api_base: str = "/api",
    search_pages: int = search.MAX_PAGES,
) -> BuildReport:
    """Plan tonight's build, run its shards in a process pool and, unless ``dry_run``,
    apply it: the same three steps as the state machine, with the scratch space in
    ``work_dir`` (see the module doc), emptied once the build is published (a dry run
    leaves the plan's files in ``work_dir/staging``). ``search_pages``: as ``_finish``."""
    now = now or portal.clock()
    work_dir = Path(work_dir)
    for name in _WORK_NAMES:  # left by a dry run or a build that failed
        shutil.rmtree(work_dir / name, ignore_errors=True)
    staging = work_dir / "staging"
    staging.mkdir(parents=True)
    scratch = Scratch(local=work_dir)
    root = Path(project_root) if project_root else PROJECT_ROOT
    night = _plan(
        portal,
        site,
        scratch,
        night_id="local",
        now=now,
        full=full,
        site_url=site_url,
        api_base=api_base,
        workers=workers,
    )
    started = time.perf_counter()
    context = site_context(portal.district, project_root=root, site_url=site_url, api_base=api_base)
    jobs = (
        _shard_job(site, scratch, night, m, context, staging, work_dir / "fresh" / f"{m}.jsonl")
        for m in _largest_first(night)
    )
    # Each worker records its shard itself, as a shard on Lambda does: what comes back is
    # a line of summary, not the month's state, manifest and tally (pickled, and written
    # out by the parent, they took a core's share from the workers).
    if night.read_months:
        work = functools.partial(_read_month_shard, scratch, staging)
        list(_run_pool(work, jobs, workers, portal))
    else:
        list(_run_pool(functools.partial(_build_and_record_shard, scratch, staging), jobs, workers))
    night.seconds["shards"] = time.perf_counter() - started
    cores = workers if workers is not None else os.cpu_count() or 1
    report = _finish(
        portal,
        site,
        scratch,
        night,
        staging=staging,
        project_root=root,
        dry_run=dry_run,
        search_pages=search_pages,
        apply_ahead=cores > 1 and site_root(site) is not None,
    )
    if not dry_run:
        # Published: what was staged goes now, so that a night does not begin by deleting
        # the hundred thousand files a full build staged (each build pays for its own).
        started = time.perf_counter()
        for name in _WORK_NAMES:
            shutil.rmtree(work_dir / name, ignore_errors=True)
        report.seconds["cleanup"] = time.perf_counter() - started
    return report


# The scratch space's folders (``Scratch``): all of them go once a build is published.
_WORK_NAMES = ("staging", "fresh", "work", "shards")


# ---- The build as the state machine's steps (functions/nightly) ----


def plan_night(rt: Any, *, execution: str, full: bool = False) -> dict[str, Any]:
    """The state machine's Plan: ``{"build": {...}, "shards": [{"month": M}, ...]}``. The
    per-month work lists go to the bucket, never through the state (256 KB at most)."""
    site = rt.site_target()
    site.ensure_bucket()
    night_id = hashlib.sha256(execution.encode()).hexdigest()[:16]
    night = _plan(
        rt.portal,
        site,
        Scratch.for_night(site, night_id),
        night_id=night_id,
        now=rt.portal.clock(),
        full=full,
        site_url=rt.settings.site_url,
    )
    return {"build": night.to_dict(), "shards": [{"month": m} for m in night.months]}


def run_shard(rt: Any, *, build: Mapping[str, Any], shard: Mapping[str, Any]) -> dict[str, Any]:
    """One month (the Distributed Map's item): export its cases, build the shard, leave
    its files and result in the bucket for Finish. Idempotent: a retry writes the same."""
    import tempfile

    night = Night.from_dict(build)
    month = str(shard["month"])
    site = rt.site_target()
    scratch = Scratch.for_night(site, night.id)
    context = site_context(
        rt.portal.district,
        project_root=rt.settings.project_root,
        site_url=night.site_url,
        api_base=night.api_base,
    )
    work = json.loads(scratch.read(f"work/{month}.json") or b"{}")
    cases = histories(rt.portal, work.get("trackings", ()))
    records, failed = _export_month(rt.portal, cases)
    with tempfile.TemporaryDirectory(prefix="gridportal-shard-") as tmp:
        out_dir = Path(tmp) / "staging"
        job = _shard_job(site, scratch, night, month, context, out_dir, None)
        result = build_shard(_exported_job(job, records, failed))
        return _record_shard(scratch, out_dir, result, len(records), failed)


def finish_night(
    rt: Any, *, build: Mapping[str, Any], shards: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The state machine's Finish: site-wide pages, metrics, the ordered upload, the
    marker. The shards' results are read from the bucket (``shards`` is only their
    summary, kept for the execution's history)."""
    import tempfile

    night = Night.from_dict(build)
    site = rt.site_target()
    with tempfile.TemporaryDirectory(prefix="gridportal-finish-") as tmp:
        report = _finish(
            rt.portal,
            site,
            Scratch.for_night(site, night.id),
            night,
            staging=Path(tmp) / "staging",
            project_root=rt.settings.project_root,
        )
    return report.summary()


def apply_plan(plan: Plan, site: SiteTarget, scratch: Scratch | None = None) -> PublishResult:
    """The only code that writes to the site: uploads tier by tier, then deletions. A
    file not in the plan's staging directory was staged by a shard in the bucket
    (``scratch``) and is copied from there."""
    root = os.fspath(plan.staging)
    uploaded: list[str] = []
    deleted: list[str] = []
    size = 0
    batch: list[Step] = []

    # Locally every file is staged in the directory; on AWS the shards' are in the bucket.
    all_local = scratch is None or scratch.remote is None

    def flush() -> None:
        nonlocal size
        for step in [s for s in batch if s.reuse]:  # a download: its months online are kept
            size += site.put_reusing(step.key, staged_file(root, step.key), step.reuse)
            uploaded.append(step.key)
            batch.remove(step)
        if batch:
            paths = [(s.key, staged_file(root, s.key)) for s in batch]
            local = paths if all_local else [(k, p) for k, p in paths if os.path.isfile(p)]
            if local:
                # The staging directory is the night's scratch: its files may be taken.
                site.put_many(local, move=True)
            if len(local) < len(batch):
                assert scratch is not None and scratch.remote is not None
                have = {key for key, _ in local}
                site.copy_many(
                    [(scratch.key(f"staging/{s.key}"), s.key) for s in batch if s.key not in have]
                )
            uploaded.extend(s.key for s in batch)
            size += sum(s.size for s in batch)
            batch.clear()

    for step in plan.steps:
        if step.action == "upload":
            # Within a tier, new pages go before changed ones: a batch never mixes them.
            if batch and (batch[-1].tier, batch[-1].new) != (step.tier, step.new):
                flush()
            batch.append(step)
        else:
            flush()
            site.delete(step.key)
            deleted.append(step.key)
    flush()
    return PublishResult(tuple(uploaded), tuple(deleted), size)


@dataclass
class _Ahead:
    """Steps being applied in a process of their own (``_apply_ahead``)."""

    steps: list[Step]
    process: multiprocessing.process.BaseProcess


def _apply_ahead(uploads: Sequence[Step], site: SiteTarget, staging: Path) -> _Ahead | None:
    """Start applying the shards' new leaves while the site-wide pages are made: on a
    first build, nearly every file (100,000 renames at 100,000 cases, 4 s; 37 s at a
    million), which took a core after the rest while the other one idled.

    They are the plan's first steps: leaves go up before any page that links to them,
    new before changed (``order_steps``), and nothing online links to a new page yet.
    The process is forked (the site target is not sent anywhere); if this one fails
    before waiting for it, it still finishes, and no step it applies needs the rest."""
    steps = [s for s in order_steps(uploads, ()) if s.tier == LEAVES and s.new]
    if not steps:
        return None
    context = multiprocessing.get_context("fork")
    process = context.Process(
        target=apply_plan, args=(Plan(full=False, staging=str(staging), steps=steps), site)
    )
    process.start()
    return _Ahead(steps, process)


def _apply_rest(
    plan: Plan, site: SiteTarget, scratch: Scratch | None, ahead: _Ahead
) -> PublishResult:
    """The plan without what ``_apply_ahead`` applied, once it has."""
    ahead.process.join()
    if ahead.process.exitcode != 0:
        raise RuntimeError(f"applying the new pages ahead failed ({ahead.process.exitcode})")
    done = {s.key for s in ahead.steps}
    rest = replace(plan, steps=[s for s in plan.steps if s.key not in done])
    published = apply_plan(rest, site, scratch)
    return PublishResult(
        tuple(s.key for s in ahead.steps) + published.uploaded,
        published.deleted,
        sum(s.size for s in ahead.steps) + published.bytes,
    )


# ---- helpers ----


def _upload(staging: Path, key: str, *, new: bool, reuse: Iterable[Reuse] = ()) -> Step:
    size = staged_path(staging, key).stat().st_size
    return Step("upload", key, tier_of(key), size, new, tuple(reuse))


def _unique(steps: Iterable[Step]) -> list[Step]:
    seen: dict[str, Step] = {}
    for step in steps:
        seen.setdefault(step.key, step)
    return list(seen.values())


def _read_json(site: SiteTarget, key: str) -> dict[str, Any] | None:
    data = site.read(key)
    return json.loads(data) if data else None


def _state_bytes(state: Mapping[str, Any]) -> bytes:
    return json.dumps(state, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


_In = TypeVar("_In")
_Out = TypeVar("_Out")


def _run_pool(
    work: Callable[[_In], _Out],
    jobs: Iterable[_In],
    workers: int | None,
    portal: Portal | None = None,
) -> Iterator[_Out]:
    """``work(job)`` for each job in a process pool (workers = cores), forked so that
    they share ``portal`` (``_export_portal``); a few in flight at a time, so the parent
    never holds more than a handful of results."""
    global _export_portal
    workers = workers if workers is not None else (os.cpu_count() or 1)
    _export_portal = portal
    try:
        if workers <= 1:
            yield from map(work, jobs)
            return
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_worker_start
        ) as pool:
            pending: list[Future[_Out]] = []
            for job in jobs:
                pending.append(pool.submit(work, job))
                if len(pending) >= 2 * workers:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()
    finally:
        _export_portal = None


def _worker_start() -> None:
    """A pool worker's first step: the redactor's dictionaries loaded, then all that is
    alive so far (those, and what the worker was forked with) set aside from the garbage
    collector, which otherwise walks it again at each full collection: half of the
    collector's time in a shard, 3% of the shard's."""
    load_tables()
    gc.freeze()


def _site_files(
    context: SiteContext,
    portal: Portal,
    metrics: dict[str, Any],
    summaries: Sequence[Mapping[str, Any]],
    as_of: datetime,
    staging: Path,
) -> dict[str, str]:
    """Render the site-wide pages into ``staging``; returns key → SHA-256."""
    # The report says which edition it belongs to: on a night when nothing changed, the
    # same as the night before (so that nothing is uploaded).
    at = as_of.astimezone(BEIJING)
    metrics = {
        **metrics,
        "generated_at": at.isoformat(timespec="seconds"),
        "recent_since": (at - timedelta(days=RECENT_DAYS)).isoformat(timespec="seconds"),
        "calendar": calendar_status(portal.calendar, at.date()).to_dict(public=True),
    }
    recent: dict[str, list[Any]] = {}
    for summary in summaries:  # oldest month first: newer rows go in front
        for grid, rows in summary["recent"].items():
            recent[grid] = (list(rows) + recent.get(grid, []))[:10]
    totals = {
        "cases": sum(s["cases"] or 0 for s in summaries),
        "open": sum(s["open"] or 0 for s in summaries),
        "overdue": sum(s["overdue"] or 0 for s in summaries),
    }
    files: dict[str, str] = {}

    def emit(key: str, data: bytes) -> None:
        path = staged_path(staging, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[key] = digest(data)

    for key, data in site_pages(
        context,
        district=portal.district,
        metrics=metrics,
        months=month_counts(summaries),
        totals=totals,
        recent_by_grid=recent,
        as_of=as_of,
        summaries=summaries,
        posters=posters.enabled(context.site_url),
    ):
        emit(key, data)
    emit(METRICS_JSON, opendata.metrics_json(metrics).encode("utf-8"))
    months_with_cases = [m for m, _ in month_counts(summaries)]
    archives = [ARCHIVES[kind] for kind in ARCHIVE_KINDS] if months_with_cases else []
    for key, data in opendata.site_files(metrics, portal.calendar, months_with_cases, archives):
        emit(key, data)  # calendar, metrics table, datapackage.json (docs/open-data.md)
    endpoint = dict(context.settings)["API_BASE"] + "/open311/v2"
    for key, data in open311.site_copy(portal.district, endpoint=endpoint).items():
        emit(key, data)  # services and discovery (docs/open311.md)
    return files


def _archive_key(kind: str) -> str:
    return ARCHIVES[kind][0]


def _archive_digest(
    kind: str, index: Mapping[str, Mapping[str, Any]], months: Sequence[str]
) -> str:
    """What a whole-archive download is made of (its months' pieces), as one digest: it
    changes exactly when the file would, and needs no byte of the file."""
    parts = [f"{kind}:{PIECE_LEVEL}"] + [f"{m}:{index[m]['pieces'][kind]}" for m in months]
    return digest("\n".join(parts).encode())


def _missing_pieces(
    site: SiteTarget,
    scratch: Scratch,
    index: dict[str, dict[str, Any]],
    staged: set[str],
    staging: Path,
) -> None:
    """Pieces of months published before pieces existed, made once from their open-data
    files (into ``staging``); their digests go into the index."""
    for month, summary in sorted(index.items()):
        pieces = summary.setdefault("pieces", {})
        for kind in ARCHIVE_KINDS:
            if kind in pieces:
                continue
            data = _piece_from_open_data(site, scratch, month, kind)
            key = piece_key(month, kind)
            path = staging / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            pieces[kind] = digest(data)
            staged.add(key)


def _piece_from_open_data(site: SiteTarget, scratch: Scratch, month: str, kind: str) -> bytes:
    data_key = month_sources(month)[ARCHIVE_KINDS.index(kind)]
    # Tonight's first, then the site's: a file staged tonight may be on its way into the
    # site (``_apply_ahead``); a rename is atomic, so it is in one of the two.
    text = scratch.read(f"staging/{data_key}")
    if text is None:
        text = site.read(data_key)
    if text is None:
        raise RuntimeError(f"{data_key} is missing")
    return gz(month_piece(kind, text.decode("utf-8")))


def _pieces(
    site: SiteTarget,
    scratch: Scratch,
    staged: set[str],
    staging: Path,
    index: Mapping[str, Mapping[str, Any]],
    months: Sequence[str],
    kind: str,
    spans: Mapping[str, Sequence[int]],
) -> Iterator[tuple[str, bytes, int | None]]:
    """Each month's compressed piece, oldest first, with where it was in the published
    download (None: made tonight or found elsewhere): made tonight (staged), or read back
    out of the published download by its byte range (``spans``), checked against its
    digest. A site without those spans, or whose download no longer matches them (a
    night that failed between the two), has the piece from its older file, or made
    again from the month's open data."""
    for month in months:
        key = piece_key(month, kind)
        if (staging / key).is_file():
            yield month, (staging / key).read_bytes(), None
            continue
        if key in staged:  # on AWS, a shard's staged files are in the bucket
            data = scratch.read(f"staging/{key}")
            if data is None:
                raise RuntimeError(f"the archive piece {key} is missing")
            yield month, data, None
            continue
        want = index[month]["pieces"][kind]
        span = spans.get(month)
        found = _piece_candidates(site, scratch, month, kind, span)
        match = next(((d, s) for d, s in found if d is not None and digest(d) == want), None)
        if match is None:
            raise RuntimeError(f"the {kind} piece of {month} does not match its digest")
        data, from_span = match
        yield month, data, (span[0] if from_span and span else None)


def _piece_candidates(
    site: SiteTarget, scratch: Scratch, month: str, kind: str, span: Sequence[int] | None
) -> Iterator[tuple[bytes | None, bool]]:
    """Where a month's piece may be, read lazily in this order: its byte range in the
    published download, the file older builds published it as, its month's open data.
    With each, whether it is the byte range."""
    if span:
        yield site.read_range(_archive_key(kind), span[0], span[1]), True
    yield site.read(piece_key(month, kind)), False
    yield _piece_from_open_data(site, scratch, month, kind), False


def _write_archive(
    path: Path, kind: str, pieces: Iterable[tuple[str, bytes, int | None]]
) -> tuple[dict[str, list[int]], list[Reuse]]:
    """Join gzip members into one download (head, pieces with separators, tail): a
    valid gzip stream whose content equals ``opendata.archive_csv``/``archive_json``
    (for the steps, ``archive_csv`` with ``EVENT_COLUMNS``).
    One piece (one month) in memory at a time; nothing is compressed again. Returns
    where each month's piece is (month → [offset, length]), and the ranges of the file
    that are the published download's bytes at another offset (``Reuse``): the pieces
    read back out of it, with the head and the separators between them, which are the
    same members in every download of the kind. A bucket copies those server-side
    (``S3Site.put_reusing``), so a night sends only the months it rebuilt."""
    head, between, tail, empty_tail = archive_members(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    spans: dict[str, list[int]] = {}
    reuse: list[Reuse] = []
    first = True
    with open(path, "wb") as out:
        out.write(head)
        for month, piece, old in pieces:
            if not first:
                out.write(between)
            offset = out.tell()
            spans[month] = [offset, len(piece)]
            out.write(piece)
            if old is not None:
                # The separator before it (or the head) comes along when the range
                # before ends right where it would, in both files.
                lead = len(head) if first else len(between)
                last = reuse[-1] if reuse else None
                if first and old == offset:
                    reuse.append(Reuse(0, 0, offset + len(piece)))
                elif last and last.end == offset - lead and last.old + last.length == old - lead:
                    reuse[-1] = Reuse(last.new, last.old, last.length + lead + len(piece))
                else:
                    reuse.append(Reuse(offset, old, len(piece)))
            first = False
        out.write(empty_tail if first else tail)
    return spans, reuse


def _editorial_key(root: Path, context: SiteContext) -> str:
    """Changes when an editorial page, the theme, the Pelican settings or a shared value do."""
    import hashlib

    sha = hashlib.sha256(context.key.encode())
    for folder in (root / "content" / "pages", root / "themes" / "portal", root / "site"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                sha.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:16]


def _editorial(
    root: Path, context: SiteContext, site_state: Mapping[str, Any], out: Path, full: bool
) -> dict[str, str] | None:
    """Pelican's part (editorial pages, theme assets), only when it changed; in a short-lived
    subprocess, so that Pelican's class-level caches never grow a long-running process."""
    if not full and site_state.get("editorial_key") == _editorial_key(root, context):
        return None
    settings = dict(context.settings)
    command = [
        sys.executable,
        "-m",
        "gridportal.adapters.pelican_site",
        "--project-root",
        str(root),
        "--output",
        str(out),
        "--api-base",
        settings["API_BASE"],
        "--district-name",
        settings["DISTRICT_NAME"],
    ]
    subprocess.run(command, check=True, capture_output=True)
    staging = out.parent
    files: dict[str, str] = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            key = path.relative_to(out).as_posix()
            target = staged_path(staging, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target)
            files[key] = digest(target.read_bytes())
    shutil.rmtree(out, ignore_errors=True)
    return files


def publish_from_runtime(
    rt: Any, *, full: bool = False, work_dir: Path | None = None, dry_run: bool = False
) -> BuildReport:
    """The scheduled build, ``portal build`` and the demo all land here."""
    import tempfile

    site = rt.site_target()
    if not dry_run:
        site.ensure_bucket()
    return publish(
        rt.portal,
        site,
        # On Lambda the temporary directory is the only writable place.
        work_dir=work_dir or Path(tempfile.gettempdir()) / "gridportal-build",
        site_url=rt.settings.site_url,
        project_root=rt.settings.project_root,
        full=full,
        now=datetime.now(UTC),
        dry_run=dry_run,
    )


def plan_lines(plan: Plan) -> Iterator[str]:
    """The plan as text, one step a line (``portal build --dry-run``)."""
    data = plan.to_dict()
    yield (
        f"plan: {'full' if plan.full else 'incremental'} build, {len(plan.months)} month(s), "
        f"{data['uploads']} upload(s) ({data['upload_bytes']} bytes, "
        f"{data['reused_bytes']} of them online already), {data['deletions']} deletion(s)"
    )
    for step in plan.steps:
        sign = "+" if step.action == "upload" else "-"
        reused = sum(r.length for r in step.reuse)
        size = f" ({step.size} B" + (f", {reused} B online" if reused else "") + ")"
        yield f"{sign} [{step.tier}] {step.key}" + (size if step.size else "")


__all__ = [
    "BuildReport",
    "Plan",
    "PublishResult",
    "SiteTarget",
    "Step",
    "apply_plan",
    "plan_lines",
    "publish",
    "publish_from_runtime",
    "take_down",
    "takedowns",
    "tier_of",
]
