"""Snapshots of final months (gridportal.snapshots), on the in-memory store and a
directory site: made once, never rewritten, corrected by a linked revision with its
computed reason; a takedown leaves no trace in them; a full build keeps their history.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from gridportal.adapters.directory_site import DirectorySite
from gridportal.adapters.s3_site import S3Site
from gridportal.adapters.theme import site_context
from gridportal.demo import ManualClock
from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.lifecycle import replay
from gridportal.domain.metrics import compute_metrics
from gridportal.domain.model import Action, Actor, Complaint, Role, Status
from gridportal.domain.opendata import BOM, CASE_COLUMNS, SNAPSHOT_INDEX, csv_text
from gridportal.domain.publication import month_of
from gridportal.domain.reference import District
from gridportal.publish import publish, published, take_down
from gridportal.services import Portal
from gridportal.snapshots import (
    FILES,
    STATE_KEY,
    compare,
    page_key,
    reason,
    revision_path,
    stage,
)
from gridportal.snapshots import _without as without
from support.aws import mocked_aws
from support.builds import build, copy_of, demo_until, files

BEIJING = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 10, 31, 20, 0, tzinfo=BEIJING)  # no month is final yet
MONTH = "2026-09"
SYSTEM = Actor(Role.SYSTEM, "system")


@pytest.fixture(scope="module")
def demo(district: District, calendar: WorkCalendar) -> Portal:
    return demo_until(END, district, calendar)


@pytest.fixture(scope="module")
def september_final(demo: Portal) -> datetime:
    """An hour after September's last deadline (when its figures become final), read from
    the demo's own records, while October is still provisional."""
    records = [published(demo, record, events) for record, events in demo.store.all_histories()]
    status = compute_metrics(records, demo.district, now=END)["month_status"]
    moment = datetime.fromisoformat(status[MONTH]["final_at"]) + timedelta(hours=1)
    assert END < moment < datetime.fromisoformat(status["2026-10"]["final_at"])
    return moment


@pytest.fixture
def night(demo: Portal, september_final: datetime) -> Portal:
    return copy_of(demo, september_final)


def snapshot_files(root: Path) -> dict[str, bytes]:
    """The revisions' files (and their compressed siblings), not the index beside them."""
    return {k: v for k, v in files(root).items() if re.match(r"data/snapshots/[^/]+/r\d+/", k)}


def advance(portal: Portal, delta: timedelta) -> None:
    clock = portal.clock
    assert isinstance(clock, ManualClock)
    clock.advance(delta)


def month_cases(portal: Portal, month: str, status: Status) -> list[tuple[str, str, str]]:
    """(tracking, public id, unit) of ``month``'s cases in ``status``."""
    found = []
    for record, events in portal.store.all_histories():
        if month_of(events[0].at) == month and record.status is status:
            found.append((record.tracking, record.file.public_id, record.unit or ""))
    return sorted(found)


def rate_late(portal: Portal) -> None:
    """A September case resolved but not yet rated gets its rating (a late figure)."""
    unrated = month_cases(portal, MONTH, Status.RESOLVED)
    assert unrated, "the demo has a September case resolved and not yet rated"
    advance(portal, timedelta(hours=1))
    portal.act(unrated[0][0], Action.RATE, SYSTEM, data={"rating": "satisfied"})


def index(site: Path) -> dict[str, list[dict[str, object]]]:
    return json.loads((site / SNAPSHOT_INDEX).read_text(encoding="utf-8"))["months"]


# ---- the nightly build ----


def test_a_month_that_turns_final_is_published_as_a_dated_snapshot(
    night: Portal, tmp_path: Path
) -> None:
    clock = night.clock
    assert isinstance(clock, ManualClock)
    september_final = clock.now
    clock.now = END  # 31 October: no month is final yet
    build(night, tmp_path / "site", tmp_path / "work")
    site = tmp_path / "site"
    assert not (site / SNAPSHOT_INDEX).exists()
    assert not (site / "metrics" / MONTH / "snapshot").exists()
    assert SNAPSHOT_INDEX not in (site / "data" / "index.html").read_text(encoding="utf-8")

    clock.now = september_final  # September is final now
    report = build(night, site, tmp_path / "work")
    folder = revision_path(MONTH, 1)
    assert report.plan is not None
    assert {f"{folder}{name}" for name in FILES} <= {s.key for s in report.plan.uploads}
    metrics = json.loads((site / "data" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["month_status"][MONTH]["final"]
    snap = json.loads((site / folder / "metrics.json").read_text(encoding="utf-8"))
    assert snap["month"] == MONTH and snap["revision"] == 1 and snap["previous"] is None
    assert snap["as_of"] == september_final.isoformat(timespec="seconds")
    assert snap["licence"]["name"] == metrics["licence"]["name"]
    for part in ("overall", "by_department", "by_grid", "by_community", "by_category"):
        assert snap[part] == metrics["monthly"][MONTH][part]  # numerators, denominators
    assert metrics["ranking_month"] == MONTH  # the month's lists, as the metrics page shows
    assert [r["id"] for r in snap["red_list"]] == [r["id"] for r in metrics["red_list"]]
    assert [r["id"] for r in snap["black_list"]] == [r["id"] for r in metrics["black_list"]]
    assert not {r["id"] for r in snap["red_list"]} & {r["id"] for r in snap["black_list"]}
    # The data as of the snapshot: the month's own files of that night, byte for byte.
    assert (site / folder / "cases.csv").read_bytes() == (
        site / "data" / "cases" / f"{MONTH}.csv"
    ).read_bytes()
    assert (site / folder / "events.csv").read_bytes() == (
        site / "data" / "events" / f"{MONTH}.csv"
    ).read_bytes()
    assert (site / folder / "metrics.csv").read_bytes() == (
        site / "data" / "metrics" / f"{MONTH}.csv"
    ).read_bytes()
    # Every listing of it: the index, metrics.json, the package, the pages.
    listed = index(site)[MONTH]
    assert [r["revision"] for r in listed] == [1] and listed[0]["path"] == folder
    assert metrics["snapshots"][MONTH][0]["path"] == folder
    package = json.loads((site / "data" / "datapackage.json").read_text(encoding="utf-8"))
    paths = {r["path"]: r for r in package["resources"]}
    assert SNAPSHOT_INDEX in paths
    for name in FILES:
        assert paths[folder + name]["as_of"] == snap["as_of"]
    assert paths[folder + "cases.csv"]["schema"]["fields"][0]["name"] == CASE_COLUMNS[0].name
    page = (site / page_key(MONTH)).read_text(encoding="utf-8")
    assert "第1版" in page and f"/{folder}cases.csv" in page
    month_page = (site / "metrics" / MONTH / "index.html").read_text(encoding="utf-8")
    assert f'href="/metrics/{MONTH}/snapshot/"' in month_page
    data_page = (site / "data" / "index.html").read_text(encoding="utf-8")
    assert f'href="/{SNAPSHOT_INDEX}"' in data_page
    assert f'href="/metrics/{MONTH}/snapshot/"' in data_page
    assert not (site / "metrics" / "2026-10" / "snapshot").exists()  # still provisional

    advance(night, timedelta(minutes=30))
    quiet = build(night, site, tmp_path / "work")
    assert quiet.plan is not None
    assert not [s.key for s in quiet.plan.steps if _snapshot_key(s.key)]


def _snapshot_key(key: str) -> bool:
    return key.startswith("data/snapshots/") or "/snapshot/" in key or key == STATE_KEY


def test_a_correction_is_a_new_linked_revision_and_the_first_never_changes(
    night: Portal, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    build(night, site, tmp_path / "work")
    first = snapshot_files(site)
    assert first, "September is final"
    rate_late(night)

    report = build(night, site, tmp_path / "work")
    assert report.plan is not None
    now = snapshot_files(site)
    assert {k: now[k] for k in first} == first  # r1: every byte as published
    second = revision_path(MONTH, 2)
    snap = json.loads(now[second + "metrics.json"])
    assert snap["revision"] == 2 and snap["previous"] == revision_path(MONTH, 1)
    assert snap["reason"] == "数据更正：1 件办结或状态变化；1 件评价变化。"
    assert snap["changes"] == {
        "removed": 0,
        "added": 0,
        "changed": {"办结或状态变化": 1, "评价变化": 1},
    }
    listed = index(site)[MONTH]
    assert [(r["revision"], r["superseded_by"]) for r in listed] == [(1, 2), (2, None)]
    page = (site / page_key(MONTH)).read_text(encoding="utf-8")
    assert 'href="#r2"' in page and snap["reason"] in page
    # The files of r2 are that night's month files.
    assert now[second + "cases.csv"] == (site / "data" / "cases" / f"{MONTH}.csv").read_bytes()


def test_a_full_build_keeps_the_history_and_equals_the_incremental_one(
    night: Portal, tmp_path: Path
) -> None:
    """The golden property with snapshots: on the same site, a full build of the same data
    changes no file, and keeps every revision made by the incremental nights."""
    site = tmp_path / "site"
    build(night, site, tmp_path / "work")
    rate_late(night)
    build(night, site, tmp_path / "work")
    incremental = files(site)
    assert revision_path(MONTH, 2) + "metrics.json" in incremental

    full = build(night, site, tmp_path / "work", full=True)
    assert full.full and files(site) == incremental


def test_a_takedown_leaves_no_trace_in_any_snapshot(night: Portal, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build(night, site, tmp_path / "work")
    # A case no duplicate names (tracking numbers, and so the order, differ per run): the
    # revision's reason is then the takedown alone.
    originals = {replay(events).merged_into for _, events in night.store.all_histories()}
    tracking, public_id, _ = next(
        c for c in month_cases(night, MONTH, Status.ARCHIVED) if c[0] not in originals
    )
    assert public_id.encode() in (site / revision_path(MONTH, 1) / "cases.csv").read_bytes()
    advance(night, timedelta(hours=1))
    take_down(night.store, tracking, "当事人申请撤下", night.clock())

    build(night, site, tmp_path / "work")
    for key, data in files(site).items():
        if key.endswith(".gz"):
            data = gzip.decompress(data)
        assert public_id.encode() not in data, key
    listed = index(site)[MONTH]
    assert listed[1]["reason"] == "数据更正：撤下 1 件。"
    assert listed[0]["redactions"] == [
        {"at": night.clock().isoformat(timespec="seconds"), "cases": 1}
    ]
    # r1's figures stay as published; its case files lost exactly that case's rows.
    r1 = json.loads((site / revision_path(MONTH, 1) / "metrics.json").read_bytes())
    r2 = json.loads((site / revision_path(MONTH, 2) / "metrics.json").read_bytes())
    assert r1["overall"]["cases"] + r1["overall"]["merged"] == (
        r2["overall"]["cases"] + r2["overall"]["merged"] + 1
    )
    rows = list(csv.reader(io.StringIO(_text(site, 1), newline="")))
    assert len(rows) - 1 == r2["overall"]["cases"] + r2["overall"]["merged"]


def _text(site: Path, revision: int) -> str:
    return (site / revision_path(MONTH, revision) / "cases.csv").read_text(encoding="utf-8-sig")


def test_a_revision_number_once_online_is_never_reused(night: Portal, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build(night, site, tmp_path / "work")
    first = snapshot_files(site)
    (site / STATE_KEY).unlink()  # the state lost: the files online still win
    advance(night, timedelta(hours=1))
    build(night, site, tmp_path / "work")
    now = snapshot_files(site)
    assert {k: now[k] for k in first} == first
    assert revision_path(MONTH, 2) + "metrics.json" in now


def test_a_snapshot_survives_a_copy_of_the_site(night: Portal, tmp_path: Path) -> None:
    """The history lives in the site's own state: a site moved elsewhere (or a bucket
    restored from a copy) goes on from it, with no store marker needed."""
    build(night, tmp_path / "site", tmp_path / "work")
    shutil.copytree(tmp_path / "site", tmp_path / "moved")
    advance(night, timedelta(minutes=30))
    report = build(night, tmp_path / "moved", tmp_path / "work2", full=True)
    assert report.plan is not None
    assert not [s.key for s in report.plan.uploads if s.key.startswith("data/snapshots/")]


def test_on_a_bucket_a_full_build_keeps_the_history_too(night: Portal, tmp_path: Path) -> None:
    with mocked_aws("snapshots-test-secret"):
        site = S3Site(boto3.client("s3", region_name="cn-north-1"), "gridportal-snapshots")
        site.ensure_bucket()
        publish(night, site, work_dir=tmp_path / "work", now=night.clock(), workers=1)
        first = site.read(revision_path(MONTH, 1) + "cases.csv")
        assert first and site.read(STATE_KEY) and site.read(page_key(MONTH))
        rate_late(night)
        publish(night, site, work_dir=tmp_path / "work", now=night.clock(), workers=1, full=True)
        assert site.read(revision_path(MONTH, 1) + "cases.csv") == first
        second = json.loads(site.read(revision_path(MONTH, 2) + "metrics.json") or b"{}")
        assert second["previous"] == revision_path(MONTH, 1) and "评价变化" in second["reason"]


class NightScratch:
    """A night's scratch space in the bucket (on Lambda): the files tonight's shards
    staged, under ``staging/``."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read(self, key: str) -> bytes | None:
        return self.files.get(key)


def built_with_september_final(
    night: Portal, tmp_path: Path
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The files of a build at END (nothing final yet), and its metrics report with
    September made final: the inputs of a night's ``stage`` that snapshots September."""
    clock = night.clock
    assert isinstance(clock, ManualClock)
    clock.now = END
    build(night, tmp_path / "built", tmp_path / "work")
    built = files(tmp_path / "built")
    report = json.loads(built["data/metrics.json"])
    report["month_status"][MONTH]["final"] = True
    return built, report


def test_a_month_staged_by_a_shard_in_the_bucket_is_read_from_there(
    night: Portal, tmp_path: Path
) -> None:
    """On Lambda the finish step finds tonight's month files in the night's scratch
    space, not yet online: the snapshot is made of them."""
    built, report = built_with_september_final(night, tmp_path)
    scratch = NightScratch({f"staging/{k}": v for k, v in built.items()})
    empty = DirectorySite(tmp_path / "bucket")
    empty.ensure_bucket()
    context = site_context(night.district, project_root=Path(__file__).resolve().parents[1])
    staged = stage(empty, scratch, tmp_path / "staging", report, now=END, context=context)
    folder = revision_path(MONTH, 1)
    assert {(folder + name, True) for name in FILES} <= set(staged.uploads)
    assert (STATE_KEY, True) in staged.uploads and staged.made == [f"{MONTH}/r1"]
    made = tmp_path / "staging" / folder
    assert (made / "cases.csv").read_bytes() == built[f"data/cases/{MONTH}.csv"]
    assert (made / "events.csv").read_bytes() == built[f"data/events/{MONTH}.csv"]
    assert staged.index[MONTH][0]["path"] == folder
    assert not list((tmp_path / "bucket").rglob("*"))  # the plan uploads; stage never does


def test_an_original_taken_down_from_a_month_without_a_snapshot_leaves_a_final_one(
    night: Portal, tmp_path: Path
) -> None:
    """A duplicate in a final month may name an original filed in a month that has no
    snapshot yet: when that original is taken down, its id goes from the final month's
    revisions too, though the final month's figures did not move (no new revision)."""
    built, report = built_with_september_final(night, tmp_path)  # October provisional
    # The demo's duplicates name originals of their own month: one of September's is
    # made to name an October case, as a late duplicate would.
    october = built["data/cases/2026-10.csv"].decode("utf-8-sig").splitlines()
    original = next(csv.reader(october[1:2]))[0]
    header, *rows = list(csv.reader(io.StringIO(_text_of(built[f"data/cases/{MONTH}.csv"]))))
    link = header.index("merged_into")
    duplicate = next(row for row in rows if row[link])
    duplicate[link] = original
    built[f"data/cases/{MONTH}.csv"] = csv_text(header, rows).encode("utf-8")

    scratch = NightScratch({f"staging/{k}": v for k, v in built.items()})
    site = DirectorySite(tmp_path / "site")
    site.ensure_bucket()
    context = site_context(night.district, project_root=Path(__file__).resolve().parents[1])
    first = stage(site, scratch, tmp_path / "staging", report, now=END, context=context)
    assert first.made == [f"{MONTH}/r1"]
    site.put_many([(key, tmp_path / "staging" / key) for key, _new in first.uploads])
    cases_key = revision_path(MONTH, 1) + "cases.csv"
    assert original.encode() in (site.read(cases_key) or b"")

    later = END + timedelta(hours=1)
    second = stage(
        site,
        scratch,
        tmp_path / "staging2",
        report,
        now=later,
        context=context,
        taken_down=[original],
    )
    assert second.made == []  # September's figures did not move
    swept = (tmp_path / "staging2" / cases_key).read_bytes()
    assert original.encode() not in swept
    kept = {row[0]: row for row in csv.reader(io.StringIO(_text_of(swept)))}
    assert kept[duplicate[0]][link] == ""  # the duplicate stays, without its link
    assert second.index[MONTH][0]["redactions"] == [
        {"at": later.astimezone(BEIJING).isoformat(timespec="seconds"), "cases": 0}
    ]


def _text_of(data: bytes) -> str:
    return data.decode("utf-8-sig")


# ---- the rules, on small files ----


def _csv(*rows: tuple[str, ...]) -> bytes:
    header = ("service_request_id", "status", "rating", "updated_datetime", "agency")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([header, *rows])
    return (BOM + out.getvalue()).encode("utf-8")


def test_compare_names_each_cause_once_per_case() -> None:
    old = _csv(
        ("a", "in_progress", "", "t1", "u1"),
        ("b", "resolved", "", "t1", "u1"),
        ("c", "resolved", "", "t1", "u1"),
        ("d", "rated", "satisfied", "t1", "u1"),
    )
    new = _csv(
        ("a", "resolved", "", "t2", "u1"),  # closed late
        ("b", "rated", "unsatisfied", "t2", "u1"),  # closed and rated: two causes
        ("c", "resolved", "", "t9", "u1"),  # only its update time moved: no cause
        ("e", "received", "", "t2", "u2"),  # imported late
    )
    changes, removed = compare(old, new)
    assert removed == {"d"}
    assert changes == {
        "removed": 1,
        "added": 1,
        "changed": {"办结或状态变化": 2, "评价变化": 1},
    }
    assert reason(changes, rules_changed=False) == (
        "数据更正：撤下 1 件；补录 1 件；2 件办结或状态变化；1 件评价变化。"
    )


def test_compare_an_other_correction_and_the_rules() -> None:
    old = _csv(("a", "resolved", "", "t1", "u1"))
    new = _csv(("a", "resolved", "", "t1", "u2"))  # another responsible unit
    changes, removed = compare(old, new)
    assert not removed and changes["changed"] == {"案件信息更正": 1}
    same, _ = compare(old, old)
    assert reason(same, rules_changed=True) == "数据更正：计算方法或定义变更。"
    assert reason(same, rules_changed=False) == "数据更正：名称或分组变更。"


def test_a_case_taken_down_goes_from_a_file_with_every_link_to_it() -> None:
    header = ("service_request_id", "status", "merged_into")
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(
        [header, ("gone00000001", "rated", ""), ("dup000000001", "merged", "gone00000001")]
    )
    data = (BOM + out.getvalue()).encode("utf-8")
    cleaned, count = without(data, {"gone00000001"})
    assert count == 1 and cleaned is not None and b"gone00000001" not in cleaned
    assert cleaned.decode("utf-8-sig").splitlines()[1:] == ["dup000000001,merged,"]
    assert without(data, {"other0000001"}) == (data, 0)


def test_a_month_with_no_case_between_two_others_gets_a_snapshot_of_headers(
    night: Portal, tmp_path: Path
) -> None:
    """The metrics list every month of their range, so a month in which no case was
    received (here November) turns final too; it has no shard and no open data, and its
    snapshot holds the files' headers and its zero figures."""
    advance(night, timedelta(days=50))  # 20 December: September to November are final
    night.file_complaint(Complaint("env-litter", "QB-LCJX-01", "东门口", "垃圾满了。"))
    build(night, tmp_path / "site", tmp_path / "work")
    site = tmp_path / "site"
    assert not (site / "data" / "cases" / "2026-11.csv").exists()
    folder = site / revision_path("2026-11", 1)
    header = csv_text([c.name for c in CASE_COLUMNS], ()).encode("utf-8")
    assert (folder / "cases.csv").read_bytes() == header
    assert json.loads((folder / "metrics.json").read_bytes())["month"] == "2026-11"
    assert [r["revision"] for r in index(site)["2026-11"]] == [1]
