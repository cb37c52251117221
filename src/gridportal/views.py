"""API responses: what each reader sees of a case, shaped as JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gridportal.domain.credentials import format_tracking
from gridportal.domain.model import Actor, Contact, label
from gridportal.domain.publication import iso, timeline
from gridportal.domain.redaction import (
    KnownPeople,
    case_scrubber,
    mask_name,
    mask_phone,
    public_data,
    redact,
)
from gridportal.domain.reference import District
from gridportal.services import CaseView, QueueItem, Receipt, may_see_contact


def _deadlines(view: CaseView) -> dict[str, Any] | None:
    return view.deadlines.to_dict() if view.deadlines else None


def _common(
    view: CaseView, district: District, scrub: Callable[[str], str] = str
) -> dict[str, Any]:
    state = view.state
    service = district.service(state.category)
    grid = district.grid(state.grid)
    unit = district.department(state.unit) if state.unit else None
    return {
        "tracking": format_tracking(view.record.tracking),
        "status": str(state.status),
        "status_label": label(state.status),
        "category": state.category,
        "category_name": service.name if service else state.category,
        "grid": state.grid,
        "grid_name": grid.name if grid else state.grid,
        "priority": str(state.priority),
        "priority_label": label(state.priority),
        "route": str(state.route) if state.route else None,
        "route_label": label(state.route) if state.route else "",
        "unit_name": unit.name if unit else "",
        "received_at": iso(state.received_at),
        "resolved_at": iso(state.resolved_at),
        "deadlines": _deadlines(view),
        "deadline_note": view.deadline_note,
        "answer": scrub(state.answer),
        "rating": str(state.rating) if state.rating else None,
        "rating_label": label(state.rating) if state.rating else "",
        "timeline": timeline(view.events, district, scrub),
    }


def _staff_text_for_resident(view: CaseView, district: District) -> Callable[[str], str]:
    """Staff text (answer, public notes) as the complainant sees it: through the public
    site's redactor, so what staff wrote about a neighbour reaches the complainant no
    more than the public, staff names that are not public removed as well. Only the
    removal of the complainant's own name and phone is left out."""
    public = public_data(district)
    if view.staff:
        known = KnownPeople.of_contact(Contact(), staff=view.staff, public=public)
        return case_scrubber(known, public)
    return lambda text: redact(text, public)


def receipt(r: Receipt, district: District) -> dict[str, Any]:
    """The answer to a new complaint: the only time the two secrets are shown. A retried
    filing is answered with the case as it is now, staff text redacted as in a lookup."""
    return {
        **_common(r.view, district, _staff_text_for_resident(r.view, district)),
        "lookup_code": r.lookup_code,
        "vote_token": r.vote_token,
        "public_id": r.view.record.file.public_id,
    }


def resident_case(view: CaseView, district: District) -> dict[str, Any]:
    """The complainant's own view: their contact masked, no staff identities, staff
    text redacted (``_staff_text_for_resident``); their own text shown as written."""
    contact = view.record.file.complaint.contact
    return {
        **_common(view, district, _staff_text_for_resident(view, district)),
        "location": view.record.file.complaint.location,
        "description": view.record.file.complaint.description,
        "contact": {"name": mask_name(contact.name), "phone": mask_phone(contact.phone)},
        # Each resolution is rated once: a reopened case's new round can be rated again.
        "can_vote": view.state.rateable,
    }


def staff_case(view: CaseView, district: District, actor: Actor) -> dict[str, Any]:
    """The private record for staff; contact data only for those who must call back."""
    complaint = view.record.file.complaint
    contact = complaint.contact
    show = may_see_contact(actor, view.state)
    # Readers who may not call the complainant back get the free text redacted too:
    # residents write phone numbers and home addresses into it.
    text: Callable[[str], str] = (lambda value: value) if show else redact
    return {
        **_common(view, district, text),
        "public_id": view.record.file.public_id,
        "channel": str(complaint.channel),
        "location": text(complaint.location),
        "description": text(complaint.description),
        "unit": view.state.unit,
        "contact": {
            "name": contact.name if show else mask_name(contact.name),
            "phone": contact.phone if show else mask_phone(contact.phone),
        },
        "reopen_count": view.state.reopen_count,
        "return_count": view.state.return_count,
        "extensions": [
            {"at": iso(x.at), "new_due": x.new_due.isoformat(), "reason": text(x.reason)}
            for x in view.state.extensions
        ],
        "events": [
            {
                "seq": e.seq,
                "at": iso(e.at),
                "action": str(e.action),
                "label": label(e.action),
                "actor": e.actor.id,
                "role": str(e.actor.role),
                "unit": e.actor.unit,
                "public_note": text(e.public_note),
                "private_note": text(e.private_note),
                "data": {k: v for k, v in e.data.items() if show or k != "into"},
            }
            for e in view.events
        ],
    }


def queue_item(item: QueueItem, district: District) -> dict[str, Any]:
    """A line of a desk's queue, shaped from the case record's snapshot alone."""
    record = item.record
    category = record.file.complaint.category
    service, grid = district.service(category), district.grid(record.file.complaint.grid)
    return {
        "tracking": format_tracking(record.tracking),
        "status": str(record.status),
        "status_label": label(record.status),
        "category_name": service.name if service else category,
        "grid_name": grid.name if grid else record.file.complaint.grid,
        "priority_label": label(record.priority) if record.priority else "",
        "received_at": iso(record.file.filed_at),
        "deadlines": item.deadlines.to_dict() if item.deadlines else None,
    }
