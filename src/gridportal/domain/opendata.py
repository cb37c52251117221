"""Open data (开放数据): cases, steps, the working-day calendar and the metrics.

Files (docs/open-data.md): the cases as CSV and JSON (one row per case), the steps
as CSV (one row per public step), the working-day calendar used for deadlines (CSV
and JSON), the metrics as JSON and as CSV with every rate's numerator and
denominator, and ``datapackage.json`` (Frictionless Data Package) naming each file,
its columns, its as-of time and its licence. Each column is defined once here, with
the reader that fills it and its description; the data dictionary page on the site
and the package's schemas are made from the same tuples, so they cannot drift.

The cases CSV has one row per case, modelled on NYC 311 open data and the Open311 bulk
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.deadlines import DeadlineReport
from gridportal.domain.metrics import RATE_PARTS, counted_rating
from gridportal.domain.publication import PUBLIC_FIELDS, TIMELINE_FIELDS

Record = Mapping[str, Any]
R = TypeVar("R", bound=Mapping[str, Any])

BOM = "\ufeff"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
DEADLINE_FIELDS = tuple(f.name for f in fields(DeadlineReport))  # the keys of ``to_dict``

# Every file is published under this licence, stated in the JSON files and the package.
LICENCE = {
    "name": "CC-BY-4.0",
    "title": "知识共享署名 4.0 国际许可协议（CC BY 4.0）",
    "path": "https://creativecommons.org/licenses/by/4.0/",
}


@dataclass(frozen=True)
class Column:
    """One column of an open-data table: its name, how a row fills it, its type
    (Table Schema: string, datetime, date, boolean, integer, number) and meaning."""

    name: str
    read: Callable[[Any], Any]
    type: str
    description: str

    def schema(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "description": self.description}


def _field(key: str) -> Callable[[Record], Any]:
    return lambda r: r.get(key)


def _deadline(key: str) -> Callable[[Record], Any]:
    return lambda r: (r.get("deadlines") or {}).get(key)


def _c(name: str, read: Callable[[Any], Any], kind: str, description: str) -> Column:
    return Column(name, read, kind, description)


# The cases CSV, in header order. Never rename or move a column; append new ones.
# A case's id and time of receipt, as Open311 names them (read back by search.newest_cases).
ID_COLUMN, RECEIVED_COLUMN = "service_request_id", "requested_datetime"
CASE_COLUMNS: tuple[Column, ...] = (
    _c(ID_COLUMN, _field("id"), "string", "公开编号，与办理记录网址 /cases/编号/ 一致"),
    _c(RECEIVED_COLUMN, _field("received_at"), "datetime", "受理时间（北京时间）"),
    _c(
        "contacted_datetime",
        _field("contacted_at"),
        "datetime",
        "首次联系反映人的时间（联系或告知办理结果，以先者为准；按时联系据此判断）",
    ),
    _c("updated_datetime", _field("updated_at"), "datetime", "最近一步办理的时间"),
    _c("closed_date", _field("resolved_at"), "datetime", "办结时间；在办或重办中为空"),
    _c("status", _field("status"), "string", "状态代码"),
    _c("status_label", _field("status_label"), "string", "状态（中文）"),
    _c("service_code", _field("category"), "string", "事项类别代码（服务事项清单）"),
    _c("service_name", _field("category_name"), "string", "事项类别名称"),
    _c("category_group", _field("category_group"), "string", "事项大类"),
    _c("difficulty", _field("difficulty"), "string", "难易：easy 一般，hard 疑难"),
    _c("agency", _field("unit"), "string", "当前或最终承办部门代码"),
    _c("agency_name", _field("unit_name"), "string", "承办部门名称"),
    _c("grid", _field("grid"), "string", "网格代码（不含门牌地址）"),
    _c("grid_name", _field("grid_name"), "string", "网格名称"),
    _c("community", _field("community"), "string", "社区代码"),
    _c("community_name", _field("community_name"), "string", "社区名称"),
    _c(
        "channel",
        _field("channel"),
        "string",
        "渠道：portal 网上投诉，hotline 热线，wechat 微信，patrol 巡查上报",
    ),
    _c("source", _field("source"), "string", "来源：resident 群众反映，patrol 巡查发现"),
    _c(
        "priority",
        _field("priority"),
        "string",
        "紧急程度：urgent 紧急，general 一般，complex 复杂",
    ),
    _c(
        "route",
        _field("route"),
        "string",
        "处置方式：direct_answer 直接解答，dispatch 分类转办，"
        "onsite_supervision 现场督办，special_report 专报批办",
    ),
    _c("due_date", _deadline("due"), "datetime", "办结时限（延期后为新时限）"),
    _c("original_due_date", _deadline("original_due"), "datetime", "原定办结时限"),
    _c("contact_due", _deadline("contact_due"), "datetime", "联系时限"),
    _c("contact_met", _deadline("contact_met"), "boolean", "是否按时联系；未到期为空"),
    _c("met", _deadline("met"), "boolean", "是否按期办结；未到期为空"),
    _c(
        "overdue_working_days",
        _deadline("overdue_working_days"),
        "integer",
        "超期工作日数（紧急件为自然日）",
    ),
    _c("deadline_note", _field("deadline_note"), "string", "时限为空的原因，如工作日历尚未公布"),
    _c("extension_count", _field("extension_count"), "integer", "延期次数"),
    _c("reopen_count", _field("reopen_count"), "integer", "重办次数"),
    _c("return_count", _field("return_count"), "integer", "退回次数"),
    _c("supervised", _field("supervised"), "boolean", "是否经过现场督办"),
    _c(
        "outcome",
        _field("outcome"),
        "string",
        "办理结果：resolved 已解决，answered 直接解答，refused 不予办理，merged 已合并",
    ),
    _c(
        "rating",
        _field("rating"),
        "string",
        "最近一次评价：satisfied 满意，basically_satisfied 基本满意，unsatisfied 不满意",
    ),
    _c("rated_at", _field("rated_at"), "datetime", "最近一次评价的时间"),
    _c("merged_into", _field("merged_into"), "string", "合并件所并入原件的公开编号"),
    _c("description", _field("summary"), "string", "反映内容（已隐去个人信息）"),
    _c("location", _field("location"), "string", "位置（到网格一级，已隐去个人信息）"),
    _c("answer", _field("answer"), "string", "答复、办结说明或不予办理理由（已隐去个人信息）"),
    _c(
        "counted_rating",
        counted_rating,
        "string",
        "计入统计的评价：最新一轮办理的最新评价；重办后新一轮未评价时为空",
    ),
)
CSV_COLUMNS: tuple[str, ...] = tuple(c.name for c in CASE_COLUMNS)
_COLUMNS = tuple((c.name, c.read) for c in CASE_COLUMNS)


def cases_csv(records: Iterable[Record]) -> str:
    """One CSV row per case, with a BOM and a CRLF line ending (RFC 4180)."""
    return table_csv(CASE_COLUMNS, sorted_records(records))


def table_csv(columns: Sequence[Column], rows: Iterable[Any]) -> str:
    """A CSV file of ``columns`` over ``rows``: BOM, header, CRLF (RFC 4180)."""
    readers = [c.read for c in columns]
    cells = ([cell(read(row)) for read in readers] for row in rows)
    return csv_text([c.name for c in columns], cells)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Cells already made (``cell``) as the portal's CSV files are written."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return BOM + out.getvalue()


def cell(value: Any) -> str:
    """A CSV cell: empty for null, ``true``/``false`` for booleans, text made inert."""
    if value.__class__ is str:  # most cells: checked first (millions in a city's build)
        return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
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


def archive_csv(
    months: Iterable[Iterable[bytes]], columns: Sequence[Column] = CASE_COLUMNS
) -> Iterator[bytes]:
    """The whole-archive CSV streamed from month CSV files, oldest month first.

    Each month is an iterable of its file's lines as bytes (an open binary file will
    do); its BOM and header line are dropped, the rest passes through unchanged, so
    the result equals ``cases_csv`` (``events_csv`` with ``EVENT_COLUMNS``) of every
    record without holding any of them.
    """
    yield table_csv(columns, ()).encode("utf-8")  # BOM and header
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
    """The metrics report as indented JSON, in the report's own key order, with its
    as-of time (the report's ``generated_at``) and licence first."""
    stamped = {"as_of": report.get("generated_at"), "licence": LICENCE, **report}
    return json.dumps(stamped, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


# --- Steps: one row per public step -------------------------------------------------

# A step's effect on the deadlines (时限影响), derived from the published record.
DEADLINE_EFFECTS = {
    "starts": "受理：联系时限和办结时限起算",
    "contact_on_time": "按时联系",
    "contact_late": "超过联系时限才联系",
    "extended": "延期：办结时限顺延",
    "closed_on_time": "在办结时限内办结",
    "closed_late": "超过办结时限办结",
    "closed": "办结（之后被重办）",
    "new_round": "重办：开启新一轮办理和评价",
}
_CLOSING = ("resolve", "answer", "refuse")


@dataclass(frozen=True)
class Step:
    """One public step of a case with what the events file says of it."""

    record: Record
    index: int  # 1-based, in timeline order
    step: Mapping[str, Any]
    effect: str
    rating: str | None
    counted: bool | None  # for a rating: whether it is the one the metrics count


def steps(record: Record) -> list[Step]:
    """The record's timeline as ``Step`` rows (what ``events_csv`` writes)."""
    timeline = list(record.get("timeline") or ())
    deadlines = record.get("deadlines") or {}
    last_close = max((i for i, s in enumerate(timeline) if s.get("action") in _CLOSING), default=-1)
    last_rate = max((i for i, s in enumerate(timeline) if s.get("action") == "rate"), default=-1)
    first_contact = next((i for i, s in enumerate(timeline) if s.get("action") == "contact"), -1)
    counted = counted_rating(record)
    out = []
    for i, step in enumerate(timeline):
        action = step.get("action")
        effect = ""
        if action == "receive":
            effect = "starts"
        elif (
            action == "contact" and i == first_contact and deadlines.get("contact_met") is not None
        ):
            effect = "contact_on_time" if deadlines["contact_met"] else "contact_late"
        elif action == "extend":
            effect = "extended"
        elif action in _CLOSING:
            met = deadlines.get("met")
            if i < last_close:
                effect = "closed"
            elif met is not None:
                effect = "closed_on_time" if met else "closed_late"
        elif action == "reopen":
            effect = "new_round"
        rating = None
        if action == "rate":
            # An earlier round's rating is in the step when published with it.
            rating = step.get("rating") or (record.get("rating") if i == last_rate else None)
        is_counted = None if rating is None else (i == last_rate and counted == rating)
        out.append(Step(record, i + 1, step, effect, rating, is_counted))
    return out


def _s(key: str) -> Callable[[Step], Any]:
    return lambda s: s.step.get(key)


EVENT_COLUMNS: tuple[Column, ...] = (
    _c(ID_COLUMN, lambda s: s.record.get("id"), "string", "案件公开编号"),
    _c("step", lambda s: s.index, "integer", "第几步（按时间顺序，从1起）"),
    _c("datetime", _s("at"), "datetime", "这一步的时间（北京时间）"),
    _c(
        "action",
        _s("action"),
        "string",
        "动作代码（receive 受理、dispatch 转办、resolve 办结、rate 评价、reopen 重办等）",
    ),
    _c("action_label", _s("label"), "string", "动作（中文）"),
    _c("role", _s("role"), "string", "角色代码"),
    _c("role_label", _s("role_label"), "string", "角色（中文）；不公开工作人员个人账号"),
    _c("agency", _s("unit"), "string", "这一步涉及的部门代码（转办目标或办理部门）"),
    _c("agency_name", _s("unit_name"), "string", "部门名称"),
    _c(
        "deadline_effect",
        lambda s: s.effect or None,
        "string",
        "对时限的影响：" + "；".join(f"{k} {v}" for k, v in DEADLINE_EFFECTS.items()),
    ),
    _c("round", _s("round"), "integer", "办理轮次：从1起，每次重办开启新一轮"),
    _c("rating", lambda s: s.rating, "string", "评价步骤的评价值（每一轮的评价都公开）"),
    _c("rating_counted", lambda s: s.counted, "boolean", "是否计入统计（最新一轮的最新评价）"),
    _c("note", _s("note"), "string", "公开说明（已隐去个人信息）"),
)


def events_csv(records: Iterable[Record]) -> str:
    """One CSV row per public step, cases in the order of every file, steps in order."""
    return table_csv(EVENT_COLUMNS, (s for r in sorted_records(records) for s in steps(r)))


# --- The working-day calendar used --------------------------------------------------

DAY_KINDS = {
    "workday": "工作日",
    "weekend": "周末休息",
    "holiday": "法定节假日休息",
    "adjusted_workday": "调休上班",
}


def calendar_days(calendar: WorkCalendar) -> list[dict[str, Any]]:
    """Every day of every year the calendar covers, with whether it is a working day."""
    days = []
    for year in sorted(calendar.covered_years):
        day = date(year, 1, 1)
        while day.year == year:
            working = calendar.is_workday(day)
            weekend = day.weekday() >= 5
            kind = (
                ("adjusted_workday" if weekend else "workday")
                if working
                else ("weekend" if weekend else "holiday")
            )
            days.append(
                {
                    "date": day.isoformat(),
                    "weekday": day.isoweekday(),
                    "working": working,
                    "kind": kind,
                }
            )
            day += timedelta(days=1)
    return days


CALENDAR_COLUMNS: tuple[Column, ...] = (
    _c("date", lambda d: d["date"], "date", "日期"),
    _c("weekday", lambda d: d["weekday"], "integer", "星期（1 星期一 … 7 星期日）"),
    _c("working", lambda d: d["working"], "boolean", "是否工作日（计算时限时计入）"),
    _c(
        "kind",
        lambda d: d["kind"],
        "string",
        "类型：" + "；".join(f"{k} {v}" for k, v in DAY_KINDS.items()),
    ),
)


def calendar_csv(calendar: WorkCalendar) -> str:
    return table_csv(CALENDAR_COLUMNS, calendar_days(calendar))


def calendar_json(calendar: WorkCalendar, as_of: str) -> str:
    """The calendar as JSON: covered years, as-of, licence and one entry per day."""
    body = {
        "as_of": as_of,
        "licence": LICENCE,
        "covered_years": sorted(calendar.covered_years),
        "note": "时限按此日历的工作日计算；未覆盖的年份不推算，相关时限显示为待定。",
        "days": calendar_days(calendar),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"


# --- Metrics as a table: every rate with its numerator and denominator --------------

_DIMENSION_NAMES = {
    "overall": "全部",
    "by_department": "承办部门",
    "by_grid": "网格",
    "by_community": "社区",
    "by_category": "事项类别",
}


@dataclass(frozen=True)
class MetricRow:
    period: str  # "all" or YYYY-MM
    final: bool | None
    dimension: str
    row: Mapping[str, Any]
    metric: str


def metric_rows(report: Mapping[str, Any], period: str | None = None) -> Iterator[MetricRow]:
    """Every published rate and the score of every row, whole period then each month;
    ``period``: only that one (a month's table, without walking the others)."""
    status = report.get("month_status", {})
    periods: list[tuple[str, bool | None, Mapping[str, Any]]] = [("all", None, report)]
    periods += [
        (m, status.get(m, {}).get("final"), entry)
        for m, entry in sorted(report.get("monthly", {}).items())
    ]
    if period is not None:
        periods = [p for p in periods if p[0] == period]
    for period, final, entry in periods:
        for dimension in _DIMENSION_NAMES:
            rows = [entry["overall"]] if dimension == "overall" else entry.get(dimension, ())
            for row in rows:
                for metric in (*RATE_PARTS, "score"):
                    yield MetricRow(period, final, dimension, row, metric)


def _fraction(part: int) -> Callable[[MetricRow], Any]:
    def read(m: MetricRow) -> Any:
        pair = m.row.get("fractions", {}).get(m.metric)
        return pair[part] if pair else None

    return read


METRIC_COLUMNS: tuple[Column, ...] = (
    _c("period", lambda m: m.period, "string", "统计期：all 全部时段，或受理月份 YYYY-MM"),
    _c("final", lambda m: m.final, "boolean", "该月数字是否已定稿（全部时段为空）"),
    _c(
        "dimension",
        lambda m: m.dimension,
        "string",
        "分组：" + "；".join(f"{k} {v}" for k, v in _DIMENSION_NAMES.items()),
    ),
    _c("id", lambda m: m.row.get("id"), "string", "部门、网格、社区或类别代码（全部为 all）"),
    _c("name", lambda m: m.row.get("name"), "string", "名称"),
    _c("metric", lambda m: m.metric, "string", "指标代码，定义见指标页"),
    _c(
        "value",
        lambda m: m.row.get(m.metric),
        "number",
        "公布值：分子÷分母四舍五入一次（比率保留3位小数，得分保留1位）；分母为0时为空",
    ),
    _c("numerator", _fraction(0), "integer", "分子（满意率以十分之一件为单位；得分为空）"),
    _c("denominator", _fraction(1), "integer", "分母（满意率以十分之一件为单位；得分为空）"),
    _c("cases", lambda m: m.row.get("cases"), "integer", "该行案件数（不含合并件）"),
)


def metrics_csv(report: Mapping[str, Any]) -> str:
    return table_csv(METRIC_COLUMNS, metric_rows(report))


def month_metrics_csv(report: Mapping[str, Any], month: str) -> str:
    """One month's rows of the metrics table (``data/metrics/<M>.csv``)."""
    return table_csv(METRIC_COLUMNS, metric_rows(report, month))


# --- The package: every file, its columns, as-of time and licence -------------------


@dataclass(frozen=True)
class Table:
    """One published table: where it is, what it holds, and its columns."""

    key: str
    title: str
    description: str
    columns: tuple[Column, ...]


TABLES: tuple[Table, ...] = (
    Table(
        "cases",
        "办理记录（一件一行）",
        "data/cases.csv.gz；按月：data/cases/YYYY-MM.csv；"
        "定稿快照：data/snapshots/YYYY-MM/rN/cases.csv",
        CASE_COLUMNS,
    ),
    Table(
        "events",
        "办理步骤（一步一行）",
        "data/events.csv.gz；按月：data/events/YYYY-MM.csv；"
        "定稿快照：data/snapshots/YYYY-MM/rN/events.csv",
        EVENT_COLUMNS,
    ),
    Table("calendar", "工作日历", "data/calendar.csv、data/calendar.json", CALENDAR_COLUMNS),
    Table(
        "metrics",
        "指标及分子分母",
        "data/metrics.csv（全部时段及每月）；按月：data/metrics/YYYY-MM.csv；"
        "定稿快照：data/snapshots/YYYY-MM/rN/metrics.csv（及 metrics.json）",
        METRIC_COLUMNS,
    ),
)
# Files that are no table: their titles in ``datapackage.json``.
FILE_TITLES = {"snapshots": "定稿快照索引（每个定稿月份的各版本、时间和更正原因）"}
SNAPSHOTS_PREFIX = "data/snapshots/"  # the snapshots of final months (gridportal.snapshots)
SNAPSHOT_INDEX = f"{SNAPSHOTS_PREFIX}index.json"
# A snapshot revision's files and the table each follows (gridportal.snapshots).
SNAPSHOT_FILES = (
    ("metrics.json", "metrics"),
    ("metrics.csv", "metrics"),
    ("cases.csv", "cases"),
    ("events.csv", "events"),
)


def datapackage(files: Sequence[tuple[str, ...]], as_of: str) -> str:
    """``datapackage.json``: each (path, table key) with its schema, the as-of time and
    the licence (Frictionless Data Package). A file of another as-of time (a snapshot)
    is given as (path, table key, as-of time, title)."""
    tables = {t.key: t for t in TABLES}
    resources = []
    for path, key, *own in files:
        table = tables.get(key)
        title = table.title if table else FILE_TITLES.get(key, key)
        resource: dict[str, Any] = {
            "name": path.removeprefix("data/").replace("/", "-").replace(".", "-").lower(),
            "path": path,
            "title": own[1] if len(own) > 1 else title,
            "as_of": own[0] if own else as_of,
        }
        if table and path.endswith((".csv", ".csv.gz")):
            resource |= {
                "format": "csv",
                "encoding": "utf-8-sig",
                "schema": {"fields": [c.schema() for c in table.columns]},
            }
        resources.append(resource)
    body = {
        "name": "gridportal-open-data",
        "title": "网格化管理公开数据",
        "created": as_of,
        "licenses": [LICENCE],
        "resources": resources,
    }
    return json.dumps(body, ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def sorted_records(records: Iterable[R]) -> list[R]:
    """Cases by time of receipt, then public id: the order of every open-data file."""
    return sorted(records, key=lambda r: (datetime.fromisoformat(r["received_at"]), r["id"]))


def _ordered(record: Record) -> dict[str, Any]:
    # Published fields first in their documented order; anything else after, sorted,
    # so that a new field never reorders the old ones.
    result = _keys_first(record, PUBLIC_FIELDS)
    deadlines = result.get("deadlines")
    if isinstance(deadlines, Mapping):
        result["deadlines"] = _keys_first(deadlines, DEADLINE_FIELDS)
    timeline = result.get("timeline")
    if isinstance(timeline, list):
        result["timeline"] = [_keys_first(step, TIMELINE_FIELDS) for step in timeline]
    return result


def _keys_first(mapping: Mapping[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    if tuple(mapping) == order:  # as the record builder makes it (most, in a city's build)
        return dict(mapping)
    result = {k: mapping[k] for k in order if k in mapping}
    result.update((k, mapping[k]) for k in sorted(mapping) if k not in result)
    return result


# --- The files, by key: what the month shards and the site-wide step publish --------

CALENDAR_KEYS = ("data/calendar.csv", "data/calendar.json")
METRICS_CSV = "data/metrics.csv"
DATAPACKAGE = "data/datapackage.json"


MONTH_CASES_DIR = "data/cases"  # a month's records: <YYYY-MM>.csv and .json


def month_data_keys(month: str) -> tuple[str, str]:
    """A month's records as published: the CSV table and the JSON (Open311's reads)."""
    return f"{MONTH_CASES_DIR}/{month}.csv", f"{MONTH_CASES_DIR}/{month}.json"


def month_events_key(month: str) -> str:
    return f"data/events/{month}.csv"


def month_metrics_key(month: str) -> str:
    return f"data/metrics/{month}.csv"


def site_files(
    report: Mapping[str, Any],
    calendar: WorkCalendar,
    months: Iterable[str],
    archives: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, bytes]]:
    """The site-wide open data besides ``metrics.json``: the calendar used, the metrics
    table (whole and per month) and the package describing every file. ``months`` are
    the months with cases; ``archives`` the (key, table) of the whole-archive downloads.
    The as-of time is the report's ``generated_at``, so an unchanged night changes nothing.
    """
    as_of = str(report.get("generated_at") or "")
    months = sorted(months)
    rows = list(metric_rows(report))
    out = [
        (CALENDAR_KEYS[0], calendar_csv(calendar).encode("utf-8")),
        (CALENDAR_KEYS[1], calendar_json(calendar, as_of).encode("utf-8")),
        (METRICS_CSV, table_csv(METRIC_COLUMNS, rows).encode("utf-8")),
    ]
    by_period: dict[str, list[MetricRow]] = {}
    for row in rows:
        by_period.setdefault(row.period, []).append(row)
    for month in months:
        mine = by_period.get(month, [])
        out.append((month_metrics_key(month), table_csv(METRIC_COLUMNS, mine).encode("utf-8")))
    files: list[tuple[str, ...]] = [
        *archives,
        ("data/metrics.json", "metrics"),
        (METRICS_CSV, "metrics"),
        (CALENDAR_KEYS[0], "calendar"),
        (CALENDAR_KEYS[1], "calendar"),
    ]
    for month in months:
        files += [
            *((key, "cases") for key in month_data_keys(month)),
            (month_events_key(month), "events"),
            (month_metrics_key(month), "metrics"),
        ]
    files += snapshot_files(report.get("snapshots") or {})
    out.append((DATAPACKAGE, datapackage(files, as_of).encode("utf-8")))
    return out


def snapshot_files(index: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[tuple[str, ...]]:
    """The package's entries for the snapshots (``report["snapshots"]``, month → its
    revisions): the index, then every revision's files with their own as-of time."""
    if not index:
        return []
    latest = max(str(r["as_of"]) for revisions in index.values() for r in revisions)
    out: list[tuple[str, ...]] = [(SNAPSHOT_INDEX, "snapshots", latest, FILE_TITLES["snapshots"])]
    tables = {t.key: t for t in TABLES}
    for month, revisions in sorted(index.items()):
        for revision in revisions:
            for name, key in SNAPSHOT_FILES:
                title = f"{tables[key].title}（{month} 定稿快照 r{revision['revision']}）"
                out.append((f"{revision['path']}{name}", key, str(revision["as_of"]), title))
    return out
