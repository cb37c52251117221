from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridportal.domain.metrics import (
    BEIJING,
    BURST_VOTES,
    COUNT_KEYS,
    DEFINITIONS,
    DEFINITIONS_BY_KEY,
    RANKING_SIZE,
    RISK_HIGH,
    RISK_MEDIUM,
    ROW_KEYS,
    compute_metrics,
    counted_rating,
    exact_rate,
    rankings,
    risk_level,
    round_half_up,
)
from gridportal.domain.model import Priority
from gridportal.domain.reference import (
    Community,
    Department,
    District,
    Grid,
    ServiceItem,
    Station,
)
from support.records import published_record

NOW = datetime(2025, 7, 10, 12, 0, tzinfo=BEIJING)

DISTRICT = District(
    id="QB",
    name="清波街道",
    city="杭州市",
    stations=(Station("S1", "东站", "地址", "0571-00000000"),),
    communities=(Community("C1", "柳翠井巷社区", "S1"), Community("C2", "定安路社区", "S1")),
    grids=tuple(
        Grid(gid, name, community, 3, "边界", 250, 700)
        for gid, name, community in (
            ("G1", "柳翠井巷第1网格", "C1"),
            ("G2", "柳翠井巷第2网格", "C1"),
            ("G3", "柳翠井巷第3网格", "C1"),
            ("G4", "定安路第1网格", "C2"),
        )
    ),
    departments=(
        Department("D1", "城市管理部", "street_office"),
        Department("D2", "平安建设部", "street_office"),
        Department("D3", "民生事业部", "street_office"),
    ),
    services=(
        ServiceItem("litter", "垃圾乱堆", "市容环境", "D1", Priority.GENERAL, "easy"),
        ServiceItem("fire", "消防隐患", "安全隐患", "D2", Priority.URGENT, "hard"),
        ServiceItem("noise", "噪声扰民", "市容环境", "D1", Priority.GENERAL, "easy"),
    ),
)
GRID_COMMUNITY = {g.id: g.community for g in DISTRICT.grids}
SERVICES = {s.code: s for s in DISTRICT.services}


def bj(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def iso(text: str | None) -> str | None:
    return bj(text).isoformat(timespec="seconds") if text else None


def rec(received: str = "2025-06-10 09:00", **fields: Any) -> dict[str, Any]:
    """A published record: by default a 一般 case of D1 in G1, resolved on time, unrated.

    ``contact_met`` and ``met`` set the deadline judgements; ``resolved`` and ``rated``
    take Beijing wall-clock times; other keywords replace fields as they are.
    """
    resolved = fields.pop("resolved", "2025-06-11 10:00")
    rated = fields.pop("rated", None)
    category = SERVICES[fields.get("category", "litter")]
    grid = fields.get("grid", "G1")
    defaults: dict[str, Any] = {
        "category": category.code,
        "category_name": category.name,
        "category_group": category.group,
        "difficulty": category.difficulty,
        "grid": grid,
        "grid_name": grid,
        "community": GRID_COMMUNITY.get(grid, ""),
        "community_name": "",
        "unit": "D1",
        "units": ["D1"],
        "contacted_at": iso(received),
        "resolved_at": iso(resolved),
        "updated_at": iso(rated or resolved),
        "location": "1幢",
        "answer": "",
        "deadlines": {
            "contact_due": iso("2025-06-11 23:59:59"),
            "contact_met": True,
            "original_due": iso("2025-06-17 23:59:59"),
            "due": iso("2025-06-17 23:59:59"),
            "extended": False,
            "met": True,
            "overdue_working_days": 0,
        },
        "rated_at": iso(rated),
        "timeline": [],
    }
    received_at = iso(received)
    assert received_at is not None
    # A plain dict: the tests change fields the way a bad record might have them.
    return dict(published_record(received_at, **{**defaults, **fields}))


def metrics(records: list[dict[str, Any]], now: datetime = NOW) -> dict[str, Any]:
    return compute_metrics(records, DISTRICT, now=now)


def row(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    (found,) = [r for r in rows if r["id"] == key]
    return found


# --- Definitions ---------------------------------------------------------------------


def test_every_published_number_has_a_definition() -> None:
    report = metrics([rec(rating="satisfied", rated="2025-06-12 09:00")])
    overall = report["overall"]
    assert tuple(overall) == ROW_KEYS
    skip = ("id", "name", "counts", "fractions")
    published = {k for k in overall if k not in skip} | set(overall["counts"])
    assert set(overall["fractions"]) <= published
    assert published <= set(DEFINITIONS_BY_KEY)
    assert set(COUNT_KEYS) == set(overall["counts"])
    assert "risk_score" in DEFINITIONS_BY_KEY
    for kind in ("recurring", "spreading", "rising"):
        assert f"warning_{kind}" in DEFINITIONS_BY_KEY
    for kind in ("burst", "fast_after_resolution"):
        assert f"vote_{kind}" in DEFINITIONS_BY_KEY
    assert report["definitions"] == [d.public() for d in DEFINITIONS]


def test_definitions_are_unique_and_written_out() -> None:
    assert len(DEFINITIONS_BY_KEY) == len(DEFINITIONS)
    for definition in DEFINITIONS:
        assert definition.name and definition.formula and definition.description, definition.key
        assert (definition.counts is not None) == (
            definition.kind == "count" and definition.key != "merged"
        )


def test_every_definition_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text("utf-8")
    missing = [d.key for d in DEFINITIONS if f"`{d.key}`" not in doc]
    assert missing == [], f"add these to docs/metrics.md: {missing}"


def test_definition_texts_quote_the_scoring_constants() -> None:
    assert DEFINITIONS_BY_KEY["score"].formula == (
        "10 × 响应率 + 30 × 解决率 + 30 × 满意率 + 15 × 按期办结率 + 5 × （1 − 超期未办结率）"
        " + 10 × （1 − 重办率）（满分100）"
    )
    assert "0.9 × 基本满意件数" in DEFINITIONS_BY_KEY["satisfaction_rate"].formula
    assert "12345" in DEFINITIONS_BY_KEY["score"].description
    assert "≥ 3件" in DEFINITIONS_BY_KEY["warning_recurring"].formula
    assert "≥ 5条评价" in DEFINITIONS_BY_KEY["vote_burst"].formula


# --- The rates, by hand --------------------------------------------------------------


def test_rates_of_a_small_table_by_hand() -> None:
    records = [
        # a: contacted and resolved on time, 满意
        rec(rating="satisfied", rated="2025-06-12 09:00"),
        # b: contacted late, resolved late, 基本满意
        rec(contact_met=False, met=False, rating="basically_satisfied", rated="2025-06-20 09:00"),
        # c: direct answer, no deadlines (calendar not covered), 不满意
        rec(
            route="direct_answer",
            outcome="answered",
            deadlines=None,
            deadline_note="工作日历未覆盖",
            rating="unsatisfied",
            rated="2025-06-12 09:00",
        ),
        # d: refused with an explanation, on time
        rec(outcome="refused"),
        # e: open and overdue
        rec(status="in_progress", met=False),
        # f: reopened, open again, not yet due
        rec(status="assessed", met=None, reopen_count=1),
        # g: a duplicate merged into a
        rec(status="merged", outcome="merged", unit=None, deadlines=None),
    ]
    overall = metrics(records)["overall"]
    counts = overall["counts"]
    assert (overall["cases"], overall["merged"]) == (6, 1)
    # Response: due a b c d e f = 6; on time a c d e f = 5.
    assert (counts["responded_on_time"], counts["response_due"]) == (5, 6)
    assert overall["response_rate"] == 0.833
    # Resolution: a b c are resolved or answered, e is open past due; c is rated 不满意;
    # d is refused.
    assert (counts["resolved"], counts["resolution_base"], overall["refused"]) == (2, 4, 1)
    assert overall["resolution_rate"] == 0.5
    # Satisfaction: (1 + 0.9) / 3, in tenths 19 / 30.
    assert overall["satisfaction_rate"] == 0.633
    assert overall["fractions"]["satisfaction_rate"] == [19, 30]
    # On time: closed a b c d, c has no deadline, e is open past due; a and d on time.
    assert (counts["closed_on_time"], counts["deadline_judged"]) == (2, 3)
    assert counts["on_time_base"] == 4
    assert overall["on_time_rate"] == 0.5
    assert overall["overdue_rate"] == 0.25
    # Reopen: f was closed once; a b c d f have been closed.
    assert (counts["reopened"], counts["ever_closed"]) == (1, 5)
    assert overall["reopen_rate"] == 0.2
    # Score: 10 × 5/6 + 30 × 1/2 + 30 × 19/30 + 15 × 1/2 + 5 × (1 − 1/4) + 10 × (1 − 1/5)
    #      = 8.333… + 15 + 19 + 7.5 + 3.75 + 8 = 61.58… → 61.6
    assert overall["score"] == 61.6
    assert overall["overdue_open"] == 1
    assert overall["closed"] == 4
    assert overall["rated"] == 3


def test_no_rated_cases_means_no_satisfaction_and_no_score() -> None:
    overall = metrics([rec(), rec()])["overall"]
    assert overall["rated"] == 0
    assert overall["satisfaction_rate"] is None
    assert overall["score"] is None
    assert overall["resolution_rate"] == 1.0


def test_empty_data_gives_nulls_not_errors() -> None:
    report = metrics([])
    assert report["months"] == []
    assert report["period"] == {"first_month": None, "last_month": None}
    assert report["overall"]["cases"] == 0
    rates = ("hard_share", "response_rate", "resolution_rate", "satisfaction_rate", "score")
    assert all(report["overall"][k] is None for k in rates)
    assert [r["id"] for r in report["by_grid"]] == ["G1", "G2", "G3", "G4"]
    assert report["red_list"] == report["black_list"] == []
    assert {r["level"] for r in report["risk_map"]} == {"low"}


def test_basically_satisfied_counts_nine_tenths() -> None:
    records = [
        rec(rating="satisfied", rated="2025-06-12 09:00"),
        rec(rating="basically_satisfied", rated="2025-06-12 09:00"),
    ]
    assert metrics(records)["overall"]["satisfaction_rate"] == 0.95
    only_basic = [rec(rating="basically_satisfied", rated="2025-06-12 09:00")]
    assert metrics(only_basic)["overall"]["satisfaction_rate"] == 0.9


def test_merged_cases_count_only_as_merged() -> None:
    merged = rec(status="merged", outcome="merged", met=False, contact_met=False, merged_into="c1")
    report = metrics([merged])
    overall = report["overall"]
    assert overall["merged"] == 1
    assert {k: v for k, v in overall["counts"].items() if v} == {"merged": 1}
    assert overall["mix"] == {}
    assert row(report["by_grid"], "G1")["merged"] == 1
    assert report["warnings"] == []


def test_direct_answers_count_as_responded_and_resolved_at_once() -> None:
    answered = rec(route="direct_answer", outcome="answered", deadlines=None)
    overall = metrics([answered])["overall"]
    assert overall["response_rate"] == 1.0
    assert overall["resolution_rate"] == 1.0
    assert overall["on_time_rate"] is None  # no deadline was computed


def test_refusals_are_outside_the_resolution_rate_and_counted_apart() -> None:
    overall = metrics([rec(outcome="refused"), rec()])["overall"]
    assert overall["refused"] == 1
    assert overall["resolution_rate"] == 1.0
    assert overall["closed"] == 2
    assert overall["on_time_rate"] == 1.0


def _step(action: str, at: str) -> dict[str, Any]:
    return {"at": iso(at), "action": action}


def test_reopen_starts_a_new_round_that_counts_once_rated_again() -> None:
    first_round = [_step("resolve", "2025-06-11 10:00"), _step("rate", "2025-06-12 09:00")]
    unsatisfied = rec(rating="unsatisfied", rated="2025-06-12 09:00", timeline=first_round)
    assert metrics([unsatisfied])["overall"]["resolution_rate"] == 0.0
    assert counted_rating(unsatisfied) == "unsatisfied"
    # Reopened and resolved again: the 不满意 stays in the record but no longer counts.
    second = [
        *first_round,
        _step("reopen", "2025-06-13 09:00"),
        _step("resolve", "2025-06-15 09:00"),
    ]
    re_resolved = {**unsatisfied, "timeline": second, "reopen_count": 1}
    assert counted_rating(re_resolved) is None
    overall = metrics([re_resolved])["overall"]
    assert (overall["resolution_rate"], overall["rated"]) == (1.0, 0)
    # The resident rates the new round: that rating counts.
    re_rated = {
        **re_resolved,
        "rating": "basically_satisfied",
        "rated_at": iso("2025-06-16 09:00"),
        "timeline": [*second, _step("rate", "2025-06-16 09:00")],
    }
    overall = metrics([re_rated])["overall"]
    assert (overall["resolution_rate"], overall["satisfaction_rate"]) == (1.0, 0.9)


def test_overdue_open_counts_only_open_cases_past_due() -> None:
    records = [
        rec(status="in_progress", met=False),
        rec(status="dispatched", met=None),
        rec(met=False),  # closed late: not open
    ]
    overall = metrics(records)["overall"]
    assert overall["overdue_open"] == 1
    assert overall["on_time_rate"] == 0.0


def test_mix_source_and_difficulty_are_published() -> None:
    records = [
        rec(),
        rec(category="noise", source="patrol", channel="patrol"),
        rec(category="fire", unit="D2"),
        rec(category="fire", unit="D2", source="patrol"),
    ]
    overall = metrics(records)["overall"]
    assert (overall["resident_cases"], overall["patrol_cases"]) == (2, 2)
    assert overall["hard_cases"] == 2
    assert overall["hard_share"] == 0.5
    assert overall["mix"] == {"安全隐患": 2, "市容环境": 2}


# --- Rows ----------------------------------------------------------------------------


def test_rows_by_department_grid_community_and_category() -> None:
    records = [
        rec(),
        rec(grid="G2", unit=None, status="received"),
        rec(category="fire", unit="D2", grid="G4"),
        rec(unit="X9", unit_name="外单位", grid="G9", grid_name="未知网格"),
    ]
    report = metrics(records)
    departments = report["by_department"]
    assert [r["id"] for r in departments] == ["D1", "D2", "D3", "X9"]
    assert [r["cases"] for r in departments] == [1, 1, 0, 1]
    assert row(departments, "D1")["name"] == "城市管理部"
    assert row(departments, "X9")["name"] == "外单位"
    assert sum(r["cases"] for r in departments) == 3  # the case without a unit is left out
    assert report["overall"]["cases"] == 4
    assert [r["id"] for r in report["by_grid"]] == ["G1", "G2", "G3", "G4", "G9"]
    assert row(report["by_grid"], "G9")["name"] == "未知网格"
    assert [(r["id"], r["cases"]) for r in report["by_community"]] == [("C1", 2), ("C2", 1)]
    assert [(r["id"], r["cases"]) for r in report["by_category"]] == [
        ("litter", 3),
        ("fire", 1),
        ("noise", 0),
    ]


def test_monthly_rows_follow_the_month_of_receipt_and_fill_gaps() -> None:
    records = [rec("2025-03-05 10:00"), rec("2025-05-05 10:00"), rec("2025-05-06 10:00")]
    report = metrics(records)
    assert report["months"] == ["2025-03", "2025-04", "2025-05"]
    assert report["period"] == {"first_month": "2025-03", "last_month": "2025-05"}
    monthly = report["monthly"]
    assert [monthly[m]["overall"]["cases"] for m in report["months"]] == [1, 0, 2]
    assert monthly["2025-04"]["by_grid"] == []  # monthly lists only groups with cases
    assert [r["id"] for r in monthly["2025-05"]["by_department"]] == ["D1"]


# --- Red and black lists -------------------------------------------------------------


def _department_month(unit: str, month: str, good: int, bad: int) -> list[dict[str, Any]]:
    """``good`` cases resolved and 满意, ``bad`` cases contacted late and 不满意."""
    when = f"{month}-10 09:00"
    rated = f"{month}-12 09:00"
    return [rec(when, unit=unit, rating="satisfied", rated=rated) for _ in range(good)] + [
        rec(when, unit=unit, contact_met=False, rating="unsatisfied", rated=rated)
        for _ in range(bad)
    ]


def test_red_and_black_lists_rank_the_latest_complete_month() -> None:
    records: list[dict[str, Any]] = []
    for number, bad in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]):
        records += _department_month(f"U{number:02d}", "2025-06", 10 - bad, bad)
    records += _department_month("U99", "2025-06", 4, 0)  # too few cases to rank
    records += _department_month("U98", "2025-07", 0, 9)  # current month: not complete
    report = metrics(records)
    assert report["ranking_month"] == "2025-06"
    assert [r["id"] for r in report["red_list"]] == ["U00", "U01", "U02", "U03", "U04"]
    assert [r["id"] for r in report["black_list"]] == ["U10", "U09", "U08", "U07", "U06"]
    assert report["red_list"][0]["score"] == 100.0


def test_ranking_ties_go_to_more_cases_then_id_and_small_fields_split() -> None:
    records = (
        _department_month("B", "2025-06", 5, 0)
        + _department_month("A", "2025-06", 5, 0)
        + _department_month("C", "2025-06", 6, 0)
        + _department_month("D", "2025-06", 3, 3)
        + _department_month("E", "2025-06", 2, 3)
    )
    report = metrics(records)
    # Five eligible, two a list; but A, B and C tie, so they go on the red list together,
    # all first, more cases first in the listing.
    assert [(r["id"], r["rank"]) for r in report["red_list"]] == [("C", 1), ("A", 1), ("B", 1)]
    assert [(r["id"], r["rank"]) for r in report["black_list"]] == [("E", 5), ("D", 4)]
    assert RANKING_SIZE == 5


def test_a_tie_across_the_middle_goes_on_neither_list() -> None:
    records = (
        _department_month("A", "2025-06", 6, 0)
        + _department_month("B", "2025-06", 3, 3)
        + _department_month("C", "2025-06", 3, 3)
        + _department_month("D", "2025-06", 2, 3)
    )
    report = metrics(records)
    assert [r["id"] for r in report["red_list"]] == ["A"]
    assert [r["id"] for r in report["black_list"]] == ["D"]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=0, max_size=14))
def test_red_and_black_lists_never_share_a_member(mixes: list[tuple[int, int]]) -> None:
    rows = [
        {"id": f"U{i:02d}", "cases": 5 + good + bad, "score": float(10 * good - bad)}
        for i, (good, bad) in enumerate(mixes)
    ]
    red, black = rankings(rows)
    assert not {r["id"] for r in red} & {r["id"] for r in black}
    # Ties are whole: a score on a list brings every unit with that score.
    for chosen in (red, black):
        for score in {r["score"] for r in chosen}:
            assert {r["id"] for r in chosen if r["score"] == score} == {
                r["id"] for r in rows if r["score"] == score
            }
    assert len({r["rank"] for r in red if r["score"] == red[0]["score"]} if red else {1}) == 1


def test_leaving_late_cases_open_ranks_below_closing_them_late() -> None:
    on_time = [
        rec("2025-06-10 09:00", unit=u, rating="satisfied", rated="2025-06-12 09:00")
        for u in ("LATE", "OPEN")
        for _ in range(5)
    ]
    closed_late = [rec("2025-06-10 09:00", unit="LATE", met=False) for _ in range(3)]
    left_open = [
        rec(
            "2025-06-10 09:00",
            unit="OPEN",
            status="in_progress",
            outcome=None,
            met=False,
            resolved=None,
        )
        for _ in range(3)
    ]
    report = metrics(on_time + closed_late + left_open)
    late = row(report["monthly"]["2025-06"]["by_department"], "LATE")
    left = row(report["monthly"]["2025-06"]["by_department"], "OPEN")
    assert left["on_time_rate"] == late["on_time_rate"] == round(5 / 8, 3)
    assert left["resolution_rate"] < late["resolution_rate"]
    assert left["score"] < late["score"]


def test_no_ranking_without_a_complete_month() -> None:
    report = metrics(_department_month("A", "2025-07", 10, 0) * 2)
    assert report["ranking_month"] is None
    assert report["red_list"] == []


# --- Warnings ------------------------------------------------------------------------


def test_recurring_warning_needs_three_in_one_grid_within_thirty_days() -> None:
    three = [rec(f"2025-07-0{day} 09:00", status="received") for day in (1, 2, 3)]
    warnings = metrics(three)["warnings"]
    assert [(w["kind"], w["grid"], w["category"], w["count"]) for w in warnings] == [
        ("recurring", "G1", "litter", 3)
    ]
    assert "柳翠井巷第1网格" in warnings[0]["message"]
    assert warnings[0]["community"] == "C1"

    old = rec("2025-06-10 11:00")  # 30 days and an hour before NOW
    assert metrics([*three[:2], old])["warnings"] == []
    other_grid = rec("2025-07-03 09:00", grid="G2")
    assert metrics([*three[:2], other_grid])["warnings"] == []


def test_warnings_are_ordered_by_kind_then_count() -> None:
    cases = [
        *[rec("2025-07-01 09:00", grid=g) for g in ("G1", "G2", "G3")],
        *[rec("2025-07-01 09:00", grid=g, category="noise") for g in ("G1", "G2", "G3", "G3")],
        *[rec("2025-07-02 09:00", grid="G4", category="fire", unit="D2") for _ in "abcd"],
        *[rec("2025-07-02 09:00", grid="G2", category="noise") for _ in "ab"],
    ]
    warnings = metrics(cases)["warnings"]
    assert [(w["kind"], w["grid"] or w["community"], w["category"]) for w in warnings] == [
        ("recurring", "G4", "fire"),
        ("recurring", "G2", "noise"),
        ("spreading", "C1", "litter"),
        ("spreading", "C1", "noise"),
    ]


def test_spreading_warning_needs_three_grids_of_one_community() -> None:
    spread = [rec("2025-07-01 09:00", grid=g) for g in ("G1", "G2", "G3")]
    warnings = metrics(spread)["warnings"]
    assert [(w["kind"], w["community"], w["grids"]) for w in warnings] == [
        ("spreading", "C1", ["G1", "G2", "G3"])
    ]
    assert "柳翠井巷社区" in warnings[0]["message"]
    across = [rec("2025-07-01 09:00", grid=g) for g in ("G1", "G2", "G4")]
    assert metrics(across)["warnings"] == []


def test_rising_warning_compares_with_the_three_months_before() -> None:
    baseline = [rec(f"2025-0{m}-10 09:00") for m in (3, 4, 5) for _ in range(2)]  # 2 a month
    june = [rec("2025-06-05 09:00") for _ in range(5)]  # 5 ≥ 1.5 × 2
    warnings = metrics(baseline + june)["warnings"]
    assert [(w["kind"], w["category"], w["count"]) for w in warnings] == [("rising", "litter", 5)]
    assert warnings[0]["message"] == (
        "2025年6月“垃圾乱堆”共5件，是前3个月月均（2.0件）的2.5倍，呈上升趋势。"
    )

    # Fewer than five cases, or not 1.5 × the average, or no baseline: no warning.
    assert metrics(baseline + june[:4])["warnings"] == []
    busy = [rec(f"2025-0{m}-10 09:00") for m in (3, 4, 5) for _ in range(4)]
    assert metrics(busy + june)["warnings"] == []
    assert metrics(baseline[2:] + june)["warnings"] == []  # data starts in April


def test_rising_warning_counts_from_zero_history() -> None:
    history = [rec("2025-03-10 09:00", category="noise")]
    june = [rec("2025-06-05 09:00") for _ in range(5)]
    (warning,) = metrics(history + june)["warnings"]
    assert warning["category"] == "litter"
    assert "前3个月没有此类案件" in warning["message"]


# --- Risk map ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "level"),
    [(0, "low"), (RISK_MEDIUM - 1, "low"), (RISK_MEDIUM, "medium"), (RISK_HIGH, "high")],
)
def test_risk_levels(score: float, level: str) -> None:
    assert risk_level(score) == level


def test_risk_map_adds_overdue_hard_and_warned_cases() -> None:
    records = [
        rec("2025-05-01 09:00", status="in_progress", met=False),  # overdue: 8 points
        rec("2025-07-01 09:00", category="fire", unit="D2", grid="G2"),  # hard: 1 point
        *[rec(f"2025-07-0{d} 09:00", grid="G3") for d in (1, 2, 3)],  # recurring: 3
        *[rec("2025-05-02 09:00", grid="G4", status="dispatched", met=False) for _ in "ab"],
    ]
    by_grid = {r["grid"]: r for r in metrics(records)["risk_map"]}
    assert list(by_grid) == ["G1", "G2", "G3", "G4"]
    assert (by_grid["G1"]["score"], by_grid["G1"]["level"]) == (8.0, "medium")
    assert (by_grid["G2"]["score"], by_grid["G2"]["level"]) == (1.0, "low")
    assert by_grid["G3"]["parts"] == {
        "overdue_open": 0,
        "hard_recent": 0,
        "recurring": 1,
        "spreading": 0,
    }
    assert (by_grid["G3"]["score"], by_grid["G3"]["level"]) == (3.0, "low")
    assert (by_grid["G4"]["score"], by_grid["G4"]["level"]) == (16.0, "high")  # two overdue


def test_risk_map_counts_spreading_warnings_for_each_grid_named() -> None:
    spread = [rec("2025-07-01 09:00", grid=g, category="fire") for g in ("G1", "G2", "G3")]
    by_grid = {r["grid"]: r for r in metrics(spread)["risk_map"]}
    assert by_grid["G1"]["parts"]["spreading"] == 1
    assert by_grid["G1"]["score"] == 2.0  # 1 hard + 1 spreading


# --- Vote flags ----------------------------------------------------------------------


def test_a_vote_within_a_minute_of_resolution_is_flagged_not_dropped() -> None:
    fast = rec(resolved="2025-06-11 10:00:00", rated="2025-06-11 10:01:00", rating="unsatisfied")
    slow = rec(resolved="2025-06-11 10:00:00", rated="2025-06-11 10:01:01", rating="satisfied")
    report = metrics([fast, slow])
    (flag,) = report["vote_flags"]
    assert (flag["kind"], flag["case_ids"]) == ("fast_after_resolution", [fast["id"]])
    assert "60秒" in flag["message"]
    assert report["overall"]["rated"] == 2
    assert report["overall"]["satisfaction_rate"] == 0.5


def test_five_votes_in_ten_minutes_in_one_grid_are_a_burst() -> None:
    times = ["10:00", "10:02", "10:04", "10:06", "10:10", "10:30"]
    votes = [
        rec(unit=f"U{n}", rating="satisfied", rated=f"2025-06-20 {t}") for n, t in enumerate(times)
    ]
    flags = metrics(votes)["vote_flags"]
    assert [(f["kind"], f["scope"], f["subject"]) for f in flags] == [("burst", "grid", "G1")]
    assert flags[0]["case_ids"] == [v["id"] for v in votes[:5]]
    assert "5条评价" in flags[0]["message"]


def test_votes_spread_over_more_than_ten_minutes_are_not_a_burst() -> None:
    times = ["10:00", "10:03", "10:06", "10:09", "10:10:01"]
    votes = [
        rec(unit=f"U{n}", rating="satisfied", rated=f"2025-06-20 {t}") for n, t in enumerate(times)
    ]
    assert metrics(votes)["vote_flags"] == []


def test_a_burst_for_one_department_across_grids_is_flagged() -> None:
    votes = [
        rec(grid=f"G{1 + n % 4}", rating="satisfied", rated=f"2025-06-20 10:0{n}")
        for n in range(BURST_VOTES + 1)
    ]
    flags = metrics(votes)["vote_flags"]
    assert [(f["scope"], f["subject"], len(f["case_ids"])) for f in flags] == [
        ("department", "D1", BURST_VOTES + 1)
    ]


# --- Properties ----------------------------------------------------------------------

_STATES: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {"status": "received"},
        {"status": "in_progress"},
        {"status": "assessed", "reopen_count": 1},
        {"status": "resolved", "outcome": "resolved"},
        {"status": "resolved", "outcome": "answered", "route": "direct_answer"},
        {"status": "resolved", "outcome": "refused"},
        {"status": "archived", "outcome": "resolved"},
        {"status": "merged", "outcome": "merged"},
    ]
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    state = dict(draw(_STATES))
    reopen_count = state.pop("reopen_count", draw(st.integers(0, 2)))
    rating = None
    if state.get("outcome") in ("resolved", "answered", "refused"):
        rating = draw(st.sampled_from([None, "satisfied", "basically_satisfied", "unsatisfied"]))
    judged = st.sampled_from([None, True, False])
    return rec(
        f"2025-0{draw(st.integers(4, 7))}-0{draw(st.integers(1, 9))} 09:00",
        **state,
        rating=rating,
        rated="2025-07-10 10:00" if rating else None,
        contact_met=draw(judged),
        met=draw(judged),
        unit=draw(st.sampled_from(["D1", "D2", None])),
        grid=draw(st.sampled_from(["G1", "G2", "G4"])),
        category=draw(st.sampled_from(["litter", "fire"])),
        source=draw(st.sampled_from(["resident", "patrol"])),
        reopen_count=reopen_count,
    )


def _all_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    dims = ("by_department", "by_grid", "by_community", "by_category")
    rows = [report["overall"], *(r for d in dims for r in report[d])]
    for month in report["monthly"].values():
        rows += [month["overall"], *(r for d in dims for r in month[d])]
    return rows


@settings(max_examples=60, deadline=None)
@given(st.lists(records(), max_size=40))
def test_rates_stay_within_bounds(cases: list[dict[str, Any]]) -> None:
    for r in _all_rows(metrics(cases)):
        for key in ("hard_share", "response_rate", "resolution_rate", "satisfaction_rate"):
            assert r[key] is None or 0.0 <= r[key] <= 1.0
        for key in ("on_time_rate", "reopen_rate"):
            assert r[key] is None or 0.0 <= r[key] <= 1.0
        assert r["score"] is None or 0.0 <= r["score"] <= 100.0


@settings(max_examples=60, deadline=None)
@given(st.lists(records(), max_size=30))
def test_a_satisfied_vote_never_lowers_the_satisfaction_rate(cases: list[dict[str, Any]]) -> None:
    before = metrics(cases)["overall"]["satisfaction_rate"]
    vote = rec(rating="satisfied", rated="2025-07-10 10:00")
    after = metrics([*cases, vote])["overall"]["satisfaction_rate"]
    assert after is not None
    assert before is None or after >= before


@settings(max_examples=60, deadline=None)
@given(st.lists(records(), max_size=40))
def test_months_add_up_to_the_whole(cases: list[dict[str, Any]]) -> None:
    report = metrics(cases)
    monthly = report["monthly"].values()
    for key in COUNT_KEYS:
        assert sum(m["overall"]["counts"][key] for m in monthly) == report["overall"]["counts"][key]
    assert report["overall"]["cases"] + report["overall"]["merged"] == len(cases)
    for dim in ("by_department", "by_grid", "by_category"):
        for whole in report[dim]:
            parts = [r for m in monthly for r in m[dim] if r["id"] == whole["id"]]
            assert sum(r["cases"] for r in parts) == whole["cases"]


# --- Inputs and scale ----------------------------------------------------------------


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        compute_metrics([], DISTRICT, now=datetime(2025, 7, 10))


def test_generated_at_and_window_are_beijing_time() -> None:
    report = metrics([], now=NOW.astimezone(UTC))
    assert report["generated_at"] == "2025-07-10T12:00:00+08:00"
    assert report["recent_since"] == "2025-06-10T12:00:00+08:00"


# --- Exact arithmetic, one rounding --------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "shown"),
    [
        (94, 99, 0.949),
        (5, 16, 0.313),
        (1, 8, 0.125),
        (1, 2000, 0.001),
        (1, 2001, 0.0),
        (1, 3, 0.333),
    ],
)
def test_rates_are_rounded_once_half_up(numerator: int, denominator: int, shown: float) -> None:
    assert round_half_up(Fraction(numerator, denominator), 3) == shown


@given(st.integers(0, 10**6), st.integers(1, 4))
def test_exact_half_ties_round_up(units: int, places: int) -> None:
    # value = units + 0.5 in the last place: always rounds away from zero.
    tie = Fraction(2 * units + 1, 2 * 10**places)
    assert round_half_up(tie, places) == float(Fraction(units + 1, 10**places))
    assert round_half_up(-tie, places) == -float(Fraction(units + 1, 10**places))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 200), st.integers(1, 200))
def test_a_published_rate_is_its_fraction_rounded_once(numerator: int, denominator: int) -> None:
    numerator = min(numerator, denominator)
    cases = [rec(category="fire") for _ in range(numerator)]
    cases += [rec() for _ in range(denominator - numerator)]
    if not cases:
        return
    overall = metrics(cases)["overall"]
    exact = Fraction(numerator, denominator)
    shown = overall["hard_share"]
    assert overall["fractions"]["hard_share"] == [numerator, denominator]
    assert exact_rate(overall["counts"], "hard_share") == exact
    # Within half a unit of the last place, and at exactly half, above.
    assert abs(Fraction(str(shown)) - exact) <= Fraction(1, 2000)
    if Fraction(str(shown)) < exact:
        assert exact - Fraction(str(shown)) < Fraction(1, 2000)


def test_every_fraction_gives_its_rate() -> None:
    report = metrics(
        [rec(rating="satisfied", rated="2025-06-12 09:00"), rec(status="in_progress", met=False)]
    )
    for r in _all_rows(report):
        for key, (numerator, denominator) in r["fractions"].items():
            expected = round_half_up(Fraction(numerator, denominator), 3) if denominator else None
            assert r[key] == expected, key


# --- Months that close ---------------------------------------------------------------


def test_a_month_is_final_once_every_deadline_has_passed() -> None:
    june = [
        rec("2025-06-10 09:00"),
        rec(
            "2025-06-30 09:00",
            status="in_progress",
            met=None,
            deadlines={
                "contact_due": iso("2025-07-01 23:59:59"),
                "due": iso("2025-07-14 23:59:59"),
                "met": None,
            },
        ),
    ]
    status = metrics(june)["month_status"]["2025-06"]
    assert status == {"final": False, "final_at": iso("2025-07-14 23:59:59"), "undated_open": 0}
    later = metrics(june, now=bj("2025-07-15 00:00"))
    assert later["month_status"]["2025-06"]["final"] is True
    assert later["ranking_final"] is True
    # An open case with no computable deadline keeps its month provisional.
    undated = metrics([rec(status="in_progress", deadlines=None)], now=bj("2025-09-01 00:00"))
    assert undated["month_status"]["2025-06"] == {
        "final": False,
        "final_at": None,
        "undated_open": 1,
    }


def test_the_current_month_is_never_final() -> None:
    report = metrics([rec("2025-07-01 09:00", deadlines=None)])
    assert report["month_status"]["2025-07"]["final"] is False
    assert report["month_status"]["2025-07"]["final_at"] == iso("2025-08-01 00:00")


def test_hard_categories_per_grid_are_published() -> None:
    records = [rec(category="fire", grid="G2"), rec(category="fire", grid="G2"), rec(grid="G2")]
    grid = row(metrics(records)["by_grid"], "G2")
    assert grid["hard_mix"] == {"fire": 2}
    assert grid["hard_cases"] == 2
