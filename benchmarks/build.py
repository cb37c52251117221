"""The nightly build at city scale (issue 8), measured and printed as one table.

    python benchmarks/build.py --all              every piece, one table (long: the 1M runs)
    python benchmarks/build.py --full-100k --api  only some pieces

Pieces (each runs in a fresh process, so its wall time and peak memory are its own):

  --full-100k     full build of 100,000 cases: wall time, peak memory
  --full-1m       full build of 1,000,000 cases: wall time, peak memory
  --incremental   a night at 1,000,000 cases with 5,000 changed: wall time, pages rendered,
                  files and bytes uploaded, by kind of file, as files and as a bucket
                  stores them (runs --full-1m first if its site is missing)
  --incremental-100k  a night at 100,000 cases with 1,000 changed (1%), the same figures
  --nights-100k   three consecutive nights at 100,000 cases with 100, 1,000 and 10,000
                  changed: a bucket's bytes beside the change and the months it touched
  --search        the search index of the 1,000,000-case site, as a build keeps it after
                  publishing: wall time, Pagefind's peak memory, records indexed
  --pelican       20,000 case pages: the portal's renderer against Pelican's own Markdown
                  article pipeline on the same cases
  --metrics       the metrics over 1,000,000 published records (needs the 1M site)
  --api           the API bundle (make package): unzipped size, cold import time

Every run also measures the machine's pace before and after the pieces (one month of the
20,000-case archive read, redacted, rendered and made into open data in one process, in
memory; ms of CPU a case): the machine is shared, and a run's figures are read beside
the pace it ran at.

The archives are synthetic (``portal synth``, seed 2026, five years up to 2026-11-30) and
are generated once into ``var/bench/cases-<N>.db`` (SQLite) and reused; each build works
on a copy, so the generated archive stays as generated. Builds publish to a directory
(the embedded shape) with two worker processes. Peak memory is the largest resident set
of the build process and, separately, of its largest worker. Nothing is written outside
var/bench/ (or the directory given with ``--dir``).

``--profile`` runs each build piece under cProfile with one worker (every step in the
build's own process, so the profile sees the export and the shards too) and writes
``<dir>/profile-<piece>.prof`` and the top functions to stderr; its times are not the
benchmark's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# --dir sets it for the pieces too (they run in child processes).
BENCH = Path(os.environ.get("GRIDPORTAL_BENCH_DIR") or ROOT / "var" / "bench")
SECRET = "benchmark-secret-not-for-production"
SEED = 2026
UNTIL = date(2026, 11, 30)  # the last day of the synthetic archives (Beijing)
FIRST_NIGHT = datetime(2026, 11, 30, 18, tzinfo=UTC)  # 02:00 Beijing, 1 December
SECOND_NIGHT = FIRST_NIGHT + timedelta(days=1)
CHANGED = 5_000
PELICAN_CASES = 20_000
WORKERS = 1 if os.environ.get("GRIDPORTAL_BENCH_PROFILE") else 2
os.environ.update(
    {
        "GRIDPORTAL_SECRET": SECRET,
        "GRIDPORTAL_CONTENT": str(ROOT / "content"),
        "GRIDPORTAL_PROJECT_ROOT": str(ROOT),
    }
)


# --------------------------------------------------------------------------- helpers
def peak_mb() -> dict[str, float]:
    """Largest resident set of this process and of its largest child (ru_maxrss is KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_mb": round(own, 1), "peak_worker_mb": round(children, 1)}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (workers): on a machine shared
    with other work, the wall time says how busy the machine was; this says what the
    build cost."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def portal_on(path: Path) -> Any:
    from gridportal.adapters.calendar_file import load_calendar
    from gridportal.adapters.sqlite import SqliteStore
    from gridportal.config import Settings
    from gridportal.domain.credentials import Keys
    from gridportal.runtime import load_district
    from gridportal.services import Portal

    settings = Settings.from_env()
    return Portal(
        store=SqliteStore(path),
        district=load_district(settings),
        calendar=load_calendar(settings.content_dir / "calendar" / "overrides.json"),
        keys=Keys(SECRET.encode()),
        clock=lambda: FIRST_NIGHT,
    )


def archive(count: int) -> Path:
    """The synthetic archive of ``count`` cases, generated on first use."""
    from gridportal.adapters.sqlite import SqliteStore
    from gridportal.domain.deadlines import BEIJING
    from gridportal.synth import synthesize

    path = BENCH / f"cases-{count}.db"
    if path.exists():
        return path
    BENCH.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in BENCH.glob(partial.name + "*"):
        leftover.unlink()
    portal = portal_on(partial)
    print(f"generating {count:,} synthetic cases into {path} …", file=sys.stderr)
    started = time.perf_counter()
    synthesize(
        portal.store,
        portal.district,
        portal.calendar,
        portal.keys,
        count=count,
        seed=SEED,
        end=datetime.combine(UNTIL, time_of_day.max, BEIJING),  # as `portal synth --until`
        workers=WORKERS,
        open_store=lambda: SqliteStore(partial),
    )
    portal.store.close()
    _checkpoint(partial)
    partial.rename(path)
    print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def _checkpoint(path: Path) -> None:
    """Everything into the main file, and no log beside it: the file alone is the archive."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def working_copy(count: int, name: str) -> Path:
    """A copy of the archive that a build may mark and change."""
    source = archive(count)
    _checkpoint(source)
    target = BENCH / f"{name}.db"
    for old in BENCH.glob(f"{name}.db*"):
        old.unlink()
    shutil.copyfile(source, target)
    return target


DISCARDED = "discarded"


def set_aside(*trees: Path) -> None:
    """Move a previous run's output out of the way, to be deleted after the run
    (``discard_set_aside``). Deleting 100,000 files just before a build slowed it: on
    an ext4 file system without a journal, each new file's inode is sought past those
    freed in the last 30 s or so (``recently_deleted`` in the kernel; ``perf`` showed it
    taking most of a build's system time)."""
    aside = BENCH / DISCARDED
    aside.mkdir(parents=True, exist_ok=True)
    for tree in trees:
        if tree.exists():
            tree.rename(aside / f"{tree.name}-{time.time_ns()}")


def discard_set_aside() -> None:
    """Run by the parent process, which read ``--dir`` after ``BENCH`` was set; the
    pieces run in ``ROOT``, so a relative directory is theirs."""
    bench = ROOT / (os.environ.get("GRIDPORTAL_BENCH_DIR") or BENCH)
    shutil.rmtree(bench / DISCARDED, ignore_errors=True)


def site_dir(name: str) -> Path:
    return BENCH / f"site-{name}"


def build(portal: Any, name: str, *, now: datetime, full: bool) -> Any:
    from gridportal.adapters.directory_site import DirectorySite
    from gridportal.publish import publish

    site = DirectorySite(site_dir(name))
    site.ensure_bucket()

    def run() -> Any:
        return publish(
            portal,
            site,
            work_dir=BENCH / f"work-{name}",
            full=full,
            now=now,
            project_root=ROOT,
            workers=WORKERS,
            search_pages=0,  # the search index has a piece of its own (piece_search)
        )

    if not os.environ.get("GRIDPORTAL_BENCH_PROFILE"):
        return run()
    import cProfile
    import pstats

    profile = cProfile.Profile()
    report = profile.runcall(run)
    out = BENCH / f"profile-{name}{'' if full else '-night'}.prof"
    profile.dump_stats(out)
    stats = pstats.Stats(str(out), stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(40)
    return report


# The steps after the plan is applied, on a directory site only (site_extras), and the
# scratch space emptied: the site is online before them.
AFTER_PUBLISHED = frozenset({"posters", "compress", "search", "cleanup"})


def report_figures(report: Any) -> dict[str, Any]:
    summary = report.summary()
    steps = summary.get("seconds") or {}
    return {
        "published_seconds": round(sum(v for k, v in steps.items() if k not in AFTER_PUBLISHED), 1),
        "case_pages": summary.get("case_pages"),
        "case_pages_per_second": summary.get("case_pages_per_second"),
        "months": summary.get("months_rebuilt"),
        "uploaded": summary.get("uploaded"),
        "deleted": summary.get("deleted"),
        "bytes": summary.get("bytes"),
        "bytes_by_kind": bytes_by_kind(report.plan),
        "steps": summary.get("seconds"),
    }


def bytes_by_kind(plan: Any, size: Callable[[Any], int] | None = None) -> dict[str, int]:
    """The plan's upload bytes by kind of file, largest first: what a night sends, and
    why. ``size``: a step's bytes (default: the file's, as the plan has it)."""
    from gridportal.publish import ARCHIVES, LEAVES, tier_of
    from gridportal.shards import STATE_PREFIX

    archives = {archive for archive, _table in ARCHIVES.values()}

    def kind(key: str) -> str:
        if key in archives:
            return "whole-archive downloads"
        if key.startswith(STATE_PREFIX):
            return "build state"
        if key.startswith(("data/", "open311/")):
            return "open data"
        if key.startswith("cases/") and tier_of(key) == LEAVES:
            return "case pages"
        return "other pages and files"

    kinds: dict[str, int] = {}
    for step in plan.uploads if plan is not None else ():
        name = kind(step.key)
        kinds[name] = kinds.get(name, 0) + (size(step) if size else step.size)
    return dict(sorted(kinds.items(), key=lambda item: -item[1]))


# ---------------------------------------------------------------------------- pieces
def piece_full(count: int) -> dict[str, Any]:
    name = f"full-{count}"
    path = working_copy(count, name)
    set_aside(site_dir(name), BENCH / f"work-{name}")
    portal = portal_on(path)
    started, cpu = time.perf_counter(), cpu_seconds()
    report = build(portal, name, now=FIRST_NIGHT, full=True)
    seconds = time.perf_counter() - started
    return {
        "cases": count,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds() - cpu, 1),
        **report_figures(report),
        **peak_mb(),
    }


def piece_incremental(count: int = 1_000_000, changes: int = CHANGED) -> dict[str, Any]:
    name = f"full-{count}"
    path = BENCH / f"{name}.db"
    if not path.exists() or not (site_dir(name) / "index.html").exists():
        piece_full(count)  # the night before: not measured here
    portal = portal_on(path)
    if portal.store.get_marker("build") is None:
        raise SystemExit(f"the {count:,} working copy has no build marker: run its full build")
    if portal.store.get_marker("build") != FIRST_NIGHT.isoformat():
        raise SystemExit(f"a night already ran on the {count:,} copy: run its full build again")
    moved = change_cases(portal, changes)
    started, cpu = time.perf_counter(), cpu_seconds()
    report = build(portal, name, now=SECOND_NIGHT, full=False)
    seconds = time.perf_counter() - started
    return {
        "changed": changes,
        "moved": moved,
        "refreshed": report.changed,  # records the night exported (changed plus open cases)
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds() - cpu, 1),
        **report_figures(report),
        **bucket_bytes(report.plan, site_dir(name)),
        **peak_mb(),
    }


def piece_search(count: int = 1_000_000) -> dict[str, Any]:
    """The search index a directory site keeps (``search.refresh``, after a build): over a
    site of ``count`` cases, every bulletin and the newest records up to its page limit.
    Its peak is Pagefind's, the one child of this process."""
    from gridportal import search

    name = f"full-{count}"
    if not (site_dir(name) / "index.html").exists():
        piece_full(count)  # the site to index: not measured here
    root = site_dir(name)
    started, cpu = time.perf_counter(), cpu_seconds()
    search.refresh(root)
    scope = json.loads((root / search.INDEX_DIR / search.SCOPE_FILE).read_text("utf-8"))
    return {
        "cases": count,
        "site_pages": search.pages(root),
        "indexed_cases": scope.get("cases"),
        "since": scope.get("since"),
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(cpu_seconds() - cpu, 1),
        **peak_mb(),
    }


def bucket_bytes(plan: Any, root: Path) -> dict[str, Any]:
    """What the same night sends to a bucket: ``S3Site`` stores data and state files
    gzip-encoded, and copies the ranges of a download that are the online one's
    server-side (``put_reusing``). Measured by compressing the published files as it
    does, and by its rule for the parts (after the timing)."""
    from gridportal.adapters.directory_site import stored_name
    from gridportal.adapters.s3_site import sent_bytes, stored_size

    def size(step: Any) -> int:
        stored = stored_size(step.key, root / stored_name(step.key))
        return sent_bytes(stored, step.reuse) if step.reuse else stored

    kinds = bytes_by_kind(plan, size)
    downloads = sum(step.size for step in (plan.uploads if plan is not None else ()) if step.reuse)
    return {
        "bucket_bytes": sum(kinds.values()),
        "bucket_bytes_by_kind": kinds,
        "downloads_bytes": downloads,  # the downloads' size, of which the bucket receives
    }


# Consecutive nights after the first, at 100,000 cases: cases changed on each day.
NIGHT_CHANGES = (100, 1_000, 10_000)


def piece_nights(count: int = 100_000) -> dict[str, Any]:
    """Consecutive nights with ``NIGHT_CHANGES`` changed: what a bucket receives, by
    kind, beside the cases changed and the cases of the months they touched (a night
    remakes a touched month's listings and open data whole, docs/scale.md)."""
    from gridportal.domain.deadlines import BEIJING
    from gridportal.shards import month_state_key

    name = f"nights-{count}"
    path = working_copy(count, name)
    set_aside(site_dir(name), BENCH / f"work-{name}")
    portal = portal_on(path)
    build(portal, name, now=FIRST_NIGHT, full=True)  # the night before: not measured
    nights, night, first = [], FIRST_NIGHT, max(count, 10**6)  # past the archive's indexes
    for changes in NIGHT_CHANGES:
        day, night = night + timedelta(hours=8), night + timedelta(days=1)
        moved = change_cases(portal, changes, day=day, night=night, first=first)
        first += changes
        started = time.perf_counter()
        report = build(portal, name, now=night, full=False)
        seconds = time.perf_counter() - started
        months = report.plan.months if report.plan else []
        in_months = 0
        for month in months:
            state = site_dir(name) / month_state_key(month)
            if state.exists():
                in_months += json.loads(state.read_text("utf-8")).get("cases", 0)
        nights.append(
            {
                "night": night.astimezone(BEIJING).date().isoformat(),
                "changed": changes,
                "moved": moved,  # open cases that took a step; the rest were filed that day
                "refreshed": report.changed,
                "months": months,
                "cases_in_months": in_months,
                "case_pages": report.case_pages,
                "seconds": round(seconds, 1),
                **bucket_bytes(report.plan, site_dir(name)),
            }
        )
    return {"cases": count, "nights": nights}


def change_cases(
    portal: Any,
    count: int,
    *,
    day: datetime = FIRST_NIGHT + timedelta(hours=8),  # 10:00 Beijing, the day before
    night: datetime = SECOND_NIGHT,
    first: int = 10**6,
) -> int:
    """The day's changes: one step on up to half of them open cases (oldest first, as
    many as can take one), and the rest new cases filed on the day of ``night``.
    ``first``: the synthetic index of the first new case (indexes past the archive's end
    draw tracking numbers it has not used). Returns how many open cases moved."""
    from gridportal.ports import COMMAND_CENTRE
    from gridportal.synth import Chunk, chunk_histories, make_setting

    portal.clock = lambda: day
    moved = 0
    for unit in (COMMAND_CENTRE, *(d.id for d in portal.district.departments)):
        for record in portal.store.unit_queue(unit):
            if moved >= count // 2:
                break
            if advance(portal, record):
                moved += 1
    setting = make_setting(
        portal.district, portal.calendar, portal.keys, seed=SEED, end=night, years=5
    )
    chunk = Chunk(first, first, ((night.date(), count - moved),))
    portal.store.put_histories(chunk_histories(setting, chunk))
    return moved


def advance(portal: Any, record: Any) -> bool:
    from gridportal.demo import DISPATCHER, SUPERVISOR, handler
    from gridportal.domain.model import Action, Status
    from gridportal.services import PortalError

    status, unit = record.status, record.unit
    service = portal.district.service(record.file.complaint.category)
    department = service.department if service else portal.district.departments[0].id
    steps = {
        Status.RECEIVED: (Action.ASSESS, DISPATCHER, "已研判分类。", {"priority": "general"}),
        Status.ASSESSED: (Action.DISPATCH, DISPATCHER, "转办。", {"unit": department}),
        Status.DISPATCHED: (Action.ACCEPT, handler(unit or department), "", {}),
        Status.IN_PROGRESS: (Action.RESOLVE, handler(unit or department), "已办结。", {}),
        Status.AWAITING_DECISION: (
            Action.DECIDE,
            SUPERVISOR,
            "明确牵头单位。",
            {"unit": department},
        ),
    }
    step = steps.get(status)
    if step is None:
        return False
    action, actor, note, data = step
    try:
        portal.act(record.tracking, action, actor, public_note=note, data=data)
    except PortalError:
        return False
    return True


def piece_pelican() -> dict[str, Any]:
    """The same 20,000 case pages: the portal's renderer, then Pelican's article pipeline."""
    from gridportal.adapters.theme import Theme, site_context
    from gridportal.shards import case_page_key, staged_path

    portal = portal_on(archive(100_000))
    records = []
    for record, events in portal.store.all_histories():
        records.append(_published(portal, record, events))
        if len(records) == PELICAN_CASES:
            break
    out = BENCH / "pelican"
    set_aside(out)
    theme = Theme(site_context(portal.district, project_root=ROOT))
    theme.case_page(records[0])  # templates compiled once, outside the measure
    render_started = time.process_time()
    for record in records:  # rendering alone, in CPU seconds
        theme.case_page(record)
    render_seconds = time.process_time() - render_started
    # With the files written as a build stages them (flat: ``shards.staged_path``), as
    # Pelican writes its articles (``{slug}.html``).
    started = time.perf_counter()
    (out / "portal" / "cases").mkdir(parents=True)
    for record in records:
        page = staged_path(out / "portal", case_page_key(record["id"]))
        page.write_bytes(theme.case_page(record))
    portal_seconds = time.perf_counter() - started
    content = out / "content"
    content.mkdir(parents=True)
    for record in records:
        (content / f"{record['id']}.md").write_text(_markdown(record), encoding="utf-8")
    pelican_seconds = _run_pelican(content, out / "pelican")
    return {
        "cases": len(records),
        "portal_seconds": round(portal_seconds, 2),
        "portal_pages_per_second": round(len(records) / portal_seconds),
        "pelican_seconds": round(pelican_seconds, 1),
        "pelican_pages_per_second": round(len(records) / pelican_seconds),
        "ratio": round(pelican_seconds / portal_seconds, 1),
        "render_cpu_pages_per_second": round(len(records) / render_seconds),
        "render_only_ratio": round(pelican_seconds / render_seconds, 1),
    }


def _published(portal: Any, record: Any, events: list[Any]) -> dict[str, Any]:
    from gridportal.publish import published

    return dict(published(portal, record, events))


def _markdown(record: dict[str, Any]) -> str:
    """A case as a Pelican article: its metadata and its steps as Markdown."""
    lines = [
        f"Title: {record['category_name']} {record['id']}",
        f"Date: {str(record['received_at'])[:16].replace('T', ' ')}",
        f"Category: {record['category_group']}",
        f"Slug: {record['id']}",
        "",
        f"**{record['status_label']}** {record['grid_name']} {record['unit_name']}",
        "",
        record["summary"],
        "",
    ]
    for step in record["timeline"]:
        lines.append(f"- {step['at']} {step['label']}({step['role_label']}):{step['note']}")
    if record["answer"]:
        lines += ["", f"> {record['answer']}"]
    return "\n".join(lines) + "\n"


def _run_pelican(content: Path, output: Path) -> float:
    """Pelican's defaults (its own theme) with feeds off and listings paginated by 100."""
    from pelican import Pelican
    from pelican.settings import read_settings

    settings = read_settings(
        override={
            "PATH": str(content),
            "OUTPUT_PATH": str(output),
            "SITEURL": "",
            "TIMEZONE": "Asia/Shanghai",
            "DEFAULT_LANG": "zh",
            "DEFAULT_PAGINATION": 100,
            "FEED_ALL_ATOM": None,
            "CATEGORY_FEED_ATOM": None,
            "TRANSLATION_FEED_ATOM": None,
            "AUTHOR_FEED_ATOM": None,
            "AUTHOR_FEED_RSS": None,
            "CACHE_CONTENT": False,
            "LOAD_CONTENT_CACHE": False,
        }
    )
    started = time.perf_counter()
    Pelican(settings).run()
    return time.perf_counter() - started


def piece_metrics() -> dict[str, Any]:
    from gridportal.config import Settings
    from gridportal.domain.metrics import combine_metrics, tally_months
    from gridportal.runtime import load_district

    data = site_dir(f"full-{1_000_000}") / "data" / "cases"
    months = sorted(data.glob("*.json"))
    if not months:
        raise SystemExit("no published months under the 1M site: run --full-1m first")
    district = load_district(Settings.from_env())
    started = time.perf_counter()
    tallies: list[Any] = []
    records = 0
    for path in months:  # one month at a time: memory holds a month, never the archive
        month = json.loads(path.read_bytes())
        records += len(month)
        tallies.extend(tally_months(month).values())
    tallied = time.perf_counter() - started
    combine_metrics(sorted(tallies, key=lambda t: t["month"]), district, now=FIRST_NIGHT)
    seconds = time.perf_counter() - started
    return {
        "records": records,
        "months": len(months),
        "seconds": round(seconds, 1),
        "tally_seconds": round(tallied, 1),
        "combine_seconds": round(seconds - tallied, 2),
        **peak_mb(),
    }


def piece_api() -> dict[str, Any]:
    out = BENCH / "package"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    subprocess.run(
        ["make", "--no-print-directory", "package", f"PACKAGE_DIR={out}"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    bundle = out / "deployment.zip"
    task = BENCH / "api-task"
    shutil.rmtree(task, ignore_errors=True)
    zipfile.ZipFile(bundle).extractall(task)
    # Only the bundle and the standard library, as on Lambda: -S, no site-packages; -B, no
    # bytecode written, since /var/task is read-only (the bundle's own is read: make
    # package adds it, scripts/compile_bundle.py).
    probe = (
        "import sys, time; sys.path.insert(0, '.'); t = time.perf_counter(); import app; "
        "print(time.perf_counter() - t)"
    )
    runs = []
    for _ in range(9):
        done = subprocess.run(
            [sys.executable, "-S", "-B", "-c", probe],
            cwd=task,
            env={"GRIDPORTAL_SECRET": SECRET, "PATH": os.environ.get("PATH", "")},
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(float(done.stdout.strip()))
    unzipped = sum(i.file_size for i in zipfile.ZipFile(bundle).infolist())
    nightly = out / "nightly" / "deployment.zip"
    return {
        "cold_import_ms_min": round(min(runs) * 1000),
        "cold_import_ms_median": round(statistics.median(runs) * 1000),
        "api_unzipped_mb": round(unzipped / 1e6, 2),
        "api_zip_mb": round(bundle.stat().st_size / 1e6, 2),
        "nightly_unzipped_mb": round(
            sum(i.file_size for i in zipfile.ZipFile(nightly).infolist()) / 1e6, 1
        ),
    }


# The machine's pace: one month of the 20,000-case archive read, replayed, redacted,
# rendered and made into open data in one process, in memory (a file created just after
# a mass deletion costs ten times more here, and would be timed instead), best of three.
# Run before and after the other pieces: this machine is shared, and the same build's
# CPU time has varied by a third between runs, so a run's figures are read beside the
# pace it ran at.
PACE_MONTH = "2026-05"


def piece_pace() -> dict[str, Any]:
    from gridportal import publish
    from gridportal.adapters.theme import Theme, site_context
    from gridportal.domain import opendata
    from gridportal.domain.redaction import forget, load_tables

    portal = portal_on(archive(PELICAN_CASES))
    theme = Theme(site_context(portal.district, project_root=ROOT))
    load_tables()
    best, cases = float("inf"), 0
    for _ in range(3):
        forget()  # each pass meets the month's text as new, as a build does
        started = time.process_time()
        records, _failed = publish._export_month(portal, portal.store.month_histories(PACE_MONTH))
        for record in records:
            theme.case_page(record)
        opendata.cases_csv(records), opendata.cases_json(records), opendata.events_csv(records)
        best = min(best, time.process_time() - started)
        cases = len(records)
    return {"month": PACE_MONTH, "cases": cases, "ms_per_case": round(best / cases * 1e3, 3)}


PIECES: dict[str, Callable[[], dict[str, Any]]] = {
    "full-100k": lambda: piece_full(100_000),
    "full-1m": lambda: piece_full(1_000_000),
    "incremental": piece_incremental,
    "incremental-100k": lambda: piece_incremental(100_000, 1_000),
    "nights-100k": piece_nights,
    "search": piece_search,
    "pelican": piece_pelican,
    "metrics": piece_metrics,
    "api": piece_api,
    "pace": piece_pace,
}


# ----------------------------------------------------------------------------- table
def run_piece(name: str) -> dict[str, Any]:
    """One piece in a fresh process: its own wall time and peak memory."""
    done = subprocess.run(
        [sys.executable, __file__, "--piece", name], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"}
    sys.stderr.write(done.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def verdict(value: Any, limit: float, *, at_least: bool = False) -> str:
    """ "met", or by how much the figure missed its target."""
    if not isinstance(value, int | float) or not value:
        return "?"
    if (value >= limit) if at_least else (value < limit):
        return "met"
    return f"missed by {limit / value if at_least else value / limit:.1f}×"


# What a touched month makes again whole (besides its changed cases' pages).
MONTH_KINDS = frozenset({"other pages and files", "open data", "build state"})


def night_bytes(piece: dict[str, Any]) -> str:
    """A night's bytes to a bucket, and those beyond the whole-archive downloads (which
    the target allows on top of bytes proportional to the change)."""
    if "bucket_bytes" not in piece:
        return ""
    total = piece["bucket_bytes"]
    sent = piece["bucket_bytes_by_kind"].get("whole-archive downloads", 0)
    beyond = total - sent
    return (
        f"to a bucket {total / 1e6:.0f} MB: of the whole-archive downloads "
        f"({piece.get('downloads_bytes', 0) / 1e6:.0f} MB) {sent / 1e6:.0f} MB sent, the rest "
        f"copied in the bucket; {beyond / 1e6:.0f} MB beyond them "
        f"({beyond / 1e3 / piece['changed']:.1f} KB a changed case)"
    )


def rows(results: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    def fig(piece: str, key: str, fmt: str = "{}") -> str:
        value = results.get(piece, {}).get(key)
        return "error" if "error" in results.get(piece, {}) else fmt.format(value)

    def get(piece: str, key: str) -> Any:
        return results.get(piece, {}).get(key)

    if "pace-before" in results and "pace-after" in results:
        yield (
            "the machine's pace (lower is faster)",
            f"one month's work in memory, {fig('pace-before', 'cases')} cases: "
            f"{fig('pace-before', 'ms_per_case')} ms of CPU a case before the run, "
            f"{fig('pace-after', 'ms_per_case')} after",
            "",
        )
    for piece, cases, limit in (("full-100k", "100,000", 60), ("full-1m", "1,000,000", 600)):
        if piece not in results:
            continue
        peak = max(get(piece, "peak_mb") or 0, get(piece, "peak_worker_mb") or 0)
        memory = f", < 2 GB: {verdict(peak, 2048)}" if piece == "full-1m" else ""
        yield (
            f"full build, {cases} cases",
            f"{fig(piece, 'published_seconds')} s to the site published, "
            f"{fig(piece, 'seconds')} s with the directory site's extras "
            f"({fig(piece, 'cpu_seconds')} s of CPU), peak {fig(piece, 'peak_mb')} MB "
            f"(largest worker {fig(piece, 'peak_worker_mb')} MB), "
            f"{fig(piece, 'uploaded')} files, {fig(piece, 'case_pages_per_second')} case pages/s",
            f"< {limit} s: {verdict(get(piece, 'published_seconds'), limit)}{memory}",
        )
    if "incremental" in results:
        yield (
            "night at 1,000,000 cases, 5,000 changed",
            f"{fig('incremental', 'seconds')} s ({fig('incremental', 'cpu_seconds')} s of CPU), "
            f"{fig('incremental', 'case_pages')} case pages "
            f"rendered, {fig('incremental', 'months')} months, "
            f"{fig('incremental', 'uploaded')} files / {fig('incremental', 'bytes')} bytes "
            f"uploaded, {fig('incremental', 'deleted')} deleted; "
            + night_bytes(results["incremental"]),
            f"< 60 s: {verdict(get('incremental', 'seconds'), 60)}; bytes ∝ change",
        )
    if "incremental-100k" in results:
        yield (
            "night at 100,000 cases, 1,000 changed",
            f"{fig('incremental-100k', 'seconds')} s "
            f"({fig('incremental-100k', 'cpu_seconds')} s of CPU), "
            f"{fig('incremental-100k', 'case_pages')} "
            f"case pages rendered, {fig('incremental-100k', 'months')} months, "
            f"{fig('incremental-100k', 'uploaded')} files / {fig('incremental-100k', 'bytes')} "
            f"bytes uploaded, peak {fig('incremental-100k', 'peak_mb')} MB; "
            + night_bytes(results["incremental-100k"]),
            "",
        )
    if "nights-100k" in results:
        if "error" in results["nights-100k"]:
            yield ("consecutive nights at 100,000 cases", "error", "")
        for night in results["nights-100k"].get("nights", ()):
            by_kind = night["bucket_bytes_by_kind"]
            months = sum(v for k, v in by_kind.items() if k in MONTH_KINDS)
            yield (
                f"night at 100,000 cases, {night['changed']:,} changed ({night['night']})",
                f"{night['seconds']} s; {night['moved']:,} open cases moved on, "
                f"{night['changed'] - night['moved']:,} filed; {len(night['months'])} months "
                f"touched ({night['cases_in_months']:,} cases in them); "
                + night_bytes(night)
                + f"; of it case pages {by_kind.get('case pages', 0) / 1e6:.1f} MB, "
                f"listing, metrics and site-wide pages "
                f"{by_kind.get('other pages and files', 0) / 1e6:.1f} MB, open data "
                f"{by_kind.get('open data', 0) / 1e6:.1f} MB, state "
                f"{by_kind.get('build state', 0) / 1e6:.1f} MB (those three "
                f"{months / max(night['cases_in_months'], 1) / 1e3:.2f} KB a case of the "
                "months touched)",
                "",
            )
    if "search" in results:
        yield (
            "search index of the 1,000,000-case site (after a build)",
            f"{fig('search', 'seconds')} s ({fig('search', 'cpu_seconds')} s of CPU), "
            f"Pagefind's peak {fig('search', 'peak_worker_mb')} MB: every bulletin and the "
            f"{fig('search', 'indexed_cases')} records received since "
            f"{fig('search', 'since')}, of {fig('search', 'site_pages')} pages",
            f"< 2 GB: {verdict(get('search', 'peak_worker_mb'), 2048)}",
        )
    if "pelican" in results:
        yield (
            "20,000 case pages vs Pelican's article pipeline",
            f"portal {fig('pelican', 'portal_seconds')} s "
            f"({fig('pelican', 'portal_pages_per_second')} pages/s), Pelican "
            f"{fig('pelican', 'pelican_seconds')} s: {fig('pelican', 'ratio')}× with the files "
            f"written; rendering alone {fig('pelican', 'render_cpu_pages_per_second')} pages/s "
            f"of CPU, {fig('pelican', 'render_only_ratio')}×",
            f"≥ 20×: {verdict(get('pelican', 'render_only_ratio'), 20, at_least=True)} "
            f"(rendering), {verdict(get('pelican', 'ratio'), 20, at_least=True)} (files); "
            "≥ 5,000 pages/s: "
            + verdict(get("pelican", "render_cpu_pages_per_second"), 5000, at_least=True),
        )
    if "metrics" in results:
        yield (
            "metrics over 1,000,000 cases",
            f"{fig('metrics', 'seconds')} s (tally {fig('metrics', 'tally_seconds')} s, combine "
            f"{fig('metrics', 'combine_seconds')} s), peak {fig('metrics', 'peak_mb')} MB",
            "",
        )
    if "api" in results:
        yield (
            "API cold import / package",
            f"{fig('api', 'cold_import_ms_min')} ms min, {fig('api', 'cold_import_ms_median')} "
            f"ms median; {fig('api', 'api_unzipped_mb')} MB unzipped "
            f"({fig('api', 'api_zip_mb')} MB zip); nightly bundle "
            f"{fig('api', 'nightly_unzipped_mb')} MB",
            f"< 300 ms: {verdict(get('api', 'cold_import_ms_median'), 300)}; < 15 MB: "
            + verdict(get("api", "api_unzipped_mb"), 15),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every piece")
    measured = [name for name in PIECES if name != "pace"]  # the pace brackets every run
    for name in measured:
        parser.add_argument(f"--{name}", action="store_true", dest=name.replace("-", "_"))
    parser.add_argument("--piece", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--dir", type=Path, help="where archives and sites go (var/bench/)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the builds, one worker (see above)"
    )
    args = parser.parse_args()
    if args.dir:
        os.environ["GRIDPORTAL_BENCH_DIR"] = str(args.dir.resolve())
    if args.profile:
        os.environ["GRIDPORTAL_BENCH_PROFILE"] = "1"
    sys.path.insert(0, str(ROOT / "src"))
    if args.piece:  # inside the child process
        print(json.dumps(PIECES[args.piece]()))
        return
    chosen = [n for n in measured if args.all or getattr(args, n.replace("-", "_"))]
    if not chosen:
        parser.error("choose pieces (--full-100k, --api, …) or --all")
    try:
        results = {"pace-before": run_piece("pace")}
        results.update({name: run_piece(name) for name in chosen})
        results["pace-after"] = run_piece("pace")
    finally:
        discard_set_aside()
    width = max(len(r[0]) for r in rows(results))
    print(f"{'measure':<{width}}  figure  (target)")
    for what, figure, target in rows(results):
        print(f"{what:<{width}}  {figure}" + (f"  ({target})" if target else ""))
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
