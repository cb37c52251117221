from __future__ import annotations

import csv
import io
import itertools
import json
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridportal.domain.calendar import WorkCalendar, YearSchedule
from gridportal.domain.deadlines import DeadlineReport
from gridportal.domain.metrics import BEIJING, compute_metrics
from gridportal.domain.opendata import (
    BOM,
    CSV_COLUMNS,
    DEADLINE_FIELDS,
    EVENT_COLUMNS,
    LICENCE,
    TABLES,
    archive_csv,
    calendar_csv,
    calendar_json,
    cases_csv,
    cases_json,
    cell,
    datapackage,
    events_csv,
    metrics_csv,
    metrics_json,
    month_events_key,
    month_metrics_csv,
    site_files,
    snapshot_files,
)
from gridportal.domain.publication import PUBLIC_FIELDS, TIMELINE_FIELDS
from gridportal.domain.reference import District
from support.records import published_record, step

DOC = Path(__file__).resolve().parents[2] / "docs" / "open-data.md"
_ids = itertools.count(1)
EMPTY_DISTRICT = District("QB", "清波街道", "杭州市", (), (), (), (), ())


def rec(received_at: str = "2025-06-10T09:00:00+08:00", **fields: Any) -> dict[str, Any]:
    """A resolved case rated 满意 (the shared builder, rated by default here)."""
    rated = {
        "status": "rated",
        "status_label": "已评价",
        "updated_at": "2025-06-13T09:00:00+08:00",
        "rating": "satisfied",
        "rating_label": "满意",
        "rated_at": "2025-06-13T09:00:00+08:00",
    }
    # A plain dict: the tests reorder and change fields the way other tools might.
    return dict(published_record(received_at, **{**rated, **fields}))


def read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith(BOM)
    return list(csv.DictReader(io.StringIO(text[len(BOM) :], newline="")))


# --- CSV -----------------------------------------------------------------------------


def test_csv_header_is_stable() -> None:
    # People's scripts read these names: change them only with a notice in docs/open-data.md.
    assert CSV_COLUMNS == (
        "service_request_id",
        "requested_datetime",
        "contacted_datetime",
        "updated_datetime",
        "closed_date",
        "status",
        "status_label",
        "service_code",
        "service_name",
        "category_group",
        "difficulty",
        "agency",
        "agency_name",
        "grid",
        "grid_name",
        "community",
        "community_name",
        "channel",
        "source",
        "priority",
        "route",
        "due_date",
        "original_due_date",
        "contact_due",
        "contact_met",
        "met",
        "overdue_working_days",
        "deadline_note",
        "extension_count",
        "reopen_count",
        "return_count",
        "supervised",
        "outcome",
        "rating",
        "rated_at",
        "merged_into",
        "description",
        "location",
        "answer",
        "counted_rating",
    )
    text = cases_csv([])
    assert text == BOM + ",".join(CSV_COLUMNS) + "\r\n"


def test_every_csv_column_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    missing = [c for c in CSV_COLUMNS if f"| `{c}`" not in doc and f", `{c}`" not in doc]
    assert missing == [], f"add these to docs/open-data.md: {missing}"


def test_csv_round_trips_through_dict_reader() -> None:
    tricky = 'He said "快来", then left,\r\nnew line <script>alert(1)</script>'
    record = rec(summary=tricky, location="东门, 北侧")
    (row,) = read_csv(cases_csv([record]))
    assert list(row) == list(CSV_COLUMNS)
    assert row["service_request_id"] == record["id"]
    assert row["description"] == tricky
    assert row["location"] == "东门, 北侧"
    assert row["requested_datetime"] == "2025-06-10T09:00:00+08:00"
    assert row["closed_date"] == "2025-06-12T10:00:00+08:00"
    assert row["due_date"] == "2025-06-17T23:59:59+08:00"
    assert row["agency"] == "CGB"
    assert row["agency_name"] == "城市管理部"
    assert (row["contact_met"], row["met"], row["supervised"]) == ("true", "true", "false")
    assert row["overdue_working_days"] == "0"
    assert row["rating"] == "satisfied"


def test_csv_writes_nulls_as_empty_cells() -> None:
    record = rec(
        status="received",
        outcome=None,
        unit=None,
        unit_name="",
        route=None,
        resolved_at=None,
        rating=None,
        rated_at=None,
        deadlines=None,
        deadline_note="2027年工作日历尚未公布,时限待定",
    )
    (row,) = read_csv(cases_csv([record]))
    for column in ("outcome", "agency", "route", "closed_date", "rating", "due_date", "met"):
        assert row[column] == "", column
    assert row["deadline_note"] == "2027年工作日历尚未公布,时限待定"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+86 123", "'+86 123"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a=b", "a=b"),
        ("'quoted", "'quoted"),
        ("", ""),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (3, "3"),
    ],
)
def test_cells_are_made_inert_for_spreadsheets(value: Any, written: str) -> None:
    assert cell(value) == written


def test_formula_text_is_prefixed_in_the_file() -> None:
    record = rec(summary="=1+1", answer="@cmd", location="-2")
    (row,) = read_csv(cases_csv([record]))
    assert (row["description"], row["answer"], row["location"]) == ("'=1+1", "'@cmd", "'-2")


@given(st.text())
def test_any_text_survives_the_csv(text: str) -> None:
    (row,) = read_csv(cases_csv([rec(summary=text)]))
    dangerous = text[:1] in ("=", "+", "-", "@", "\t", "\r") and text != ""
    assert row["description"] == ("'" + text if dangerous else text)


def test_files_list_cases_by_time_of_receipt_then_id() -> None:
    late = rec("2025-06-10T02:00:00+00:00")  # 10:00 in Beijing
    early = rec("2025-06-10T09:30:00+08:00")
    first, second = rec(), rec()  # same time: by id
    ordered = [first["id"], second["id"], early["id"], late["id"]]
    rows = read_csv(cases_csv([late, second, early, first]))
    assert [r["service_request_id"] for r in rows] == ordered
    assert [r["id"] for r in json.loads(cases_json([late, second, early, first]))] == ordered


# --- JSON ----------------------------------------------------------------------------


def test_cases_json_keeps_every_field_in_published_order() -> None:
    record = rec(summary="<b>“引号”</b>")
    shuffled = dict(reversed(list(record.items())))
    shuffled["deadlines"] = dict(reversed(list(record["deadlines"].items())))
    shuffled["timeline"] = [dict(reversed(list(step.items()))) for step in record["timeline"]]
    shuffled["zz_later"], shuffled["aa_later"] = 1, 2  # fields a later version may add
    text = cases_json([shuffled, record])
    loaded, as_made = json.loads(text)
    assert tuple(loaded) == (*PUBLIC_FIELDS, "aa_later", "zz_later")
    assert tuple(as_made) == PUBLIC_FIELDS and as_made == record
    assert tuple(loaded["timeline"][0]) == TIMELINE_FIELDS
    assert tuple(loaded["deadlines"]) == DEADLINE_FIELDS
    assert loaded == shuffled
    assert "“引号”" in text  # readable Chinese, not \\u escapes


def test_deadline_keys_follow_the_deadline_report() -> None:
    moment = datetime(2025, 6, 10, 9, tzinfo=BEIJING)
    report = DeadlineReport(moment, None, moment, moment, False, None, 0)
    assert tuple(report.to_dict()) == DEADLINE_FIELDS


def test_cases_json_has_one_case_per_line() -> None:
    text = cases_json([rec(), rec(), rec()])
    lines = text.splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    assert len(lines) == 5
    assert json.loads(cases_json([])) == []


def test_metrics_json_round_trips() -> None:
    report = compute_metrics([rec()], EMPTY_DISTRICT, now=datetime(2025, 7, 1, tzinfo=BEIJING))
    text = metrics_json(report)
    loaded = json.loads(text)
    assert list(loaded)[:2] == ["as_of", "licence"]
    assert loaded["as_of"] == report["generated_at"]
    assert loaded["licence"]["name"] == "CC-BY-4.0"
    assert {k: v for k, v in loaded.items() if k not in ("as_of", "licence")} == report
    assert "响应率" in text
    with pytest.raises(ValueError):
        metrics_json({"bad": float("nan")})


# --- Recomputing from the CSV (the script in docs/open-data.md) ---------------------


def recompute_script() -> Callable[[str], dict[str, dict[str, Any]]]:
    """The ``recompute`` function of the documented script, run as published."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Recomputing the metrics from the CSV", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace('print(recompute("cases.csv")["all"])', "")
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    recompute: Callable[[str], dict[str, dict[str, Any]]] = namespace["recompute"]
    return recompute


_STATES: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {"status": "received", "outcome": None, "resolved_at": None},
        {"status": "in_progress", "outcome": None, "resolved_at": None},
        {"status": "resolved", "outcome": "resolved"},
        {"status": "resolved", "outcome": "answered", "route": "direct_answer"},
        {"status": "rated", "outcome": "refused"},
        {"status": "merged", "outcome": "merged"},
    ]
)


@st.composite
def varied(draw: st.DrawFn) -> dict[str, Any]:
    state = draw(_STATES)
    judged = st.sampled_from([None, True, False])
    rating = draw(st.sampled_from([None, "satisfied", "basically_satisfied", "unsatisfied"]))
    record = rec(
        f"2025-0{draw(st.integers(4, 6))}-10T09:00:00+08:00",
        **state,
        rating=rating if state["outcome"] not in (None, "merged") else None,
        difficulty=draw(st.sampled_from(["easy", "hard"])),
        reopen_count=draw(st.integers(0, 1)),
    )
    if draw(st.booleans()):
        record["deadlines"] = {**record["deadlines"], "contact_met": draw(judged)}
        record["deadlines"]["met"] = draw(judged)
    else:
        record["deadlines"] = None
    return record


@settings(max_examples=50, deadline=None)
@given(st.lists(varied(), min_size=1, max_size=30))
def test_the_documented_script_recomputes_the_metrics(cases: list[dict[str, Any]]) -> None:
    report = compute_metrics(cases, EMPTY_DISTRICT, now=datetime(2025, 7, 1, tzinfo=BEIJING))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cases.csv"
        path.write_text(cases_csv(cases), encoding="utf-8", newline="")
        recomputed = recompute_script()(str(path))
    expected = {"all": report["overall"]} | {
        m: entry["overall"] for m, entry in report["monthly"].items() if entry["overall"]["cases"]
    }
    assert set(recomputed) == set(expected)
    for key, figures in recomputed.items():
        for name, value in figures.items():
            assert value == expected[key][name], (key, name)


def test_the_documented_script_on_a_small_table(tmp_path: Path) -> None:
    records = [
        rec(),
        rec(rating="basically_satisfied", rating_label="基本满意"),
        rec(rating="unsatisfied", rating_label="不满意"),
        rec(outcome="refused", rating=None, rated_at=None),
        rec(status="in_progress", outcome=None, resolved_at=None, rating=None, rated_at=None),
        rec(status="merged", outcome="merged", rating=None, rated_at=None, deadlines=None),
    ]
    records[1]["deadlines"] = {**records[1]["deadlines"], "contact_met": False}
    records[4]["deadlines"] = {**records[4]["deadlines"], "met": False}
    path = tmp_path / "cases.csv"
    path.write_text(cases_csv(records), encoding="utf-8", newline="")
    figures = recompute_script()(str(path))["all"]
    assert figures["cases"] == 5
    assert figures["response_rate"] == 0.8
    # The refusal is outside, 不满意 is not solved, the overdue open case is not solved.
    assert figures["resolution_rate"] == 0.5
    assert figures["satisfaction_rate"] == 0.633
    assert figures["overdue_open"] == 1


# --- Steps, calendar, metrics table, package -----------------------------------------


def _timeline(*steps: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        step(f"2025-06-{day}T09:00:00+08:00", action, action, unit="CGB", unit_name="城市管理部")
        for day, action in steps
    ]


def test_events_have_one_row_per_public_step_with_its_effect_and_rating() -> None:
    record = rec(
        reopen_count=1,
        rating="satisfied",
        rated_at="2025-06-20T09:00:00+08:00",
        timeline=_timeline(
            ("10", "receive"),
            ("10", "contact"),
            ("11", "extend"),
            ("12", "resolve"),
            ("13", "rate"),
            ("14", "reopen"),
            ("18", "resolve"),
            ("20", "rate"),
        ),
    )
    rows = read_csv(events_csv([record]))
    assert [r["step"] for r in rows] == [str(n) for n in range(1, 9)]
    assert {r["service_request_id"] for r in rows} == {record["id"]}
    assert [r["deadline_effect"] for r in rows] == [
        "starts",
        "contact_on_time",
        "extended",
        "closed",
        "",
        "new_round",
        "closed_on_time",
        "",
    ]
    # The first round's rating is not in the record; the latest is, and it counts.
    assert [(r["rating"], r["rating_counted"]) for r in rows if r["action"] == "rate"] == [
        ("", ""),
        ("satisfied", "true"),
    ]
    assert rows[0]["agency_name"] == "城市管理部"
    assert list(rows[0]) == [c.name for c in EVENT_COLUMNS]


def test_a_rating_before_a_reopen_does_not_count() -> None:
    record = rec(
        reopen_count=1,
        rating="unsatisfied",
        rated_at="2025-06-13T09:00:00+08:00",
        timeline=_timeline(("12", "resolve"), ("13", "rate"), ("14", "reopen")),
    )
    (row,) = [r for r in read_csv(events_csv([record])) if r["action"] == "rate"]
    assert (row["rating"], row["rating_counted"]) == ("unsatisfied", "false")
    (case,) = read_csv(cases_csv([record]))
    assert (case["rating"], case["counted_rating"]) == ("unsatisfied", "")


def test_the_events_archive_streams_the_month_files() -> None:
    june, july = [rec()], [rec("2025-07-02T09:00:00+08:00")]
    months = [events_csv(m).encode("utf-8").splitlines(keepends=True) for m in (june, july)]
    streamed = b"".join(archive_csv(months, EVENT_COLUMNS)).decode("utf-8")
    assert streamed == events_csv(june + july)


def test_the_calendar_file_lists_every_covered_day_with_its_kind() -> None:
    calendar = WorkCalendar.from_schedules(
        [YearSchedule(2025, frozenset({date(2025, 10, 1)}), frozenset({date(2025, 9, 28)}))]
    )
    rows = read_csv(calendar_csv(calendar))
    assert len(rows) == 365
    by_day = {r["date"]: r for r in rows}
    assert by_day["2025-10-01"] == {
        "date": "2025-10-01",
        "weekday": "3",
        "working": "false",
        "kind": "holiday",
    }
    assert by_day["2025-09-28"]["kind"] == "adjusted_workday"
    assert by_day["2025-09-27"]["kind"] == "weekend"
    assert by_day["2025-09-29"]["kind"] == "workday"
    body = json.loads(calendar_json(calendar, "2025-10-02T02:00:00+08:00"))
    assert body["covered_years"] == [2025]
    assert body["as_of"] == "2025-10-02T02:00:00+08:00"
    assert body["licence"] == LICENCE
    assert body["days"][0] == {
        "date": "2025-01-01",
        "weekday": 3,
        "working": True,
        "kind": "workday",
    }


def test_the_metrics_table_gives_every_rate_with_numerator_and_denominator() -> None:
    report = compute_metrics(
        [rec(), rec(rating="unsatisfied")], EMPTY_DISTRICT, now=datetime(2025, 7, 1, tzinfo=BEIJING)
    )
    rows = read_csv(metrics_csv(report))
    overall = {r["metric"]: r for r in rows if r["period"] == "all" and r["dimension"] == "overall"}
    resolution = overall["resolution_rate"]
    assert (resolution["numerator"], resolution["denominator"], resolution["value"]) == (
        "1",
        "2",
        "0.5",
    )
    assert overall["satisfaction_rate"]["numerator"] == "10"  # tenths of a case
    assert overall["score"]["numerator"] == ""
    june = [r for r in rows if r["period"] == "2025-06"]
    assert june and all(r["final"] == "true" for r in june)


def test_the_package_names_each_file_with_its_columns_as_of_and_licence() -> None:
    body = json.loads(
        datapackage([("data/cases.csv.gz", "cases"), ("data/calendar.json", "calendar")], "T")
    )
    assert body["licenses"] == [LICENCE]
    cases, calendar = body["resources"]
    assert [f["name"] for f in cases["schema"]["fields"]] == list(CSV_COLUMNS)
    assert all(f["description"] for f in cases["schema"]["fields"])
    assert cases["as_of"] == calendar["as_of"] == "T"
    assert "schema" not in calendar


def test_every_table_column_is_described_once() -> None:
    for table in TABLES:
        names = [c.name for c in table.columns]
        assert len(names) == len(set(names)), table.key
        assert all(c.description and c.type for c in table.columns), table.key


def test_site_files_describe_every_file_of_every_month() -> None:
    report = compute_metrics(
        [rec(), rec("2025-05-02T09:00:00+08:00")],
        EMPTY_DISTRICT,
        now=datetime(2025, 7, 1, tzinfo=BEIJING),
    )
    calendar = WorkCalendar.from_schedules([YearSchedule(2025, frozenset(), frozenset())])
    files = dict(site_files(report, calendar, ["2025-05", "2025-06"], [("data/x.csv.gz", "cases")]))
    assert {"data/calendar.csv", "data/calendar.json", "data/metrics.csv"} <= set(files)
    june = read_csv(files["data/metrics/2025-06.csv"].decode("utf-8"))
    assert june and {r["period"] for r in june} == {"2025-06"}
    package = json.loads(files["data/datapackage.json"])
    paths = {r["path"] for r in package["resources"]}
    assert {"data/x.csv.gz", "data/events/2025-05.csv", "data/cases/2025-06.json"} <= paths
    assert {r["as_of"] for r in package["resources"]} == {report["generated_at"]}
    key, data = month_events_key("2025-06"), events_csv([rec()]).encode("utf-8")
    assert key == "data/events/2025-06.csv" and data.startswith(BOM.encode("utf-8"))


def test_a_month_metrics_table_is_that_month_of_the_whole_one() -> None:
    report = compute_metrics(
        [rec(), rec("2025-05-02T09:00:00+08:00")],
        EMPTY_DISTRICT,
        now=datetime(2025, 7, 1, tzinfo=BEIJING),
    )
    calendar = WorkCalendar.from_schedules([YearSchedule(2025, frozenset(), frozenset())])
    files = dict(site_files(report, calendar, ["2025-05", "2025-06"]))
    for month in ("2025-05", "2025-06"):
        assert (
            month_metrics_csv(report, month).encode("utf-8") == files[f"data/metrics/{month}.csv"]
        )


def test_the_package_lists_every_snapshot_file_with_its_own_as_of() -> None:
    index = {
        "2025-05": [
            {"revision": 1, "path": "data/snapshots/2025-05/r1/", "as_of": "A"},
            {"revision": 2, "path": "data/snapshots/2025-05/r2/", "as_of": "B"},
        ]
    }
    entries = snapshot_files(index)
    assert entries[0] == ("data/snapshots/index.json", "snapshots", "B", entries[0][3])
    names = ("metrics.json", "metrics.csv", "cases.csv", "events.csv")
    assert [e[0] for e in entries[1:]] == [
        f"data/snapshots/2025-05/r{n}/{name}" for n in (1, 2) for name in names
    ]
    report = compute_metrics([rec()], EMPTY_DISTRICT, now=datetime(2025, 7, 1, tzinfo=BEIJING))
    calendar = WorkCalendar.from_schedules([YearSchedule(2025, frozenset(), frozenset())])
    files = dict(site_files({**report, "snapshots": index}, calendar, ["2025-06"]))
    package = json.loads(files["data/datapackage.json"])
    by_path = {r["path"]: r for r in package["resources"]}
    r1 = by_path["data/snapshots/2025-05/r1/cases.csv"]
    assert r1["as_of"] == "A" and "2025-05" in r1["title"] and "r1" in r1["title"]
    assert [f["name"] for f in r1["schema"]["fields"]] == list(CSV_COLUMNS)
    assert by_path["data/snapshots/2025-05/r2/events.csv"]["as_of"] == "B"
    assert by_path["data/snapshots/index.json"]["title"].startswith("定稿快照索引")
    assert by_path["data/cases/2025-06.csv"]["as_of"] == report["generated_at"]
    assert snapshot_files({}) == []
