"""One month shard: a pure function of its inputs, rendering only what changed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gridportal.adapters.theme import PAGE_SIZE, SiteContext, site_context
from gridportal.domain.metrics import combine_metrics, compute_metrics
from gridportal.domain.publication import PublishedRecord
from gridportal.domain.reference import District
from gridportal.shards import (
    ShardJob,
    ShardResult,
    build_shard,
    case_page_key,
    month_data_keys,
    parse_month_json,
)
from support.records import published_record

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def context(district: District) -> SiteContext:
    return site_context(district)


def june(n: int, **fields: object) -> list[PublishedRecord]:
    return [
        published_record(f"2025-06-{1 + i % 28:02d}T09:{i % 60:02d}:00+08:00", **fields)
        for i in range(n)
    ]


def run(context: SiteContext, out: Path, **kwargs: object) -> ShardResult:
    return build_shard(ShardJob(month="2025-06", context=context, out_dir=str(out), **kwargs))  # type: ignore[arg-type]


def test_a_first_build_writes_every_file_of_the_month(context: SiteContext, tmp_path: Path) -> None:
    records = june(PAGE_SIZE + 5)
    result = run(context, tmp_path, fresh=tuple(records))
    keys = set(result.state["manifest"])
    assert {case_page_key(r["id"]) for r in records} <= keys
    assert {
        "cases/2025-06/index.html",
        "cases/2025-06/2/index.html",
        *month_data_keys("2025-06"),
    } <= keys
    assert set(result.changed) == keys == set(result.added)
    assert result.case_pages == len(records) and result.deleted == ()
    assert result.state["cases"] == len(records)


def test_the_same_inputs_give_the_same_outputs(context: SiteContext, tmp_path: Path) -> None:
    records = tuple(june(30))
    first = run(context, tmp_path / "a", fresh=records)
    second = run(context, tmp_path / "b", fresh=records)
    assert first.state == second.state
    for key in first.changed:
        assert (tmp_path / "a" / key).read_bytes() == (tmp_path / "b" / key).read_bytes()


def test_only_changed_cases_are_rendered_and_sent(context: SiteContext, tmp_path: Path) -> None:
    records = june(20)
    first = run(context, tmp_path / "1", fresh=tuple(records))
    published = (tmp_path / "1" / month_data_keys("2025-06")[1]).read_bytes()
    changed = {**records[3], "answer": "已重新清理。"}
    second = run(
        context,
        tmp_path / "2",
        fresh=(changed, records[4]),  # records[4] refreshed but the same
        previous=published,
        previous_state=first.state,
    )
    assert second.case_pages == 1
    assert case_page_key(records[3]["id"]) in second.changed
    assert case_page_key(records[4]["id"]) not in second.changed
    assert set(second.changed) <= {
        case_page_key(records[3]["id"]),
        "cases/2025-06/index.html",
        *month_data_keys("2025-06"),
    }
    assert second.state_changed
    again = run(
        context,
        tmp_path / "3",
        fresh=(changed,),
        previous=(tmp_path / "2" / month_data_keys("2025-06")[1]).read_bytes(),
        previous_state=second.state,
    )
    assert again.changed == () and not again.state_changed


def test_a_removed_case_is_deleted_and_an_empty_month_leaves_nothing(
    context: SiteContext, tmp_path: Path
) -> None:
    records = june(3)
    first = run(context, tmp_path / "1", fresh=tuple(records))
    published = (tmp_path / "1" / month_data_keys("2025-06")[1]).read_bytes()
    gone = records[0]["id"]
    second = run(
        context,
        tmp_path / "2",
        removed=frozenset({gone}),
        previous=published,
        previous_state=first.state,
    )
    assert second.deleted == (case_page_key(gone),)
    month = (tmp_path / "2" / month_data_keys("2025-06")[1]).read_bytes()
    assert gone not in month.decode() and len(parse_month_json(month)) == 2
    everything = run(
        context,
        tmp_path / "3",
        removed=frozenset(r["id"] for r in records),
        previous=published,
        previous_state=first.state,
    )
    assert everything.empty and set(everything.deleted) == set(first.state["manifest"])


def test_a_record_of_another_month_is_refused(context: SiteContext, tmp_path: Path) -> None:
    stray = published_record("2025-07-01T09:00:00+08:00")
    with pytest.raises(ValueError, match="2025-07"):
        run(context, tmp_path, fresh=(stray,))


def test_stored_tallies_combine_into_the_report_of_all_records(
    context: SiteContext, district: District, tmp_path: Path
) -> None:
    grid = district.grids[0]
    records = [
        published_record(
            f"2025-{month:02d}-{day:02d}T10:00:00+08:00",
            grid=grid.id,
            rating=rating,
            rated_at=f"2025-{month:02d}-{day + 2:02d}T10:00:30+08:00" if rating else None,
            met=day % 3 != 0,
        )
        for month in (4, 5, 6)
        for day in range(1, 20)
        for rating in ((None, "satisfied", "unsatisfied")[day % 3],)
    ]
    now = datetime(2025, 7, 2, 3, tzinfo=BEIJING)
    tallies = []
    for month in ("2025-04", "2025-05", "2025-06"):
        mine = tuple(r for r in records if r["month"] == month)
        result = build_shard(
            ShardJob(month=month, context=context, out_dir=str(tmp_path / month), fresh=mine)
        )
        tallies.append(json.loads(json.dumps(result.state["tally"])))  # as stored
    assert combine_metrics(tallies, district, now=now) == compute_metrics(
        records, district, now=now
    )
