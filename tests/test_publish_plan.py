"""The nightly build's rules, on the in-memory store and a directory target.

A demo's weeks of cases are generated once; each test copies them into its own store.
Golden: an incremental build after changes equals a full build of the same data, file
for file. A takedown leaves no trace in any file; a quiet night uploads nothing; the
plan never shows a link to a missing page; a dry run writes nothing.
"""

from __future__ import annotations

import gc
import gzip
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import moto.s3.models
import pytest

from gridportal.adapters.directory_site import DirectorySite, stored_name
from gridportal.adapters.memory import MemoryStore
from gridportal.adapters.s3_site import S3Site
from gridportal.demo import DISPATCHER, ManualClock, handler
from gridportal.domain import redaction
from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.lifecycle import replay
from gridportal.domain.model import Action, Complaint, Status
from gridportal.domain.reference import District
from gridportal.ports import MonthReader
from gridportal.publish import (
    ARCHIVES,
    ENTRY,
    ENTRY_PAGES,
    LEAVES,
    MARKER,
    MONTH_FIRST,
    SITE_STATE,
    Night,
    Plan,
    Scratch,
    Step,
    _apply_ahead,
    _apply_rest,
    _largest_first,
    _plan,
    _run_pool,
    order_steps,
    publish,
    take_down,
    tier_of,
)
from gridportal.services import Portal
from gridportal.shards import (
    ARCHIVE_KINDS,
    PIECE_PREFIX,
    case_page_key,
    month_piece,
    month_sources,
    month_state_key,
    piece_key,
    previous_pieces,
    staged_path,
)
from support.builds import build, copy_of, demo_until, files

BEIJING = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 10, 31, 20, 0, tzinfo=BEIJING)  # the next day is in a new month


@pytest.fixture(scope="module")
def demo(district: District, calendar: WorkCalendar) -> Portal:
    return demo_until(END, district, calendar)


@pytest.fixture
def night(demo: Portal) -> Portal:
    """A fresh copy of the demo's cases, with its own clock standing at END."""
    return copy_of(demo, END)


def case_file(site: Path, public_id: str) -> Path:
    """A case page's file in a site directory (directory_site.stored_name)."""
    return site / stored_name(case_page_key(public_id))


def change_some_cases(portal: Portal) -> tuple[str, str]:
    """A day passes: a new case in a new month, an open case resolved. Returns
    (tracking, public id) of a closed case of an earlier month, to take down."""
    clock = portal.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(hours=14))  # 1 November, 10:00
    portal.file_complaint(Complaint("env-litter", "QB-LCJX-01", "东门口", "垃圾满了没人清。"))
    moved = 0
    for department in portal.district.departments:
        for record in portal.store.unit_queue(department.id):
            if record.status is Status.IN_PROGRESS and moved < 2:
                clock.advance(timedelta(minutes=5))
                desk = handler(department.id)
                portal.act(record.tracking, Action.RESOLVE, desk, public_note="已处理。")
                moved += 1
    assert moved
    for record, _ in portal.store.all_histories():
        if record.status in (Status.RATED, Status.ARCHIVED) and record.file.filed_at.month == 10:
            return record.tracking, record.file.public_id
    raise AssertionError("no closed case to take down")


def test_golden_incremental_equals_full(night: Portal, tmp_path: Path) -> None:
    first = build(night, tmp_path / "site", tmp_path / "work")
    assert first.full and first.total > 100
    tracking, public_id = change_some_cases(night)
    take_down(night.store, tracking, "含未能自动隐去的个人信息", night.clock())
    assert public_id

    incremental = build(night, tmp_path / "site", tmp_path / "work")
    assert not incremental.full and incremental.plan is not None
    assert incremental.changed < first.total / 2  # only the changed and the open cases
    assert "2026-11" in incremental.plan.months
    full = build(night, tmp_path / "fresh", tmp_path / "work2", full=True)
    assert full.full and full.total == incremental.total == first.total  # +1 new, -1 taken down

    online, expected = files(tmp_path / "site"), files(tmp_path / "fresh")
    assert set(online) == set(expected)
    different = [key for key in expected if online[key] != expected[key]]
    assert different == []


class NoMonthReads:
    """The night's store without ``MonthReader`` (as DynamoDB): a full build then exports
    every case in the build's own process and spills them to the shards."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        if name in ("filed_months", "month_histories"):
            raise AttributeError(name)
        return getattr(self._store, name)


def without_month_reads(portal: Portal) -> Portal:
    """The same portal over ``NoMonthReads``: its plan exports every case itself."""
    return Portal(
        store=NoMonthReads(portal.store),  # type: ignore[arg-type]
        district=portal.district,
        calendar=portal.calendar,
        keys=portal.keys,
        clock=portal.clock,
    )


def test_months_read_in_forked_workers_publish_what_one_export_does(
    night: Portal, tmp_path: Path
) -> None:
    tracking, _ = change_some_cases(night)
    take_down(night.store, tracking, "含未能自动隐去的个人信息", night.clock())
    assert isinstance(night.store, MonthReader)
    site = DirectorySite(tmp_path / "read")
    site.ensure_bucket()
    read = publish(night, site, work_dir=tmp_path / "w1", now=night.clock(), workers=2)
    plain = without_month_reads(night)
    exported = build(plain, tmp_path / "exported", tmp_path / "w2")
    assert read.full and exported.full and read.total == exported.total > 100
    assert read.seconds["export"] < 1  # the plan only listed the months
    assert files(tmp_path / "read") == files(tmp_path / "exported")


def _worker_state(_job: int) -> tuple[int, bool]:
    return gc.get_freeze_count(), redaction._LEXICON is not None and redaction._PINYIN is not None


def test_a_pool_worker_starts_with_the_dictionaries_loaded_and_kept_from_the_collector() -> None:
    # What a worker was forked with and the dictionaries are never garbage: the collector
    # does not walk them at each full collection (half its time in a shard).
    states = list(_run_pool(_worker_state, range(4), workers=2))
    assert all(frozen > 0 and loaded for frozen, loaded in states)


class CountingSite(DirectorySite):
    """A site directory that remembers what a build reads of it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []
        self.ranges: list[str] = []

    def read(self, key: str) -> bytes | None:
        self.reads.append(key)
        return super().read(key)

    def read_range(self, key: str, start: int, length: int) -> bytes | None:
        self.ranges.append(key)
        return super().read_range(key, start, length)


def built_site(night: Portal, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A first build's site directory and its site state."""
    site = tmp_path / "site"
    build(night, site, tmp_path / "work")
    return site, json.loads((site / SITE_STATE).read_bytes())


def test_a_night_reads_unchanged_months_back_out_of_the_published_downloads(
    night: Portal, tmp_path: Path
) -> None:
    site, state = built_site(night, tmp_path)
    # No month's piece of the downloads is published as a file of its own: the site
    # state says where each one is in the download.
    assert not [k for k in files(site) if k.startswith(PIECE_PREFIX)]
    for kind in ARCHIVE_KINDS:
        archive = (site / ARCHIVES[kind][0]).read_bytes()
        spans = state["archives"][kind]
        assert len(spans) == len(state["months"]) > 1
        for month, (offset, length) in spans.items():
            source = (site / month_sources(month)[ARCHIVE_KINDS.index(kind)]).read_bytes()
            piece = archive[offset : offset + length]
            assert gzip.decompress(piece) == month_piece(kind, source.decode("utf-8"))

    online = {kind: (site / ARCHIVES[kind][0]).read_bytes() for kind in ARCHIVE_KINDS}
    change_some_cases(night)
    target = CountingSite(site)
    report = publish(night, target, work_dir=tmp_path / "work", now=night.clock(), workers=1)
    assert report.plan is not None and not report.full
    untouched = [m for m in state["months"] if m not in report.plan.months]
    assert untouched and len(target.ranges) == len(ARCHIVE_KINDS) * len(untouched)
    # The plan says which ranges of each new download are the online one's (a bucket
    # copies them): every untouched month's piece, with the head and separators around.
    new_spans = json.loads((site / SITE_STATE).read_bytes())["archives"]
    steps = {s.key: s for s in report.plan.uploads}
    for kind in ARCHIVE_KINDS:
        step, new = steps[ARCHIVES[kind][0]], (site / ARCHIVES[kind][0]).read_bytes()
        assert step.reuse and step.reuse[0].new == 0
        for r in step.reuse:
            assert new[r.new : r.end] == online[kind][r.old : r.old + r.length]
        for month in untouched:
            offset, length = new_spans[kind][month]
            assert any(r.new <= offset and offset + length <= r.end for r in step.reuse)
    read_sources = [k for m in untouched for k in month_sources(m) if k in target.reads]
    assert read_sources == []  # nor their open data, nor any older piece file
    assert not [k for k in target.reads if k.startswith(PIECE_PREFIX)]
    build(night, tmp_path / "fresh", tmp_path / "work2", full=True)
    assert files(site) == files(tmp_path / "fresh")


def test_a_bucket_receives_only_the_months_a_night_rebuilt_of_each_download(
    night: Portal, tmp_path: Path, aws_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3 wants parts of 5 MiB; the demo's downloads are a few hundred KB, so the bucket
    # and moto are told a smaller minimum (moto's S3_UPLOAD_PART_MIN_SIZE setting).
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 1024)
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, "site", min_part=1024)
    site.ensure_bucket()
    publish(night, site, work_dir=tmp_path / "work", now=night.clock(), workers=1)
    change_some_cases(night)

    report = publish(night, site, work_dir=tmp_path / "work", now=night.clock(), workers=1)

    assert report.plan is not None and report.published is not None
    downloads = [s for s in report.plan.uploads if s.key in {a for a, _ in ARCHIVES.values()}]
    assert len(downloads) == len(ARCHIVE_KINDS) and all(s.reuse for s in downloads)
    reused = sum(r.length for s in downloads for r in s.reuse)
    planned = sum(s.size for s in report.plan.uploads)
    assert report.published.bytes <= planned - reused + 1024 * len(downloads)
    build(night, tmp_path / "fresh", tmp_path / "work2", full=True)
    for step in downloads:  # assembled in the bucket, byte for byte a full build's
        body = s3.get_object(Bucket="site", Key=step.key)["Body"].read()
        assert body == (tmp_path / "fresh" / step.key).read_bytes()


def test_pieces_whose_place_in_the_download_is_wrong_or_unknown_are_made_again(
    night: Portal, tmp_path: Path
) -> None:
    # As a night that failed between the download and the site state would leave them.
    site, state = built_site(night, tmp_path)
    shifted = {m: [offset + 1, length] for m, (offset, length) in state["archives"]["csv"].items()}
    state["archives"]["csv"] = shifted
    del state["archives"]["json"]
    (site / SITE_STATE).write_bytes(json.dumps(state).encode())
    change_some_cases(night)
    build(night, site, tmp_path / "work")
    build(night, tmp_path / "fresh", tmp_path / "work2", full=True)
    assert files(site) == files(tmp_path / "fresh")  # the downloads among them


def test_a_site_whose_pieces_were_files_of_their_own_moves_to_the_downloads(
    night: Portal, tmp_path: Path
) -> None:
    # Made as older builds left it: each piece a file under _state/pieces/, listed in
    # its month's manifest, and no place in the downloads recorded.
    site, state = built_site(night, tmp_path)
    for kind in ARCHIVE_KINDS:
        archive = (site / ARCHIVES[kind][0]).read_bytes()
        for month, (offset, length) in state["archives"][kind].items():
            (site / piece_key(month, kind)).parent.mkdir(parents=True, exist_ok=True)
            (site / piece_key(month, kind)).write_bytes(archive[offset : offset + length])
    for month in state["months"]:
        path = site / month_state_key(month)
        month_state = json.loads(path.read_bytes())
        pieces = month_state.pop("pieces")
        month_state["manifest"].update({piece_key(month, k): d for k, d in pieces.items()})
        path.write_bytes(json.dumps(month_state).encode())
    del state["archives"]
    (site / SITE_STATE).write_bytes(json.dumps(state).encode())

    change_some_cases(night)
    target = CountingSite(site)
    publish(night, target, work_dir=tmp_path / "work", now=night.clock(), workers=1)
    assert [k for k in target.reads if k.startswith(PIECE_PREFIX)]  # read once more
    build(night, tmp_path / "fresh", tmp_path / "work2", full=True)
    online, fresh = files(site), files(tmp_path / "fresh")
    assert set(online) == set(fresh)  # the piece files are gone
    # A month not rebuilt keeps its older state until it is; it names the same pieces.
    older = [k for k in fresh if online[k] != fresh[k]]
    assert older and all(k.startswith("_state/months/") for k in older)
    for key in older:
        month = key.removeprefix("_state/months/").removesuffix(".json")
        pieces = json.loads(fresh[key])["pieces"]
        assert previous_pieces(month, json.loads(online[key])) == pieces


def test_a_takedown_removes_the_case_from_every_page_and_file(
    night: Portal, tmp_path: Path
) -> None:
    build(night, tmp_path / "site", tmp_path / "work")
    _, public_id = change_some_cases(night)
    tracking = next(
        r.tracking for r, _ in night.store.all_histories() if r.file.public_id == public_id
    )
    assert any(public_id.encode() in data for data in files(tmp_path / "site").values())
    take_down(night.store, tracking, "当事人申请撤下", night.clock())
    report = build(night, tmp_path / "site", tmp_path / "work")
    assert report.plan is not None
    assert f"cases/{public_id}/index.html" in [s.key for s in report.plan.deletions]
    for key, data in files(tmp_path / "site").items():
        if key.endswith(".gz"):
            data = gzip.decompress(data)
        assert public_id.encode() not in data, key
    assert not case_file(tmp_path / "site", public_id).exists()


def test_a_night_without_changes_uploads_nothing(night: Portal, tmp_path: Path) -> None:
    build(night, tmp_path / "site", tmp_path / "work")
    before = files(tmp_path / "site")
    clock = night.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=30))
    quiet = build(night, tmp_path / "site", tmp_path / "work")
    assert quiet.plan is not None and quiet.plan.steps == []
    assert quiet.published is not None and quiet.published.uploaded == ()
    assert files(tmp_path / "site") == before
    assert night.store.get_marker(MARKER) == clock.now.isoformat()  # only the marker moved


def test_a_dry_run_prints_the_plan_and_writes_nothing(night: Portal, tmp_path: Path) -> None:
    build(night, tmp_path / "site", tmp_path / "work")
    marker = night.store.get_marker(MARKER)
    before = files(tmp_path / "site")
    change_some_cases(night)
    report = build(night, tmp_path / "site", tmp_path / "work", dry_run=True)
    assert report.plan is not None and report.published is None
    data = report.plan.to_dict()
    assert data["uploads"] > 0 and data["steps"][0]["action"] == "upload"
    assert json.loads(json.dumps(data)) == data  # plain data
    assert files(tmp_path / "site") == before
    assert night.store.get_marker(MARKER) == marker


def test_the_pool_takes_the_largest_months_first(night: Portal, tmp_path: Path) -> None:
    def plan(portal: Portal, name: str, *, full: bool) -> Any:
        site = DirectorySite(tmp_path / "site")
        site.ensure_bucket()
        scratch = Scratch(local=tmp_path / name)
        return _plan(portal, site, scratch, night_id=name, now=portal.clock(), full=full)

    assert isinstance(night.store, MonthReader)
    filed = night.store.filed_months()
    plain = without_month_reads(night)
    for full in (plan(night, "read", full=True), plan(plain, "exported", full=True)):
        assert full.sizes == filed  # each month read by its worker, or exported by the plan
        order = _largest_first(full)
        assert sorted(order) == full.months and len(set(filed.values())) > 1
        assert [full.sizes[m] for m in order] == sorted(filed.values(), reverse=True)

    # The build takes them so: one worker records each month's shard in turn (a dry run
    # keeps the summaries), largest first.
    build(night, tmp_path / "site", tmp_path / "dry", dry_run=True)
    summaries = sorted(
        (tmp_path / "dry" / "shards").glob("*.json"), key=lambda p: p.stat().st_mtime_ns
    )
    assert [p.stem for p in summaries] == order

    build(night, tmp_path / "site", tmp_path / "work")
    change_some_cases(night)  # a new case in November, two open cases resolved
    tonight = plan(night, "night", full=False)
    assert tonight.sizes["2026-11"] == 1  # a month new tonight: its one case
    published = sum(filed.get(month, 0) for month in tonight.months)
    assert sum(tonight.sizes.values()) == published + tonight.changed
    assert Night.from_dict(json.loads(json.dumps(tonight.to_dict()))) == tonight


# ---- applying ahead ----


def test_a_first_build_puts_its_new_pages_up_ahead_and_publishes_the_same_site(
    night: Portal, tmp_path: Path
) -> None:
    target = DirectorySite(tmp_path / "ahead")
    target.ensure_bucket()
    dry = publish(
        night, target, work_dir=tmp_path / "w0", now=night.clock(), workers=2, dry_run=True
    )
    assert dry.published is None and files(tmp_path / "ahead") == {}  # nothing ahead
    report = publish(night, target, work_dir=tmp_path / "w1", now=night.clock(), workers=2)
    build(night, tmp_path / "one", tmp_path / "w2")  # one worker: nothing goes ahead
    assert files(tmp_path / "ahead") == files(tmp_path / "one")
    assert report.plan is not None and report.published is not None
    uploads = report.plan.uploads
    assert sorted(report.published.uploaded) == sorted(s.key for s in uploads)  # each once
    assert report.published.bytes == sum(s.size for s in uploads)


def staged_steps(staging: Path, steps: list[Step]) -> list[Step]:
    for step in steps:
        path = staged_path(staging, step.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(step.key.encode())
    return steps


def test_only_new_leaves_go_ahead_and_the_rest_follows_them(tmp_path: Path) -> None:
    staging, target = tmp_path / "staging", DirectorySite(tmp_path / "site")
    target.ensure_bucket()
    uploads = staged_steps(
        staging,
        [
            Step("upload", "cases/2026-11/index.html", MONTH_FIRST, 1, True),
            Step("upload", "cases/old/index.html", LEAVES, 1, False),  # changed
            Step("upload", "cases/new/index.html", LEAVES, 1, True),
            Step("upload", "data/cases/2026-11.csv", LEAVES, 1, True),
        ],
    )
    ahead = _apply_ahead(uploads, target, staging)
    assert ahead is not None
    assert [s.key for s in ahead.steps] == ["cases/new/index.html", "data/cases/2026-11.csv"]
    plan = Plan(full=False, staging=str(staging), steps=order_steps(uploads, []))
    result = _apply_rest(plan, target, None, ahead)
    assert result.uploaded == (
        "cases/new/index.html",
        "data/cases/2026-11.csv",
        "cases/old/index.html",
        "cases/2026-11/index.html",
    )
    assert {k: v.decode() for k, v in files(tmp_path / "site").items()} == {
        s.key: s.key for s in uploads
    }


def test_a_failure_ahead_stops_the_build_before_the_rest(tmp_path: Path) -> None:
    staging, target = tmp_path / "staging", DirectorySite(tmp_path / "site")
    target.ensure_bucket()
    listing = staged_steps(staging, [Step("upload", "cases/2026-11/index.html", MONTH_FIRST, 1)])
    missing = Step("upload", "cases/new/index.html", LEAVES, 1, True)  # never staged
    ahead = _apply_ahead([missing, *listing], target, staging)
    assert ahead is not None
    plan = Plan(full=False, staging=str(staging), steps=order_steps([missing, *listing], []))
    with pytest.raises(RuntimeError, match="ahead failed"):
        _apply_rest(plan, target, None, ahead)
    assert files(tmp_path / "site") == {}  # the listing waits for what it links to


# ---- the plan's order ----

_LINK = re.compile(r'href="(/[^"#?]*)')


def _key(url: str) -> str:
    path = url.lstrip("/")
    return path + "index.html" if path == "" or path.endswith("/") else path


def _links(data: bytes) -> Iterator[str]:
    for url in _LINK.findall(data.decode("utf-8", errors="replace")):
        yield _key(url)


def _broken(online: dict[str, bytes]) -> list[tuple[str, str]]:
    """Links from a page a visitor can reach (from the entry pages) to a missing page."""
    seen: set[str] = set()
    todo = [k for k in ENTRY_PAGES if k in online]
    broken = []
    while todo:
        key = todo.pop()
        if key in seen or not key.endswith(".html"):
            continue
        seen.add(key)
        for target in _links(online[key]):
            if target not in online:
                broken.append((key, target))
            else:
                todo.append(target)
    return broken


def replay_plan(plan: Plan, online: dict[str, bytes]) -> list[tuple[str, str, str]]:
    """Apply the plan's steps one by one to a copy of ``online``; collect broken links."""
    staging = Path(plan.staging)
    state = dict(online)
    problems = []
    for step in plan.steps:
        if step.action == "upload":
            state[step.key] = staged_path(staging, step.key).read_bytes()
        else:
            state.pop(step.key, None)
        problems += [(step.key, *b) for b in _broken(state)]
    return problems


def test_the_plan_never_shows_a_link_to_a_missing_page(night: Portal, tmp_path: Path) -> None:
    build(night, tmp_path / "site", tmp_path / "work")
    online = files(tmp_path / "site")
    assert _broken(online) == []
    tracking, _ = change_some_cases(night)
    take_down(night.store, tracking, "当事人申请撤下", night.clock())
    report = build(night, tmp_path / "site", tmp_path / "work", dry_run=True)
    assert report.plan is not None
    assert report.plan.deletions and any(s.tier == 1 for s in report.plan.uploads)
    assert replay_plan(report.plan, online) == []
    tiers = [s.tier for s in report.plan.uploads]
    assert tiers == sorted(tiers)
    first_delete = report.plan.steps.index(report.plan.deletions[0])
    assert all(s.tier <= ENTRY for s in report.plan.steps[:first_delete])  # states go up last


@pytest.mark.parametrize(
    ("key", "tier"),
    [
        ("cases/a1b2c3d4e5f6/index.html", 1),
        ("cases/1a2b3c4d5e6f/index.html", 1),  # an id may start with a digit
        ("data/cases/2026-11.csv", 1),
        ("theme/css/portal.css", 1),
        ("about/index.html", 1),
        ("grids/QB-LCJX-01/qr.svg", 1),
        ("cases/2026-11/2/index.html", 2),
        ("metrics/2026-11/index.html", 2),
        ("cases/2026-11/index.html", 3),
        ("cases/by/grid/QB-LCJX-01/2026-11/index.html", 4),
        ("cases/by/grid/QB-LCJX-01/index.html", 4),
        ("cases/by/index.html", 4),
        ("grids/QB-LCJX-01/index.html", 5),
        ("cases/index.html", 6),
        ("index.html", 6),
        ("_state/months/2026-11.json", 8),
        ("_state/site.json", 9),
    ],
)
def test_tiers(key: str, tier: int) -> None:
    assert tier_of(key) == tier


def test_a_case_merged_into_one_taken_down_no_longer_links_to_it(
    night: Portal, tmp_path: Path
) -> None:
    """A duplicate's page links to its original (合并至); when the original is taken
    down, the link goes, even though the duplicate itself did not change tonight."""
    merged = [
        (record.file.public_id, replay(events).merged_into)
        for record, events in night.store.all_histories()
        if record.status is Status.MERGED
    ]
    assert merged, "the demo has merged duplicates"
    duplicate, original = merged[0]
    assert original is not None
    target = night.keys.public_id(original)
    build(night, tmp_path / "site", tmp_path / "work")
    page = case_file(tmp_path / "site", duplicate)
    assert f"/cases/{target}/" in page.read_text(encoding="utf-8")
    clock = night.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(hours=1))
    take_down(night.store, original, "当事人申请撤下", night.clock())
    build(night, tmp_path / "site", tmp_path / "work")
    online = files(tmp_path / "site")
    assert not [
        k
        for k, data in online.items()
        if target.encode() in (gzip.decompress(data) if k.endswith(".gz") else data)
    ]
    assert _broken(online) == []
    full = build(night, tmp_path / "fresh", tmp_path / "work2", full=True)
    assert full.full and files(tmp_path / "fresh") == online


class FlawedPortal(Portal):
    """A portal whose deadline rules fail for the cases received at ``broken`` times:
    a bad record (say, an imported row with an impossible date) as the export meets it."""

    broken: frozenset[datetime] = frozenset()

    def deadlines_of(self, state: Any) -> Any:
        if state.received_at in self.broken:
            raise ValueError("a date the working-day calendar cannot place")
        return super().deadlines_of(state)


def test_a_case_that_cannot_be_published_is_listed_and_offline_and_the_night_goes_on(
    night: Portal, tmp_path: Path
) -> None:
    build(night, tmp_path / "site", tmp_path / "work")
    # An open case: every night exports it again (its deadlines keep moving).
    queues = [d.id for d in night.district.departments]
    open_case = next(r for unit in queues for r in night.store.unit_queue(unit))
    bad_id = open_case.file.public_id
    assert case_file(tmp_path / "site", bad_id).is_file()
    flawed = FlawedPortal(
        store=night.store,
        district=night.district,
        calendar=night.calendar,
        keys=night.keys,
        clock=night.clock,
    )
    flawed.broken = frozenset({open_case.file.filed_at})
    assert isinstance(night.clock, ManualClock)
    night.clock.advance(timedelta(hours=1))

    report = build(flawed, tmp_path / "site", tmp_path / "work")
    assert not report.full
    assert [u["tracking"] for u in report.unpublished] == [open_case.tracking]
    assert "ValueError" in report.unpublished[0]["reason"]
    assert any(open_case.tracking in w for w in report.warnings)
    # Offline, as a full build of the same data leaves it: no page, no row, no link.
    assert not case_file(tmp_path / "site", bad_id).exists()
    full = build(flawed, tmp_path / "fresh", tmp_path / "work2", full=True)
    assert [u["tracking"] for u in full.unpublished] == [open_case.tracking]
    online, expected = files(tmp_path / "site"), files(tmp_path / "fresh")
    assert set(online) == set(expected)
    assert [key for key in expected if online[key] != expected[key]] == []
    # Mended: the next builds in the same work directories publish it again, and list
    # nothing (no night's scratch outlives it).
    night.clock.advance(timedelta(hours=1))
    assert build(night, tmp_path / "site", tmp_path / "work").unpublished == []
    assert build(night, tmp_path / "fresh", tmp_path / "work2", full=True).unpublished == []
    for site in ("site", "fresh"):
        assert case_file(tmp_path / site, bad_id).is_file()
    assert not any(p.is_file() for w in ("work", "work2") for p in (tmp_path / w).rglob("*"))


def test_a_final_month_s_metrics_page_is_not_sent_again_by_a_later_night(
    night: Portal, tmp_path: Path
) -> None:
    """A final month's figures no longer move (定稿): its page carries no time of the
    night, so a night that changes only a provisional month leaves it as it was."""
    clock = night.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=49, hours=14))  # 20 December, 10:00: Sep and Oct are final
    filed = night.file_complaint(Complaint("env-litter", "QB-LCJX-01", "东门口", "垃圾满了。"))
    build(night, tmp_path / "site", tmp_path / "work")
    status = json.loads((tmp_path / "site" / "data" / "metrics.json").read_bytes())["month_status"]
    final = sorted(m for m, s in status.items() if s["final"])
    assert final and not status["2026-12"]["final"]

    clock.advance(timedelta(hours=2))  # the same month: the list of months stays
    night.act(filed.tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    report = build(night, tmp_path / "site", tmp_path / "work")
    assert report.plan is not None
    sent = {step.key for step in report.plan.uploads}
    assert "metrics/2026-12/index.html" in sent  # provisional: computed again tonight
    assert [m for m in final if f"metrics/{m}/index.html" in sent] == []
