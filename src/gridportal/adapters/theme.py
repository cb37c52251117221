"""The theme's data pages rendered straight through Jinja2 (no Pelican in the loop).

Pelican's per-file writer and its content objects cost far more than the templates
themselves, so every page made from data (case pages, month lists, grids, metrics, the
forms, the lists) is rendered here with the theme's own templates, in an environment
set up the way Pelican sets it up (the settings as globals, autoescape on, the portal's
filters), and written as bytes by the caller. Pelican keeps the editorial Markdown
pages and the theme assets (``pelican_site.build_editorial``).

``SiteContext`` is everything the pages share: it is plain data and crosses to worker
processes; ``SiteContext.key`` changes whenever a template or a shared value does, and
a changed key makes the next build render every page again.
"""

from __future__ import annotations

import hashlib
import json
import re
import runpy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import segno
from jinja2 import Environment, FileSystemLoader, Template
from markupsafe import Markup

from gridportal.adapters.infra_template import FINGERPRINT_HEX
from gridportal.domain import opendata
from gridportal.domain.metrics import DEFINITIONS, ranked
from gridportal.domain.model import OPEN_STATUSES, Priority, Rating, label
from gridportal.domain.reference import TEAM_ROLE_LABELS, District, Grid, ServiceItem, TeamRole
from gridportal.feeds import department_feed_key, grid_feed_key, site_feeds
from gridportal.requests import FORM_FIELDS
from gridportal.services import LOOKUP_LOCK_RULE

BEIJING = ZoneInfo("Asia/Shanghai")

# src/gridportal/adapters/theme.py → the repository root, four levels up.
PROJECT_ROOT = Path(__file__).resolve().parents[3]

# Listing pages hold at most this many cases (a month of a city runs to tens of thousands).
PAGE_SIZE = 100

# The settings a page template reads, taken from site/pelicanconf.py (docs/site.md).
THEME_SETTINGS = ("SITENAME", "THEME_STATIC_DIR", "CSS_FILE", "NAV_LINKS")

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

# What a listing row shows of a case (category, grid, status, dates, deadline): grid
# pages keep the newest rows of each month in the shard state, not whole records.
LIST_FIELDS = (
    "id",
    "category",
    "category_name",
    "grid",
    "grid_name",
    "community",
    "community_name",
    "unit",
    "unit_name",
    "status",
    "status_label",
    "priority",
    "received_at",
    "resolved_at",
    "deadlines",
    "deadline_note",
)


@dataclass(frozen=True)
class Dimension:
    """A way to list records (分类浏览): by grid, community, department or category."""

    key: str  # the URL segment: /cases/by/<key>/<value>/
    field: str  # the record field holding the value's id
    name_field: str  # the record field holding its name
    label: str


DIMENSIONS = (
    Dimension("grid", "grid", "grid_name", "网格"),
    Dimension("community", "community", "community_name", "社区"),
    Dimension("department", "unit", "unit_name", "承办部门"),
    Dimension("category", "category", "category_name", "事项类别"),
)


def dimension_index_key(dimension: str, value: str) -> str:
    return f"cases/by/{dimension}/{value}/index.html"


def dimension_page_key(dimension: str, value: str, month: str, number: int) -> str:
    tail = "" if number == 1 else f"{number}/"
    return f"cases/by/{dimension}/{value}/{month}/{tail}index.html"


def dimension_page_url(dimension: str, value: str, month: str, number: int) -> str:
    return "/" + dimension_page_key(dimension, value, month, number).removesuffix("index.html")


def dimension_groups(
    rows: Sequence[Mapping[str, Any]],
) -> dict[str, dict[str, tuple[str, list[Mapping[str, Any]]]]]:
    """dimension → value → (name, rows in the given order); values unfit for a URL are left
    out (a case not yet dispatched has no department)."""
    out: dict[str, dict[str, tuple[str, list[Mapping[str, Any]]]]] = {}
    for dimension in DIMENSIONS:
        groups: dict[str, tuple[str, list[Mapping[str, Any]]]] = {}
        for row in rows:
            value = row.get(dimension.field)
            if not isinstance(value, str) or not _SEGMENT.match(value):
                continue
            groups.setdefault(value, (row.get(dimension.name_field) or value, []))[1].append(row)
        out[dimension.key] = groups
    return out


# ---- Jinja filters (pure, so the templates stay simple) ----


def _parse(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment.astimezone(BEIJING) if moment.tzinfo else moment


# A time as ``publication.iso`` publishes it: Beijing time, to the second. Since 1992
# (China kept summer time from 1986 to 1991) +08:00 is Beijing's only offset.
_BEIJING_ISO = re.compile(
    r"(?:199[2-9]|2\d{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\+08:00",
    re.ASCII,
)


def _in_beijing(value: str) -> bool:
    """Published times are cut as text, not parsed (a case page shows about seven)."""
    return _BEIJING_ISO.fullmatch(value) is not None


def format_when(value: str | None) -> str:
    """ISO time → "2024-05-03 14:20" in Beijing time; "—" when absent."""
    if not value:
        return "—"
    if _in_beijing(value):
        return f"{value[:10]} {value[11:16]}"
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else str(value)


def format_day(value: str | None) -> str:
    if not value:
        return "—"
    if _in_beijing(value):
        return value[:10]
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


@lru_cache(maxsize=64)
def default_asset_url(path: str) -> str:
    """A theme file's fingerprinted URL, from this checkout's theme (the filter Pelican's
    editorial pages use; data pages use their ``SiteContext.assets``)."""
    static = PROJECT_ROOT / "themes" / "portal" / "static"
    source = static / path
    if source.suffix in FINGERPRINTED_SUFFIXES and source.is_file():
        return f"/theme/{fingerprinted_name(path, source.read_bytes())}"
    return f"/theme/{path}"


FILTERS: Mapping[str, Callable[..., str]] = {
    "asset": default_asset_url,
    "when": format_when,
    "day": format_day,
    "rate": format_rate,
    "score": format_score,
    "month": format_month,
    "tel": tel_href,
}


# ---- Small pure helpers ----


def month_status(metrics: Mapping[str, Any], month: str | None) -> Mapping[str, Any]:
    """A month's status in the metrics report (``final``, ``final_at``); empty when the
    report has none, which the pages read as not final (暂定)."""
    return metrics.get("month_status", {}).get(month or "", {})


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


def check_month(month: str) -> str:
    if not isinstance(month, str) or not _MONTH.match(month):
        raise ValueError(f"month {month!r} is not YYYY-MM")
    return month


def qr_svg(url: str, title: str) -> str:
    """An inline SVG QR code (error level M, scales with CSS: no width/height)."""
    return segno.make_qr(url, error="m").svg_inline(
        omitsize=True, title=title, svgclass="qr", lineclass=None, dark="#000", light="#fff"
    )


def qr_file(url: str) -> bytes:
    """The stand-alone SVG for printing posters at any size."""
    import io

    out = io.BytesIO()
    segno.make_qr(url, error="m").save(out, kind="svg", scale=10, border=4)
    return out.getvalue()


def report_url(site_url: str, grid_id: str) -> str:
    """The QR code's address: the grid's own report page, its grid chosen without a script."""
    return f"{site_url.rstrip('/')}/grids/{grid_id}/report/"


def report_page(theme: Theme, district: District, grid: Grid | None = None) -> bytes:
    """The complaint form (/report/), or a grid's copy with that grid chosen in the HTML."""
    grid_groups = [
        (community, [g for g in district.grids if g.community == community.id])
        for community in district.communities
    ]
    return theme.render(
        "report",
        nav="report",
        title=f"我要投诉：{grid.name}" if grid else "我要投诉",
        service_groups=_grouped(district.services, lambda s: s.group),
        grid_groups=[(c, grids) for c, grids in grid_groups if grids],
        preselected=grid,
    )


def _grouped(items: Iterable[Any], key: Callable[[Any], str]) -> list[tuple[str, list[Any]]]:
    """Group in order of first appearance (the reference data's own order)."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.items())


def is_open(record: Mapping[str, Any]) -> bool:
    return record.get("status") in OPEN_STATUSES


def is_overdue(record: Mapping[str, Any]) -> bool:
    deadlines = record.get("deadlines") or {}
    return is_open(record) and deadlines.get("met") is False


def newest_first(records: Iterable[Mapping[str, Any]]) -> list[Any]:
    # Published times all carry +08:00, so the ISO strings sort as times; the sort is
    # stable, so cases received in the same second keep their id order.
    return sorted(records, key=lambda r: r.get("received_at") or "", reverse=True)


def list_row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in LIST_FIELDS}


def page_count(rows: int) -> int:
    """Pages of a listing of ``rows`` rows, PAGE_SIZE a page (one page when empty)."""
    return max(1, -(-rows // PAGE_SIZE))


def month_pages(month: str, count: int) -> list[str]:
    """The keys of a month's listing pages: ``cases/<M>/``, then ``cases/<M>/2/`` …"""
    pages = page_count(count)
    return [month_page_key(month, n) for n in range(1, pages + 1)]


def month_page_key(month: str, number: int) -> str:
    return f"cases/{month}/index.html" if number == 1 else f"cases/{month}/{number}/index.html"


def month_page_url(month: str, number: int) -> str:
    return f"/cases/{month}/" if number == 1 else f"/cases/{month}/{number}/"


# ---- Settings and editorial page links, read without Pelican ----


def read_theme_settings(settings_file: Path) -> dict[str, Any]:
    """The values templates read from a Pelican settings file (plain Python)."""
    values = runpy.run_path(str(settings_file))
    return {name: values[name] for name in THEME_SETTINGS}


def editorial_links(content_dir: Path) -> tuple[tuple[str, str], ...]:
    """(url, title) of each editorial page, in Pelican's order (by file name)."""
    links = []
    for path in sorted((content_dir / "pages").glob("*.md")):
        meta: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                break
            name, _, value = line.partition(":")
            meta[name.strip().lower()] = value.strip()
        slug = meta.get("slug") or path.stem
        if meta.get("status", "published") == "published":
            links.append((f"{slug}/", meta.get("title", slug)))
    return tuple(links)


@dataclass(frozen=True)
class PageLink:
    url: str
    title: str


# The theme's files published under a fingerprinted name as well (docs/site.md, "Speed").
FINGERPRINTED_SUFFIXES = (".css", ".js")


def fingerprinted_name(path: str, data: bytes) -> str:
    """``css/portal.css`` → ``css/portal.<first hex digits of its SHA-256>.css``."""
    stem, dot, extension = path.rpartition(".")
    return f"{stem}.{hashlib.sha256(data).hexdigest()[:FINGERPRINT_HEX]}{dot}{extension}"


def theme_assets(theme_dir: Path, static_dir: str) -> tuple[tuple[str, str], ...]:
    """(path under static/, fingerprinted site key) of every CSS and JS file of the theme."""
    static = theme_dir / "static"
    out = []
    for path in sorted(static.rglob("*")):
        if path.is_file() and path.suffix in FINGERPRINTED_SUFFIXES:
            relative = path.relative_to(static).as_posix()
            key = f"{static_dir}/{fingerprinted_name(relative, path.read_bytes())}"
            out.append((relative, key))
    return tuple(out)


@dataclass(frozen=True)
class SiteContext:
    """What every page shares; plain data, so it crosses to worker processes."""

    theme_dir: str
    settings: tuple[tuple[str, Any], ...]  # THEME_SETTINGS plus API_BASE, DISTRICT_NAME
    pages: tuple[tuple[str, str], ...]  # editorial pages: (url, title)
    grid_ids: frozenset[str]
    site_url: str
    # (path under the theme's static/, fingerprinted key): pages link to the latter.
    assets: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """Changes whenever a template or a value every page shows changes."""
        digest = hashlib.sha256()
        for path in sorted((Path(self.theme_dir) / "templates").glob("*.html")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        shared = [self.settings, self.pages, sorted(self.grid_ids), self.site_url, self.assets]
        digest.update(json.dumps(shared, ensure_ascii=False, default=list).encode())
        return digest.hexdigest()[:16]


def site_context(
    district: District,
    *,
    project_root: Path | None = None,
    settings_file: Path | None = None,
    site_url: str = "",
    api_base: str = "/api",
) -> SiteContext:
    root = Path(project_root) if project_root else PROJECT_ROOT
    settings_path = Path(settings_file) if settings_file else root / "site" / "pelicanconf.py"
    if not settings_path.is_file():
        raise FileNotFoundError(
            f"no Pelican settings at {settings_path}; pass project_root (the repository root)"
        )
    settings = read_theme_settings(settings_path)
    settings["API_BASE"] = api_base.rstrip("/") or "/api"
    settings["DISTRICT_NAME"] = district.name
    for grid in district.grids:
        safe_segment(grid.id, "grid id")
    theme_dir = root / "themes" / "portal"
    return SiteContext(
        theme_dir=str(theme_dir),
        settings=tuple(sorted(settings.items())),
        pages=editorial_links(root / "content"),
        grid_ids=frozenset(g.id for g in district.grids),
        site_url=(site_url or runpy.run_path(str(settings_path)).get("SITEURL", "")).rstrip("/"),
        assets=theme_assets(theme_dir, settings["THEME_STATIC_DIR"]),
    )


def asset_files(context: SiteContext) -> Iterable[tuple[str, bytes]]:
    """The fingerprinted copies of the theme's CSS and JS, as (key, bytes)."""
    static = Path(context.theme_dir) / "static"
    for relative, key in context.assets:
        yield key, (static / relative).read_bytes()


def _attributes(record: Mapping[str, Any]) -> SimpleNamespace:
    """The record with attribute access: Jinja's ``case.x`` tries an attribute first and
    a key only after an AttributeError, which costs more than the rest of the lookup."""
    values = dict(record)
    values["timeline"] = [SimpleNamespace(**step) for step in record.get("timeline") or ()]
    deadlines = record.get("deadlines")
    values["deadlines"] = SimpleNamespace(**deadlines) if deadlines else deadlines
    return SimpleNamespace(**values)


@lru_cache(maxsize=8)
def _environment(
    theme_dir: str,
    settings: tuple[tuple[str, Any], ...],
    pages: tuple[tuple[str, str], ...],
    grid_ids: frozenset[str],
    definitions: tuple[tuple[str, str], ...],
    assets: tuple[tuple[str, str], ...] = (),
    templates_key: str = "",
) -> Environment:
    # As Pelican configures it (site/pelicanconf.py JINJA_ENVIRONMENT), autoescape forced
    # on: case text is typed by the public. Shared values are the environment's globals,
    # so that imported macros see them too. Templates are read once: Jinja would look at
    # the files of the base template and the macros again for every page (two stat
    # calls a page); a changed template changes ``templates_key`` (``SiteContext.key``),
    # so it gets an environment of its own rather than a stale one.
    env = Environment(
        loader=FileSystemLoader(str(Path(theme_dir) / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    names = dict(definitions)
    env.globals.update(dict(settings))
    fingerprinted = dict(assets)
    static_dir = dict(settings).get("THEME_STATIC_DIR", "theme")

    def asset(path: str) -> str:
        """The URL of a theme file: its fingerprinted name when it has one."""
        return "/" + fingerprinted.get(path, f"{static_dir}/{path}")

    env.filters["asset"] = asset
    env.globals.update(
        pages=[PageLink(url, title) for url, title in pages],
        grid_ids=grid_ids,
        definition_keys=frozenset(names),
        metric_columns=[
            MetricColumn(c.key, names.get(c.key, c.label), c.kind, c.headline)
            for c in METRIC_COLUMNS
        ],
        risk_labels=RISK_LABELS,
        fields=FORM_FIELDS,  # the residents' forms: labels and limits as the API has them
        lookup_lock_rule=LOOKUP_LOCK_RULE,  # as the API's own answer says it
    )
    return env


class SiteChrome:
    """The header and footer every page shares (``_header.html``, ``_footer.html``),
    rendered once per navigation entry rather than once per page: they depend only on
    the build's shared values. ``base.html`` includes the partials instead where there
    is none (Pelican's editorial pages)."""

    def __init__(self, env: Environment, shared: Mapping[str, Any]) -> None:
        self._env = env
        self._shared = shared
        self._headers: dict[str | None, Markup] = {}
        self._footers: dict[str, Markup] = {}

    def header(self, nav: str | None = None) -> Markup:
        found = self._headers.get(nav)
        if found is None:
            html = self._env.get_template("_header.html").render({**self._shared, "nav": nav})
            found = self._headers[nav] = Markup(html)
        return found

    def footer(self, build_label: str) -> Markup:
        """``build_label``: the page's own (a final month's page shows none)."""
        found = self._footers.get(build_label)
        if found is None:
            values = {**self._shared, "BUILD_TIME_LABEL": build_label}
            html = self._env.get_template("_footer.html").render(values)
            found = self._footers[build_label] = Markup(html)
        return found


class RowCache:
    """A listing row made once and shown again: a month's listings show each case five
    times (by month, grid, community, department and category) from the same row. Rows
    are known by identity, and kept, so that an id is not reused while the cache lives."""

    def __init__(self, render_row: Callable[[Mapping[str, Any]], Markup]) -> None:
        self._render_row = render_row
        self._made: dict[int, tuple[Mapping[str, Any], Markup]] = {}

    def __call__(self, row: Mapping[str, Any]) -> Markup:
        found = self._made.get(id(row))
        if found is None or found[0] is not row:
            found = self._made[id(row)] = (row, self._render_row(row))
        return found[1]


class Theme:
    """The theme's templates with the site's shared values; renders one page per call."""

    def __init__(
        self,
        context: SiteContext,
        definitions: Sequence[Mapping[str, Any]] = (),
        build_label: str = "",
    ) -> None:
        self.context = context
        self.definitions = tuple((d["key"], d["name"]) for d in definitions)
        self.build_label = build_label
        self._env = _environment(
            context.theme_dir,
            context.settings,
            context.pages,
            context.grid_ids,
            self.definitions,
            context.assets,
            context.key,
        )
        self._templates: dict[str, tuple[Template, dict[str, Any]]] = {}
        # Shard pages carry no build time: they change only when their cases do.
        self._chrome = SiteChrome(
            self._env, {**self._env.globals, "BUILD_TIME_LABEL": self.build_label}
        )

    def _template(self, name: str) -> tuple[Template, dict[str, Any]]:
        found = self._templates.get(name)
        if found is None:
            template = self._env.get_template(f"{name}.html")
            shared = {
                **template.globals,
                "BUILD_TIME_LABEL": self.build_label,
                "site_chrome": self._chrome,
            }
            found = self._templates[name] = (template, shared)
        return found

    def render(self, name: str, **values: Any) -> bytes:
        """What ``Template.render`` does, with the globals merged once per template
        rather than once per page (through a ChainMap, a tenth of a case page's time)."""
        template, shared = self._template(name)
        # No separate globals: they are merged into ``shared`` already, and otherwise each
        # ``{% import %}`` compares them with the imported template's (17 lookups a page).
        context = self._env.context_class(
            self._env, {**shared, **values}, template.name, template.blocks
        )
        try:
            html = self._env.concat(template.root_render_func(context))
        except Exception:
            self._env.handle_exception()
        return html.encode("utf-8")

    # ---- pages of a month shard ----

    def case_page(self, record: Mapping[str, Any]) -> bytes:
        return self.render(
            "case",
            nav="cases",
            title=f"{record['category_name']} {record['id']}",
            case=_attributes(record),
        )

    def row_cache(self) -> RowCache:
        """A row renderer for one month's listings (``listing_page(..., rows=)``)."""
        macros: Any = self._env.get_template("_macros.html").module
        return RowCache(macros.case_row)

    def listing_page(self, listing: Listing, rows: RowCache | None = None) -> bytes:
        """A listing page (a month's, or a month's by grid, community, department or
        category) from its ``Listing``: everything the page shows is in it. ``rows``
        makes each row once for all of a month's listings."""
        dimension, value, name = listing.dimension, listing.value, listing.name
        month, number, pages = listing.month, listing.number, listing.pages
        page_suffix = f"（第{number}页）" if number > 1 else ""
        if not dimension:
            return self.render(
                "case_month",
                nav="cases",
                title=f"{format_month(month)}办理记录" + page_suffix,
                month=month,
                cases=listing.rows,
                total=listing.total,
                page_number=number,
                page_count=pages,
                page_urls=[month_page_url(month, n) for n in range(1, pages + 1)],
                first_index=(number - 1) * PAGE_SIZE + 1,
                case_row=rows,
            )
        heading = f"{name}：{format_month(month)}办理记录"
        return self.render(
            "case_month",
            nav="cases",
            title=heading + page_suffix,
            heading=heading,
            scope={
                "label": _DIMENSION_LABELS[dimension],
                "name": name,
                "url": "/" + dimension_index_key(dimension, value).removesuffix("index.html"),
            },
            month=month,
            cases=listing.rows,
            total=listing.total,
            page_number=number,
            page_count=pages,
            page_urls=[dimension_page_url(dimension, value, month, n) for n in range(1, pages + 1)],
            first_index=(number - 1) * PAGE_SIZE + 1,
            case_row=rows,
        )


_DIMENSION_LABELS = {d.key: d.label for d in DIMENSIONS}


@dataclass(frozen=True)
class Listing:
    """One listing page: its key and all it shows. Two equal ``Listing`` values render
    the same bytes (with the same templates), so a shard renders a listing page again
    only when its ``Listing`` changed."""

    key: str
    month: str
    rows: tuple[Mapping[str, Any], ...]  # the page's rows (``list_row``), newest first
    total: int  # rows of the whole listing (every page)
    number: int
    pages: int
    dimension: str = ""  # "" for the month's own listing; else a ``Dimension.key``
    value: str = ""
    name: str = ""


def month_listing(
    month: str, rows: Sequence[Mapping[str, Any]], number: int, total: int
) -> Listing:
    return Listing(
        key=month_page_key(month, number),
        month=month,
        rows=tuple(rows),
        total=total,
        number=number,
        pages=page_count(total),
    )


def month_listings(month: str, rows: Sequence[Mapping[str, Any]]) -> Iterator[Listing]:
    """Every listing page of a month: its own (``cases/<M>/`` …), then by grid, community,
    department and category (分类浏览), PAGE_SIZE rows a page; ``rows`` newest first."""
    for start in range(0, max(len(rows), 1), PAGE_SIZE):
        yield month_listing(
            month, rows[start : start + PAGE_SIZE], start // PAGE_SIZE + 1, len(rows)
        )
    for dimension, groups in dimension_groups(rows).items():
        for value, (name, listed) in groups.items():
            total = len(listed)
            pages = page_count(total)
            for number in range(1, pages + 1):
                start = (number - 1) * PAGE_SIZE
                yield Listing(
                    key=dimension_page_key(dimension, value, month, number),
                    month=month,
                    rows=tuple(listed[start : start + PAGE_SIZE]),
                    total=total,
                    number=number,
                    pages=pages,
                    dimension=dimension,
                    value=value,
                    name=name,
                )


def dimension_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """dimension → value → [name, cases]: what a shard state keeps for the browse pages."""
    return {
        dimension: {value: [name, len(listed)] for value, (name, listed) in groups.items()}
        for dimension, groups in dimension_groups(rows).items()
    }


def build_label(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def site_pages(
    context: SiteContext,
    *,
    district: District,
    metrics: Mapping[str, Any],
    months: Sequence[tuple[str, int]],
    totals: Mapping[str, int],
    recent_by_grid: Mapping[str, Sequence[Mapping[str, Any]]],
    as_of: datetime,
    summaries: Sequence[Mapping[str, Any]] = (),
    posters: bool = False,
) -> Iterable[tuple[str, bytes]]:
    """Every site-wide page as (key, bytes): home, lists, grids, metrics, forms, search,
    the 404 page, the feeds, the browse pages and the fingerprinted assets.

    ``months`` are (month, case count) newest first; ``totals`` the cases, open and
    overdue counts; ``recent_by_grid`` each grid's newest listing rows; ``summaries``
    the month shards' states (their ``by`` counts make the browse pages); ``posters``
    whether the build makes the PDF posters the bulletins link to (``gridportal.posters``).
    """
    definitions = metrics.get("definitions") or [d.public() for d in DEFINITIONS]
    theme = Theme(context, definitions, build_label(as_of))
    yield from _feeds(theme, district, metrics, recent_by_grid)
    yield from _browse_pages(theme, district, summaries)
    metric_months = sorted(m for m in metrics.get("months", ()) if m in metrics.get("monthly", {}))
    for month in metric_months:
        check_month(month)
    headline_month, headline_partial = latest_complete_month(metric_months, as_of)
    monthly = metrics.get("monthly", {})
    headline_status = month_status(metrics, headline_month)
    yield (
        "index.html",
        theme.render(
            "home",
            nav="home",
            title="首页",
            headline=monthly[headline_month]["overall"] if headline_month else None,
            headline_month=headline_month,
            headline_partial=headline_partial,
            headline_final=bool(headline_status.get("final")),
            headline_final_at=headline_status.get("final_at"),
            headline_keys=HOME_FIGURES,
            totals=totals,
        ),
    )
    yield (
        "cases/index.html",
        theme.render("case_months", nav="cases", title="办理记录", months=list(months)),
    )
    yield from _grid_pages(theme, district, metrics, headline_month, recent_by_grid, posters)
    yield from _metric_pages(theme, metrics, metric_months, headline_month)
    yield "report/index.html", report_page(theme, district)
    yield "lookup/index.html", theme.render("lookup", nav="lookup", title="查询进度")
    yield (
        "vote/index.html",
        theme.render(
            "vote",
            nav="vote",
            title="满意度评价",
            ratings=[(str(r), label(r)) for r in Rating],
        ),
    )
    yield (
        "data/index.html",
        theme.render(
            "data",
            nav="data",
            title="开放数据",
            months=[m for m, _ in months],
            tables=opendata.TABLES,
            licence=opendata.LICENCE,
            snapshots=sorted(metrics.get("snapshots") or {}),  # final months with a snapshot
            snapshot_index=opendata.SNAPSHOT_INDEX,
        ),
    )
    yield (
        "lists/index.html",
        theme.render("lists", nav="lists", title="权责清单", **_lists(district)),
    )
    yield "search/index.html", theme.render("search", nav="search", title="搜索")
    yield "404.html", theme.render("404", nav=None, title="页面不存在")
    yield from asset_files(context)


def _feeds(
    theme: Theme,
    district: District,
    metrics: Mapping[str, Any],
    recent_by_grid: Mapping[str, Sequence[Mapping[str, Any]]],
) -> Iterable[tuple[str, bytes]]:
    rows = [row for grid_rows in recent_by_grid.values() for row in grid_rows]
    made = []
    for feed, data in site_feeds(
        grids=[(g.id, g.name) for g in district.grids],
        departments=[(d.id, d.name) for d in district.departments if _SEGMENT.match(d.id)],
        district_name=district.name,
        rows=rows,
        metrics=metrics,
        site_url=theme.context.site_url,
        author=str(dict(theme.context.settings).get("SITENAME", "")),
    ):
        made.append(feed)
        yield feed.key, data
    yield (
        "subscribe/index.html",
        theme.render(
            "feeds",
            nav=None,
            title="订阅更新",
            feeds=[("/" + f.key, f.title) for f in made],
            feed_list=made,
        ),
    )


def _browse_pages(
    theme: Theme, district: District, summaries: Sequence[Mapping[str, Any]]
) -> Iterable[tuple[str, bytes]]:
    """/cases/by/ and /cases/by/<dimension>/<value>/: each value's months with their counts,
    from the ``by`` counts of the month states (the month pages are the shards'). Every
    grid, community, department and category of the district has its page, records or not,
    so that a month page's link to it always resolves."""
    months: dict[str, dict[str, list[tuple[str, int]]]] = {d.key: {} for d in DIMENSIONS}
    names: dict[str, dict[str, str]] = {
        "grid": {g.id: g.name for g in district.grids},
        "community": {c.id: c.name for c in district.communities},
        "department": {d.id: d.name for d in district.departments},
        "category": {s.code: s.name for s in district.services},
    }
    for dimension_names in names.values():
        for value in [v for v in dimension_names if not _SEGMENT.match(v)]:
            del dimension_names[value]
    for summary in sorted(summaries, key=lambda s: s.get("month") or "", reverse=True):
        month = summary.get("month")
        for dimension, values in (summary.get("by") or {}).items():
            if dimension not in months or not month:
                continue
            for value, (name, count) in values.items():
                months[dimension].setdefault(value, []).append((month, count))
                names[dimension].setdefault(value, name)
    groups = []
    for dimension in DIMENSIONS:
        values = sorted(names[dimension.key].items(), key=lambda item: (item[1], item[0]))
        entries = [
            (value, name, sum(c for _, c in months[dimension.key].get(value, ())))
            for value, name in values
        ]
        groups.append((dimension, entries))
        for value, name in values:
            yield (
                dimension_index_key(dimension.key, value),
                theme.render(
                    "case_by",
                    nav="cases",
                    title=f"{name}的办理记录",
                    dimension=dimension,
                    value=value,
                    value_name=name,
                    months=[
                        (m, c, dimension_page_url(dimension.key, value, m, 1))
                        for m, c in months[dimension.key].get(value, ())
                    ],
                    feed=(
                        ("/" + grid_feed_key(value))
                        if dimension.key == "grid"
                        else ("/" + department_feed_key(value))
                        if dimension.key == "department"
                        else None
                    ),
                ),
            )
    yield (
        "cases/by/index.html",
        theme.render("case_by", nav="cases", title="分类浏览办理记录", groups=groups),
    )


def _grid_pages(
    theme: Theme,
    district: District,
    metrics: Mapping[str, Any],
    headline_month: str | None,
    recent_by_grid: Mapping[str, Sequence[Mapping[str, Any]]],
    posters: bool = False,
) -> Iterable[tuple[str, bytes]]:
    risk = {item["grid"]: item for item in metrics.get("risk_map", ())}
    grid_rows = {row["id"]: row for row in metrics.get("by_grid", ())}
    monthly = metrics.get("monthly", {}).get(headline_month or "", {})
    month_rows = {row["id"]: row for row in monthly.get("by_grid", ())}
    final = month_status(metrics, headline_month).get("final")
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
    yield (
        "grids/index.html",
        theme.render(
            "grids",
            nav="grids",
            title="网格公示",
            stations=stations,
            risk_by_grid=risk,
            posters=posters,
        ),
    )
    role_order = {role: i for i, role in enumerate(TeamRole)}
    site_url = theme.context.site_url
    for grid in district.grids:
        community = district.community(grid.community)
        station = district.station(community.station) if community else None
        url = report_url(site_url, grid.id)
        rows = []
        if grid.id in month_rows and headline_month:
            name = format_month(headline_month) + ("" if final else "（暂定）")
            rows.append({**month_rows[grid.id], "name": name})
        if grid.id in grid_rows:
            rows.append({**grid_rows[grid.id], "name": "全部时段"})
        yield f"grids/{grid.id}/qr.svg", qr_file(url)
        yield f"grids/{grid.id}/report/index.html", report_page(theme, district, grid)
        yield (
            f"grids/{grid.id}/index.html",
            theme.render(
                "grid",
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
                qr_svg=Markup(qr_svg(url, f"扫码反映问题：{grid.name}")),
                risk=risk.get(grid.id),
                metric_rows=rows,
                headline_keys=HOME_FIGURES,
                recent=list(recent_by_grid.get(grid.id, ()))[:RECENT_CASES_PER_GRID],
                feeds=[("/" + grid_feed_key(grid.id), f"{grid.name}：动态")],
                poster=posters,
            ),
        )


METRIC_VIEWS = (
    # (row list, title, link pattern of a row's own page, shown as cards)
    ("by_department", "按承办部门", None, True),
    ("by_grid", "按网格", "/grids/{}/", True),
    ("by_community", "按社区", None, True),
    ("by_category", "按事项类别", None, False),
)


def _metric_views(period: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each view of a period's rows: ranked by score (ties share a rank), then the rows
    without a score (too few cases to rate), by cases."""
    views = []
    for key, title, link, cards in METRIC_VIEWS:
        rows = list(period.get(key, ()))
        unscored = sorted(
            (r for r in rows if r["score"] is None and r["cases"]), key=lambda r: -r["cases"]
        )
        views.append(
            {
                "key": key,
                "title": title,
                "link": link,
                "cards": cards,
                "rows": ranked(rows) + unscored,
            }
        )
    return views


def _metric_pages(
    theme: Theme,
    metrics: Mapping[str, Any],
    metric_months: Sequence[str],
    latest: str | None,
) -> Iterable[tuple[str, bytes]]:
    """/metrics/ (the ranking month: lists, cards, warnings), /metrics/all/ (the whole
    period), /metrics/<M>/ (each month), /metrics/tables/ (the full tables, for wide
    screens) and /metrics/def/ (every definition, the score, rounding)."""
    monthly = metrics.get("monthly", {})
    status = metrics.get("month_status", {})
    shown = metrics.get("ranking_month") or latest
    common = {
        "nav": "metrics",
        "metric_months": metric_months,
        "month_status": status,
        "definitions": metrics.get("definitions", ()),
        "methodology": metrics.get("methodology", {}),
        "period": metrics.get("period", {}),
        "generated_at": metrics.get("generated_at"),
        "category_names": {r["id"]: r["name"] for r in metrics.get("by_category", ())},
        "warning_labels": WARNING_LABELS,
        "calendar": metrics.get("calendar") or {},
        # /metrics/ shows the month the lists rank: the last final one, when there is one.
        "ranking_final": metrics.get("ranking_final", False),
    }
    entry = monthly.get(shown, {}) if shown else {}
    yield (
        "metrics/index.html",
        theme.render(
            "metrics",
            title="数据指标",
            page="index",
            month=shown,
            overall=entry.get("overall"),
            views=_metric_views(entry),
            red_list=metrics.get("red_list", ()),
            black_list=metrics.get("black_list", ()),
            ranking_month=metrics.get("ranking_month"),
            newer_months=[m for m in metric_months if shown and m > shown],
            warnings=metrics.get("warnings", ()),
            risk_map=metrics.get("risk_map", ()),
            vote_flags=metrics.get("vote_flags", ()),
            **common,
        ),
    )
    yield (
        "metrics/all/index.html",
        theme.render(
            "metrics",
            title="全部时段指标",
            page="all",
            month=None,
            overall=metrics.get("overall"),
            views=_metric_views(metrics),
            trend=[(m, monthly[m]["overall"]) for m in metric_months],
            **common,
        ),
    )
    for month in metric_months:
        # A final month's figures no longer move (定稿): its page carries no time of
        # tonight and no calendar warning, so a night does not send it again unless its
        # numbers or the list of months changed.
        frozen: dict[str, Any] = (
            {"generated_at": None, "calendar": {}, "BUILD_TIME_LABEL": ""}
            if status.get(month, {}).get("final")
            else {}
        )
        yield (
            f"metrics/{month}/index.html",
            theme.render(
                "metrics",
                title=f"{format_month(month)}指标",
                page="month",
                month=month,
                overall=monthly[month].get("overall"),
                views=_metric_views(monthly[month]),
                **{**common, **frozen},
            ),
        )
    tables = [(f"{format_month(shown)}", entry)] if shown else []
    tables.append(("全部时段", metrics))
    yield (
        "metrics/tables/index.html",
        theme.render(
            "metrics_tables",
            title="指标完整表格",
            tables=[
                (label, title, period.get(key, ()), link)
                for label, period in tables
                for key, title, link, _ in METRIC_VIEWS
            ],
            **common,
        ),
    )
    yield (
        "metrics/def/index.html",
        theme.render("metrics_methodology", title="指标定义与计算方法", **common),
    )


def _lists(district: District) -> dict[str, Any]:
    services: Sequence[ServiceItem] = district.services
    return {
        "lists": [(key, LIST_TITLES.get(key, key), items) for key, items in district.lists.items()],
        "service_groups": _grouped(services, lambda s: s.group),
        "service_count": len(services),
        "departments": district.departments,
        "department_names": {d.id: d.name for d in district.departments},
        "priority_labels": {str(p): label(p) for p in Priority},
        "difficulty_labels": DIFFICULTY_LABELS,
        "department_kinds": DEPARTMENT_KINDS,
    }
