"""The public site (公开网站): Pelican for the editorial pages, the theme for the rest.

Pelican's page pipeline turns the editorial Markdown in ``content/pages`` into pages
and copies the theme's assets (``build_editorial``). Every other page (home, cases,
grids, metrics, the forms, the lists) is rendered from data with the theme's Jinja2
templates directly (``adapters.theme``, ``gridportal.shards``): no Pelican writer and
no content object per case.

Pelican keeps per-build caches on its classes, so a long-running process (the demo
server, a warm Lambda) must not run it again and again: the nightly build runs
``python -m gridportal.adapters.pelican_site`` in a short-lived subprocess, and only
when an editorial page, the theme or the settings changed.

``build_site`` renders a whole site from records and a metrics report in one call
(tests, previews); the nightly build goes through ``gridportal.publish``.

URLs (all root-relative, each page is ``<path>/index.html``)::

    /                        home: headline figures, big buttons
    /report/ /lookup/ /vote/ the three forms that talk to the API
    /cases/                  months; /cases/<YYYY-MM>/ a month (/cases/<YYYY-MM>/2/ …);
                             /cases/<id>/ one record
    /grids/                  stations → communities → grids; /grids/<grid>/ the bulletin
    /metrics/                rankings, red/black lists, warnings; /metrics/<YYYY-MM>/
    /lists/ /data/           the district's lists; the open data downloads
    /<slug>/                 editorial pages (about, guide, privacy)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gridportal.adapters.theme import (
    FILTERS,
    PROJECT_ROOT,
    format_day,
    format_month,
    format_rate,
    format_score,
    format_when,
    latest_complete_month,
    qr_svg,
    report_url,
    safe_segment,
    site_context,
    site_pages,
    tel_href,
)
from gridportal.domain.reference import District

# Settings the portal adds to Pelican's at build time (docs/site.md lists them all).
BUILD_SETTINGS = ("API_BASE", "DISTRICT_NAME", "BUILD_TIME_LABEL")

__all__ = [
    "BUILD_SETTINGS",
    "PROJECT_ROOT",
    "BuildResult",
    "build_editorial",
    "build_site",
    "format_day",
    "format_month",
    "format_rate",
    "format_score",
    "format_when",
    "latest_complete_month",
    "qr_svg",
    "report_url",
    "safe_segment",
    "tel_href",
]


@dataclass(frozen=True)
class BuildResult:
    output_dir: Path
    written: tuple[Path, ...]  # every file this build wrote or copied, absolute
    seconds: float  # the whole build
    case_pages: int  # case record pages rendered
    case_seconds: float  # time spent rendering those pages

    @property
    def case_pages_per_second(self) -> float | None:
        return self.case_pages / self.case_seconds if self.case_seconds > 0 else None

    def relative(self) -> list[str]:
        """Written files as POSIX paths relative to the output directory (object keys)."""
        return [p.relative_to(self.output_dir).as_posix() for p in self.written]


def build_editorial(
    *,
    output_dir: Path,
    project_root: Path | None = None,
    settings_file: Path | None = None,
    api_base: str = "/api",
    district_name: str = "",
) -> list[Path]:
    """Run Pelican for the editorial pages and theme assets; returns the files written.

    Call it in a short-lived process (see the module doc). No build time is shown on
    these pages: they change only when their text does.
    """
    from pelican import Pelican
    from pelican.log import console as pelican_console
    from pelican.settings import read_settings

    root = Path(project_root) if project_root else PROJECT_ROOT
    settings_path = Path(settings_file) if settings_file else root / "site" / "pelicanconf.py"
    output_dir = Path(output_dir).resolve()
    override: dict[str, Any] = {
        "PATH": str(root / "content"),
        "THEME": str(root / "themes" / "portal"),
        "OUTPUT_PATH": str(output_dir),
        "DELETE_OUTPUT_DIRECTORY": False,
        "JINJA_FILTERS": dict(FILTERS),
        "API_BASE": api_base.rstrip("/") or "/api",
        "DISTRICT_NAME": district_name,
        "BUILD_TIME_LABEL": "",
    }
    settings = read_settings(str(settings_path), override=override)
    settings["JINJA_ENVIRONMENT"] = {**settings["JINJA_ENVIRONMENT"], "autoescape": True}
    # Pelican prints a summary line to stdout; callers that print JSON must not get it.
    quiet, pelican_console.quiet = pelican_console.quiet, True
    try:
        Pelican(settings).run()
    finally:
        pelican_console.quiet = quiet
    return sorted(p for p in output_dir.rglob("*") if p.is_file())


def build_site(
    *,
    output_dir: Path,
    records: Sequence[Mapping[str, Any]],
    district: District,
    metrics: Mapping[str, Any],
    site_url: str = "",
    api_base: str = "/api",
    build_time: datetime,
    project_root: Path | None = None,
    settings_file: Path | None = None,
) -> BuildResult:
    """Render the whole public site into ``output_dir`` from records and a metrics report.

    The same shards and site-wide pages as the nightly build, in one process; the
    editorial pages run through Pelican in this process. ``site_url`` (absolute, no
    trailing slash) goes into the grid QR codes; when empty, the settings file's
    ``SITEURL`` is used. ``project_root`` is the repository root holding ``site/``,
    ``themes/portal/`` and ``content/``; it defaults to this checkout.
    """
    from gridportal.shards import ShardJob, build_shard, month_counts, month_state_key

    if build_time.tzinfo is None:
        raise ValueError("build_time must be timezone-aware")
    started = time.perf_counter()
    context = site_context(
        district,
        project_root=project_root,
        settings_file=settings_file,
        site_url=site_url,
        api_base=api_base,
    )
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    by_month: dict[str, list[Any]] = defaultdict(list)
    ids: set[str] = set()
    for record in records:
        safe_segment(record["id"], "case id")
        if record["id"] in ids:
            raise ValueError(f"duplicate case id {record['id']!r}")
        ids.add(record["id"])
        by_month[record["month"]].append(record)
    states = []
    case_pages, case_seconds = 0, 0.0
    for month in sorted(by_month):
        result = build_shard(
            ShardJob(
                month=month,
                context=context,
                out_dir=str(output_dir),
                fresh=tuple(by_month[month]),
                render_all=True,
            )
        )
        (output_dir / month_state_key(month)).unlink(missing_ok=True)
        states.append(result.state)
        case_pages += result.case_pages
        case_seconds += result.render_seconds
    written = [output_dir / key for s in states for key in s["manifest"]]
    recent: dict[str, list[Any]] = {}
    for state in states:
        for grid, rows in state["recent"].items():
            recent[grid] = (list(rows) + recent.get(grid, []))[:10]
    for key, data in site_pages(
        context,
        district=district,
        metrics=metrics,
        months=month_counts(states),
        totals={k: sum(s[k] for s in states) for k in ("cases", "open", "overdue")},
        recent_by_grid=recent,
        as_of=build_time,
    ):
        path = output_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    root = Path(project_root) if project_root else PROJECT_ROOT
    written += build_editorial(
        output_dir=output_dir,
        project_root=root,
        settings_file=settings_file,
        api_base=api_base,
        district_name=district.name,
    )
    return BuildResult(
        output_dir=output_dir,
        written=tuple(sorted(set(written))),
        seconds=time.perf_counter() - started,
        case_pages=case_pages,
        case_seconds=case_seconds,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m gridportal.adapters.pelican_site``: the editorial pages, in a subprocess."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--project-root", type=Path, default=PROJECT_ROOT)
    parser.add_argument("--output", type=Path, default=Path(tempfile.gettempdir()) / "editorial")
    parser.add_argument("--api-base", default="/api")
    parser.add_argument("--district-name", default="")
    args = parser.parse_args(argv)
    build_editorial(
        output_dir=args.output,
        project_root=args.project_root,
        api_base=args.api_base,
        district_name=args.district_name,
    )


if __name__ == "__main__":
    main()
