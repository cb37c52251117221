"""Open data (开放数据): the published cases as CSV and JSON, and the metrics as JSON.

The CSV has one row per case, modelled on NYC 311 open data and the Open311 bulk
proposal (``service_request_id``, ``requested_datetime``, ``agency`` …), so tools
written for those read it with little change. ``CSV_COLUMNS`` is its header; a test
pins it, because people's scripts depend on it.

Choices (see docs/open-data.md):

* The CSV is UTF-8 **with a byte-order mark**: Excel, which many readers use, opens
  UTF-8 CSV as the local code page (GBK in China) unless the file starts with a BOM.
* Spreadsheet-injection defence: a text cell that starts with ``= + - @``, a tab
  or a carriage return gets a leading ``'`` so that spreadsheets show it as text
  instead of running it as a formula. Only free text and names can start that way.
* Both files list cases by ``received_at``, then ``id``, so a nightly diff shows
  only what changed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

from gridportal.domain.deadlines import DeadlineReport
from gridportal.domain.publication import PUBLIC_FIELDS, TIMELINE_FIELDS

Record = Mapping[str, Any]
R = TypeVar("R", bound=Mapping[str, Any])

BOM = "\ufeff"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
DEADLINE_FIELDS = tuple(f.name for f in fields(DeadlineReport))  # the keys of ``to_dict``


def _field(key: str) -> Callable[[Record], Any]:
    return lambda r: r.get(key)


def _deadline(key: str) -> Callable[[Record], Any]:
    return lambda r: (r.get("deadlines") or {}).get(key)


# (CSV column, how it is read from a published record), in header order.
_COLUMNS: tuple[tuple[str, Callable[[Record], Any]], ...] = (
    ("service_request_id", _field("id")),
    ("requested_datetime", _field("received_at")),
    ("contacted_datetime", _field("contacted_at")),
    ("updated_datetime", _field("updated_at")),
    ("closed_date", _field("resolved_at")),
    ("status", _field("status")),
    ("status_label", _field("status_label")),
    ("service_code", _field("category")),
    ("service_name", _field("category_name")),
    ("category_group", _field("category_group")),
    ("difficulty", _field("difficulty")),
    ("agency", _field("unit")),
    ("agency_name", _field("unit_name")),
    ("grid", _field("grid")),
    ("grid_name", _field("grid_name")),
    ("community", _field("community")),
    ("community_name", _field("community_name")),
    ("channel", _field("channel")),
    ("source", _field("source")),
    ("priority", _field("priority")),
    ("route", _field("route")),
    ("due_date", _deadline("due")),
    ("original_due_date", _deadline("original_due")),
    ("contact_due", _deadline("contact_due")),
    ("contact_met", _deadline("contact_met")),
    ("met", _deadline("met")),
    ("overdue_working_days", _deadline("overdue_working_days")),
    ("deadline_note", _field("deadline_note")),
    ("extension_count", _field("extension_count")),
    ("reopen_count", _field("reopen_count")),
    ("return_count", _field("return_count")),
    ("supervised", _field("supervised")),
    ("outcome", _field("outcome")),
    ("rating", _field("rating")),
    ("rated_at", _field("rated_at")),
    ("merged_into", _field("merged_into")),
    ("description", _field("summary")),
    ("location", _field("location")),
    ("answer", _field("answer")),
)
CSV_COLUMNS: tuple[str, ...] = tuple(name for name, _ in _COLUMNS)


def cases_csv(records: Iterable[Record]) -> str:
    """One CSV row per case, with a BOM and a CRLF line ending (RFC 4180)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for record in sorted_records(records):
        writer.writerow(cell(read(record)) for _, read in _COLUMNS)
    return BOM + out.getvalue()


def cell(value: Any) -> str:
    """A CSV cell: empty for null, ``true``/``false`` for booleans, text made inert."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def cases_json(records: Iterable[Record]) -> str:
    """All published records as a JSON array, one case per line, keys in a fixed order."""
    lines = [
        json.dumps(_ordered(record), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        for record in sorted_records(records)
    ]
    return "[\n" + ",\n".join(lines) + ("\n" if lines else "") + "]\n"


def archive_csv(months: Iterable[Iterable[bytes]]) -> Iterator[bytes]:
    """The whole-archive CSV streamed from month CSV files, oldest month first.

    Each month is an iterable of its file's lines as bytes (an open binary file will
    do); its BOM and header line are dropped, the rest passes through unchanged, so
    the result equals ``cases_csv`` of every record without holding any of them.
    """
    yield cases_csv(()).encode("utf-8")  # BOM and header
    for lines in months:
        rows = iter(lines)
        next(rows, None)
        yield from rows


def archive_json(months: Iterable[Iterable[bytes]]) -> Iterator[bytes]:
    """The whole-archive JSON array streamed from month JSON files (``cases_json``'s
    one case per line), oldest month first; equal to ``cases_json`` of every record."""
    yield b"[\n"
    first = True
    for lines in months:
        for line in lines:
            body = line.rstrip(b"\r\n")
            if body in (b"[", b"]", b""):
                continue
            yield (b"" if first else b",\n") + body.removesuffix(b",")
            first = False
    yield b"]\n" if first else b"\n]\n"


def metrics_json(report: Mapping[str, Any]) -> str:
    """The metrics report as indented JSON, in the report's own key order."""
    return json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def sorted_records(records: Iterable[R]) -> list[R]:
    """Cases by time of receipt, then public id: the order of every open-data file."""
    return sorted(records, key=lambda r: (datetime.fromisoformat(r["received_at"]), r["id"]))


def _ordered(record: Record) -> dict[str, Any]:
    # Published fields first in their documented order; anything else after, sorted,
    # so that a new field never reorders the old ones.
    extra = sorted(k for k in record if k not in PUBLIC_FIELDS)
    result = {k: record[k] for k in PUBLIC_FIELDS if k in record}
    result.update((k, record[k]) for k in extra)
    deadlines = result.get("deadlines")
    if isinstance(deadlines, Mapping):
        result["deadlines"] = _keys_first(deadlines, DEADLINE_FIELDS)
    timeline = result.get("timeline")
    if isinstance(timeline, list):
        result["timeline"] = [_keys_first(step, TIMELINE_FIELDS) for step in timeline]
    return result


def _keys_first(mapping: Mapping[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    result = {k: mapping[k] for k in order if k in mapping}
    result.update((k, mapping[k]) for k in sorted(mapping) if k not in result)
    return result
