"""The computed version of the publication rules (``publication_version``): the metrics'
rules are part of it, so a change of a counter, a definition, a weight or the code that
applies them republishes every month. And the record's fields that follow a rule of their
own (the contact time)."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from pathlib import Path

from gridportal.domain import metrics
from gridportal.domain.calendar import WorkCalendar, YearSchedule
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import Action
from gridportal.domain.publication import (
    iso,
    metrics_digest,
    publication_version,
    rules_digest,
)
from gridportal.domain.reference import District
from gridportal.publish import published
from support.builds import demo_until

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


def test_the_published_contact_time_is_the_one_the_contact_deadline_judges(
    district: District, calendar: WorkCalendar
) -> None:
    """A case resolved without a contact step was contacted when told the result: open
    data must not say "contacted on time" beside an empty contact time."""
    portal = demo_until(datetime(2026, 10, 31, 20, 0, tzinfo=BEIJING), district, calendar)
    told_only = 0
    for case, events in portal.store.all_histories():
        record = published(portal, case, list(events))
        contacts = [e.at for e in events if e.action is Action.CONTACT]
        told = [e.at for e in events if e.action in TELLING]
        first = min(contacts + told, default=None)
        assert record["contacted_at"] == (first and iso(first)), record["id"]
        if (record["deadlines"] or {}).get("contact_met") is True:
            assert record["contacted_at"] is not None, record["id"]
        told_only += bool(told and not contacts)
    assert told_only > 10  # the rule is exercised, not only the contact step


TELLING = (Action.ANSWER, Action.RESOLVE, Action.REFUSE)  # the result told
