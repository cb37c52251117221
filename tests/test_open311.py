"""The Open311 mapping, filters, forms and rendering (gridportal.open311), without the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridportal import open311, requests
from gridportal.adapters.memory import MemoryStore
from gridportal.domain.credentials import Keys
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import CLOSED_STATUSES, OPEN_STATUSES, Status
from gridportal.domain.opendata import month_data_keys
from gridportal.domain.reference import District
from support.open311 import check_json, parse_xml, xml_text
from support.records import published_record, step

NOW = datetime(2026, 11, 16, 1, 30, tzinfo=UTC)


def form(**fields: str) -> dict[str, str]:
    return {
        "api_key": "k" * 32,
        "service_code": "env-litter",
        "attribute[grid]": "QB-LCJX-01",
        "description": "垃圾桶满了三天没人清运。",
        **fields,
    }


def refused(status: int, words: str, call: Any, *args: Any) -> None:
    with pytest.raises(open311.Open311Error) as caught:
        call(*args)
    assert caught.value.status == status
    assert words in caught.value.description
    check_json("errors", caught.value.errors())


# ---------------------------------------------------------------- services
def test_every_service_item_is_a_service_grouped_by_its_category(district: District) -> None:
    listed = open311.services(district)
    check_json("services", listed)
    assert sorted(s["service_code"] for s in listed) == sorted(s.code for s in district.services)
    groups = [s["group"] for s in listed]
    assert groups == sorted(groups), "listed by group"
    for service in listed:
        item = district.service(service["service_code"])
        assert item is not None
        assert (service["service_name"], service["group"]) == (item.name, item.group)
    items = parse_xml("services", open311.render("services", listed, "xml"))
    assert [xml_text(i, "service_name") for i in items] == [s["service_name"] for s in listed]
    assert {xml_text(i, "metadata") for i in items} == {"true"}


def test_a_definition_asks_for_the_grid_and_nothing_else(district: District) -> None:
    definition = open311.service_definition(district, "safe-fire")
    check_json("service_definition", definition)
    (attribute,) = definition["attributes"]
    assert attribute["code"] == open311.GRID_ATTRIBUTE and attribute["required"] is True
    assert [v["key"] for v in attribute["values"]] == [g.id for g in district.grids]
    (root,) = parse_xml(
        "service_definition", open311.render("service_definition", definition, "xml")
    )
    assert xml_text(root, "attributes/attribute/datatype") == "singlevaluelist"
    refused(404, "no-such", open311.service_definition, district, "no-such")


def test_discovery_names_the_specification_and_both_formats() -> None:
    document = open311.discovery("https://grid.example.org/api/open311/v2")
    check_json("discovery", document)
    (root,) = parse_xml("discovery", open311.render("discovery", document, "xml"))
    formats = [f.text for f in root.findall("endpoints/endpoint/formats/format")]
    assert formats == ["text/xml", "application/json"]


# ---------------------------------------------------------------- requests
@pytest.mark.parametrize("status", sorted(Status))
def test_the_lifecycle_maps_onto_open_and_closed(status: Status) -> None:
    record = published_record(status=str(status), status_label="某状态")
    request = open311.request_of(record)
    check_json("requests", [request])
    assert request["status"] == ("open" if status in OPEN_STATUSES else "closed")
    assert (status in CLOSED_STATUSES) == (request["status"] == "closed")
    assert request["status_notes"].startswith("某状态")


def test_a_request_carries_the_grid_the_deadline_and_the_unit_and_no_more() -> None:
    record = published_record(
        answer="已清运。",
        summary="楼下垃圾没人清运,我电话13912345678。",
        deadlines={"due": "2025-06-17T23:59:59+08:00", "met": True},
    )
    request = open311.request_of(record)
    check_json("requests", [request])
    assert request["service_request_id"] == record["id"]
    assert request["expected_datetime"] == "2025-06-17T23:59:59+08:00"
    assert request["agency_responsible"] == record["unit_name"]
    assert request["address"] == record["grid_name"] and request["address_id"] == record["grid"]
    assert (
        "已清运。" in request["status_notes"] and record["outcome_label"] in request["status_notes"]
    )
    assert "13912345678" not in json.dumps(request, ensure_ascii=False)  # the redactor ran
    assert not {"lat", "long", "zipcode", "media_url"} & set(request)


def test_without_a_unit_the_last_acting_unit_or_the_command_centre_is_responsible() -> None:
    steps = [
        step("2025-06-10T09:00:00+08:00"),
        step("2025-06-11T09:00:00+08:00", "resolve", "办结", unit="CGB", unit_name="城市管理部"),
    ]
    closed = published_record(unit=None, unit_name="", timeline=steps)
    assert open311.request_of(closed)["agency_responsible"] == "城市管理部"
    waiting = published_record(status="received", unit=None, unit_name="", timeline=steps[:1])
    assert open311.request_of(waiting)["agency_responsible"] == open311.COMMAND_CENTRE
    no_deadline = published_record(deadlines=None)
    assert "expected_datetime" not in open311.request_of(no_deadline)


# ---------------------------------------------------------------- GET requests filters
def test_the_default_window_is_the_last_90_days(district: District) -> None:
    query = open311.parse_query({}, district, NOW)
    assert (query.start, query.end) == (NOW - open311.WINDOW, NOW)
    assert query.months() == ["2026-08", "2026-09", "2026-10", "2026-11"]
    only_start = open311.parse_query({"start_date": "2026-11-01"}, district, NOW)
    assert only_start.start == datetime(2026, 11, 1, tzinfo=BEIJING) and only_start.end == NOW


@settings(deadline=None)
@given(
    start=st.datetimes(datetime(2004, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
    span=st.timedeltas(timedelta(0), timedelta(days=200)),
)
def test_a_window_reads_the_months_it_touches_and_no_more_than_90_days(
    district: District, start: datetime, span: timedelta
) -> None:
    params = {"start_date": start.isoformat(), "end_date": (start + span).isoformat()}
    if span > open311.WINDOW:
        refused(400, "90", open311.parse_query, params, district, NOW)
        return
    query = open311.parse_query(params, district, NOW)
    months = query.months()
    assert 1 <= len(months) <= 5 and months == sorted(set(months))
    assert months[0] == start.astimezone(BEIJING).strftime("%Y-%m")
    assert months[-1] == (start + span).astimezone(BEIJING).strftime("%Y-%m")


def test_ninety_days_can_touch_five_months(district: District) -> None:
    params = {"start_date": "2026-01-31T12:00:00+08:00", "end_date": "2026-05-01T12:00:00+08:00"}
    query = open311.parse_query(params, district, NOW)
    assert query.months() == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"start_date": "last week"}, "start_date"),
        ({"end_date": "2026-02-30"}, "end_date"),
        ({"start_date": "2026-01-01", "end_date": "2026-04-02"}, "90"),
        ({"start_date": "2026-05-01", "end_date": "2026-04-01"}, "start_date"),
        ({"status": "open,pending"}, "status"),
        ({"service_code": "env-litter,nope"}, "nope"),
        ({"service_request_id": ",".join(str(i) for i in range(1001))}, "1000"),
        ({"page_size": "10"}, "page_size"),
    ],
)
def test_bad_queries_are_refused(district: District, params: dict[str, str], words: str) -> None:
    refused(400, words, open311.parse_query, params, district, NOW)


def test_a_jurisdiction_other_than_the_district_is_not_found(district: District) -> None:
    refused(404, "elsewhere", open311.parse_query, {"jurisdiction_id": "elsewhere"}, district, NOW)
    assert open311.parse_query({"jurisdiction_id": district.id}, district, NOW)


def test_filters_select_newest_first_and_at_most_1000(district: District) -> None:
    base = datetime(2026, 10, 1, tzinfo=BEIJING)
    records = [
        published_record(
            (base + timedelta(minutes=i)).isoformat(),
            category="env-litter" if i % 2 else "safe-fire",
            status="received" if i % 3 else "resolved",
        )
        for i in range(1500)
    ]
    query = open311.parse_query({"start_date": "2026-09-15"}, district, NOW)
    every = open311.select(records, query)
    assert len(every) == open311.MAX_RESULTS
    times = [r["requested_datetime"] for r in every]
    assert times == sorted(times, reverse=True) and times[0] == records[-1]["received_at"]
    fire = open311.parse_query({"service_code": "safe-fire", "status": "closed"}, district, NOW)
    chosen = open311.select(records, fire)
    expected = [r for r in records if r["category"] == "safe-fire" and r["status"] == "resolved"]
    assert {r["service_request_id"] for r in chosen} == {r["id"] for r in expected}
    ids = open311.parse_query({"service_request_id": records[3]["id"]}, district, NOW)
    assert [r["service_request_id"] for r in open311.select(records, ids)] == [records[3]["id"]]
    outside = open311.parse_query({"end_date": "2026-09-30T23:59:59+08:00"}, district, NOW)
    assert open311.select(records, outside) == []


def test_the_month_key_is_the_one_the_nightly_build_publishes() -> None:
    assert open311.month_key("2026-11") == month_data_keys("2026-11")[1]


# ---------------------------------------------------------------- POST requests
def test_a_form_becomes_the_web_forms_complaint(district: District) -> None:
    raw = urlencode(
        form(first_name="小明", last_name="王", phone="13812345678", address_string="北口")
    ).encode()
    filing = open311.parse_filing(open311.parse_form(raw), district)
    complaint = filing.complaint
    assert (complaint.category, complaint.grid, complaint.location) == (
        "env-litter",
        "QB-LCJX-01",
        "北口",
    )
    assert (complaint.contact.name, complaint.contact.phone) == ("王小明", "13812345678")
    western = open311.parse_filing(form(first_name="Ann", last_name="Lee"), district)
    assert western.complaint.contact.name == "Ann Lee"
    at_grid = open311.parse_filing(form(), district)
    assert at_grid.complaint.location == "柳翠井巷社区第1网格"  # the grid's name by default


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"service_code": "nope"}, 400, "service_code"),
        ({"service_code": ""}, 400, "service_code"),
        ({"attribute[grid]": ""}, 400, "attribute[grid]"),
        ({"attribute[floor]": "3"}, 400, "floor"),
        ({"description": ""}, 400, "description"),
        ({"description": "x" * 2001}, 400, "description"),
        ({"phone": "1" * 31}, 400, "phone"),
        ({"address_string": "a\u200bb"}, 400, "address_string"),
        ({"api_key": " "}, 403, "api_key"),
        ({"jurisdiction_id": "elsewhere"}, 404, "jurisdiction_id"),
    ],
)
def test_bad_forms_are_refused(
    district: District, fields: dict[str, str], status: int, words: str
) -> None:
    refused(status, words, open311.parse_filing, form(**fields), district)


def test_the_form_itself_is_checked_before_anything_else() -> None:
    limit = requests.MAX_BODY_BYTES
    refused(413, "16 KB", open311.parse_form, b"x" * (3 * limit + 1))
    refused(413, "16 KB", open311.parse_form, urlencode(form(description="长" * 6000)).encode())
    refused(400, "UTF-8", open311.parse_form, b"description=%FF")
    refused(400, "api_key", open311.parse_form, b"api_key=a&api_key=b")
    refused(400, "nickname", open311.parse_form, b"nickname=x")
    refused(400, "xxx…", open311.parse_form, b"x" * 500 + b"=1")  # echoed, cut short
    # The limit is on the text: 2,000 Chinese characters fit although encoded they take 18 KB.
    long = urlencode(form(description="长" * 2000)).encode()
    assert len(long) > limit and open311.parse_form(long)["description"] == "长" * 2000


def test_a_retry_from_the_same_client_has_the_same_key(district: District) -> None:
    first = open311.parse_filing(form(), district)
    again = open311.parse_filing(dict(reversed(list(form().items()))), district)
    other = open311.parse_filing(form(description="另一件事。"), district)
    key = open311.idempotency_key("街坊随手拍", first)
    assert key == open311.idempotency_key("街坊随手拍", again)
    assert key != open311.idempotency_key("另一个应用", first)
    assert key != open311.idempotency_key("街坊随手拍", other)
    assert requests.idempotency_key(key) == key  # the web form's rule for keys holds
    rekeyed = open311.parse_filing(form(api_key="another-key-of-the-same-client"), district)
    assert open311.idempotency_key("街坊随手拍", rekeyed) == key


# ---------------------------------------------------------------- keys and tokens
def test_api_keys_are_stored_as_digests_only(keys: Keys) -> None:
    store = MemoryStore()
    api_key = open311.issue_key(store, keys, " 街坊随手拍 ", NOW)
    assert open311.client_of(store, keys, api_key) == "街坊随手拍"
    stored = json.dumps(store.markers, ensure_ascii=False)
    assert api_key not in stored and "街坊随手拍" in stored
    for wrong in ("", api_key + "x", api_key.upper()):
        refused(403, "api_key", open311.client_of, store, keys, wrong)
    assert open311.issue_key(store, keys, "街坊随手拍", NOW) != api_key
    with pytest.raises(requests.InvalidInput):
        open311.issue_key(store, keys, "  ", NOW)


def test_a_revoked_key_is_refused_and_listed_as_revoked(keys: Keys) -> None:
    store = MemoryStore()
    kept = open311.issue_key(store, keys, "街坊随手拍", NOW)
    dropped = open311.issue_key(store, keys, "旧版应用", NOW)
    dropped_id = open311.key_id(keys, dropped)
    assert sorted(r["client"] for r in open311.issued_keys(store).values()) == [
        "旧版应用",
        "街坊随手拍",
    ]
    later = NOW + timedelta(days=3)
    record = open311.revoke_key(store, dropped_id, later)
    assert record["revoked_at"] == later.astimezone(BEIJING).isoformat(timespec="seconds")
    refused(403, "api_key", open311.client_of, store, keys, dropped)
    assert open311.client_of(store, keys, kept) == "街坊随手拍"
    # Revoking again keeps the first time; an unknown id is a clear error.
    again = open311.revoke_key(store, dropped_id, later + timedelta(days=1))
    assert again["revoked_at"] == record["revoked_at"]
    assert open311.issued_keys(store)[dropped_id]["revoked_at"] == record["revoked_at"]
    with pytest.raises(requests.InvalidInput):
        open311.revoke_key(store, "nosuchkeyid0", later)


def test_tokens_and_months_are_remembered_at_filing(keys: Keys) -> None:
    store = MemoryStore()
    filed_at = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)  # 1 November in Beijing
    token = open311.remember(store, keys, "261148273391", "mxlcdlztrjhn", filed_at)
    assert token == open311.token_of(keys, "261148273391") and "261148273391" not in token
    assert open311.tracking_of_token(store, token) == "261148273391"
    assert open311.month_of_request(store, "mxlcdlztrjhn") == "2026-11"
    assert open311.tracking_of_token(store, "nope") is None
    assert open311.tracking_of_token(store, "../" + token) is None
    assert open311.recent_months(NOW) == ["2026-11", "2026-10", "2026-09", "2026-08"]


# ---------------------------------------------------------------- rendering, static copy
def test_xml_escapes_text_and_reads_back(district: District) -> None:
    record = published_record(summary="<b>&'\"", answer="")
    rendered = open311.render("requests", [open311.request_of(record)], "xml")
    (item,) = parse_xml("requests", rendered)
    assert xml_text(item, "description") == open311.request_of(record)["description"]
    refused(404, ".xml", open311.split_format, "env-litter.html")
    refused(404, ".xml", open311.split_format, "env-litter")
    assert open311.split_format("a.b.json") == ("a.b", "json")


def _element_tree(kind: str, data: Any) -> bytes:
    """What ``render`` wrote through ElementTree before it wrote text: the reference."""
    shapes = {
        "services": ("services", "service"),
        "requests": ("service_requests", "request"),
        "errors": ("errors", "error"),
    }

    def fill(element: ElementTree.Element, item: dict[str, Any]) -> None:
        for key, value in item.items():
            child = ElementTree.SubElement(element, key)
            if isinstance(value, list):
                for entry in value:
                    sub = ElementTree.SubElement(child, open311._XML_LISTS[key])
                    if isinstance(entry, dict):
                        fill(sub, entry)
                    else:
                        sub.text = open311._text(entry)
            else:
                child.text = open311._text(value)

    if kind in shapes:
        root = ElementTree.Element(shapes[kind][0])
        for item in data:
            fill(ElementTree.SubElement(root, shapes[kind][1]), item)
    else:
        root = ElementTree.Element(kind)
        fill(root, data)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(st.characters(exclude_categories=())),  # lone surrogates too
)
_names = st.sampled_from(["description", "status", "service_code", "address", "token"])
_items = st.dictionaries(
    st.one_of(_names, st.sampled_from(["attributes", "values"])),
    _scalars,
).flatmap(
    lambda item: st.fixed_dictionaries(
        {
            k: (
                st.lists(st.one_of(_scalars, st.dictionaries(_names, _scalars)), max_size=3)
                if k in ("attributes", "values")
                else st.just(v)
            )
            for k, v in item.items()
        }
    )
)


@settings(max_examples=300)
@given(
    kind=st.sampled_from(["requests", "services", "errors", "discovery"]),
    items=st.lists(_items, max_size=4),
)
def test_xml_is_what_element_tree_writes(kind: str, items: list[dict[str, Any]]) -> None:
    data: Any = items if kind != "discovery" else (items[0] if items else {})
    assert open311.render(kind, data, "xml") == _element_tree(kind, data)


def test_the_static_copy_renders_a_month_and_the_site_wide_documents(
    district: District,
) -> None:
    november = [published_record(f"2026-11-{d:02d}T09:00:00+08:00") for d in (3, 20, 9)]
    october = published_record("2026-10-31T09:00:00+08:00")
    files = open311.month_copy("2026-11", [*november, october])
    assert sorted(files) == [f"open311/v2/requests/2026-11.{fmt}" for fmt in ("json", "xml")]
    month = json.loads(files["open311/v2/requests/2026-11.json"])
    check_json("requests", month)
    assert [r["service_request_id"] for r in month] == [november[i]["id"] for i in (1, 2, 0)]
    items = parse_xml("requests", files["open311/v2/requests/2026-11.xml"])
    assert [xml_text(i, "service_request_id") for i in items] == [
        r["id"] for r in [november[1], november[2], november[0]]
    ]
    # Records published tonight were scrubbed by tonight's redactor: no second pass.
    assert month == [
        open311.request_of(r, again=False) for r in (november[1], november[2], november[0])
    ]

    site = open311.site_copy(district, endpoint="/o311")
    assert sorted(site) == sorted(
        f"open311/v2/{name}.{fmt}" for name in ("services", "discovery") for fmt in ("json", "xml")
    )
    check_json("services", json.loads(site["open311/v2/services.json"]))
    discovery = json.loads(site["open311/v2/discovery.json"])
    check_json("discovery", discovery)
    assert discovery["endpoints"][0]["url"] == "/o311"
    parse_xml("services", site["open311/v2/services.xml"])
    parse_xml("discovery", site["open311/v2/discovery.xml"])
