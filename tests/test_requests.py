"""Request validation: hostile bodies get a clear 4xx, and what passes is what is documented."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gridportal import requests
from gridportal.requests import (
    COMPLAINT,
    LOOKUP,
    MAX_BODY_BYTES,
    PATROL_REPORT,
    STAFF_ACTION,
    VOTE,
    Body,
    PayloadTooLarge,
    json_schema,
    validate,
)
from gridportal.services import MAX_DESCRIPTION, MAX_LOCATION, InvalidInput

GOOD = {
    "category": "env-litter",
    "grid": "QB-LCJX-01",
    "location": "柳翠井巷北口",
    "description": "垃圾桶满了三天没人清运。",
    "name": "王小明",
    "phone": "138 1234 5678",
}


def raw(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def refusal(body: Body, data: Any) -> tuple[str, str | None]:
    payload = data if isinstance(data, bytes) else raw(data)
    with pytest.raises(InvalidInput) as refused:
        validate(body, payload)
    assert refused.value.message  # always a sentence for people
    return refused.value.code, refused.value.field


# ----------------------------------------------------------------- the tables
@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ({**GOOD, "extra": "x"}, "unknown_field", "extra"),
        ({**GOOD, "Category": "x"}, "unknown_field", "Category"),  # names are exact
        ({**GOOD, "category": 7}, "invalid_field", "category"),
        ({**GOOD, "location": ["柳翠井巷"]}, "invalid_field", "location"),
        ({**GOOD, "description": {"text": "x"}}, "invalid_field", "description"),
        ({**GOOD, "name": True}, "invalid_field", "name"),
        ({**GOOD, "category": None}, "required", "category"),
        ({**GOOD, "category": ""}, "required", "category"),
        ({**GOOD, "description": " \n\t "}, "required", "description"),
        ({k: v for k, v in GOOD.items() if k != "grid"}, "required", "grid"),
        ({**GOOD, "category": "env litter"}, "invalid_field", "category"),
        ({**GOOD, "grid": "../../etc"}, "invalid_field", "grid"),
        ({**GOOD, "phone": "138abc"}, "invalid_field", "phone"),
        ({**GOOD, "location": "长" * (MAX_LOCATION + 1)}, "too_long", "location"),
        ({**GOOD, "description": "长" * (MAX_DESCRIPTION + 1)}, "too_long", "description"),
    ],
)
def test_complaint_refusals_name_the_field(data: Any, code: str, field: str) -> None:
    assert refusal(COMPLAINT, data) == (code, field)


@pytest.mark.parametrize(
    "text",
    [
        "a\x00b",  # NUL
        "a\x07b",  # bell
        "a\x1bb",  # escape
        "a\x85b",  # next line (C1 control)
        "a\u202eb",  # right-to-left override: "txt.exe" shown as "exe.txt"
        "a\u2066b",  # left-to-right isolate
        "a\u200bb",  # zero-width space
        "a\ufeffb",  # byte order mark
        "a\ue000b",  # private use
        "a\U000e0001b",  # language tag
        "a\u0378b",  # unassigned
    ],
)
def test_control_format_and_bidi_characters_are_refused(text: str) -> None:
    assert refusal(COMPLAINT, {**GOOD, "location": text}) == ("bad_character", "location")
    assert refusal(COMPLAINT, {**GOOD, "description": text}) == ("bad_character", "description")


def test_a_lone_surrogate_is_refused() -> None:
    body = raw(GOOD)[:-1] + b', "name": "\\ud800"}'
    assert refusal(COMPLAINT, body) == ("bad_character", "name")


def test_line_breaks_and_tabs_only_in_multiline_fields() -> None:
    parsed = validate(COMPLAINT, raw({**GOOD, "description": "第一行\n\t第二行"}))
    assert parsed["description"] == "第一行\n\t第二行"
    assert refusal(COMPLAINT, {**GOOD, "location": "北口\n南口"}) == ("bad_character", "location")


def test_windows_line_ends_become_plain_line_breaks() -> None:
    parsed = validate(COMPLAINT, raw({**GOOD, "description": "第一行\r\n第二行"}))
    assert parsed["description"] == "第一行\n第二行"


def test_text_is_normalised_nfkc_and_stripped() -> None:
    parsed = validate(COMPLAINT, raw({**GOOD, "location": "\u3000ＡＢＣ 巷ﬁ  ", "name": " 王 "}))
    assert parsed["location"] == "ABC 巷fi"
    assert parsed["name"] == "王"


def test_people_s_words_keep_their_full_width_punctuation() -> None:
    """A resident writes Chinese with full-width punctuation, and the site publishes the
    text as written: NFKC would make it ASCII. Letters and digits still fold; codes and
    phone numbers fold whole."""
    typed = "垃圾满了，没人清！（东门口）：电话１３８－１２３４？ＡＢ"
    parsed = validate(COMPLAINT, raw({**GOOD, "description": typed, "phone": "（０１０）８１２３"}))
    assert parsed["description"] == "垃圾满了，没人清！（东门口）：电话138－1234？AB"
    assert parsed["phone"] == "(010)8123"
    note = validate(STAFF_ACTION, raw({"action": "answer", "public_note": "已清运；请查看。"}))
    assert note["public_note"] == "已清运；请查看。"
    rated = {"tracking": "2611-4827-3391", "token": "abc", "rating": "satisfied"}
    vote = validate(VOTE, raw({**rated, "comment": "很快，谢谢！"}))
    assert vote["comment"] == "很快，谢谢！"


def test_length_is_counted_in_characters_after_nfkc() -> None:
    # 200 full-width letters are 600 bytes and 200 characters: allowed.
    wide = validate(COMPLAINT, raw({**GOOD, "location": "Ａ" * MAX_LOCATION}))
    assert wide["location"] == "A" * MAX_LOCATION
    # "㍿" is one character that NFKC turns into four (株式会社): 51 of them are 204.
    assert refusal(COMPLAINT, {**GOOD, "location": "㍿" * 51}) == ("too_long", "location")
    assert validate(COMPLAINT, raw({**GOOD, "location": "㍿" * 50}))["location"] == "株式会社" * 50


def test_optional_fields_may_be_missing_empty_or_null() -> None:
    for data in (
        {k: v for k, v in GOOD.items() if k not in ("name", "phone")},
        {**GOOD, "name": "", "phone": ""},
        {**GOOD, "name": None, "phone": None},
    ):
        parsed = validate(COMPLAINT, raw(data))
        assert (parsed["name"], parsed["phone"]) == ("", "")


@pytest.mark.parametrize(
    "payload",
    [b"", b"{not json", b"[1, 2]", b'"text"', b"42", b"null", b"\xff\xfe{}", b"NaN"],
)
def test_anything_but_a_json_object_is_malformed(payload: bytes) -> None:
    assert refusal(COMPLAINT, payload) == ("malformed_json", None)
    with pytest.raises(InvalidInput):
        validate(COMPLAINT, None)


def test_the_size_limit_comes_before_parsing() -> None:
    garbage = b"{" * (MAX_BODY_BYTES + 1)  # never parsed: it would not even be JSON
    with pytest.raises(PayloadTooLarge) as refused:
        validate(COMPLAINT, garbage)
    assert (refused.value.status, refused.value.code) == (413, "too_large")
    exact = raw(GOOD)[:-1] + b" " * (MAX_BODY_BYTES - len(raw(GOOD))) + b"}"
    assert len(exact) == MAX_BODY_BYTES
    assert validate(COMPLAINT, exact)["grid"] == GOOD["grid"]


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    assert refusal(COMPLAINT, b"[" * 5000 + b"]" * 5000)[0] == "malformed_json"


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        ({"token": "abc", "rating": "satisfied"}, True),
        ({"token": "abc", "rating": "basically_satisfied", "comment": "还行"}, True),
        ({"token": "abc", "rating": "SATISFIED"}, False),
        ({"token": "abc", "rating": "满意"}, False),
        ({"token": "abc", "rating": "satisfied "}, True),  # stripped, then checked
        ({"token": "a b", "rating": "satisfied"}, False),
    ],
)
def test_vote_rating_is_one_of_three_codes(data: dict[str, str], ok: bool) -> None:
    data = {"tracking": "2611-4827-3391", **data}
    if ok:
        assert validate(VOTE, raw(data))["rating"] in ("satisfied", "basically_satisfied")
    else:
        assert refusal(VOTE, data)[0] == "invalid_field"


def test_a_vote_needs_its_tracking_number_in_the_body() -> None:
    assert refusal(VOTE, {"token": "abc", "rating": "satisfied"}) == ("required", "tracking")


@pytest.mark.parametrize("tracking", ["261148273391", "2611-4827-3391", "2611 4827 3391"])
def test_tracking_numbers_may_be_grouped(tracking: str) -> None:
    assert validate(LOOKUP, raw({"tracking": tracking, "code": "40817266"}))["tracking"]


def test_tracking_numbers_refuse_anything_else() -> None:
    assert refusal(LOOKUP, {"tracking": "2611/4827", "code": "1"}) == ("invalid_field", "tracking")
    assert refusal(LOOKUP, {"tracking": "1" * 33, "code": "1"}) == ("too_long", "tracking")


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        ({"action": "dispatch", "data": {"unit": "dept-urban"}}, True),
        ({"action": "extend", "public_note": "需协调", "data": {"new_due": "2026-12-01"}}, True),
        ({"action": "receive"}, False),  # only the system receives
        ({"action": "rate"}, False),  # only residents rate
        ({"action": "delete"}, False),
        ({"action": "dispatch", "data": {"owner": "me"}}, False),
        ({"action": "dispatch", "data": {"unit": 7}}, False),
        ({"action": "dispatch", "data": {"unit": "x" * 65}}, False),
        ({"action": "dispatch", "data": ["unit"]}, False),
    ],
)
def test_staff_actions_and_their_arguments(data: dict[str, Any], ok: bool) -> None:
    if ok:
        assert validate(STAFF_ACTION, raw(data))["action"] == data["action"]
    else:
        assert refusal(STAFF_ACTION, data)[0] == "invalid_field"


def test_patrol_reports_take_no_contact_data() -> None:
    assert refusal(PATROL_REPORT, GOOD) == ("unknown_field", "name")


# ------------------------------------------------------- the documented schema
def test_json_schema_states_the_same_rules() -> None:
    for body in requests.BODIES:
        schema = json_schema(body)
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        assert schema["required"] == [f.name for f in body.fields if f.required]
        for spec in body.fields:
            prop = schema["properties"][spec.name]
            if spec.max_length:
                assert prop["maxLength"] == spec.max_length
            if spec.enum:
                assert prop["enum"] == list(spec.enum)
            if spec.allowed:
                pattern = re.compile(prop["pattern"])
                assert pattern.match(spec.allowed)
                for stranger in ("/", "<", "中", "\\", "]", "^"):
                    if stranger not in spec.allowed:
                        assert not pattern.match(stranger), (body.name, spec.name, stranger)


# -------------------------------------------------------------- hostile bodies
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def objects_for(body: Body) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the body's own field names (and strangers), holding anything."""
    names = st.sampled_from([f.name for f in body.fields]) | st.text(max_size=8)
    return st.dictionaries(names, json_values | st.text(), max_size=8)


bodies = st.sampled_from(requests.BODIES)


def plausible(body: Body) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that are often, not always, valid: the fields' own alphabets and limits."""
    documented = json_schema(body)["properties"]
    printable = st.characters(exclude_categories=("Cc", "Cf", "Co", "Cs", "Cn"))
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for spec in body.fields:
        if spec.kind == "object":
            keys = st.sampled_from(sorted(documented[spec.name]["properties"]))
            fields[spec.name] = st.dictionaries(keys, st.text(max_size=70), max_size=3)
        elif spec.enum:
            fields[spec.name] = st.sampled_from(spec.enum) | st.text(max_size=3)
        else:
            alphabet = st.sampled_from(spec.allowed) if spec.allowed else printable
            fields[spec.name] = st.text(alphabet, max_size=spec.max_length + 3)
    required = {f.name: fields.pop(f.name) for f in body.fields if f.required}
    return st.fixed_dictionaries(required, optional=fields)


@settings(max_examples=300, deadline=None)
@given(body=bodies, data=st.data())
def test_arbitrary_json_is_answered_not_crashed_on(body: Body, data: st.DataObject) -> None:
    value = data.draw(json_values | objects_for(body))
    with contextlib.suppress(InvalidInput, PayloadTooLarge):
        validate(body, json.dumps(value).encode())


@settings(max_examples=200, deadline=None)
@given(body=bodies, payload=st.binary(max_size=256))
def test_arbitrary_bytes_are_answered_not_crashed_on(body: Body, payload: bytes) -> None:
    with contextlib.suppress(InvalidInput, PayloadTooLarge):
        validate(body, payload)


@settings(max_examples=300, deadline=None)
@given(body=bodies, data=st.data())
def test_whatever_is_accepted_is_what_the_schema_documents(body: Body, data: st.DataObject) -> None:
    value = data.draw(plausible(body))
    try:
        parsed = validate(body, json.dumps(value).encode())
    except (InvalidInput, PayloadTooLarge):
        return
    assert Draft202012Validator(json_schema(body)).is_valid(parsed), parsed
