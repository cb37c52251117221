"""Lighthouse (mobile) over the pages residents use, printed as one table (issue 10).

    python benchmarks/lighthouse.py                       # the demo on http://127.0.0.1:8000
    python benchmarks/lighthouse.py --base http://127.0.0.1:8100 --site-dir var/demo/site
    python benchmarks/lighthouse.py --check               # exit 1 when a page misses a target

Pages: home, a grid bulletin, a case record, the metrics page, the report form and the
lookup. The bulletin and the record are the first ones linked from /grids/ and from the
newest month of /cases/, unless given with ``--bulletin`` / ``--record``. Each page is run
``--runs`` times (the median performance score is kept) with Lighthouse's default mobile
settings: a Moto G Power screen, simulated slow 4G and a 4x slower CPU.

Targets: performance >= 0.95, accessibility 1.0, best practices 1.0; a record or a bulletin
under 30 KB transferred (the page and what it loads); the metrics page under 60 KB and
under 1,500 DOM elements. ``--site-dir`` also checks every record and every bulletin of a
built site directory: its compressed page (the Brotli sibling the origin serves) plus the
compressed stylesheet.

Lighthouse is an optional tool, not a dependency of the project: it needs Node.js and the
``lighthouse`` package (``npm install lighthouse`` in any scratch directory, then pass
``--lighthouse <dir>/node_modules/.bin/lighthouse``, or have ``lighthouse`` on PATH), and a
Chromium (``CHROME_PATH``; Debian's /usr/bin/chromium is found by itself).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

TARGETS = {"performance": 0.95, "accessibility": 1.0, "best-practices": 1.0}
PAGE_BUDGET = 30_000  # bytes transferred for a record or a bulletin
METRICS_BUDGET = 60_000  # bytes transferred for /metrics/
METRICS_DOM = 1_500  # DOM elements of /metrics/
CHROME_FLAGS = "--headless=new --no-sandbox"
CHROMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass(frozen=True)
class Result:
    name: str
    path: str
    scores: dict[str, float]
    transferred: int  # bytes, Lighthouse's total-byte-weight
    dom: int  # elements
    lcp_ms: float
    tbt_ms: float
    cls: float

    def misses(self) -> list[str]:
        missed = [f"{k} {self.scores[k]:.2f}" for k, v in TARGETS.items() if self.scores[k] < v]
        if self.name in ("bulletin", "record") and self.transferred >= PAGE_BUDGET:
            missed.append(f"{self.transferred} bytes")
        if self.name == "metrics":
            if self.transferred >= METRICS_BUDGET:
                missed.append(f"{self.transferred} bytes")
            if self.dom >= METRICS_DOM:
                missed.append(f"{self.dom} DOM elements")
        return missed


def find_lighthouse(given: str | None) -> list[str]:
    if not shutil.which("node"):
        sys.exit("Node.js is needed for Lighthouse (an optional tool): install node and npm.")
    found = given or shutil.which("lighthouse")
    if not found or not Path(found).exists():
        sys.exit(
            "Lighthouse not found: `npm install lighthouse` in a scratch directory and pass "
            "--lighthouse <dir>/node_modules/.bin/lighthouse"
        )
    return [found]


def chrome_env() -> dict[str, str]:
    env = dict(os.environ)
    if "CHROME_PATH" not in env:
        chrome = next((found for name in CHROMES if (found := shutil.which(name))), None)
        if chrome is None:
            sys.exit("No Chromium found: set CHROME_PATH.")
        env["CHROME_PATH"] = chrome
    return env


def first_link(base: str, path: str, pattern: str) -> str:
    with urllib.request.urlopen(base + path, timeout=30) as answer:
        page = answer.read().decode("utf-8")
    match = re.search(pattern, page)
    if match is None:
        sys.exit(f"no link matching {pattern} on {path}")
    return match.group(0)


def pages(base: str, bulletin: str | None, record: str | None) -> dict[str, str]:
    if bulletin is None:
        bulletin = first_link(base, "/grids/", r"/grids/[A-Za-z0-9-]+/(?=\")")
    if record is None:
        month = first_link(base, "/cases/", r"/cases/\d{4}-\d{2}/(?=\")")
        record = first_link(base, month, r"/cases/[a-z0-9]{8,}/(?=\")")
    return {
        "home": "/",
        "bulletin": bulletin,
        "record": record,
        "metrics": "/metrics/",
        "report": "/report/",
        "lookup": "/lookup/",
    }


def lighthouse(command: list[str], url: str, env: dict[str, str]) -> dict[str, object]:
    run = subprocess.run(
        [
            *command,
            url,
            "--quiet",
            f"--chrome-flags={CHROME_FLAGS}",
            "--only-categories=performance,accessibility,best-practices",
            "--output=json",
            "--output-path=stdout",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if run.returncode:
        sys.exit(f"lighthouse failed on {url}:\n{run.stderr[-2000:]}")
    report: dict[str, object] = json.loads(run.stdout)
    return report


def measure(command: list[str], base: str, name: str, path: str, runs: int) -> Result:
    env = chrome_env()
    reports = [lighthouse(command, base + path, env) for _ in range(runs)]
    by_performance = sorted(reports, key=lambda r: r["categories"]["performance"]["score"])  # type: ignore[index]
    report = by_performance[len(by_performance) // 2]
    categories: dict[str, dict[str, float]] = report["categories"]  # type: ignore[assignment]
    audits: dict[str, dict[str, float]] = report["audits"]  # type: ignore[assignment]
    return Result(
        name=name,
        path=path,
        scores={key: categories[key]["score"] for key in TARGETS},
        transferred=int(audits["total-byte-weight"]["numericValue"]),
        dom=int(audits["dom-size"]["numericValue"]),
        lcp_ms=audits["largest-contentful-paint"]["numericValue"],
        tbt_ms=audits["total-blocking-time"]["numericValue"],
        cls=audits["cumulative-layout-shift"]["numericValue"],
    )


def compressed(path: Path) -> int:
    for suffix in (".br", ".gz"):
        sibling = path.with_name(path.name + suffix)
        if sibling.is_file():
            return sibling.stat().st_size
    return path.stat().st_size


def site_weights(site_dir: Path) -> dict[str, tuple[int, int, str]]:
    """Count, largest compressed size and its page, for records and bulletins of a site."""
    home = (site_dir / "index.html").read_text(encoding="utf-8")
    stylesheet = re.search(r'<link rel="stylesheet" href="/([^"]+)"', home)
    css_bytes = compressed(site_dir / stylesheet.group(1)) if stylesheet else 0
    found = {}
    # A case page is stored as cases/<id>.html (directory_site.stored_name), beside the
    # months' first pages, the browse index and the index of months.
    pages = {
        "records": [(p, p.stem) for p in site_dir.glob("cases/*.html")],
        "bulletins": [(p, p.parent.name) for p in site_dir.glob("grids/*/index.html")],
    }
    for kind, found_pages in pages.items():
        sizes = [
            (compressed(page) + css_bytes, name)
            for page, name in found_pages
            if not re.fullmatch(r"\d{4}-\d{2}|by|index", name)
        ]
        largest = max(sizes, default=(0, ""))
        found[kind] = (len(sizes), *largest)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000", help="the site's origin")
    parser.add_argument("--lighthouse", help="the lighthouse executable (default: on PATH)")
    parser.add_argument("--runs", type=int, default=1, help="runs per page (median kept)")
    parser.add_argument("--bulletin", help="a bulletin's path, e.g. /grids/QB-LCJX-01/")
    parser.add_argument("--record", help="a case record's path, e.g. /cases/<id>/")
    parser.add_argument("--site-dir", type=Path, help="also weigh every record and bulletin")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    command = find_lighthouse(args.lighthouse)
    base = args.base.rstrip("/")
    version = subprocess.run([*command, "--version"], capture_output=True, text=True).stdout
    print(f"Lighthouse {version.strip()} (mobile), {base}, {datetime.now(UTC):%Y-%m-%d}\n")
    print(
        "| page | path | performance | accessibility | best practices "
        "| transferred | DOM elements | LCP | TBT | CLS |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    missed: list[str] = []
    for name, path in pages(base, args.bulletin, args.record).items():
        r = measure(command, base, name, path, args.runs)
        s = r.scores
        print(
            f"| {name} | `{path}` | {s['performance']:.2f} | {s['accessibility']:.2f} "
            f"| {s['best-practices']:.2f} | {r.transferred / 1000:.1f} KB | {r.dom} "
            f"| {r.lcp_ms / 1000:.1f} s | {r.tbt_ms:.0f} ms | {r.cls:.3f} |",
            flush=True,
        )
        missed += [f"{name}: {m}" for m in r.misses()]
    if args.site_dir:
        print()
        for kind, (count, largest, page) in site_weights(args.site_dir).items():
            print(
                f"{count} {kind}: the largest {largest / 1000:.1f} KB compressed with the "
                f"stylesheet ({page})"
            )
            if largest >= PAGE_BUDGET:
                missed.append(f"{kind}: {page} {largest} bytes")
    if missed:
        print("\nBelow target: " + "; ".join(missed))
        if args.check:
            sys.exit(1)


if __name__ == "__main__":
    main()
