"""Request bodies: declared once, validated here, and rendered into the OpenAPI document.

Validation is strict: a size limit before parsing, JSON objects only, no unknown
fields, strings normalised (NFKC, but people's words keep their full-width punctuation)
and counted in characters after that, control and bidi-override characters refused. A
small declarative checker keeps the API's cold start free of a schema library;
``json_schema`` gives the same rules to OpenAPI.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridportal.domain.model import Action, Channel, Complaint, Contact, Rating
from gridportal.services import (
    MAX_DESCRIPTION,
    MAX_LOCATION,
    MAX_NAME,
    MAX_NOTE,
    MAX_PHONE,
    InvalidInput,
    PortalError,
)

MAX_BODY_BYTES = 16 * 1024
_CODE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
IDEMPOTENCY_KEY_CHARS = frozenset(_CODE)


def idempotency_key(header: str | None) -> str | None:
    """The request key, if any: 8–128 characters of letters, digits, '-' and '_'."""
    if not header:
        return None
    if not 8 <= len(header) <= 128 or not set(header) <= IDEMPOTENCY_KEY_CHARS:
        raise InvalidInput(
            "invalid_idempotency_key", "Idempotency-Key 须为 8–128 位字母、数字、- 或 _。"
        )
    return header


class PayloadTooLarge(PortalError):
    status = 413


@dataclass(frozen=True)
class Field:
    name: str
    max_length: int = 0  # characters after normalisation; 0 = not a free string
    required: bool = True
    enum: tuple[str, ...] = ()
    pattern: str = ""  # documented in OpenAPI; checked by ``allowed`` below
    multiline: bool = False
    kind: str = "string"  # "string" or "object" (a map of short strings)
    allowed: str = ""  # characters allowed, if the field is a code (empty: any printable)
    description: str = ""
    prose: bool = False  # people's words: full-width punctuation kept (``clean_text``)
    label: str = ""  # what people see (表单标签): the forms' labels and errors name it so


@dataclass(frozen=True)
class Body:
    name: str
    fields: tuple[Field, ...]

    def parse(self, raw: bytes | None) -> dict[str, Any]:
        return validate(self, raw)


_DIGITS = "0123456789- "

COMPLAINT = Body(
    "Complaint",
    (
        Field(
            "category",
            64,
            allowed=_CODE,
            description="service item code (事项类别)",
            label="问题类别",
        ),
        Field("grid", 64, allowed=_CODE, description="grid id (网格)", label="所在网格"),
        Field(
            "location",
            MAX_LOCATION,
            prose=True,
            description="where, at grid level (地点)",
            label="具体位置",
        ),
        Field(
            "description",
            MAX_DESCRIPTION,
            multiline=True,
            prose=True,
            description="what happened",
            label="问题描述",
        ),
        Field(
            "name",
            MAX_NAME,
            required=False,
            prose=True,
            description="optional, private (姓名,选填)",
            label="称呼",
        ),
        Field(
            "phone",
            MAX_PHONE,
            required=False,
            allowed="+0123456789- ()",
            description="private",
            label="手机或电话",
        ),
    ),
)
# One field, one definition, wherever a form asks for it.
TRACKING = Field(
    "tracking", 32, allowed=_DIGITS, description="tracking number (受理编号)", label="受理编号"
)
LOOKUP = Body(
    "Lookup",
    (
        TRACKING,
        Field("code", 16, allowed=_DIGITS, description="lookup code (查询码)", label="查询码"),
    ),
)
VOTE = Body(
    "Vote",
    (
        TRACKING,
        Field("token", 64, allowed=_CODE, description="vote code (评价码)", label="评价码"),
        Field("rating", enum=tuple(Rating), label="满意度"),
        Field("comment", MAX_NOTE, required=False, multiline=True, prose=True, label="意见"),
    ),
)
# The residents' forms' fields by name: their labels and limits for the site's forms
# (``adapters.theme``) and the no-script pages' errors (``FIELD_LABELS``).
FORM_FIELDS: Mapping[str, Field] = {
    f.name: f for body in (COMPLAINT, LOOKUP, VOTE) for f in body.fields
}
FIELD_LABELS: Mapping[str, str] = {name: f.label for name, f in FORM_FIELDS.items()}
LOGIN = Body("Login", (Field("username", 64, allowed=_CODE), Field("password", 256)))
STAFF_ACTION = Body(
    "StaffAction",
    (
        Field("action", enum=tuple(a for a in Action if a not in (Action.RECEIVE, Action.RATE))),
        Field(
            "public_note",
            MAX_NOTE,
            required=False,
            multiline=True,
            prose=True,
            description="published after redaction; call the complainant 投诉人: a note with "
            "their name or phone is refused (400 personal_data)",
        ),
        Field(
            "private_note",
            MAX_NOTE,
            required=False,
            multiline=True,
            prose=True,
            description="never published; contact details go here",
        ),
        Field("data", kind="object", required=False, description="action arguments"),
    ),
)
PATROL_REPORT = Body(
    "PatrolReport",
    tuple(f for f in COMPLAINT.fields if f.name not in ("name", "phone")),
)
BODIES = (COMPLAINT, LOOKUP, VOTE, LOGIN, STAFF_ACTION, PATROL_REPORT)

_DATA_KEYS = ("priority", "category", "unit", "new_due", "result", "into")
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn"}  # controls, format (bidi), unassigned


def complaint(body: Mapping[str, Any], channel: Channel) -> Complaint:
    """A validated complaint or patrol-report body as the domain's value."""
    return Complaint(
        category=body["category"],
        grid=body["grid"],
        location=body["location"],
        description=body["description"],
        channel=channel,
        contact=Contact(body.get("name", ""), body.get("phone", "")),
    )


# Full-width punctuation (，：；？！（）) is how Chinese is written, and NFKC would make it
# ASCII: a resident's own words keep it (their text is published as they wrote it), while
# full-width letters and digits, ligatures and the like still fold. Codes and phone
# numbers fold whole, to be checked against their characters. (The redactor's
# ``normalise`` keeps only ，：；！？（） for its rules, which must see ASCII dashes and
# signs in numbers; the text stored keeps all of the resident's punctuation.)
_WIDE_PUNCTUATION = re.compile("([\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff5e]+)")


def _normalise(value: str, *, keep_punctuation: bool) -> str:
    if not keep_punctuation:
        return unicodedata.normalize("NFKC", value)
    runs = _WIDE_PUNCTUATION.split(value)  # odd runs: the punctuation, kept as typed
    return "".join(r if i % 2 else unicodedata.normalize("NFKC", r) for i, r in enumerate(runs))


def clean_text(value: str, *, multiline: bool, keep_punctuation: bool = False) -> str:
    """NFKC (a free text keeps its full-width punctuation), then refuse control and
    format characters (bidi overrides, zero-width)."""
    text = _normalise(value, keep_punctuation=keep_punctuation)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for ch in text:
        if multiline and ch in "\n\t":
            continue
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            raise InvalidInput("bad_character", "内容含有不允许的控制字符。")
    return text.strip()


def validate(body: Body, raw: bytes | None) -> dict[str, Any]:
    if raw is not None and len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge("too_large", f"请求内容过大（上限 {MAX_BODY_BYTES // 1024} KB）。")
    try:
        data = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInput("malformed_json", "请求内容不是有效的 JSON。") from exc
    if not isinstance(data, dict):
        raise InvalidInput("malformed_json", "请求内容应为 JSON 对象。")
    known = {f.name for f in body.fields}
    if unknown := sorted(set(data) - known):
        raise InvalidInput("unknown_field", f"不认识的字段：{', '.join(unknown)}", unknown[0])
    out: dict[str, Any] = {}
    for spec in body.fields:
        value = data.get(spec.name)
        if value is None or value == "":
            if spec.required:
                raise InvalidInput("required", "此项不能为空。", spec.name)
            out[spec.name] = {} if spec.kind == "object" else ""
            continue
        out[spec.name] = _field(spec, value)
    return out


def _field(spec: Field, value: Any) -> Any:
    if spec.kind == "object":
        if not isinstance(value, Mapping) or not all(
            k in _DATA_KEYS and isinstance(v, str) and len(v) <= 64 for k, v in value.items()
        ):
            raise InvalidInput("invalid_field", "参数格式不正确。", spec.name)
        return {k: clean_text(v, multiline=False) for k, v in value.items()}
    if not isinstance(value, str):
        raise InvalidInput("invalid_field", "应为文本。", spec.name)
    try:
        text = clean_text(value, multiline=spec.multiline, keep_punctuation=spec.prose)
    except InvalidInput as exc:
        raise InvalidInput(exc.code, exc.message, spec.name) from exc
    if not text and spec.required:
        raise InvalidInput("required", "此项不能为空。", spec.name)
    if spec.enum and text not in spec.enum:
        raise InvalidInput("invalid_field", "取值无效。", spec.name)
    if spec.max_length and len(text) > spec.max_length:
        raise InvalidInput("too_long", f"不能超过{spec.max_length}字。", spec.name)
    if spec.allowed and any(ch not in spec.allowed for ch in text):
        raise InvalidInput("invalid_field", "含有不允许的字符。", spec.name)
    return text


def json_schema(body: Body) -> dict[str, Any]:
    """The same rules as ``validate``, as JSON Schema for the OpenAPI document."""
    properties: dict[str, Any] = {}
    for spec in body.fields:
        if spec.kind == "object":
            prop: dict[str, Any] = {
                "type": "object",
                "additionalProperties": False,
                "properties": {k: {"type": "string", "maxLength": 64} for k in _DATA_KEYS},
            }
        else:
            prop = {"type": "string"}
            if spec.enum:
                prop["enum"] = list(spec.enum)
            if spec.max_length:
                prop["maxLength"] = spec.max_length
            if spec.allowed:
                prop["pattern"] = "^[" + "".join(_regex_escape(c) for c in spec.allowed) + "]*$"
        if spec.description:
            prop["description"] = spec.description
        properties[spec.name] = prop
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in body.fields if f.required],
        "properties": properties,
    }


def _regex_escape(ch: str) -> str:
    return "\\" + ch if ch in "-\\]^[()+ " and ch != " " else ch
