"""Dated, immutable snapshots of the months whose figures are final (定稿快照).

A month's figures are final once every deadline of its cases has passed
(``month_status`` of the metrics). The night a month becomes final, its figures and
data are published as revision 1 under ``data/snapshots/<YYYY-MM>/r1/``:

- ``metrics.json``: the month's rows (overall and by department, grid, community,
  category) with their numerators and denominators, its red and black lists, the
  methodology and definitions, the as-of time, the licence, and the SHA-256 of the
  three CSV files beside it;
- ``metrics.csv``: the month's rows of ``data/metrics.csv``;
- ``cases.csv`` and ``events.csv``: the month's cases and steps files as of that night.

A revision never changes. When a later night's figures of a final month differ (a case
closed or rated late, a case taken down, an imported correction, a change of the rules),
the next revision (``r2`` …) is published beside it, naming the one it corrects and the
reason, computed by comparing the two revisions' case files. One exception: a case taken
down (撤下) leaves every file, so its rows are removed from the earlier revisions' case
files too, and the index says so (``redactions``); their figures stay as published.

The index of every revision is kept in the build's state (``_state/snapshots.json``, read
and written through the site target, so directory sites and buckets, incremental and full
builds alike keep the history); the public index is ``data/snapshots/index.json`` and
the page ``/metrics/<YYYY-MM>/snapshot/``. ``stage`` writes tonight's files into the
build's staging directory and returns their keys: the build's plan uploads them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from gridportal.adapters.theme import SiteContext, Theme
from gridportal.domain import opendata
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.metrics import rankings
from gridportal.shards import STATE_PREFIX, digest, staged_path

STATE_KEY = f"{STATE_PREFIX}snapshots.json"
STATE_VERSION = 1
PREFIX = opendata.SNAPSHOTS_PREFIX
INDEX_KEY = opendata.SNAPSHOT_INDEX
# The files of one revision, in the order the page lists them.
FILES = tuple(name for name, _ in opendata.SNAPSHOT_FILES)
CASE_FILES = ("cases.csv", "events.csv")  # the files a takedown removes rows from
# The columns of the cases file whose change explains a revision, by cause (zh-CN).
CAUSES: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "办结或状态变化",
        frozenset({"status", "status_label", "closed_date", "outcome", "merged_into"}),
    ),
    ("评价变化", frozenset({"rating", "rated_at", "counted_rating"})),
    ("重办", frozenset({"reopen_count"})),
    (
        "期限变化",
        frozenset(
            {
                "due_date",
                "original_due_date",
                "contact_due",
                "contact_met",
                "met",
                "deadline_note",
                "extension_count",
                "contacted_datetime",
            }
        ),
    ),
)
OTHER_CAUSE = "案件信息更正"
# Columns that move without the figures moving: never a cause on their own.
VOLATILE = frozenset({"updated_datetime", "overdue_working_days"})


class Readable(Protocol):
    def read(self, key: str) -> bytes | None: ...


def revision_path(month: str, revision: int) -> str:
    """``data/snapshots/<M>/r<N>/``: the folder of one revision (what a citation names)."""
    return f"{PREFIX}{month}/r{revision}/"


def page_key(month: str) -> str:
    return f"metrics/{month}/snapshot/index.html"


def page_url(month: str, revision: int | None = None) -> str:
    return f"/metrics/{month}/snapshot/" + (f"#r{revision}" if revision else "")


@dataclass
class Staged:
    """Tonight's part of the plan: ``uploads`` as (key, new) pairs, all staged; ``index``
    the public index by month (what ``metrics.json`` and ``datapackage.json`` list)."""

    index: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    uploads: list[tuple[str, bool]] = field(default_factory=list)
    made: list[str] = field(default_factory=list)  # "<M>/r<N>" of revisions made tonight


def figures_digest(report: Mapping[str, Any], month: str) -> str:
    """What a revision freezes: the month's rows, the methodology and the definitions."""
    body = {
        "rows": report["monthly"][month],
        "methodology": report.get("methodology"),
        "definitions": report.get("definitions"),
    }
    return digest(json.dumps(body, ensure_ascii=False, sort_keys=True).encode())


def _csv_rows(data: bytes | None) -> tuple[list[str], list[list[str]]]:
    if not data:
        return [], []
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    return (rows[0], rows[1:]) if rows else ([], [])


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    return opendata.csv_text(header, rows).encode("utf-8")


def _by_id(data: bytes | None) -> dict[str, dict[str, str]]:
    header, rows = _csv_rows(data)
    return {row[0]: dict(zip(header, row, strict=False)) for row in rows if row}


def compare(old_cases: bytes | None, new_cases: bytes | None) -> tuple[dict[str, Any], set[str]]:
    """What changed between two cases files of one month: counts by cause (published),
    and the ids of the cases no longer there (taken down; never published)."""
    old, new = _by_id(old_cases), _by_id(new_cases)
    removed = set(old) - set(new)
    changed: dict[str, int] = {}
    for case_id in sorted(set(old) & set(new)):
        columns = {k for k in old[case_id].keys() | new[case_id].keys() if k not in VOLATILE}
        moved = {k for k in columns if old[case_id].get(k) != new[case_id].get(k)}
        if not moved:
            continue
        causes = [name for name, keys in CAUSES if moved & keys]
        if moved - set().union(*(keys for _, keys in CAUSES)):
            causes.append(OTHER_CAUSE)
        for cause in causes:
            changed[cause] = changed.get(cause, 0) + 1
    changes = {"removed": len(removed), "added": len(set(new) - set(old)), "changed": changed}
    return changes, removed


def reason(changes: Mapping[str, Any], rules_changed: bool) -> str:
    """The reason a revision states (zh-CN), computed from ``compare``."""
    parts = []
    if changes.get("removed"):
        parts.append(f"撤下 {changes['removed']} 件")
    if changes.get("added"):
        parts.append(f"补录 {changes['added']} 件")
    parts += [f"{n} 件{cause}" for cause, n in changes.get("changed", {}).items()]
    if rules_changed:
        parts.append("计算方法或定义变更")
    if not parts:
        parts.append("名称或分组变更")
    return "数据更正：" + "；".join(parts) + "。"


def _rules_digest(report: Mapping[str, Any]) -> str:
    body = {"methodology": report.get("methodology"), "definitions": report.get("definitions")}
    return digest(json.dumps(body, ensure_ascii=False, sort_keys=True).encode())


def _without(data: bytes | None, ids: set[str]) -> tuple[bytes | None, int]:
    """A CSV file (first column: the case id) without the rows of ``ids`` and without
    their ids anywhere else (a duplicate's ``merged_into``); returns the file (the same
    object when nothing changed) and the number of cases whose rows went."""
    header, rows = _csv_rows(data)
    if data is None or not ids:
        return data, 0
    gone = {row[0] for row in rows if row and row[0] in ids}
    kept = [[_unlinked(cell, ids) for cell in row] for row in rows if not row or row[0] not in ids]
    if not gone and kept == rows:
        return data, 0
    return _csv_bytes(header, kept), len(gone)


def _unlinked(cell: str, ids: set[str]) -> str:
    for case_id in ids:
        if case_id in cell:
            cell = cell.replace(case_id, "")
    return cell


class _Night:
    """Reads and writes of one night's stage: tonight's staged files come first, then the
    night's scratch space (files a shard staged in the bucket), then the site."""

    def __init__(self, site: Readable, scratch: Readable, staging: Path) -> None:
        self.site = site
        self.scratch = scratch
        self.staging = staging
        self.uploads: dict[str, bool] = {}

    def read(self, key: str) -> bytes | None:
        # A staged file may be moving into the site meanwhile (publish._apply_ahead): a
        # rename is atomic, so it is read from one place or the other.
        try:
            return staged_path(self.staging, key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            pass
        data = self.scratch.read(f"staging/{key}")
        return data if data is not None else self.site.read(key)

    def write(self, key: str, data: bytes, *, new: bool) -> None:
        path = staged_path(self.staging, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.uploads[key] = self.uploads.get(key, new)


def stage(
    site: Readable,
    scratch: Readable,
    staging: Path,
    report: Mapping[str, Any],
    *,
    now: datetime,
    context: SiteContext,
    taken_down: Iterable[str] = (),
) -> Staged:
    """Snapshots of tonight's final months: new revisions, takedowns removed from the
    earlier ones, the index and the pages, staged for the plan (see the module doc).
    ``report`` is tonight's metrics report; ``now`` dates the revisions made tonight;
    ``taken_down`` the public ids of every case taken down (each is swept from every
    revision once, even where the month's figures did not move: a duplicate in a final
    month may name it)."""
    night = _Night(site, scratch, staging)
    raw = site.read(STATE_KEY)
    state: dict[str, Any] = json.loads(raw) if raw else {}
    if state.get("version") != STATE_VERSION:
        state = {"version": STATE_VERSION, "months": {}, "published": {}}
    before = _state_bytes(state)
    months: dict[str, Any] = state["months"]
    at = now.astimezone(BEIJING).isoformat(timespec="seconds")
    staged = Staged()
    status = report.get("month_status", {})
    monthly = report.get("monthly", {})
    rules = _rules_digest(report)

    # The ids swept already, as digests: the state file is online and must name no case
    # taken down.
    swept = set(state.get("gone", ()))
    down = {_gone_key(i): i for i in taken_down}
    gone: set[str] = {i for key, i in down.items() if key not in swept}  # since the last look
    for month in sorted(set(months) | set(monthly)):
        entry = months.get(month)
        final = bool(status.get(month, {}).get("final"))
        figures = figures_digest(report, month) if month in monthly else ""
        if entry is None:
            if final:
                months[month] = _revision(night, report, month, None, "", at, rules, figures)
                staged.made.append(f"{month}/r1")
            continue
        revise = final and figures != entry["figures"]
        if figures == entry.get("checked", entry["figures"]) and not revise:
            continue  # nothing moved since the last look
        cases_key = opendata.month_data_keys(month)[0]
        latest = entry["revisions"][-1]
        previous = night.read(revision_path(month, latest["revision"]) + "cases.csv")
        current = night.read(cases_key) if month in monthly else None
        changes, removed = compare(previous, current)
        gone |= removed
        entry["checked"] = figures
        if revise:
            why = reason(changes, rules != entry.get("rules", rules))
            made = _revision(night, report, month, entry, why, at, rules, figures, changes)
            months[month] = made
            staged.made.append(f"{month}/r{made['revisions'][-1]['revision']}")

    if gone:  # from every revision of every month (a duplicate may name one elsewhere)
        for month, entry in months.items():
            _redact(night, month, entry["revisions"], gone, at)
    if set(down) - swept:
        state["gone"] = sorted(swept | set(down))
    index = public_index(months)
    staged.index = {m: [_brief(r) for r in revisions] for m, revisions in index.items()}
    published: dict[str, str] = state["published"]
    mutable: list[tuple[str, bytes]] = []
    if index:
        mutable.append((INDEX_KEY, _index_bytes(staged.index)))
        theme = Theme(context, report.get("definitions", ()))
        for month, revisions in index.items():
            page = theme.render(
                "metrics_snapshot",
                title=f"{month[:4]}年{int(month[5:])}月定稿快照",
                nav="metrics",
                month=month,
                revisions=revisions,
                latest=revisions[-1],
                files=FILES,
                index_key=INDEX_KEY,
                site_url=context.site_url,
            )
            mutable.append((page_key(month), page))
    for key, data in mutable:
        sha = digest(data)
        if published.get(key) != sha:
            night.write(key, data, new=key not in published)
            published[key] = sha
    if night.uploads or _state_bytes(state) != before:
        night.write(STATE_KEY, _state_bytes(state), new=raw is None)
    staged.uploads = sorted(night.uploads.items())
    return staged


def _revision(
    night: _Night,
    report: Mapping[str, Any],
    month: str,
    entry: Mapping[str, Any] | None,
    why: str,
    at: str,
    rules: str,
    figures: str,
    changes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Stage the next revision of ``month``; returns the month's new state entry. A
    revision number once online is never reused, even one a failed night left unindexed."""
    revisions = list(entry["revisions"]) if entry else []
    number = revisions[-1]["revision"] + 1 if revisions else 1
    while night.site.read(revision_path(month, number) + "metrics.json") is not None:
        number += 1
    folder = revision_path(month, number)
    cases_key, _ = opendata.month_data_keys(month)
    data = {
        "cases.csv": night.read(cases_key),
        "events.csv": night.read(opendata.month_events_key(month)),
        "metrics.csv": opendata.month_metrics_csv(report, month).encode("utf-8"),
    }
    overall = report.get("monthly", {}).get(month, {}).get("overall") or {}
    if not overall.get("cases"):
        # A month between others with no case received (the metrics list every month of
        # the range) has no shard and so no open data: its snapshot's files are headers.
        data["cases.csv"] = data["cases.csv"] or opendata.cases_csv(()).encode("utf-8")
        data["events.csv"] = data["events.csv"] or opendata.events_csv(()).encode("utf-8")
    for name, content in data.items():
        if content is None:
            raise RuntimeError(f"the snapshot of {month} lacks its {name}")
    files = {name: digest(content) for name, content in data.items() if content is not None}
    previous = revisions[-1]["revision"] if revisions else None
    body = {
        "as_of": at,
        "licence": opendata.LICENCE,
        "month": month,
        "revision": number,
        "path": folder,
        "previous": revision_path(month, previous) if previous else None,
        "reason": why or None,
        "changes": dict(changes) if changes else None,
        "status": report.get("month_status", {}).get(month),
        "files": files,
        "methodology": report.get("methodology"),
        "definitions": report.get("definitions"),
        **report["monthly"][month],
        **_lists(report["monthly"][month]),
    }
    metrics = json.dumps(body, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    data["metrics.json"] = metrics.encode("utf-8")
    hashes = {**files, "metrics.json": digest(data["metrics.json"] or b"")}
    for name in FILES:
        content = data[name]
        assert content is not None
        night.write(folder + name, content, new=True)
    revisions.append(
        {
            "revision": number,
            "as_of": at,
            "reason": why or None,
            "changes": dict(changes) if changes else None,
            "previous": previous,
            "overall": report["monthly"][month]["overall"],
            "files": {name: hashes[name] for name in FILES},
            "redactions": [],
        }
    )
    return {"figures": figures, "checked": figures, "rules": rules, "revisions": revisions}


def _lists(rows: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The month's red and black lists by the ranking rule (``metrics.rankings``), as
    they stand in this revision: who, at which rank, with which score."""
    red, black = rankings(rows.get("by_department", ()))
    keys = ("id", "name", "rank", "score", "cases")
    return {
        "red_list": [{k: row.get(k) for k in keys} for row in red],
        "black_list": [{k: row.get(k) for k in keys} for row in black],
    }


def _gone_key(public_id: str) -> str:
    return digest(f"taken-down:{public_id}".encode())[:16]


def _redact(
    night: _Night, month: str, revisions: list[dict[str, Any]], ids: set[str], at: str
) -> None:
    """A case taken down leaves every file: its rows and its id go from the revisions'
    case files (their figures stay as published, and the index records the removal)."""
    for revision in revisions:
        folder = revision_path(month, revision["revision"])
        changed, removed = False, 0
        for name in CASE_FILES:
            before = night.read(folder + name)
            data, count = _without(before, ids)
            if data is not before and data is not None:
                night.write(folder + name, data, new=False)
                revision["files"][name] = digest(data)
                changed, removed = True, max(removed, count)
        if changed:
            revision.setdefault("redactions", []).append({"at": at, "cases": removed})


def public_index(months: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Month → its revisions, oldest first, each with its folder, page, as-of time,
    reason, the revision it corrects and the one that corrects it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for month in sorted(months):
        revisions = months[month]["revisions"]
        entries = []
        for i, revision in enumerate(revisions):
            later = revisions[i + 1]["revision"] if i + 1 < len(revisions) else None
            entries.append(
                {
                    "revision": revision["revision"],
                    "path": revision_path(month, revision["revision"]),
                    "page": page_url(month, revision["revision"]),
                    "as_of": revision["as_of"],
                    "reason": revision["reason"],
                    "changes": revision["changes"],
                    "previous": revision["previous"],
                    "superseded_by": later,
                    "overall": revision["overall"],
                    "files": revision["files"],
                    "redactions": revision.get("redactions", []),
                }
            )
        out[month] = entries
    return out


def _brief(revision: Mapping[str, Any]) -> dict[str, Any]:
    """A revision in the public index: everything but its figures (in its metrics.json)."""
    return {k: v for k, v in revision.items() if k != "overall"}


def _index_bytes(index: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    latest = max((r["as_of"] for rs in index.values() for r in rs), default=None)
    body = {"as_of": latest, "licence": opendata.LICENCE, "months": index}
    return (json.dumps(body, ensure_ascii=False, indent=1, allow_nan=False) + "\n").encode()


def _state_bytes(state: Mapping[str, Any]) -> bytes:
    # Keys in their made order (not sorted): the state read back renders the same index.
    return json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()


__all__ = [
    "INDEX_KEY",
    "STATE_KEY",
    "Staged",
    "compare",
    "figures_digest",
    "page_key",
    "page_url",
    "public_index",
    "reason",
    "revision_path",
    "stage",
]
