"""Recomputable by construction: every published rate of a demo build, recomputed from the
site's own open data and its published methodology, with no code of the portal's metrics.

The demo is built in a child process (as ``make demo``'s first start does, on fewer
months), and this module imports nothing from ``gridportal``: what it knows of the rules is what
a journalist can read on the site (the methodology in ``metrics.json`` and on
``/metrics/def/``, the column dictionary) and the definitions in docs/metrics.md.
"""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPEN = {"received", "assessed", "dispatched", "in_progress", "awaiting_decision"}
DIMENSIONS = {
    "by_department": "agency",
    "by_grid": "grid",
    "by_community": "community",
    "by_category": "service_code",
}
RATES = (
    "hard_share",
    "response_rate",
    "resolution_rate",
    "satisfaction_rate",
    "on_time_rate",
    "overdue_rate",
    "reopen_rate",
)
# The labels the metrics page puts before each rate (see /metrics/def/ for each one).
PAGE_LABELS = {
    "响应率": "response_rate",
    "解决率": "resolution_rate",
    "满意率": "satisfaction_rate",
    "按期办结率": "on_time_rate",
    "超期未办结率": "overdue_rate",
    "重办率": "reopen_rate",
    "疑难": "hard_share",
}


# The demo's first start, on three months of cases instead of six (the suite stays fast):
# generated through the real use cases, then the nightly build, as ``make demo`` does.
BUILD = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from gridportal.demo import copy_cases, generate_in_memory
from gridportal.publish import publish_from_runtime
from gridportal.runtime import runtime
rt = runtime()
scratch, _ = generate_in_memory(rt.portal, end=datetime.now(UTC), days=92)
copy_cases(scratch.store, rt.store)
publish_from_runtime(rt, full=True, work_dir=Path(sys.argv[1]) / "build")
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "GRIDPORTAL_STORE": f"sqlite:{root / 'portal.db'}",
        "GRIDPORTAL_SITE_DIR": str(root / "site"),
        "GRIDPORTAL_SECRET": "recompute-test-secret",
        "GRIDPORTAL_CONTENT": str(ROOT / "content"),
    }
    subprocess.run([sys.executable, "-c", BUILD, str(root)], env=env, check=True, timeout=900)
    return root / "site"


def test_this_module_imports_no_portal_code() -> None:
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    imported = [
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    ]
    assert not [name for name in imported if name.startswith("gridportal")]


# --- What the open data says ---------------------------------------------------------


def read_cases(site: Path) -> list[dict[str, str]]:
    text = gzip.decompress((site / "data" / "cases.csv.gz").read_bytes()).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def half_up(value: Fraction, places: int) -> float:
    """四舍五入 once, as the methodology says."""
    return float(Fraction(int(value * 10**places + Fraction(1, 2)), 10**places))


def counters(rows: Iterable[Mapping[str, str]]) -> dict[str, int]:
    """The counters of docs/metrics.md, from CSV rows (merged cases already left out)."""
    c: dict[str, int] = defaultdict(int)
    for r in rows:
        answered = r["outcome"] == "answered"
        done = r["outcome"] in ("resolved", "answered")
        overdue_open = r["status"] in OPEN and r["met"] == "false"
        judged = bool(r["outcome"]) and bool(r["met"])
        rating = r["counted_rating"]
        c["cases"] += 1
        c["hard_cases"] += r["difficulty"] == "hard"
        c["response_due"] += bool(r["contact_met"]) or answered
        c["responded_on_time"] += r["contact_met"] == "true" or answered
        c["resolution_base"] += done or overdue_open
        c["resolved"] += done and rating != "unsatisfied"
        c["rated"] += bool(rating)
        c["satisfied"] += rating == "satisfied"
        c["basically_satisfied"] += rating == "basically_satisfied"
        c["closed_on_time"] += judged and r["met"] == "true"
        c["on_time_base"] += judged or overdue_open
        c["overdue_open"] += overdue_open
        c["ever_closed"] += bool(r["outcome"]) or int(r["reopen_count"]) > 0
        c["reopened"] += int(r["reopen_count"]) > 0
    return c


def fractions(c: Mapping[str, int], basic_tenths: int) -> dict[str, tuple[int, int]]:
    return {
        "hard_share": (c["hard_cases"], c["cases"]),
        "response_rate": (c["responded_on_time"], c["response_due"]),
        "resolution_rate": (c["resolved"], c["resolution_base"]),
        "satisfaction_rate": (
            10 * c["satisfied"] + basic_tenths * c["basically_satisfied"],
            10 * c["rated"],
        ),
        "on_time_rate": (c["closed_on_time"], c["on_time_base"]),
        "overdue_rate": (c["overdue_open"], c["on_time_base"]),
        "reopen_rate": (c["reopened"], c["ever_closed"]),
    }


def figures(rows: Sequence[Mapping[str, str]], method: Mapping[str, Any]) -> dict[str, Any]:
    basic_tenths = int(Fraction(method["basic_satisfied"]) * 10)
    parts = fractions(counters(rows), basic_tenths)
    exact = {k: Fraction(n, d) if d else None for k, (n, d) in parts.items()}
    out: dict[str, Any] = {
        k: None if v is None else half_up(v, method["rate_places"]) for k, v in exact.items()
    }
    out["fractions"] = {k: list(v) for k, v in parts.items()}
    out["cases"] = len(rows)
    terms = method["score_terms"]
    rates = [(t, exact[t["rate"]]) for t in terms]
    score = Fraction(0)
    for term, rate in rates:
        if rate is None:
            break
        score += term["weight"] * (rate if term["better"] == "higher" else 1 - rate)
    else:
        out["score"] = half_up(score, method["score_places"])
    out.setdefault("score", None)
    return out


def recompute(cases: list[dict[str, str]], method: Mapping[str, Any]) -> dict[tuple[str, ...], Any]:
    """Figures by (period, dimension, id): the period is "all" or a month of receipt."""
    groups: dict[tuple[str, ...], list[dict[str, str]]] = defaultdict(list)
    for r in cases:
        if r["status"] == "merged":
            continue
        for period in ("all", r["requested_datetime"][:7]):
            groups[period, "overall", "all"].append(r)
            for dim, column in DIMENSIONS.items():
                if r[column]:
                    groups[period, dim, r[column]].append(r)
    return {key: figures(rows, method) for key, rows in groups.items()}


def published_rows(report: Mapping[str, Any]) -> Iterable[tuple[tuple[str, ...], Any]]:
    periods = [("all", report), *sorted(report["monthly"].items())]
    for period, entry in periods:
        yield (period, "overall", "all"), entry["overall"]
        for dim in DIMENSIONS:
            for row in entry[dim]:
                yield (period, dim, row["id"]), row


# --- The checks ----------------------------------------------------------------------


def test_every_published_rate_recomputes_from_the_open_data(site: Path) -> None:
    report = json.loads((site / "data" / "metrics.json").read_text(encoding="utf-8"))
    method = report["methodology"]
    assert method["rounding"] == "half_up"
    mine = recompute(read_cases(site), method)
    checked, differences = 0, []
    for key, row in published_rows(report):
        expected = mine.get(key)
        for name in (*RATES, "score"):
            want = expected[name] if expected else None
            checked += 1
            if row[name] != want:
                differences.append((key, name, row[name], want))
        if expected:
            checked += 1
            if row["fractions"] != expected["fractions"] or row["cases"] != expected["cases"]:
                differences.append((key, "fractions", row["fractions"], expected["fractions"]))
    assert differences == []
    assert checked > 2_000
    red = {r["id"] for r in report["red_list"]}
    assert red and not red & {r["id"] for r in report["black_list"]}


def test_the_metrics_table_says_the_same(site: Path) -> None:
    report = json.loads((site / "data" / "metrics.json").read_text(encoding="utf-8"))
    mine = recompute(read_cases(site), report["methodology"])
    text = (site / "data" / "metrics.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows
    for row in rows:
        expected = mine.get((row["period"], row["dimension"], row["id"]))
        want = expected[row["metric"]] if expected else None
        assert (float(row["value"]) if row["value"] else None) == want, row
        if row["metric"] != "score" and expected:
            pair = expected["fractions"][row["metric"]]
            assert [int(row["numerator"]), int(row["denominator"])] == pair, row


def test_the_metrics_page_shows_the_recomputed_numbers(site: Path) -> None:
    report = json.loads((site / "data" / "metrics.json").read_text(encoding="utf-8"))
    mine = recompute(read_cases(site), report["methodology"])
    month = report["ranking_month"]
    page = (site / "metrics" / "index.html").read_text(encoding="utf-8")
    cards = re.findall(r'<li id="u-(by_\w+?)-([^"]+)">(.*?)</li>', page, re.S)
    assert len(cards) > 20
    seen = 0
    for dim, unit, body in cards:
        expected = mine[month, dim, unit]
        score = re.search(r">综合得分 ([\d.]+|—)<", body)
        assert score is not None
        shown = None if score[1] == "—" else float(score[1])
        assert shown == expected["score"], (dim, unit)
        for label, value, numerator, denominator in re.findall(
            r">(\S+?) ([\d.]+)%（([\d.]+)/([\d.]+)）<", body
        ):
            key = PAGE_LABELS[label]
            assert value == f"{float(Fraction(str(expected[key])) * 100):.1f}", (dim, unit, key)
            n, d = expected["fractions"][key]
            scale = 10 if key == "satisfaction_rate" else 1
            assert (Fraction(numerator), Fraction(denominator)) == (
                Fraction(n, scale),
                Fraction(d, scale),
            )
            seen += 1
    assert seen > 200


def test_the_methodology_page_states_the_score_used(site: Path) -> None:
    report = json.loads((site / "data" / "metrics.json").read_text(encoding="utf-8"))
    names = {d["key"]: d["name"] for d in report["definitions"]}
    page = (site / "metrics" / "def" / "index.html").read_text(encoding="utf-8")
    for term in report["methodology"]["score_terms"]:
        assert f"{names[term['rate']]}</a></td><td>{term['weight']}</td>" in page
    assert sum(t["weight"] for t in report["methodology"]["score_terms"]) == 100
    assert "四舍五入" in page


def test_every_file_the_package_names_is_published_with_its_as_of(site: Path) -> None:
    package = json.loads((site / "data" / "datapackage.json").read_text(encoding="utf-8"))
    report = json.loads((site / "data" / "metrics.json").read_text(encoding="utf-8"))
    assert package["licenses"][0]["name"] == report["licence"]["name"]
    for resource in package["resources"]:
        assert (site / resource["path"]).is_file(), resource["path"]
        assert resource["as_of"] == report["as_of"]
    cases = {r["service_request_id"] for r in read_cases(site)}
    monthly = report["monthly"]
    for month in [
        m for m in monthly if monthly[m]["overall"]["cases"] + monthly[m]["overall"]["merged"]
    ]:
        text = (site / "data" / "events" / f"{month}.csv").read_text(encoding="utf-8-sig")
        steps = list(csv.DictReader(io.StringIO(text, newline="")))
        assert steps and {s["service_request_id"] for s in steps} <= cases
        # Each case's first step is its receipt, in the month the file is for.
        assert {s["datetime"][:7] for s in steps if s["step"] == "1"} == {month}


def test_every_snapshot_recomputes_from_its_own_files(site: Path) -> None:
    """A final month's snapshot holds its figures and the data they came from: each
    revision's rates recompute from its own cases.csv, with the methodology it names, and
    its files are the ones its digests name."""
    index = json.loads((site / "data" / "snapshots" / "index.json").read_text(encoding="utf-8"))
    revisions = [(m, r) for m, rs in index["months"].items() for r in rs]
    assert revisions, "the demo's first months are final"
    for month, listed in revisions:
        folder = site / listed["path"]
        snap = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        assert (snap["month"], snap["revision"], snap["as_of"]) == (
            month,
            listed["revision"],
            listed["as_of"],
        )
        for name, sha in listed["files"].items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha, name
        text = (folder / "cases.csv").read_text(encoding="utf-8-sig")
        mine = recompute(list(csv.DictReader(io.StringIO(text, newline=""))), snap["methodology"])
        rows = [(("overall", "all"), snap["overall"])]
        rows += [((dim, row["id"]), row) for dim in DIMENSIONS for row in snap[dim]]
        for (dim, key), row in rows:
            expected = mine.get((month, dim, key))
            if expected is None:  # its only cases were merged into others: nothing to rate
                assert row["cases"] == 0 and row["merged"] > 0, (month, dim, key)
                assert [row[n] for n in (*RATES, "score")] == [None] * (len(RATES) + 1)
                continue
            assert [row[n] for n in (*RATES, "score")] == [
                expected[n] for n in (*RATES, "score")
            ], (month, dim, key)
            assert row["fractions"] == expected["fractions"], (month, dim, key)
