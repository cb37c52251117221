"""The public site (公开网站): Pelican plus a generator that renders pages from data.

``build_site`` runs Pelican with ``site/pelicanconf.py`` and the theme in
``themes/portal``. Pelican's own page pipeline turns the editorial Markdown in
``content/pages`` into pages; every other page (home, cases, grids, metrics, the
forms, the lists) comes from data through ``PortalGenerator``, which renders the
theme's Jinja2 templates straight from the published records, the district's
reference data and the metrics report. No Pelican content object is made per
case, so thousands of case pages render in seconds.

This module is also the Pelican plugin that registers the generator: ``build_site``
passes the module itself in ``PLUGINS``, and Pelican calls ``register()``.

URLs (all root-relative, each page is ``<path>/index.html``)::

    /                        home: headline figures, big buttons
    /report/ /lookup/ /vote/ the three forms that talk to the API
    /cases/                  months; /cases/<YYYY-MM>/ a month; /cases/<id>/ one record
    /grids/                  stations → communities → grids; /grids/<grid>/ the bulletin
    /metrics/                rankings, red/black lists, warnings; /metrics/<YYYY-MM>/
    /lists/ /data/           the district's lists; the open data downloads
    /<slug>/                 editorial pages (about, guide, privacy)
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import segno
from markupsafe import Markup
from pelican import Pelican, signals
from pelican.generators import Generator
from pelican.log import console as pelican_console
from pelican.settings import read_settings

from gridportal.domain.model import OPEN_STATUSES, Priority, Rating, label
from gridportal.domain.reference import TEAM_ROLE_LABELS, District, Grid, ServiceItem, TeamRole
from gridportal.services import MAX_DESCRIPTION, MAX_LOCATION, MAX_NAME, MAX_NOTE, MAX_PHONE

BEIJING = ZoneInfo("Asia/Shanghai")

# src/gridportal/adapters/pelican_site.py → the repository root, four levels up.
PROJECT_ROOT = Path(__file__).resolve().parents[3]

SETTINGS_KEY = "PORTAL_BUILD"  # where build_site puts the data for the generator
# Settings the portal adds to Pelican's at build time (docs/site.md lists them all).
BUILD_SETTINGS = ("API_BASE", "DISTRICT_NAME", "BUILD_TIME_LABEL", SETTINGS_KEY)

# The forms' maxlength and counters: the limits the API enforces.
FORM_LIMITS = {
    "location": MAX_LOCATION,
    "description": MAX_DESCRIPTION,
    "name": MAX_NAME,
    "phone": MAX_PHONE,
    "comment": MAX_NOTE,
}

RECENT_CASES_PER_GRID = 10

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")  # ids that become a URL path segment
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])\Z")


@dataclass(frozen=True)
class MetricColumn:
    key: str  # the ROW key, also the definition key on /metrics/#def-<key>
    label: str
    kind: str  # "count" | "rate" | "score"
    headline: bool = False  # shown as a big figure above the tables


METRIC_COLUMNS = (
    MetricColumn("cases", "件数", "count", headline=True),
    MetricColumn("resident_cases", "群众反映", "count"),
    MetricColumn("patrol_cases", "巡查发现", "count"),
    MetricColumn("hard_cases", "疑难事项", "count"),
    MetricColumn("hard_share", "疑难占比", "rate"),
    MetricColumn("response_rate", "响应率", "rate", headline=True),
    MetricColumn("resolution_rate", "解决率", "rate", headline=True),
    MetricColumn("satisfaction_rate", "满意率", "rate", headline=True),
    MetricColumn("score", "综合得分", "score", headline=True),
    MetricColumn("on_time_rate", "按期办结率", "rate", headline=True),
    MetricColumn("reopen_rate", "重办率", "rate", headline=True),
    MetricColumn("overdue_open", "超期未办结", "count", headline=True),
    MetricColumn("rated", "已评价", "count"),
)
HOME_FIGURES = (
    ("response_rate", "响应率"),
    ("resolution_rate", "解决率"),
    ("satisfaction_rate", "满意率"),
    ("score", "综合得分"),
)
RISK_LABELS = {"high": "高风险", "medium": "中风险", "low": "低风险"}
WARNING_LABELS = {"recurring": "反复发生", "spreading": "扩散", "rising": "上升"}
FLAG_LABELS = {"burst": "集中评价", "fast_after_resolution": "办结后极快评价"}
LIST_TITLES = {
    "powers": "权力清单",
    "responsibilities": "责任清单",
    "services": "服务事项清单",
    "patrol_items": "日常巡查类事项清单",
}
DIFFICULTY_LABELS = {"easy": "一般", "hard": "疑难"}
DEPARTMENT_KINDS = {"street_office": "街道内设部门", "city_department": "职能部门"}


# ---- Jinja filters (pure, so the templates stay simple) ----


def _parse(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment.astimezone(BEIJING) if moment.tzinfo else moment


def format_when(value: str | None) -> str:
    """ISO time → "2024-05-03 14:20" in Beijing time; "—" when absent."""
    if not value:
        return "—"
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else str(value)


def format_day(value: str | None) -> str:
    if not value:
        return "—"
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d") if moment else str(value)


def format_rate(value: float | None) -> str:
    """A rate in [0, 1] as a percentage; "—" when the denominator was 0."""
    return "—" if value is None else f"{value * 100:.1f}%"


def format_score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def format_month(value: str | None) -> str:
    """ "2024-05" → "2024年5月"."""
    if not value or not _MONTH.match(value):
        return value or ""
    year, month = value.split("-")
    return f"{year}年{int(month)}月"


def tel_href(phone: str | None) -> str:
    """A ``tel:`` link keeps digits and a leading +; extensions and dashes are dropped."""
    digits = re.sub(r"[^\d+]", "", (phone or "").split("转")[0])
    return f"tel:{digits}"


FILTERS: Mapping[str, Callable[..., str]] = {
    "when": format_when,
    "day": format_day,
    "rate": format_rate,
    "score": format_score,
    "month": format_month,
    "tel": tel_href,
}


# ---- Data preparation ----


def latest_complete_month(months: Iterable[str], build_time: datetime) -> tuple[str | None, bool]:
    """The month for headline figures: the last one that ended before ``build_time``.

    Returns ``(month, partial)``; ``partial`` is True when only the current, unfinished
    month has data.
    """
    current = build_time.astimezone(BEIJING).strftime("%Y-%m")
    ordered = sorted(months)
    complete = [m for m in ordered if m < current]
    if complete:
        return complete[-1], False
    return (ordered[-1], True) if ordered else (None, False)


def safe_segment(value: str, what: str) -> str:
    """An id used as a directory name must not escape its directory."""
    if not isinstance(value, str) or not _SEGMENT.match(value):
        raise ValueError(f"{what} {value!r} cannot be used in a URL path")
    return value


def qr_svg(url: str, title: str) -> str:
    """An inline SVG QR code (error level M, scales with CSS: no width/height)."""
    return segno.make_qr(url, error="m").svg_inline(
        omitsize=True, title=title, svgclass="qr", lineclass=None, dark="#000", light="#fff"
    )


def report_url(site_url: str, grid_id: str) -> str:
    return f"{site_url.rstrip('/')}/report/?grid={grid_id}"


def _grouped(items: Iterable[Any], key: Callable[[Any], str]) -> list[tuple[str, list[Any]]]:
    """Group in order of first appearance (the reference data's own order)."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.items())


def _is_open(record: Mapping[str, Any]) -> bool:
    return record.get("status") in OPEN_STATUSES


def _is_overdue(record: Mapping[str, Any]) -> bool:
    deadlines = record.get("deadlines") or {}
    return _is_open(record) and deadlines.get("met") is False


def _newest_first(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    # Published times all carry +08:00, so the ISO strings sort as times.
    return sorted(records, key=lambda r: r.get("received_at") or "", reverse=True)


@dataclass
class BuildState:
    """What ``build_site`` hands the generator (through the settings) and gets back."""

    records: Sequence[Mapping[str, Any]]
    district: District
    metrics: Mapping[str, Any]
    changed_ids: frozenset[str] | None
    site_url: str
    build_time: datetime
    written: list[Path] = field(default_factory=list)
    case_pages: int = 0
    case_seconds: float = 0.0


@dataclass(frozen=True)
class BuildResult:
    output_dir: Path
    written: tuple[Path, ...]  # every file this build wrote or copied, absolute
    seconds: float  # the whole Pelican run
    case_pages: int  # case record pages rendered (all, or only the changed ones)
    case_seconds: float  # time spent rendering and writing those pages

    @property
    def case_pages_per_second(self) -> float | None:
        return self.case_pages / self.case_seconds if self.case_seconds > 0 else None

    def relative(self) -> list[str]:
        """Written files as POSIX paths relative to the output directory (object keys)."""
        return [p.relative_to(self.output_dir).as_posix() for p in self.written]


class PortalGenerator(Generator):
    """Renders every data page with the theme's templates (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Case text is typed by the public: refuse to render with escaping off.
        if not self.env.autoescape:
            raise RuntimeError("the portal theme needs JINJA_ENVIRONMENT autoescape=True")
        self.state: BuildState = self.settings[SETTINGS_KEY]

    # Pelican calls generate_context on every generator, then generate_output.
    def generate_context(self) -> None:
        state = self.state
        district = state.district
        metrics = state.metrics
        ids = [safe_segment(r["id"], "case id") for r in state.records]
        if len(ids) != len(set(ids)):
            duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
            raise ValueError(f"duplicate case ids: {duplicates[:5]}")
        for grid in district.grids:
            safe_segment(grid.id, "grid id")

        self.records = _newest_first(state.records)
        self.by_month: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        self.by_grid: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for record in self.records:
            month = record["month"]
            if not _MONTH.match(month):
                raise ValueError(f"case {record['id']} has month {month!r}")
            self.by_month[month].append(record)
            self.by_grid[record["grid"]].append(record)

        definitions = list(metrics.get("definitions", ()))
        names = {d["key"]: d["name"] for d in definitions}
        self.metric_months = sorted(
            m for m in metrics.get("months", ()) if m in metrics.get("monthly", {})
        )
        for month in self.metric_months:
            if not _MONTH.match(month):
                raise ValueError(f"metrics month {month!r}")
        self.headline_month, self.headline_partial = latest_complete_month(
            self.metric_months, state.build_time
        )
        # Globals, not per-page variables, so that the macros need no context.
        self.env.globals.update(
            definition_keys=frozenset(names),
            metric_columns=[
                MetricColumn(c.key, names.get(c.key, c.label), c.kind, c.headline)
                for c in METRIC_COLUMNS
            ],
            grid_ids=frozenset(g.id for g in district.grids),
            risk_labels=RISK_LABELS,
        )

    def generate_output(self, writer: Any) -> None:
        self._write(writer, "home", "index.html", nav="home", title="首页", **self._home())
        self._write_cases(writer)
        self._write_grids(writer)
        self._write_metrics(writer)
        district = self.state.district
        service_groups = _grouped(district.services, lambda s: s.group)
        grid_groups = [
            (community, [g for g in district.grids if g.community == community.id])
            for community in district.communities
        ]
        self._write(
            writer,
            "report",
            "report/index.html",
            nav="report",
            title="我要投诉",
            service_groups=service_groups,
            grid_groups=[(c, grids) for c, grids in grid_groups if grids],
            limits=FORM_LIMITS,
        )
        self._write(writer, "lookup", "lookup/index.html", nav="lookup", title="查询进度")
        self._write(
            writer,
            "vote",
            "vote/index.html",
            nav="vote",
            title="满意度评价",
            ratings=[(str(r), label(r)) for r in Rating],
            limits=FORM_LIMITS,
        )
        self._write(writer, "data", "data/index.html", nav="data", title="开放数据")
        self._write(
            writer, "lists", "lists/index.html", nav="lists", title="权责清单", **self._lists()
        )

    def _write(self, writer: Any, template: str, path: str, **values: Any) -> None:
        writer.write_file(path, self.get_template(template), self.context, **values)

    def _home(self) -> dict[str, Any]:
        monthly = self.state.metrics.get("monthly", {})
        month = self.headline_month
        return {
            "headline": monthly[month]["overall"] if month else None,
            "headline_month": month,
            "headline_partial": self.headline_partial,
            "headline_keys": HOME_FIGURES,
            "totals": {
                "cases": len(self.records),
                "open": sum(1 for r in self.records if _is_open(r)),
                "overdue": sum(1 for r in self.records if _is_overdue(r)),
            },
        }

    def _write_cases(self, writer: Any) -> None:
        months = sorted(self.by_month, reverse=True)
        self._write(
            writer,
            "case_months",
            "cases/index.html",
            nav="cases",
            title="办理记录",
            months=[(m, len(self.by_month[m])) for m in months],
        )
        for month in months:
            self._write(
                writer,
                "case_month",
                f"cases/{month}/index.html",
                nav="cases",
                title=f"{format_month(month)}办理记录",
                month=month,
                cases=self.by_month[month],
            )
        # The bulk of the site: one template, compiled once, no per-case Pelican objects.
        changed = self.state.changed_ids
        template = self.get_template("case")
        started = time.perf_counter()
        count = 0
        for record in self.records:
            if changed is not None and record["id"] not in changed:
                continue
            writer.write_file(
                f"cases/{record['id']}/index.html",
                template,
                self.context,
                nav="cases",
                title=f"{record['category_name']} {record['id']}",
                case=record,
            )
            count += 1
        self.state.case_pages = count
        self.state.case_seconds = time.perf_counter() - started

    def _write_grids(self, writer: Any) -> None:
        district = self.state.district
        metrics = self.state.metrics
        risk = {item["grid"]: item for item in metrics.get("risk_map", ())}
        grid_rows = {row["id"]: row for row in metrics.get("by_grid", ())}
        monthly = metrics.get("monthly", {}).get(self.headline_month or "", {})
        month_rows = {row["id"]: row for row in monthly.get("by_grid", ())}
        stations = [
            {
                "name": station.name,
                "address": station.address,
                "phone": station.phone,
                "communities": [
                    (community, [g for g in district.grids if g.community == community.id])
                    for community in district.communities
                    if community.station == station.id
                ],
            }
            for station in district.stations
        ]
        self._write(
            writer,
            "grids",
            "grids/index.html",
            nav="grids",
            title="网格公示",
            stations=stations,
            risk_by_grid=risk,
        )
        template = self.get_template("grid")
        role_order = {role: i for i, role in enumerate(TeamRole)}
        for grid in district.grids:
            community = district.community(grid.community)
            station = district.station(community.station) if community else None
            url = report_url(self.state.site_url, grid.id)
            rows = []
            if grid.id in month_rows and self.headline_month:
                rows.append({**month_rows[grid.id], "name": format_month(self.headline_month)})
            if grid.id in grid_rows:
                rows.append({**grid_rows[grid.id], "name": "全部时段"})
            self._write_qr_file(grid, url)
            writer.write_file(
                f"grids/{grid.id}/index.html",
                template,
                self.context,
                nav="grids",
                title=f"{grid.name}公示牌",
                grid=grid,
                community=community,
                station=station,
                team=[
                    {
                        "role_label": TEAM_ROLE_LABELS[m.role],
                        "name": m.name,
                        "work_phone": m.work_phone,
                        "duties": m.duties,
                    }
                    for m in sorted(grid.team, key=lambda m: role_order[m.role])
                ],
                report_url=url,
                qr_svg=Markup(qr_svg(url, f"扫码反映问题:{grid.name}")),
                risk=risk.get(grid.id),
                metric_rows=rows,
                recent=self.by_grid.get(grid.id, [])[:RECENT_CASES_PER_GRID],
            )

    def _write_qr_file(self, grid: Grid, url: str) -> None:
        # A stand-alone SVG for printing posters at any size.
        path = Path(self.output_path) / "grids" / grid.id / "qr.svg"
        path.parent.mkdir(parents=True, exist_ok=True)
        segno.make_qr(url, error="m").save(str(path), kind="svg", scale=10, border=4)
        self.state.written.append(path)

    def _write_metrics(self, writer: Any) -> None:
        metrics = self.state.metrics
        monthly = metrics.get("monthly", {})
        latest = self.headline_month
        latest_rows = monthly.get(latest, {}) if latest else {}
        common = {
            "nav": "metrics",
            "metric_months": self.metric_months,
            "definitions": metrics.get("definitions", ()),
            "period": metrics.get("period", {}),
            "generated_at": metrics.get("generated_at"),
            "warning_labels": WARNING_LABELS,
            "flag_labels": FLAG_LABELS,
        }

        def sections(period: Mapping[str, Any], label: str, extra: Mapping[str, Any]) -> list[Any]:
            out = []
            for key, title, link in (
                ("by_department", "按承办部门", None),
                ("by_grid", "按网格", "grids"),
                ("by_community", "按社区", None),
                ("by_category", "按事项类别", None),
            ):
                tables = [(f"{title}({label})", period.get(key, ()))]
                if extra:
                    tables.insert(0, (f"{title}({format_month(latest)})", extra.get(key, ())))
                out.append({"key": key, "title": title, "tables": tables, "link": link})
            return out

        self._write(
            writer,
            "metrics",
            "metrics/index.html",
            title="数据指标",
            month=None,
            overall=metrics.get("overall"),
            sections=sections(metrics, "全部时段", latest_rows),
            red_list=metrics.get("red_list", ()),
            black_list=metrics.get("black_list", ()),
            ranking_month=metrics.get("ranking_month"),
            warnings=metrics.get("warnings", ()),
            risk_map=metrics.get("risk_map", ()),
            vote_flags=metrics.get("vote_flags", ()),
            **common,
        )
        for month in self.metric_months:
            self._write(
                writer,
                "metrics",
                f"metrics/{month}/index.html",
                title=f"{format_month(month)}指标",
                month=month,
                overall=monthly[month].get("overall"),
                sections=sections(monthly[month], format_month(month), {}),
                **common,
            )

    def _lists(self) -> dict[str, Any]:
        district = self.state.district
        services: Sequence[ServiceItem] = district.services
        return {
            "lists": [
                (key, LIST_TITLES.get(key, key), items) for key, items in district.lists.items()
            ],
            "service_groups": _grouped(services, lambda s: s.group),
            "service_count": len(services),
            "departments": district.departments,
            "department_names": {d.id: d.name for d in district.departments},
            "priority_labels": {str(p): label(p) for p in Priority},
            "difficulty_labels": DIFFICULTY_LABELS,
            "department_kinds": DEPARTMENT_KINDS,
        }


# ---- Plugin hooks (Pelican's signals are global: act only on portal builds) ----


def _get_generators(pelican_object: Any) -> type[Generator] | None:
    return PortalGenerator if SETTINGS_KEY in pelican_object.settings else None


def _record_written(path: str, context: Mapping[str, Any] | None = None, **_: Any) -> None:
    state = (context or {}).get(SETTINGS_KEY)
    if isinstance(state, BuildState):
        state.written.append(Path(path))


def register() -> None:
    """Pelican's plugin entry point; connecting twice is harmless."""
    signals.get_generators.connect(_get_generators)
    signals.content_written.connect(_record_written)


# ---- The build ----


def build_site(
    *,
    output_dir: Path,
    records: Sequence[Mapping[str, Any]],
    district: District,
    metrics: Mapping[str, Any],
    changed_ids: Collection[str] | None = None,
    site_url: str = "",
    api_base: str = "/api",
    build_time: datetime,
    project_root: Path | None = None,
    settings_file: Path | None = None,
) -> BuildResult:
    """Build the public site into ``output_dir``; old files there are kept.

    ``records`` are all published records (listings need them all); with
    ``changed_ids`` only those case pages are rendered, every other page always is.
    ``site_url`` (absolute, no trailing slash) goes into the grid QR codes; when
    empty, the settings file's ``SITEURL`` is used. ``project_root`` is the
    repository root holding ``site/``, ``themes/portal/`` and ``content/``; it
    defaults to the root of the checkout this package is installed from.
    ``settings_file`` defaults to ``site/pelicanconf.py`` (``site/publishconf.py``
    for the published site).
    """
    if build_time.tzinfo is None:
        raise ValueError("build_time must be timezone-aware")
    root = Path(project_root) if project_root else PROJECT_ROOT
    settings_path = Path(settings_file) if settings_file else root / "site" / "pelicanconf.py"
    if not settings_path.is_file():
        raise FileNotFoundError(
            f"no Pelican settings at {settings_path}; pass project_root (the repository root)"
        )
    output_dir = Path(output_dir).resolve()
    override: dict[str, Any] = {
        "PATH": str(root / "content"),
        "THEME": str(root / "themes" / "portal"),
        "OUTPUT_PATH": str(output_dir),
        "DELETE_OUTPUT_DIRECTORY": False,
        "JINJA_FILTERS": dict(FILTERS),
        "API_BASE": api_base.rstrip("/") or "/api",
        "DISTRICT_NAME": district.name,
        "BUILD_TIME_LABEL": build_time.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
    }
    if site_url:
        override["SITEURL"] = site_url.rstrip("/")
    settings = read_settings(str(settings_path), override=override)
    settings["JINJA_ENVIRONMENT"] = {**settings["JINJA_ENVIRONMENT"], "autoescape": True}
    settings["PLUGINS"] = [*(settings.get("PLUGINS") or []), sys.modules[__name__]]
    state = BuildState(
        records=records,
        district=district,
        metrics=metrics,
        changed_ids=frozenset(changed_ids) if changed_ids is not None else None,
        site_url=settings.get("SITEURL", ""),
        build_time=build_time,
    )
    settings[SETTINGS_KEY] = state

    # Pelican prints a summary line to stdout; callers get BuildResult instead, and a
    # command that prints JSON must not have it mixed in.
    quiet, pelican_console.quiet = pelican_console.quiet, True
    started = time.perf_counter()
    try:
        Pelican(settings).run()
    finally:
        pelican_console.quiet = quiet
    seconds = time.perf_counter() - started

    # Theme assets are copied, not written through the writer: list them too.
    theme_static = root / "themes" / "portal" / "static"
    static_dir = output_dir / settings["THEME_STATIC_DIR"]
    copied = [
        static_dir / p.relative_to(theme_static) for p in theme_static.rglob("*") if p.is_file()
    ]
    written = sorted({*state.written, *copied})
    return BuildResult(
        output_dir=output_dir,
        written=tuple(written),
        seconds=seconds,
        case_pages=state.case_pages,
        case_seconds=state.case_seconds,
    )
