"""Bulk import: the sample exports, whole-or-nothing validation, re-import and appends."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import Clock
from gridportal.adapters.dynamo import DynamoStore
from gridportal.adapters.memory import MemoryStore
from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.credentials import Keys
from gridportal.domain.lifecycle import CaseState, replay
from gridportal.domain.model import (
    Action,
    Actor,
    CaseFile,
    Channel,
    Complaint,
    Outcome,
    Rating,
    Role,
    Route,
    Status,
)
from gridportal.domain.reference import District
from gridportal.importer import (
    COLUMNS,
    MAX_ERRORS,
    ImportReport,
    RowError,
    format_of,
    import_actor,
    import_cases,
    tracking_for,
)
from gridportal.ports import CaseRecord
from gridportal.services import NotFound, Portal

FIXTURES = Path(__file__).parent / "fixtures" / "import"
CSV_TEXT = (FIXTURES / "hotline.csv").read_text(encoding="utf-8")
JSON_TEXT = (FIXTURES / "platform.json").read_text(encoding="utf-8")
HOTLINE = "hz12345"
PLATFORM = "qb-platform"

STREETLIGHT = "HZ12345-261012-0007"  # dispatched, resolved, rated, archived
NOISE = "HZ12345-261019-0112"  # rated unsatisfied, reopened, resolved again
DUPLICATE = "HZ12345-261020-0031"  # merged into NOISE
BUILDING = "HZ12345-261102-0045"  # special report, extended, still open
ALLOWANCE = "HZ12345-261105-0220"  # WeChat question answered directly
PARKING = "HZ12345-261106-0178"  # WeChat, returned once, resolved


def run(portal: Portal, text: str, fmt: Any = "csv", source: str = HOTLINE, **kw: Any) -> Any:
    return import_cases(
        text, fmt=fmt, portal=portal, source_system=source, now=portal.clock(), **kw
    )


def rows_of(text: str = CSV_TEXT) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def to_csv(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def edited(external_id: str, seq: int, **changes: str) -> str:
    rows = rows_of()
    row = next(r for r in rows if r["external_id"] == external_id and r["event_seq"] == str(seq))
    row.update(changes)
    return to_csv(rows)


def without(keep: dict[str, int]) -> str:
    """The sample with only the first ``keep[id]`` events of the cases named."""
    return to_csv(
        [r for r in rows_of() if int(r["event_seq"]) <= keep.get(r["external_id"], 10**6)]
    )


def line_of(text: str, external_id: str, seq: int | str) -> int:
    prefix = f"{external_id},{seq},"
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


def state_of(portal: Portal, external_id: str, source: str = HOTLINE) -> CaseState:
    return replay(portal.store.get_events(tracking_for(portal.keys, source, external_id)))


def snapshot(store: MemoryStore) -> Any:
    return copy.deepcopy((store.cases, store.events, store.votes))


def assert_nothing_written(portal: Portal, report: ImportReport) -> None:
    assert report.errors and report.written == 0
    assert (report.created, report.appended, report.unchanged) == (0, 0, 0)
    assert isinstance(portal.store, MemoryStore) and portal.store.cases == {}


# ----------------------------------------------------------------- sample files
def test_the_csv_sample_creates_cases_that_replay(portal: Portal, clock: Clock) -> None:
    report = run(portal, CSV_TEXT)
    assert report.errors == []
    assert (report.created, report.appended, report.unchanged, report.written) == (6, 0, 0, 41)
    expected = {
        STREETLIGHT: Status.ARCHIVED,
        NOISE: Status.RATED,
        DUPLICATE: Status.MERGED,
        BUILDING: Status.IN_PROGRESS,
        ALLOWANCE: Status.ARCHIVED,
        PARKING: Status.RESOLVED,
    }
    for external_id, status in expected.items():
        tracking = tracking_for(portal.keys, HOTLINE, external_id)
        record = portal.store.get_case(tracking)
        events = portal.store.get_events(tracking)
        state = replay(events)
        assert record is not None and state.status is status
        assert (record.status, record.seq) == (status, len(events))
        assert record.file.filed_by == Actor(Role.SYSTEM, "import:hz12345") == import_actor(HOTLINE)
        assert record.file.filed_at == events[0].at == state.received_at
        assert record.updated_at == clock.now  # the nightly build picks imported cases up
        assert record.file.public_id == portal.keys.public_id(tracking)
        assert events[0].data["external_id"] == external_id
        assert events[0].data["import_source"] == HOTLINE
    building = state_of(portal, BUILDING)
    assert (building.route, building.unit, len(building.extensions)) == (
        Route.SPECIAL_REPORT,
        "dept-enforce",
        1,
    )
    queue = portal.store.unit_queue("dept-enforce")
    assert [r.tracking for r in queue] == [tracking_for(portal.keys, HOTLINE, BUILDING)]
    parking = state_of(portal, PARKING)
    assert (parking.return_count, parking.units_involved) == (1, ("city-police", "city-urban"))
    assert state_of(portal, ALLOWANCE).outcome is Outcome.ANSWERED
    record = portal.store.get_case(tracking_for(portal.keys, HOTLINE, STREETLIGHT))
    assert record is not None and record.file.complaint.channel is Channel.HOTLINE
    assert record.file.complaint.contact.phone == "13800000001"  # private, kept as filed


def test_reopened_case_keeps_both_rounds(portal: Portal) -> None:
    run(portal, CSV_TEXT)
    state = state_of(portal, NOISE)
    assert (state.reopen_count, state.rating, state.outcome) == (
        1,
        Rating.BASICALLY_SATISFIED,
        Outcome.RESOLVED,
    )
    assert "经回访夜间已无噪声" in state.answer  # the quoted note spans two lines of the file
    vote = portal.store.get_vote(tracking_for(portal.keys, HOTLINE, NOISE))
    # The stored vote is the latest round's; every round's rating stays in the events.
    assert vote is not None and vote.rating is Rating.BASICALLY_SATISFIED
    events = portal.store.get_events(tracking_for(portal.keys, HOTLINE, NOISE))
    ratings = [e.data["rating"] for e in events if e.action is Action.RATE]
    assert ratings == [Rating.UNSATISFIED, Rating.BASICALLY_SATISFIED]


def test_merge_into_points_at_the_originals_tracking(portal: Portal) -> None:
    run(portal, CSV_TEXT)
    state = state_of(portal, DUPLICATE)
    assert state.merged_into == tracking_for(portal.keys, HOTLINE, NOISE)
    assert portal.store.get_case(state.merged_into) is not None


def test_merge_into_a_case_imported_earlier(portal: Portal) -> None:
    original = [r for r in rows_of() if r["external_id"] == NOISE]
    duplicate = [r for r in rows_of() if r["external_id"] == DUPLICATE]
    assert run(portal, to_csv(original)).created == 1
    report = run(portal, to_csv(duplicate))
    assert report.errors == [] and report.created == 1
    assert state_of(portal, DUPLICATE).merged_into == tracking_for(portal.keys, HOTLINE, NOISE)


def test_imported_cases_have_no_usable_lookup_code_or_vote_token(portal: Portal) -> None:
    run(portal, CSV_TEXT)
    tracking = tracking_for(portal.keys, HOTLINE, PARKING)  # resolved and not yet rated
    for code in ("", "00000000", "12345678"):
        with pytest.raises(NotFound):
            portal.lookup(tracking, code)
    with pytest.raises(NotFound):
        portal.vote(tracking, "", Rating.SATISFIED)


def test_the_json_sample_creates_patrol_and_wechat_cases(portal: Portal) -> None:
    report = run(portal, JSON_TEXT, fmt="json", source=PLATFORM)
    assert report.errors == []
    assert (report.created, report.written) == (3, 12)
    patrol = portal.store.get_case(tracking_for(portal.keys, PLATFORM, "QB-20261103-001"))
    assert patrol is not None and patrol.file.complaint.channel is Channel.PATROL
    assert replay(portal.store.get_events(patrol.tracking)).status is Status.ARCHIVED
    litter = state_of(portal, "QB-20261108-014", PLATFORM)
    assert (litter.category, litter.status) == ("env-sorting", Status.IN_PROGRESS)  # reclassified
    refused = state_of(portal, "QB-20261109-002", PLATFORM)
    assert refused.outcome is Outcome.REFUSED


def test_the_same_work_order_from_two_sources_is_two_cases(portal: Portal) -> None:
    assert tracking_for(portal.keys, "a", "1") != tracking_for(portal.keys, "b", "1")
    tracking = tracking_for(portal.keys, HOTLINE, STREETLIGHT)
    assert len(tracking) == 12 and tracking.isdigit() and tracking[0] != "0"
    assert tracking == tracking_for(portal.keys, HOTLINE, STREETLIGHT)


# -------------------------------------------------------------------- re-import
def test_reimport_changes_nothing(portal: Portal, clock: Clock) -> None:
    run(portal, CSV_TEXT)
    assert isinstance(portal.store, MemoryStore)
    before = snapshot(portal.store)
    clock.advance(days=1)
    report = run(portal, CSV_TEXT)
    assert report.errors == []
    assert (report.created, report.appended, report.unchanged, report.written) == (0, 0, 6, 0)
    assert snapshot(portal.store) == before  # not even updated_at moved


def test_a_later_export_appends_the_new_events(portal: Portal, clock: Clock) -> None:
    assert run(portal, without({BUILDING: 4, PARKING: 5})).written == 41 - 3 - 3
    clock.advance(days=1)
    report = run(portal, CSV_TEXT)
    assert report.errors == []
    assert (report.created, report.appended, report.unchanged, report.written) == (0, 2, 4, 6)
    assert state_of(portal, BUILDING).extended_due is not None
    record = portal.store.get_case(tracking_for(portal.keys, HOTLINE, PARKING))
    assert record is not None and (record.status, record.seq) == (Status.RESOLVED, 8)
    assert record.updated_at == clock.now
    assert run(portal, CSV_TEXT).unchanged == 6


def test_a_file_with_only_the_new_events_appends_them(portal: Portal) -> None:
    run(portal, without({BUILDING: 4}))
    delta = to_csv(
        [r for r in rows_of() if r["external_id"] == BUILDING and int(r["event_seq"]) > 4]
    )
    report = run(portal, delta)
    assert report.errors == [] and (report.appended, report.written) == (1, 3)
    assert len(portal.store.get_events(tracking_for(portal.keys, HOTLINE, BUILDING))) == 7


def test_a_delta_with_a_gap_is_refused(portal: Portal) -> None:
    run(portal, without({BUILDING: 4}))
    delta = to_csv(
        [r for r in rows_of() if r["external_id"] == BUILDING and int(r["event_seq"]) > 5]
    )
    report = run(portal, delta)
    assert report.written == 0
    assert report.errors == [
        RowError(2, f"[{BUILDING}] 已导入 4 个事件，本文件从第 6 个开始，中间缺少事件")
    ]


def test_a_delta_for_a_case_never_imported_is_refused(portal: Portal) -> None:
    delta = to_csv([r for r in rows_of() if r["external_id"] == BUILDING][2:])
    report = run(portal, delta)
    assert [e.line for e in report.errors] == [2] and "尚未导入" in report.errors[0].message


def test_an_older_export_after_staff_moved_the_case_changes_nothing(portal: Portal) -> None:
    run(portal, CSV_TEXT)
    handler = Actor(Role.HANDLER, "ef-sun", "dept-enforce")
    tracking = tracking_for(portal.keys, HOTLINE, BUILDING)
    portal.act(tracking, Action.RESOLVE, handler, public_note="违建已自行拆除。")
    report = run(portal, CSV_TEXT)
    assert report.errors == [] and report.unchanged == 6
    assert replay(portal.store.get_events(tracking)).status is Status.RESOLVED


def test_an_event_that_differs_from_the_stored_one_is_refused(portal: Portal) -> None:
    run(portal, CSV_TEXT)
    assert isinstance(portal.store, MemoryStore)
    before = snapshot(portal.store)
    text = edited(PARKING, 7, public_note="已处理。")
    rows = rows_of(text) + [
        {**r, "external_id": "HZ12345-NEW"} for r in rows_of() if r["external_id"] == ALLOWANCE
    ]
    text = to_csv(rows)
    report = run(portal, text)
    assert report.errors == [
        RowError(
            line_of(text, PARKING, 7),
            f"[{PARKING}] 与已导入的第 7 个事件不同；已导入的事件不能改写，只能在其后追加",
        )
    ]
    assert snapshot(portal.store) == before  # the new, valid case was not written either


def test_a_changed_filing_is_refused(portal: Portal) -> None:
    run(portal, CSV_TEXT)
    text = edited(ALLOWANCE, 1, description="想了解尊老金怎么申请。")
    report = run(portal, text)
    assert [e.line for e in report.errors] == [line_of(text, ALLOWANCE, 1)]
    assert "案件信息与已导入的不同" in report.errors[0].message


def test_a_tracking_number_held_by_another_case_is_refused(portal: Portal, clock: Clock) -> None:
    tracking = tracking_for(portal.keys, HOTLINE, ALLOWANCE)
    record = CaseRecord(
        file=CaseFile(
            tracking,
            "x" * 12,
            Complaint("env-litter", "QB-LDL-01", "劳动路", "垃圾"),
            clock.now,
            Actor(Role.RESIDENT, "resident"),
        ),
        lookup_hash="0",
        vote_hash="0",
        status=Status.RECEIVED,
        unit=None,
        seq=1,
        updated_at=clock.now,
    )
    portal.store.put_history(record, [], None)
    report = run(portal, CSV_TEXT)
    assert [e.line for e in report.errors] == [line_of(CSV_TEXT, ALLOWANCE, 1)]
    assert "已被另一案件占用" in report.errors[0].message
    assert portal.store.get_events(tracking) == []


# ------------------------------------------------------------------- bad files
@pytest.mark.parametrize(
    ("external_id", "seq", "changes", "reason"),
    [
        (ALLOWANCE, 1, {"category": "no-such-thing"}, "未知事项类别：no-such-thing"),
        (ALLOWANCE, 1, {"grid": "QB-NOWHERE"}, "未知网格：QB-NOWHERE"),
        (ALLOWANCE, 1, {"channel": "fax"}, "channel 取值无效：'fax'"),
        (ALLOWANCE, 1, {"location": ""}, "缺少 location（受理时必填）"),
        (STREETLIGHT, 4, {"action": "resolve", "public_note": "修好了"}, "不能执行“办结”"),
        (STREETLIGHT, 4, {"action": "approve"}, "action 取值无效：'approve'"),
        (BUILDING, 3, {"event_time": "2026-11-02T11:00:00"}, "event_time 须带时区"),
        (BUILDING, 3, {"event_time": "2026-11-02 下午"}, "不是 ISO 8601 时间"),
        (BUILDING, 3, {"event_time": "2027-01-01T00:00:00+08:00"}, "晚于导入时间"),
        (BUILDING, 3, {"event_time": "2026-11-02T09:00:00+08:00"}, "事件时间早于案件上一步"),
        (PARKING, 3, {"unit": "dept-nowhere"}, "未知部门：dept-nowhere"),
        (PARKING, 6, {"actor_unit": "city-police"}, "该案件不属于本单位"),
        (PARKING, 6, {"actor_unit": ""}, "handler）的 actor_unit 须为已知部门"),
        (PARKING, 6, {"unit": "city-urban"}, "unit 不适用于“签收”（accept），应留空"),
        (PARKING, 6, {"actor_role": "auditor"}, "审计员无权执行“签收”"),
        (PARKING, 7, {"public_note": ""}, "“办结”须填写公开说明"),
        (PARKING, 8, {"result": "maybe"}, "回访结果须为 ok 或 failed"),
        (STREETLIGHT, 8, {"rating": "great"}, "rating 取值无效：great"),
        (DUPLICATE, 2, {"into": "HZ12345-NOWHERE"}, "合并目标 HZ12345-NOWHERE 既不在本文件中"),
        (DUPLICATE, 2, {"into": DUPLICATE}, "不能合并到自身"),
        (DUPLICATE, 2, {"grid": "QB-DAL-02"}, "grid 只能写在案件的受理（receive）行"),
        (BUILDING, 7, {"new_due": "2026-11-12"}, "延期后的期限须晚于当前期限"),
        (BUILDING, 7, {"new_due": "2026-11-08"}, "延期后的期限须晚于今天"),
        (BUILDING, 7, {"event_seq": "7a"}, "event_seq 须为正整数，而不是 '7a'"),
        (BUILDING, 1, {"channel": "patrol"}, "巡查上报（patrol）的受理人须为本网格的网格员"),
    ],
)
def test_a_bad_row_is_reported_by_line_and_nothing_is_written(
    portal: Portal, external_id: str, seq: int, changes: dict[str, str], reason: str
) -> None:
    text = edited(external_id, seq, **changes)
    report = run(portal, text)
    line = line_of(text, external_id, changes.get("event_seq", seq))
    assert [e.line for e in report.errors] == [line]
    assert reason in report.errors[0].message and external_id in report.errors[0].message
    assert_nothing_written(portal, report)


def test_event_numbers_must_follow_on(portal: Portal) -> None:
    text = edited(BUILDING, 7, event_seq="8")
    report = run(portal, text)
    assert report.errors == [
        RowError(
            line_of(text, BUILDING, 8),
            f"[{BUILDING}] event_seq 应为 7（同一案件的事件须按顺序连续编号）",
        )
    ]


def test_line_numbers_are_physical_lines(portal: Portal) -> None:
    # The note of NOISE's seq 11 spans two lines, so DUPLICATE's merge row is on line 25.
    report = run(portal, edited(DUPLICATE, 2, action="archive", into=""))
    assert report.summary().splitlines()[1] == (  # the example in docs/import.md
        "  第 25 行：[HZ12345-261020-0031] archive：案件当前状态为“已受理”，不能执行“归档”"
    )


def test_every_error_in_the_file_is_reported(portal: Portal) -> None:
    rows = rows_of()
    for row in rows:
        if (row["external_id"], row["event_seq"]) in {(STREETLIGHT, "1"), (PARKING, "1")}:
            row["category"] = "nonsense"
        if (row["external_id"], row["event_seq"]) == (BUILDING, "2"):
            row["priority"] = "whenever"
    text = to_csv(rows)
    report = run(portal, text)
    assert [e.line for e in report.errors] == [
        line_of(text, STREETLIGHT, 1),
        line_of(text, BUILDING, 2),
        line_of(text, PARKING, 1),
    ]
    assert "priority 取值无效：whenever" in report.errors[1].message
    assert_nothing_written(portal, report)


def test_the_error_list_is_capped(portal: Portal) -> None:
    first = rows_of()[0]
    rows = [{**first, "external_id": f"X{n}", "category": "nonsense"} for n in range(150)]
    report = run(portal, to_csv(rows))
    assert len(report.errors) == MAX_ERRORS and report.omitted_errors == 150 - MAX_ERRORS
    assert "另有 50 处错误未列出" in report.summary()
    assert_nothing_written(portal, report)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (tuple(c for c in COLUMNS if c != "event_time"), "缺少必需列：event_time"),
        ((*COLUMNS, "colour"), "未知列：colour"),
        ((*COLUMNS, "grid"), "重复列：grid"),
    ],
)
def test_a_bad_header_is_reported_on_line_one(
    portal: Portal, columns: tuple[str, ...], message: str
) -> None:
    text = to_csv(rows_of(), columns)
    report = run(portal, text)
    assert report.errors == [RowError(1, message)]
    assert_nothing_written(portal, report)


def test_optional_columns_may_be_left_out(portal: Portal) -> None:
    rows = [r for r in rows_of() if r["external_id"] == STREETLIGHT]
    columns = tuple(c for c in COLUMNS if c not in ("private_note", "contact_name", "new_due"))
    report = run(portal, to_csv(rows, columns))
    assert report.errors == [] and report.created == 1


def test_rows_of_a_case_must_be_consecutive(portal: Portal) -> None:
    rows = rows_of()
    moved = rows.pop(2)  # STREETLIGHT seq 3, now after every other row
    text = to_csv([*rows, moved])
    report = run(portal, text)
    assert [e.line for e in report.errors] == [
        line_of(text, STREETLIGHT, 4),  # the gap it leaves
        line_of(text, STREETLIGHT, 3),  # the stray row
    ]
    assert "须连续排列，该案件已出现在第 2 行" in report.errors[1].message


def test_a_row_with_too_many_cells_is_reported(portal: Portal) -> None:
    lines = CSV_TEXT.splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + ",extra\n"
    lines[1] = lines[1].rstrip("\n") + ",extra\n"  # the receipt of a case: no knock-on errors
    report = run(portal, "".join(lines))
    assert report.errors == [
        RowError(2, "列数不符：表头有 22 列，此行有 23 列"),
        RowError(5, "列数不符：表头有 22 列，此行有 23 列"),
    ]


def test_an_empty_file_and_a_broken_quote(portal: Portal) -> None:
    assert run(portal, "").errors == [RowError(1, "文件为空，缺少表头行")]
    report = run(portal, CSV_TEXT + 'X,1,"unclosed\n')
    assert [e.line for e in report.errors] == [44]
    assert_nothing_written(portal, report)


def test_a_byte_order_mark_and_blank_lines_are_accepted(portal: Portal) -> None:
    report = run(portal, "\ufeff" + CSV_TEXT.replace("\n", "\n\n", 1) + "\n\n")
    assert report.errors == [] and report.created == 6


def test_the_source_system_name_is_checked(portal: Portal) -> None:
    report = run(portal, CSV_TEXT, source="12345 热线")
    assert [e.line for e in report.errors] == ["source_system"]
    assert_nothing_written(portal, report)


def test_dry_run_checks_and_counts_but_writes_nothing(portal: Portal) -> None:
    report = run(portal, CSV_TEXT, dry_run=True)
    assert report.errors == [] and (report.created, report.written) == (6, 41)
    assert "试运行" in report.summary()
    assert isinstance(portal.store, MemoryStore) and portal.store.cases == {}


# ------------------------------------------------------------------------ JSON
def json_edit(path: tuple[Any, ...], value: Any) -> str:
    document = json.loads(JSON_TEXT)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(document, ensure_ascii=False)


@pytest.mark.parametrize(
    ("path", "value", "where", "reason"),
    [
        (("cases", 1, "events", 2, "unit"), "dept-nowhere", "cases[1].events[2]", "未知部门"),
        (("cases", 2, "grid"), "QB-NOWHERE", "cases[2]", "未知网格：QB-NOWHERE"),
        (("cases", 0, "events", 1, "priority"), 1, "cases[0].events[1]", "priority 须为字符串"),
        (("cases", 0, "events", 1, "colour"), "red", "cases[0].events[1]", "未知字段：colour"),
        (("cases", 1, "events"), [], "cases[1]", "events 须为非空数组"),
        (("cases", 2, "external_id"), "QB-20261103-001", "cases[2]", "与 cases[0] 重复"),
        (
            ("cases", 0, "events", 0, "actor_unit"),
            "QB-LCJX-01",
            "cases[0]",
            "巡查上报（patrol）的受理人须为本网格的网格员",
        ),
        (("source_system",), "other", "source_system", "与本次导入指定的 'qb-platform' 不一致"),
    ],
)
def test_json_errors_name_the_path(
    portal: Portal, path: tuple[Any, ...], value: Any, where: str, reason: str
) -> None:
    report = run(portal, json_edit(path, value), fmt="json", source=PLATFORM)
    assert [e.line for e in report.errors] == [where]
    assert reason in report.errors[0].message
    assert_nothing_written(portal, report)


def test_json_numbers_are_accepted_for_ids(portal: Portal) -> None:
    text = json_edit(("cases", 2, "external_id"), 20261109002)
    report = run(portal, text, fmt="json", source=PLATFORM)
    assert report.errors == [] and report.created == 3
    assert state_of(portal, "20261109002", PLATFORM).outcome is Outcome.REFUSED


def test_broken_json_is_reported_by_line(portal: Portal) -> None:
    report = run(portal, JSON_TEXT.replace('"cases": [', '"cases": [,', 1), fmt="json")
    assert [e.line for e in report.errors] == [3]
    assert report.errors[0].message.startswith("JSON 格式错误")


def test_json_and_csv_of_the_same_history_are_the_same_case(portal: Portal) -> None:
    rows = [r for r in rows_of() if r["external_id"] == PARKING]
    case_keys = ("category", "grid", "channel", "location", "description")
    case: dict[str, Any] = {"external_id": PARKING, **{k: rows[0][k] for k in case_keys}}
    case["contact_name"], case["contact_phone"] = rows[0]["contact_name"], rows[0]["contact_phone"]
    event_keys = [c for c in COLUMNS if c not in (*case_keys, "external_id")]
    event_keys = [c for c in event_keys if c not in ("contact_name", "contact_phone")]
    case["events"] = [{k: r[k] for k in event_keys if r[k]} for r in rows]
    run(portal, to_csv(rows))
    report = run(portal, json.dumps({"cases": [case]}, ensure_ascii=False), fmt="json")
    assert report.errors == [] and report.unchanged == 1


# ----------------------------------------------------------------------- misc
def test_format_of_reads_the_suffix() -> None:
    assert format_of("export/2026-11.CSV") == "csv"
    assert format_of("platform.json") == "json"
    with pytest.raises(ValueError):
        format_of("export.xlsx")


def test_summary_lists_errors_by_line(portal: Portal) -> None:
    report = run(portal, edited(ALLOWANCE, 1, category="nonsense"))
    assert report.summary().startswith("导入失败，未写入任何数据。共发现 1 处错误：\n  第 33 行：")
    assert run(portal, CSV_TEXT).summary() == (
        "导入完成：来源 hz12345，新建 6 件，追加 0 件，未变 0 件，写入事件 41 条。"
    )


# -------------------------------------------------------------------- DynamoDB
def test_import_and_reimport_on_dynamodb(
    dynamo_store: DynamoStore,
    district: District,
    calendar: WorkCalendar,
    keys: Keys,
    clock: Clock,
) -> None:
    portal = Portal(
        store=dynamo_store, district=district, calendar=calendar, keys=keys, clock=clock
    )
    report = run(portal, without({BUILDING: 4}))
    assert report.errors == [] and (report.created, report.written) == (6, 38)
    clock.advance(hours=1)
    report = run(portal, CSV_TEXT)  # events read back from DynamoDB compare equal
    assert report.errors == []
    assert (report.appended, report.unchanged, report.written) == (1, 5, 3)
    assert run(portal, CSV_TEXT).unchanged == 6
    building = tracking_for(portal.keys, HOTLINE, BUILDING)
    assert [r.tracking for r in dynamo_store.unit_queue("dept-enforce")] == [building]
    assert building in set(dynamo_store.changed_since(clock.now.replace(hour=0), clock.now))
    assert state_of(portal, DUPLICATE).merged_into == tracking_for(portal.keys, HOTLINE, NOISE)
    vote = dynamo_store.get_vote(tracking_for(portal.keys, HOTLINE, STREETLIGHT))
    assert vote is not None and vote.rating is Rating.SATISFIED
    report = run(portal, edited(NOISE, 6, public_note="调解完毕。"))
    assert [e.line for e in report.errors] == [line_of(CSV_TEXT, NOISE, 6)]


# ------------------------------------------------------------------------ docs
DOCS = (Path(__file__).parents[1] / "docs" / "import.md").read_text(encoding="utf-8")


def test_every_column_is_documented() -> None:
    assert [c for c in COLUMNS if f"| `{c}` |" not in DOCS] == []


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_documented_examples_import(portal: Portal, fmt: str) -> None:
    example = DOCS.split(f"```{fmt}\n", 1)[1].split("```", 1)[0]
    source = "qb-platform" if fmt == "json" else HOTLINE
    report = run(portal, example, fmt=fmt, source=source)
    assert report.errors == [] and report.created == (1 if fmt == "json" else 2)
