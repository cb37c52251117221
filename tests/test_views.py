"""What each reader sees of a case: secrets once, contact data only to those who call back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridportal import views
from gridportal.domain.model import Action, Actor, Channel, Complaint, Contact, Rating, Role
from gridportal.domain.reference import District
from gridportal.services import Portal, Receipt

DISPATCHER = Actor(Role.DISPATCHER, "dispatch-01")
SUPERVISOR = Actor(Role.SUPERVISOR, "supervise-01")
AUDITOR = Actor(Role.AUDITOR, "audit-01")
URBAN = Actor(Role.HANDLER, "urban-01", "dept-urban")
POLICE = Actor(Role.HANDLER, "police-01", "city-police")
GRID_WORKER = Actor(Role.GRID_WORKER, "grid-01", "QB-LCJX-01")
NAME, PHONE = "欧阳小明", "13812345678"
PRIVATE_NOTE = "内部:疑似与上周投诉重复"


def dump(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


@pytest.fixture
def receipt(portal: Portal) -> Receipt:
    complaint = Complaint(
        "env-litter",
        "QB-LCJX-01",
        "柳翠井巷北口",
        "垃圾桶满了三天没人清运。",
        Channel.PORTAL,
        Contact(NAME, PHONE),
    )
    return portal.file_complaint(complaint, idempotency_key="views-1")


def dispatched(portal: Portal, tracking: str) -> None:
    portal.act(tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    portal.act(tracking, Action.DISPATCH, DISPATCHER, data={"unit": "dept-urban"})


# -------------------------------------------------------------------- receipt
def test_the_receipt_shows_the_secrets_once(receipt: Receipt, district: District) -> None:
    shown = views.receipt(receipt, district)
    assert shown["lookup_code"] == receipt.lookup_code
    assert shown["vote_token"] == receipt.vote_token
    assert shown["tracking"] == "-".join(receipt.tracking[i : i + 4] for i in range(0, 12, 4))
    assert shown["status"] == "received" and shown["status_label"] == "已受理"


def test_no_other_view_repeats_the_secrets(
    portal: Portal, receipt: Receipt, district: District
) -> None:
    dispatched(portal, receipt.tracking)
    view = portal.lookup(receipt.tracking, receipt.lookup_code)
    staff_view = portal.staff_view(receipt.tracking, DISPATCHER)
    others = [
        views.resident_case(view, district),
        views.staff_case(staff_view, district, DISPATCHER),
        views.queue_item(portal.queue(URBAN).items[0], district),
    ]
    for shown in map(dump, others):
        assert receipt.lookup_code not in shown
        assert receipt.vote_token not in shown
        assert view.record.lookup_hash not in shown and view.record.vote_hash not in shown


# ------------------------------------------------------------- resident view
def test_the_resident_sees_their_contact_masked(
    portal: Portal, receipt: Receipt, district: District
) -> None:
    shown = views.resident_case(portal.lookup(receipt.tracking, receipt.lookup_code), district)
    assert shown["contact"] == {"name": "欧阳**", "phone": "138****5678"}
    assert NAME not in dump(shown) and PHONE not in dump(shown)


def test_the_resident_sees_steps_not_staff_or_private_notes(
    portal: Portal, receipt: Receipt, district: District
) -> None:
    dispatched(portal, receipt.tracking)
    portal.act(receipt.tracking, Action.ACCEPT, URBAN, private_note=PRIVATE_NOTE)
    shown = views.resident_case(portal.lookup(receipt.tracking, receipt.lookup_code), district)
    text = dump(shown)
    assert PRIVATE_NOTE not in text
    for actor in (DISPATCHER, URBAN):
        assert actor.id not in text  # roles and units are public, people are not
    assert [step["action"] for step in shown["timeline"]] == [
        "receive",
        "assess",
        "dispatch",
        "accept",
    ]
    urban = district.department("dept-urban")
    assert urban is not None and shown["timeline"][2]["unit_name"] == urban.name


def test_can_vote_only_once_the_case_is_resolved_and_unrated(
    portal: Portal, receipt: Receipt, district: District
) -> None:
    def can_vote() -> bool:
        view = portal.lookup(receipt.tracking, receipt.lookup_code)
        return bool(views.resident_case(view, district)["can_vote"])

    assert not can_vote()
    dispatched(portal, receipt.tracking)
    portal.act(receipt.tracking, Action.ACCEPT, URBAN)
    portal.act(receipt.tracking, Action.RESOLVE, URBAN, public_note="已清运。")
    assert can_vote()
    portal.vote(receipt.tracking, receipt.vote_token, Rating.BASICALLY_SATISFIED)
    assert not can_vote()
    shown = views.resident_case(portal.lookup(receipt.tracking, receipt.lookup_code), district)
    assert (shown["rating"], shown["rating_label"]) == ("basically_satisfied", "基本满意")
    assert shown["answer"] == "已清运。"


# ---------------------------------------------------------------- staff view
@pytest.mark.parametrize(
    ("actor", "in_clear"),
    [
        (DISPATCHER, True),
        (SUPERVISOR, True),
        (URBAN, True),  # the handler of the unit now responsible calls back
        (AUDITOR, False),
        (GRID_WORKER, False),
    ],
)
def test_contact_data_only_for_those_who_call_back(
    portal: Portal, receipt: Receipt, district: District, actor: Actor, in_clear: bool
) -> None:
    dispatched(portal, receipt.tracking)
    contact = views.staff_case(portal.staff_view(receipt.tracking, actor), district, actor)[
        "contact"
    ]
    if in_clear:
        assert contact == {"name": NAME, "phone": PHONE}
    else:
        assert contact == {"name": "欧阳**", "phone": "138****5678"}


def test_a_handler_whose_unit_passed_the_case_on_no_longer_sees_the_contact(
    portal: Portal, receipt: Receipt, district: District
) -> None:
    dispatched(portal, receipt.tracking)
    portal.act(receipt.tracking, Action.ACCEPT, URBAN)
    portal.act(receipt.tracking, Action.RETURN, URBAN, public_note="不属本部门职责。")
    portal.act(receipt.tracking, Action.DISPATCH, DISPATCHER, data={"unit": "city-police"})
    former = views.staff_case(portal.staff_view(receipt.tracking, URBAN), district, URBAN)
    assert former["contact"]["phone"] == "138****5678"  # still may read the case, not call
    now = views.staff_case(portal.staff_view(receipt.tracking, POLICE), district, POLICE)
    assert now["contact"]["phone"] == PHONE


def test_staff_see_the_private_record(portal: Portal, receipt: Receipt, district: District) -> None:
    dispatched(portal, receipt.tracking)
    portal.act(receipt.tracking, Action.ACCEPT, URBAN, private_note=PRIVATE_NOTE)
    shown = views.staff_case(portal.staff_view(receipt.tracking, URBAN), district, URBAN)
    assert shown["events"][-1]["private_note"] == PRIVATE_NOTE
    assert shown["events"][-1]["actor"] == URBAN.id
    assert (shown["unit"], shown["channel"]) == ("dept-urban", "portal")
    assert shown["public_id"] == receipt.view.record.file.public_id


def test_a_queue_item_is_short(portal: Portal, receipt: Receipt, district: District) -> None:
    item = views.queue_item(portal.queue(DISPATCHER).items[0], district)
    assert set(item) == {
        "tracking",
        "status",
        "status_label",
        "category_name",
        "grid_name",
        "priority_label",
        "received_at",
        "deadlines",
    }
    assert NAME not in dump(item) and "柳翠井巷北口" not in dump(item)


def test_a_queue_item_says_what_the_replayed_case_says(
    portal: Portal, receipt: Receipt, district: District
) -> None:
    dispatched(portal, receipt.tracking)
    portal.act(receipt.tracking, Action.ACCEPT, URBAN)
    portal.act(receipt.tracking, Action.CONTACT, URBAN)
    item = views.queue_item(portal.queue(URBAN).items[0], district)
    case = views.staff_case(portal.staff_view(receipt.tracking, URBAN), district, URBAN)
    assert item["deadlines"] is not None and item["deadlines"]["contact_met"] is True
    assert item == {key: case[key] for key in item}


def test_readers_who_may_not_call_back_get_the_free_text_redacted(
    portal: Portal, district: District
) -> None:
    complaint = Complaint(
        "env-litter",
        "QB-LCJX-01",
        "清河坊社区3幢2单元501室门口",
        "我叫王小明,电话13812345678,垃圾没人清运。",
        contact=Contact("王小明", "13812345678"),
    )
    receipt = portal.file_complaint(complaint)
    worker = Actor(Role.GRID_WORKER, "w-01", "QB-LCJX-01")
    seen = views.staff_case(portal.staff_view(receipt.tracking, worker), district, worker)
    flat = json.dumps(seen, ensure_ascii=False)
    assert "13812345678" not in flat and "501室" not in flat and "王小明" not in flat
    dispatcher = Actor(Role.DISPATCHER, "dispatch-01")
    full = views.staff_case(portal.staff_view(receipt.tracking, dispatcher), district, dispatcher)
    assert "13812345678" in full["description"]
