"""The computed version of the publication rules (``publication_version``): the metrics'
rules are part of it, so a change of a counter, a definition, a weight or the code that
applies them republishes every month."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

from gridportal.domain import metrics
from gridportal.domain.calendar import WorkCalendar, YearSchedule
from gridportal.domain.publication import metrics_digest, publication_version, rules_digest

COUNTERS = ("cases", "resolved", "merged")
DEFINITIONS = ({"key": "cases", "name": "案件数", "formula": "", "description": "不含合并件。"},)
METHOD = {"rounding": "half_up", "score_terms": [{"rate": "resolution_rate", "weight": 100}]}


def test_every_part_of_the_metrics_rules_changes_the_digest() -> None:
    base = rules_digest(COUNTERS, DEFINITIONS, METHOD, b"source")
    variants = [
        rules_digest((*COUNTERS, "rated"), DEFINITIONS, METHOD, b"source"),
        rules_digest(
            COUNTERS, ({**DEFINITIONS[0], "description": "含合并件。"},), METHOD, b"source"
        ),
        rules_digest(
            COUNTERS,
            DEFINITIONS,
            {**METHOD, "score_terms": [{"rate": "resolution_rate", "weight": 90}]},
            b"source",
        ),
        rules_digest(COUNTERS, DEFINITIONS, METHOD, b"source, one counter's test changed"),
    ]
    assert base == rules_digest(list(COUNTERS), list(DEFINITIONS), dict(METHOD), b"source")
    assert len({base, *variants}) == len(variants) + 1
    assert all(a != b for a, b in itertools.combinations(variants, 2))


def test_the_metrics_digest_is_the_metrics_modules_own_rules() -> None:
    assert metrics_digest() == rules_digest(
        metrics.COUNT_KEYS,
        [d.public() for d in metrics.DEFINITIONS],
        metrics.methodology(),
        Path(metrics.__file__).read_bytes(),
    )


def test_the_version_follows_the_calendar_and_is_stable() -> None:
    one = WorkCalendar.from_schedules([YearSchedule(2026, frozenset(), frozenset())])
    two = WorkCalendar.from_schedules(
        [YearSchedule(2026, frozenset({date(2026, 10, 1)}), frozenset())]
    )
    assert publication_version(one) == publication_version(one)
    assert publication_version(one) != publication_version(two)
