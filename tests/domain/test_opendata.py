from __future__ import annotations

import csv
import io
import itertools
import json
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridportal.domain.deadlines import DeadlineReport
from gridportal.domain.metrics import BEIJING, compute_metrics
from gridportal.domain.opendata import (
    BOM,
    CSV_COLUMNS,
    DEADLINE_FIELDS,
    cases_csv,
    cases_json,
    cell,
    metrics_json,
)
from gridportal.domain.publication import PUBLIC_FIELDS, TIMELINE_FIELDS
from gridportal.domain.reference import District
from support.records import published_record

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
    text = cases_json([shuffled])
    (loaded,) = json.loads(text)
    assert tuple(loaded) == PUBLIC_FIELDS
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
    assert json.loads(text) == report
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
            digits = 2 if name == "score" else 4
            rounded = None if value is None else round(value, digits)
            assert rounded == expected[key][name], (key, name)


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
    assert figures["response_rate"] == 4 / 5
    assert figures["resolution_rate"] == 2 / 3  # the refusal is outside, 不满意 is not solved
    assert figures["satisfaction_rate"] == 1.9 / 3
    assert figures["overdue_open"] == 1
