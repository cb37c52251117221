"""One month shard: a pure function of its inputs, rendering only what changed."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gridportal.adapters.theme import PAGE_SIZE, SiteContext, newest_first, site_context
from gridportal.domain import opendata
from gridportal.domain.metrics import combine_metrics, compute_metrics
from gridportal.domain.opendata import month_data_keys
from gridportal.domain.publication import PublishedRecord
from gridportal.domain.reference import District
from gridportal.shards import (
    ARCHIVE_KINDS,
    ShardJob,
    ShardResult,
    archive_members,
    build_shard,
    case_page_key,
    month_sources,
    parse_month_json,
    piece_key,
    staged_path,
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


def test_a_staged_shard_lays_its_pages_flat(context: SiteContext, tmp_path: Path) -> None:
    """In the night's staging a page ``cases/<x>/index.html`` is ``cases/<x>.html`` (no
    directory per case); the same bytes as under its key, and only there."""
    records = tuple(june(PAGE_SIZE + 5))
    keyed = run(context, tmp_path / "keyed", fresh=records)
    staged = run(context, tmp_path / "staged", fresh=records, staging=True)
    assert staged.state == keyed.state and staged.changed == keyed.changed
    for key in staged.changed:
        path = staged_path(tmp_path / "staged", key)
        assert path.read_bytes() == (tmp_path / "keyed" / key).read_bytes()
    page = case_page_key(records[0]["id"])
    assert staged_path(tmp_path, page) == tmp_path / "cases" / f"{records[0]['id']}.html"
    assert staged_path(tmp_path, "cases/2025-06/2/index.html") == (
        tmp_path / "cases/2025-06/2/index.html"
    )
    folders = {p.name for p in (tmp_path / "staged" / "cases").iterdir() if p.is_dir()}
    assert folders == {"2025-06", "by"}  # the month's further pages, the browse pages


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
    # Only the changed case's page among the case pages; the rest is the month's own files.
    pages = {key for key in second.changed if key.startswith("cases/c")}
    assert pages == {case_page_key(records[3]["id"])}
    assert set(month_data_keys("2025-06")) <= set(second.changed)
    assert second.state_changed
    again = run(
        context,
        tmp_path / "3",
        fresh=(changed,),
        previous=(tmp_path / "2" / month_data_keys("2025-06")[1]).read_bytes(),
        previous_state=second.state,
    )
    assert again.changed == () and not again.state_changed


def test_a_listing_page_is_rendered_again_only_when_what_it_shows_changed(
    context: SiteContext, tmp_path: Path
) -> None:
    records = june(2 * PAGE_SIZE + 10)
    first = run(context, tmp_path / "1", fresh=tuple(records))
    published = (tmp_path / "1" / month_data_keys("2025-06")[1]).read_bytes()
    rows = newest_first(records)
    # The newest case's status: it is on the month's first listing page and on the
    # first page of each of its browse listings, nowhere else.
    changed = {**rows[0], "status": "in_progress", "status_label": "办理中"}
    # A digest no rendering gives: kept as it is only if the page is not rendered.
    marked = {**first.state["manifest"], "cases/2025-06/2/index.html": "not-rendered"}
    second = run(
        context,
        tmp_path / "2",
        fresh=(changed,),
        previous=published,
        previous_state={**first.state, "manifest": marked},
    )
    assert second.state["manifest"]["cases/2025-06/2/index.html"] == "not-rendered"
    listings = {
        key
        for key in first.state["manifest"]
        if key.startswith("cases/2025-06/") or key.startswith("cases/by/")
    }
    rendered = listings & set(second.changed)
    assert "cases/2025-06/index.html" in rendered
    assert "cases/2025-06/2/index.html" not in rendered
    assert "cases/2025-06/3/index.html" not in rendered
    assert all(k.endswith("/2025-06/index.html") for k in rendered)
    assert second.state["manifest"].keys() == first.state["manifest"].keys()
    # The pages kept are those a build from nothing makes of the same records.
    fresh = run(context, tmp_path / "3", fresh=(changed, *(r for r in records if r != rows[0])))
    assert {**fresh.state["manifest"], "cases/2025-06/2/index.html": "not-rendered"} == (
        second.state["manifest"]
    )
    for key in rendered:
        assert (tmp_path / "2" / key).read_bytes() == (tmp_path / "3" / key).read_bytes()


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


def test_month_pieces_join_into_the_whole_archive(context: SiteContext, tmp_path: Path) -> None:
    """gzip members concatenate: head + month pieces (+ separators) + tail decompress to
    exactly the archive streamed from the months' open-data files."""
    months = {"2025-05": 3, "2025-06": 2}
    files: dict[str, list[bytes]] = {kind: [] for kind in ARCHIVE_KINDS}
    pieces: dict[str, list[bytes]] = {kind: [] for kind in ARCHIVE_KINDS}
    for month, count in months.items():
        day = [published_record(f"{month}-0{1 + i}T09:00:00+08:00") for i in range(count)]
        out = tmp_path / month
        build_shard(
            ShardJob(month=month, context=context, out_dir=str(out), fresh=tuple(day), pieces=True)
        )
        for kind, key in zip(ARCHIVE_KINDS, month_sources(month), strict=True):
            files[kind].append((out / key).read_bytes())
            pieces[kind].append((out / piece_key(month, kind)).read_bytes())
    streams = {
        "csv": opendata.archive_csv,
        "json": opendata.archive_json,
        "events": lambda months: opendata.archive_csv(months, opendata.EVENT_COLUMNS),
    }
    for kind, stream in streams.items():
        head, between, tail, _ = archive_members(kind)
        joined = head + between.join(pieces[kind]) + tail
        expected = b"".join(stream(f.splitlines(keepends=True) for f in files[kind]))
        assert gzip.decompress(joined) == expected
    assert (
        json.loads(gzip.decompress(archive_members("json")[0] + archive_members("json")[3])) == []
    )
    assert len(
        json.loads(
            gzip.decompress(
                archive_members("json")[0]
                + archive_members("json")[1].join(pieces["json"])
                + archive_members("json")[2]
            )
        )
    ) == sum(months.values())


def test_a_link_to_a_case_taken_down_is_dropped(context: SiteContext, tmp_path: Path) -> None:
    target, other = june(2)
    duplicate = {**june(1)[0], "status": "merged", "merged_into": target["id"]}
    kept = {**june(1)[0], "status": "merged", "merged_into": other["id"]}
    result = run(context, tmp_path, fresh=(duplicate, kept), gone=frozenset({target["id"]}))
    month = parse_month_json((tmp_path / month_data_keys("2025-06")[1]).read_bytes())
    by_id = {r["id"]: r for r in month}
    assert by_id[duplicate["id"]]["merged_into"] is None
    assert by_id[kept["id"]]["merged_into"] == other["id"]
    page = (tmp_path / case_page_key(duplicate["id"])).read_text(encoding="utf-8")
    assert target["id"] not in page
    assert result.state["merged"] == [other["id"]]
