"""What the public site shows of a case: an allowlist, never a copy-minus-secrets.

``public_record`` builds the published record field by field from values that
are public by nature (codes, dates, unit names) or have passed the redactor
(free text). Nothing else reaches the site: not the tracking number, not the
lookup code or vote token, not the complainant's contact, not private notes,
not staff members' personal ids. ``PUBLIC_FIELDS`` names every key, and a test
pins it, so adding a field is a visible decision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NotRequired, TypedDict, overload

from gridportal.domain import deadlines, lifecycle, model, redaction
from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.deadlines import BEIJING, DeadlineReport
from gridportal.domain.lifecycle import CaseState
from gridportal.domain.model import Action, CaseFile, Event, Rating, label
from gridportal.domain.redaction import KnownPeople, case_scrubber, public_data
from gridportal.domain.reference import District

PUBLIC_FIELDS = (
    "id",
    "category",
    "category_name",
    "category_group",
    "difficulty",
    "grid",
    "grid_name",
    "community",
    "community_name",
    "channel",
    "channel_label",
    "source",
    "source_label",
    "priority",
    "priority_label",
    "route",
    "route_label",
    "status",
    "status_label",
    "outcome",
    "outcome_label",
    "unit",
    "unit_name",
    "units",
    "month",
    "received_at",
    "contacted_at",
    "resolved_at",
    "updated_at",
    "summary",
    "location",
    "answer",
    "deadlines",
    "deadline_note",
    "rating",
    "rating_label",
    "rated_at",
    "reopen_count",
    "return_count",
    "extension_count",
    "supervised",
    "merged_into",
    "timeline",
)
TIMELINE_FIELDS = (
    "at",
    "action",
    "label",
    "role",
    "role_label",
    "unit",
    "unit_name",
    "note",
    "round",
    "rating",
    "rating_label",
)


class PublishedStep(TypedDict):
    """One timeline step as published (``TIMELINE_FIELDS``).

    ``round``: the handling round (办理轮次) the step belongs to, 1 and one more from
    each reopen (重办, which opens the new round). ``rating`` and ``rating_label``: the
    resident's rating on a rating step (评价), every round's, None and "" elsewhere.
    The three are always written; older records may lack them.
    """

    at: str | None
    action: str
    label: str
    role: str
    role_label: str
    unit: str | None
    unit_name: str
    note: str
    round: NotRequired[int]
    rating: NotRequired[str | None]
    rating_label: NotRequired[str]


class PublishedRecord(TypedDict):
    """The published record (公开记录) of one case: the one type the site, the open data,
    the metrics and the tests share. Plain JSON values only, so that a month shard's
    ``data/cases/<YYYY-MM>.json`` reads back into exactly these records. Keys and their
    order are ``PUBLIC_FIELDS``; docs/data.md describes each one."""

    id: str
    category: str
    category_name: str
    category_group: str
    difficulty: str
    grid: str
    grid_name: str
    community: str
    community_name: str
    channel: str
    channel_label: str
    source: str
    source_label: str
    priority: str
    priority_label: str
    route: str | None
    route_label: str
    status: str
    status_label: str
    outcome: str | None
    outcome_label: str
    unit: str | None
    unit_name: str
    units: list[str]
    month: str
    received_at: str
    contacted_at: str | None
    resolved_at: str | None
    updated_at: str | None
    summary: str
    location: str
    answer: str
    deadlines: dict[str, Any] | None
    deadline_note: str
    rating: str | None
    rating_label: str
    rated_at: str | None
    reopen_count: int
    return_count: int
    extension_count: int
    supervised: bool
    merged_into: str | None
    timeline: list[PublishedStep]


assert tuple(PublishedRecord.__annotations__) == PUBLIC_FIELDS, "PublishedRecord and PUBLIC_FIELDS"
assert tuple(PublishedStep.__annotations__) == TIMELINE_FIELDS, "PublishedStep and TIMELINE_FIELDS"


class Unpublishable(ValueError):
    """A case the nightly build cannot publish as it stands (a stored history that replay
    could not fully apply): the build publishes every other case and lists this one."""


# What one bad record can raise while it is exported: every domain refusal is a
# ValueError (Unpublishable, TransitionRefused, CalendarNotCovered, times out of order);
# a KeyError is data a step needed and did not have. Anything else is a bug and stops
# the build.
UNPUBLISHABLE = (ValueError, KeyError)


def unpublished(tracking: str, error: BaseException) -> dict[str, str]:
    """A build report's entry for a case it could not publish: for operators, never
    for the site (the tracking number is private)."""
    return {"tracking": tracking, "reason": f"{type(error).__name__}: {error}"}


def publication_version(calendar: WorkCalendar) -> str:
    """The version of the rules a published record follows, computed, never bumped by
    hand: a digest of the working-day calendar (package and overrides: entering next
    year's schedule changes it), the allowlist (``PUBLIC_FIELDS``, ``TIMELINE_FIELDS``
    and the deadline report's fields), the redactor's source, the metrics' rules
    (``metrics_digest``) and the record builder's own source (``record_digest``). When
    it changes, the next build is a full one, so every affected case is published again
    and every month's tally is made afresh."""
    allowlist = "|".join(
        (",".join(PUBLIC_FIELDS), ",".join(TIMELINE_FIELDS), ",".join(_DEADLINE_KEYS))
    )
    digest = hashlib.sha256()
    parts = (
        calendar.fingerprint(),
        allowlist,
        redactor_digest(),
        metrics_digest(),
        record_digest(),
    )
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def metrics_digest() -> str:
    """A digest of the metrics' rules: the counters a month's tally holds
    (``COUNT_KEYS``), the published definitions and methodology (weights, rounding),
    and the source of the code that applies them (a counter's test can change while its
    name stays). A month's tally kept from before such a change would be summed under
    the new rules, so a change republishes every month. Only the build asks: the API's
    cold start does not load the metrics."""
    from gridportal.domain import metrics

    return rules_digest(
        metrics.COUNT_KEYS,
        [d.public() for d in metrics.DEFINITIONS],
        metrics.methodology(),
        Path(metrics.__file__).read_bytes(),
    )


def rules_digest(
    counters: Iterable[str],
    definitions: Iterable[Mapping[str, Any]],
    methodology: Mapping[str, Any],
    source: bytes,
) -> str:
    """``metrics_digest`` of given rules: any change of any part changes it."""
    rules = {
        "counters": list(counters),
        "definitions": list(definitions),
        "methodology": dict(methodology),
    }
    sha = hashlib.sha256(json.dumps(rules, ensure_ascii=False, sort_keys=True).encode())
    sha.update(b"\0" + source)
    return sha.hexdigest()


@lru_cache(maxsize=1)
def redactor_digest() -> str:
    """A digest of the redactor's source: any change to what it removes changes it."""
    return hashlib.sha256(Path(redaction.__file__).read_bytes()).hexdigest()


@lru_cache(maxsize=1)
def record_digest() -> str:
    """A digest of the source of what writes a published record: this module (the record
    builder), the labels it copies (``model``), the deadlines and their notes and the
    state replay; a changed label or note then republishes every case, not only those
    touched afterwards."""
    sha = hashlib.sha256()
    for module in (__file__, model.__file__, deadlines.__file__, lifecycle.__file__):
        sha.update(Path(module).read_bytes())
    return sha.hexdigest()


_DEADLINE_KEYS = tuple(f.name for f in fields(DeadlineReport))


def month_of(moment: datetime) -> str:
    """Cases are grouped by the month of receipt in Beijing time."""
    return moment.astimezone(BEIJING).strftime("%Y-%m")


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: datetime | None) -> str | None: ...
def iso(moment: datetime | None) -> str | None:
    """Published times are in Beijing time, to the second."""
    return moment.astimezone(BEIJING).isoformat(timespec="seconds") if moment else None


def public_record(
    case: CaseFile,
    state: CaseState,
    events: Iterable[Event],
    district: District,
    *,
    deadlines: DeadlineReport | None,
    deadline_note: str = "",
    public_id_of: Callable[[str], str] | None = None,
    scrub: Callable[[str], str] | None = None,
    staff_names: Iterable[str] = (),
) -> PublishedRecord:
    """The published record of one case (see docs/data.md for every field).

    Free text passes ``scrub``; by default the case's own redactor, which also
    removes the complainant's known name and phone in any form, and the display
    names of ``staff_names`` (the staff who acted on the case) unless they are on a
    grid bulletin (docs/privacy.md).
    """
    if state.anomalies:  # guessing the rest of a broken history could publish a falsehood
        raise Unpublishable("；".join(state.anomalies))
    if scrub is None:
        public = public_data(district)
        known = KnownPeople.of_contact(case.complaint.contact, staff=staff_names, public=public)
        scrub = case_scrubber(known, public)
    service = district.service(state.category)
    grid = district.grid(state.grid)
    community = district.community(grid.community) if grid else None
    received_at = iso(state.received_at)
    assert received_at is not None
    record: PublishedRecord = {
        "id": case.public_id,
        "category": state.category,
        "category_name": service.name if service else state.category,
        "category_group": service.group if service else "",
        "difficulty": service.difficulty if service else "",
        "grid": state.grid,
        "grid_name": grid.name if grid else state.grid,
        "community": community.id if community else "",
        "community_name": community.name if community else "",
        "channel": str(case.complaint.channel),
        "channel_label": label(case.complaint.channel),
        "source": str(case.source),
        "source_label": label(case.source),
        "priority": str(state.priority),
        "priority_label": label(state.priority),
        "route": str(state.route) if state.route else None,
        "route_label": label(state.route) if state.route else "",
        "status": str(state.status),
        "status_label": label(state.status),
        "outcome": str(state.outcome) if state.outcome else None,
        "outcome_label": label(state.outcome) if state.outcome else "",
        "unit": state.unit,
        "unit_name": _unit_name(district, state.unit),
        "units": list(state.units_involved),
        "month": month_of(state.received_at),
        "received_at": received_at,
        "contacted_at": iso(state.contacted_at),
        "resolved_at": iso(state.resolved_at),
        "updated_at": iso(state.updated_at),
        "summary": scrub(case.complaint.description),
        "location": scrub(case.complaint.location),
        "answer": scrub(state.answer),
        "deadlines": deadlines.to_dict() if deadlines else None,
        "deadline_note": deadline_note,
        "rating": str(state.rating) if state.rating else None,
        "rating_label": label(state.rating) if state.rating else "",
        "rated_at": iso(state.rated_at),
        "reopen_count": state.reopen_count,
        "return_count": state.return_count,
        "extension_count": len(state.extensions),
        "supervised": state.supervised,
        "merged_into": public_id_of(state.merged_into)
        if (state.merged_into and public_id_of)
        else None,
        "timeline": timeline(events, district, scrub),
    }
    assert tuple(record) == PUBLIC_FIELDS, "public_record and PUBLIC_FIELDS disagree"
    return record


def timeline(
    events: Iterable[Event], district: District, scrub: Callable[[str], str]
) -> list[PublishedStep]:
    """Every step as published, each with its handling round (a reopen opens the next)."""
    steps, current = [], 1
    for event in events:
        if event.action is Action.REOPEN:
            current += 1
        steps.append(public_step(event, district, scrub, round=current))
    return steps


def public_step(
    event: Event, district: District, scrub: Callable[[str], str], *, round: int = 1
) -> PublishedStep:
    # The unit shown is the unit acted upon (dispatch target) or the actor's unit;
    # a staff member's personal id is never published, only role and unit.
    unit = event.data.get("unit") or event.actor.unit
    given = event.data.get("rating") if event.action is Action.RATE else None
    rating = Rating(given) if given in set(Rating) else None  # an unreadable one: none shown
    return {
        "at": iso(event.at),
        "action": str(event.action),
        "label": label(event.action),
        "role": str(event.actor.role),
        "role_label": label(event.actor.role),
        "unit": unit if district.department(unit or "") else None,
        "unit_name": _unit_name(district, unit),
        "note": scrub(event.public_note) if event.public_note else "",
        "round": round,
        "rating": str(rating) if rating else None,
        "rating_label": label(rating) if rating else "",
    }


def _unit_name(district: District, unit: str | None) -> str:
    department = district.department(unit) if unit else None
    return department.name if department else ""
