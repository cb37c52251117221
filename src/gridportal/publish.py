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
that, so a failed night is simply redone the next time.

Knowing what changed never re-hashes the site: each shard's manifest is in its state,
and only files rendered tonight are hashed.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from gridportal import open311
from gridportal.adapters.theme import (
    PROJECT_ROOT,
    SiteContext,
    site_context,
    site_pages,
)
from gridportal.domain import opendata
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.lifecycle import replay
from gridportal.domain.metrics import RECENT_DAYS, MonthTally, combine_metrics
from gridportal.domain.model import Event
from gridportal.domain.publication import PublishedRecord, month_of, public_record
from gridportal.ports import COMMAND_CENTRE, CaseRecord, Store
from gridportal.services import Portal
from gridportal.shards import (
    SITE_STATE,
    STATE_PREFIX,
    ShardJob,
    ShardResult,
    build_shard,
    digest,
    month_counts,
    month_data_keys,
    month_state_key,
)

MARKER = "build"
# A step's time is taken before its write lands, and the ``changed`` index is eventually
# consistent: re-read a margin before the last build so no late write is missed for good.
OVERLAP = timedelta(minutes=15)
# Bump when what a published record holds changes (allowlist, redactor): the next build
# is then a full one, so no page published under the old rules stays online.
PUBLICATION_VERSION = "2026-12-01.1"
VERSION_MARKER = "publication-version"
# Cases taken down by an operator (撤下): a store marker holding {tracking: {reason, at}}.
TAKEDOWNS = "takedowns"
ARCHIVE_CSV = "data/cases.csv.gz"
ARCHIVE_JSON = "data/cases.json.gz"
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

    def put(self, key: str, source: Path) -> None: ...

    def delete(self, key: str) -> None: ...

    def put_many(self, items: Sequence[tuple[str, Path]]) -> None: ...


# ---- The plan: plain data ----


@dataclass(frozen=True)
class Step:
    action: Literal["upload", "delete"]
    key: str
    tier: int  # LEAVES … ENTRY pages, DELETIONS, shard STATES, the site state last
    size: int = 0
    new: bool = False  # not online before (uploaded ahead of changed pages of its tier)


@dataclass
class Plan:
    full: bool
    staging: str  # directory holding every file to upload, under its key
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
            "deletions": len(self.deletions),
            "steps": [
                {"action": s.action, "key": s.key, "tier": s.tier, "size": s.size}
                for s in self.steps
            ],
        }


# The order of the plan. A page goes up after every page it links to (entry pages, which
# every page links to, go up last): case pages link to their month's first listing page,
# which links to its further pages and the month's metrics; grid bulletins link to cases.
LEAVES, LISTINGS, MONTH_FIRST, BULLETINS, ENTRY, DELETIONS, STATES, SITE_STATE_TIER = range(1, 9)


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


def published(portal: Portal, record: CaseRecord, events: list[Event]) -> PublishedRecord:
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
    )


def _line(record: PublishedRecord) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


# Replaying and redacting is most of the export's cost, and needs no store: batches of
# histories go to worker processes (forked, so they share the portal's reference data,
# calendar and keys), while this process alone reads the store and writes the spill.
EXPORT_BATCH = 200
_export_portal: Portal | None = None


def _export_batch(batch: list[tuple[CaseRecord, list[Event]]]) -> list[tuple[str, str]]:
    assert _export_portal is not None
    out = []
    for record, events in batch:
        published_record = published(_export_portal, record, events)
        out.append((published_record["month"], _line(published_record)))
    return out


def _batches(
    cases: Iterable[tuple[CaseRecord, list[Event]]],
) -> Iterator[list[tuple[CaseRecord, list[Event]]]]:
    batch: list[tuple[CaseRecord, list[Event]]] = []
    for case in cases:
        batch.append(case)
        if len(batch) >= EXPORT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _export(
    portal: Portal, cases: Iterable[tuple[CaseRecord, list[Event]]], workers: int | None
) -> Iterator[tuple[str, str]]:
    """(month, JSON line) of each case's published record, in a pool when it pays."""
    global _export_portal
    workers = workers if workers is not None else (os.cpu_count() or 1)
    batches = _batches(cases)
    first = next(batches, None)
    if first is None:
        return
    _export_portal = portal
    try:
        if workers <= 1 or len(first) < EXPORT_BATCH:
            yield from _export_batch(first)
            for batch in batches:
                yield from _export_batch(batch)
            return
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending = [pool.submit(_export_batch, first)]
            for batch in batches:
                pending.append(pool.submit(_export_batch, batch))
                if len(pending) >= 2 * workers:
                    yield from pending.pop(0).result()
            for future in pending:
                yield from future.result()
    finally:
        _export_portal = None


class _Spill:
    """Published records appended to one JSON-lines file per month (memory stays flat)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.handles: dict[str, IO[str]] = {}
        self.count = 0

    def write(self, month: str, line: str) -> None:
        handle = self.handles.get(month)
        if handle is None:
            # One handle per month stays open for the whole export; close() ends them.
            handle = self.handles[month] = open(self.path(month), "w", encoding="utf-8")  # noqa: SIM115
        handle.write(line)
        self.count += 1

    def path(self, month: str) -> Path:
        return self.root / f"{month}.jsonl"

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


# ---- The build ----


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
) -> BuildReport:
    """Plan tonight's build and, unless ``dry_run``, apply it (see the module doc)."""
    now = now or portal.clock()
    store = portal.store
    marker = store.get_marker(MARKER)
    site_state = _read_json(site, SITE_STATE) or {}
    if (
        full
        or marker is None
        or store.get_marker(VERSION_MARKER) != PUBLICATION_VERSION
        or site_state.get("publication_version") != PUBLICATION_VERSION
    ):
        full = True
    report = BuildReport(full=full, changed=0, total=0)
    timer = _Timer(report)

    root = Path(project_root) if project_root else PROJECT_ROOT
    context = site_context(portal.district, project_root=root, site_url=site_url, api_base=api_base)
    work_dir = Path(work_dir)
    staging = work_dir / "staging"
    shutil.rmtree(work_dir / "staging", ignore_errors=True)
    shutil.rmtree(work_dir / "fresh", ignore_errors=True)
    staging.mkdir(parents=True)
    plan = Plan(full=full, staging=str(staging))

    # 1. Export: tonight's records by month, and the cases to remove.
    down = takedowns(store)
    spill = _Spill(work_dir / "fresh")
    removed: dict[str, set[str]] = {}
    try:
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
                    state = replay(events)
                    month = month_of(state.received_at)
                    removed.setdefault(month, set()).add(record.file.public_id)

        for month, line in _export(portal, kept(), workers):
            spill.write(month, line)
    finally:
        spill.close()
    report.changed = spill.count
    timer.lap("export")

    # 2. Month shards.
    known_months = set(site_state.get("months", ()))
    touched = sorted(set(spill.handles) | set(removed) | (known_months if full else set()))
    plan.months = touched

    def jobs() -> Iterator[ShardJob]:
        for month in touched:
            previous_state = _read_json(site, month_state_key(month))
            yield ShardJob(
                month=month,
                context=context,
                out_dir=str(staging),
                fresh_file=str(spill.path(month)) if month in spill.handles else None,
                removed=frozenset(removed.get(month, ())),
                previous=None if full else site.read(month_data_keys(month)[1]),
                previous_state=previous_state,
                render_all=full,
            )

    uploads: list[Step] = []
    deletions: list[Step] = []
    shard_changed = False
    new_states: dict[str, Path] = {}
    for result in _run_shards(jobs(), workers):
        report.case_pages += result.case_pages
        report.case_seconds += result.render_seconds
        added = set(result.added)
        uploads.extend(_upload(staging, key, new=key in added) for key in result.changed)
        deletions.extend(Step("delete", key, DELETIONS) for key in result.deleted)
        shard_changed = shard_changed or bool(result.changed or result.deleted)
        state_key = month_state_key(result.month)
        if result.empty:
            if result.month in known_months:
                deletions.append(Step("delete", state_key, DELETIONS))
            continue
        path = staging / state_key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_state_bytes(result.state))
        new_states[result.month] = path
        if result.state_changed:
            uploads.append(_upload(staging, state_key, new=result.month not in known_months))
    timer.lap("shards")

    # 3. Site-wide: metrics from the states' tallies, then the pages.
    months = sorted(
        (known_months - set(touched)) | set(new_states),
    )
    summaries: list[dict[str, Any]] = []

    def tallies() -> Iterator[MonthTally]:
        for month in months:
            if month in new_states:
                state = json.loads(new_states[month].read_bytes())
            else:
                state = _read_json(site, month_state_key(month)) or {}
            summaries.append({k: state.get(k) for k in ("month", "cases", "open", "overdue")})
            summaries[-1]["recent"] = state.get("recent", {})
            tally = state.get("tally")
            if tally:
                yield tally

    metrics = combine_metrics(tallies(), portal.district, now=now)
    report.total = sum(s["cases"] or 0 for s in summaries)
    timer.lap("metrics")

    old_site_manifest: Mapping[str, str] = site_state.get("manifest", {})
    previous_as_of = site_state.get("as_of")
    as_of = now if (shard_changed or full or not previous_as_of) else _at(previous_as_of)
    site_files = _site_files(
        context, portal, metrics, summaries, as_of, shard_changed or full, site, months, staging
    )
    if as_of != now and any(old_site_manifest.get(k) != d for k, d in site_files.items()):
        # Something site-wide moved although no case did (a warning left its window):
        # tonight is a new edition after all.
        as_of = now
        site_files = _site_files(
            context, portal, metrics, summaries, as_of, True, site, months, staging
        )
    editorial = _editorial(root, context, site_state, staging / "_editorial", full)
    timer.lap("site")

    manifest: dict[str, str] = dict(site_files)
    if editorial is None:  # unchanged: keep what is online
        manifest.update(site_state.get("editorial_manifest", {}))
        editorial_manifest = site_state.get("editorial_manifest", {})
    else:
        editorial_manifest = editorial
        manifest.update(editorial)
    for key in (ARCHIVE_CSV, ARCHIVE_JSON):
        if key not in site_files and key in old_site_manifest:
            manifest[key] = old_site_manifest[key]
    for key, sha in manifest.items():
        if old_site_manifest.get(key) != sha:
            uploads.append(_upload(staging, key, new=key not in old_site_manifest))
    deletions.extend(Step("delete", k, DELETIONS) for k in old_site_manifest if k not in manifest)
    if full:
        legacy = _read_json(site, LEGACY_MANIFEST)
        if legacy:
            produced = set(manifest) | {
                k for path in new_states.values() for k in json.loads(path.read_bytes())["manifest"]
            }
            deletions.extend(Step("delete", k, DELETIONS) for k in legacy if k not in produced)
            deletions.append(Step("delete", LEGACY_MANIFEST, DELETIONS))

    new_site_state = {
        "version": 1,
        "publication_version": PUBLICATION_VERSION,
        "as_of": as_of.isoformat(),
        "months": months,
        "manifest": manifest,
        "editorial_manifest": editorial_manifest,
        "editorial_key": _editorial_key(root, context),
    }
    site_state_bytes = _state_bytes(new_site_state)
    if uploads or deletions or _state_bytes(site_state) != site_state_bytes:
        (staging / SITE_STATE).parent.mkdir(parents=True, exist_ok=True)
        (staging / SITE_STATE).write_bytes(site_state_bytes)
        uploads.append(_upload(staging, SITE_STATE, new=not site_state))
    plan.steps = order_steps(uploads, _unique(deletions))
    report.plan = plan
    timer.lap("plan")

    if dry_run:
        return report
    report.published = apply_plan(plan, site)
    store.set_marker(MARKER, now.isoformat())
    store.set_marker(VERSION_MARKER, PUBLICATION_VERSION)
    timer.lap("upload")
    return report


def apply_plan(plan: Plan, site: SiteTarget) -> PublishResult:
    """The only code that writes to the site: uploads tier by tier, then deletions."""
    staging = Path(plan.staging)
    uploaded: list[str] = []
    deleted: list[str] = []
    size = 0
    batch: list[Step] = []

    def flush() -> None:
        nonlocal size
        if batch:
            site.put_many([(s.key, staging / s.key) for s in batch])
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


# ---- helpers ----


def _upload(staging: Path, key: str, *, new: bool) -> Step:
    return Step("upload", key, tier_of(key), (staging / key).stat().st_size, new)


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


def _run_shards(jobs: Iterable[ShardJob], workers: int | None) -> Iterator[ShardResult]:
    """Shards in a process pool (workers = cores); a few in flight at a time, so the
    parent never holds more than a handful of months."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers <= 1:
        yield from map(build_shard, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: list[Future[ShardResult]] = []
        queue = iter(jobs)
        for job in queue:
            pending.append(pool.submit(build_shard, job))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def _site_files(
    context: SiteContext,
    portal: Portal,
    metrics: dict[str, Any],
    summaries: Sequence[Mapping[str, Any]],
    as_of: datetime,
    archive: bool,
    site: SiteTarget,
    months: Sequence[str],
    staging: Path,
) -> dict[str, str]:
    """Render the site-wide files into ``staging``; returns key → SHA-256."""
    # The report says which edition it belongs to: on a night when nothing changed, the
    # same as the night before (so that nothing is uploaded).
    at = as_of.astimezone(BEIJING)
    metrics = {
        **metrics,
        "generated_at": at.isoformat(timespec="seconds"),
        "recent_since": (at - timedelta(days=RECENT_DAYS)).isoformat(timespec="seconds"),
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
        path = staging / key
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
    ):
        emit(key, data)
    emit(METRICS_JSON, opendata.metrics_json(metrics).encode("utf-8"))
    months_with_cases = [m for m, _ in month_counts(summaries)]
    for key, data in opendata.site_files(metrics, portal.calendar, months_with_cases):
        emit(key, data)  # calendar, metrics table, datapackage.json (docs/open-data.md)
    endpoint = f"{dict(context.settings)['API_BASE']}/{open311.PREFIX}"
    for key, data in open311.site_copy(portal.district, endpoint=endpoint).items():
        emit(key, data)
    if archive:
        for key, stream in (
            (ARCHIVE_CSV, opendata.archive_csv),
            (ARCHIVE_JSON, opendata.archive_json),
        ):
            files[key] = _write_archive(
                staging / key, stream(_month_lines(site, staging, months, key))
            )
    return files


def _month_lines(
    site: SiteTarget, staging: Path, months: Sequence[str], archive_key: str
) -> Iterator[list[bytes]]:
    """Each month's open-data file as lines, from tonight's staging or from the site."""
    kind = 0 if archive_key == ARCHIVE_CSV else 1
    for month in months:
        key = month_data_keys(month)[kind]
        staged = staging / key
        data = staged.read_bytes() if staged.is_file() else site.read(key)
        yield (data or b"").splitlines(keepends=True)


def _write_archive(path: Path, chunks: Iterable[bytes]) -> str:
    """Gzip the stream into ``path`` (mtime 0: the same data gives the same bytes)."""
    import hashlib

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for chunk in chunks:
            gz.write(chunk)
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


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
            target = staging / key
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
        f"{data['uploads']} upload(s) ({data['upload_bytes']} bytes), "
        f"{data['deletions']} deletion(s)"
    )
    for step in plan.steps:
        sign = "+" if step.action == "upload" else "-"
        yield f"{sign} [{step.tier}] {step.key}" + (f" ({step.size} B)" if step.size else "")


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
