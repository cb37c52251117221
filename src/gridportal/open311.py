"""Open311 GeoReport v2 (开放311标准): the portal's services and cases in the standard's shape.

Civic apps (FixMyStreet, Mark-a-Spot, city 311 systems) and media tools speak GeoReport v2;
this module maps the portal onto it and renders both of its formats (XML, which the standard
requires, and JSON). Everything here is pure (values in, values out) except the short section
at the end that issues API keys and records tokens through the store's markers.

The mapping (docs/open311.md has the table):

* service items (服务事项) → services, Chinese names, ``group`` = the item's category;
* a published record (公开记录, ``publication.PublishedRecord``) → a request: public id →
  ``service_request_id``; the lifecycle → ``open``/``closed`` with ``status_notes``; the
  deadline → ``expected_datetime``; the handling unit → ``agency_responsible``; the grid is
  the location: ``address`` names the grid and community, ``address_id`` is the grid id. The
  reference data has no coordinates, so ``lat``/``long`` are left out (never finer than a
  grid's centre, never a home address);
* errors → the standard's list, ``[{"code": 400, "description": "…"}]``.

Reads serve what the nightly build published (``data/cases/<YYYY-MM>.json``); tokens resolve
at once, from a marker written when the request is filed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from gridportal import requests
from gridportal.domain.credentials import Keys
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import OPEN_STATUSES, Channel, Complaint, Role, label
from gridportal.domain.publication import PublishedRecord, iso, month_of
from gridportal.domain.redaction import redact
from gridportal.domain.reference import District, ServiceItem
from gridportal.ports import Store
from gridportal.services import InvalidInput, PortalError

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-01T00:00:00+08:00"  # when this endpoint's shape last changed
FORMATS = ("xml", "json")
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
PREFIX = "open311/v2"  # under the API (/api/open311/v2/…) and in the static copy
MAX_RESULTS = 1000  # GET requests answers at most this many, newest first
WINDOW = timedelta(days=90)  # the default and the widest date range of GET requests
MAX_IDS = MAX_RESULTS
FORM_ENCODING_FACTOR = (
    3  # a percent-encoded byte takes three  # service_request_id values in one query
)
STATUSES = ("open", "closed")
# Form fields the standard defines for POST requests; anything else is refused.
POST_FIELDS = frozenset(
    {
        "api_key",
        "jurisdiction_id",
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
    }
)
GRID_ATTRIBUTE = "grid"  # the one attribute every service has: the grid (网格) is the location
# Who holds a case no department has taken yet (the queue of ``ports.COMMAND_CENTRE``).
COMMAND_CENTRE = label(Role.DISPATCHER)
SERVICE_NOTICE = "已受理。办理动态每晚公开；请用 token 查询 service_request_id。"


class Open311Error(Exception):
    """An answer in the standard's error list: status 400, 403, 404 (or 413, 503)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description

    def errors(self) -> list[dict[str, Any]]:
        return [{"code": self.status, "description": self.description}]


# Our field names, as the standard's form calls them (for the error descriptions).
_FIELD_NAMES = {
    "category": "service_code",
    "grid": f"attribute[{GRID_ATTRIBUTE}]",
    "location": "address_string",
    "description": "description",
    "name": "first_name/last_name",
    "phone": "phone",
}


def from_portal_error(exc: PortalError) -> Open311Error:
    """A use case's refusal in the standard's terms (its status kept: 400, 403, 404, 413…)."""
    field = _FIELD_NAMES.get(exc.field or "", exc.field)
    where = f"{field}: " if field else ""
    return Open311Error(exc.status, f"{where}{exc.message}({exc.code})")


def _echo(value: str, limit: int = 64) -> str:
    """What the client sent, repeated in an error: cut short, printable characters only."""
    text = "".join(ch if ch.isprintable() else "?" for ch in value[:limit])
    return text + ("…" if len(value) > limit else "")


def split_format(segment: str) -> tuple[str, str]:
    """``"env-litter.json"`` → ``("env-litter", "json")``; 404 without a known format."""
    name, dot, fmt = segment.rpartition(".")
    if not dot or not name or fmt not in FORMATS:
        raise Open311Error(404, "未知的格式：请在路径末尾加 .xml 或 .json。")
    return name, fmt


# ---------------------------------------------------------------- discovery, services
def discovery(endpoint: str) -> dict[str, Any]:
    """The discovery document; ``endpoint`` is the base URL of /open311/v2 (no slash at the end)."""
    return {
        "changeset": CHANGESET,
        "contact": "网格化管理公开平台（见网站“关于”页）",
        "key_service": "API key 由平台运维人员签发：portal open311 issue-key <应用名称>",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": endpoint,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def services(district: District) -> list[dict[str, Any]]:
    """Every service item as a service, grouped by category (the standard's ``group``)."""
    ordered = sorted(district.services, key=lambda s: (s.group, s.code))
    return [_service(item) for item in ordered]


def _service(item: ServiceItem) -> dict[str, Any]:
    return {
        "service_code": item.code,
        "service_name": item.name,
        "description": f"{item.group}:{item.name}",
        "metadata": True,  # every service asks for the grid
        "type": "batch",  # handled by people within working-day limits, not in real time
        "keywords": ",".join((item.group, item.name)),
        "group": item.group,
    }


def service_definition(district: District, code: str) -> dict[str, Any]:
    """The definition of one service: the grid (网格) as a required single-value list."""
    if district.service(code) is None:
        raise Open311Error(404, f"没有这个服务（service_code）：{_echo(code)}")
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": GRID_ATTRIBUTE,
                "datatype": "singlevaluelist",
                "required": True,
                "datatype_description": "所在网格（只到网格，不需要门牌号）",
                "order": 1,
                "description": "事项发生在哪个网格？",
                "values": [{"key": g.id, "name": g.name} for g in district.grids],
            }
        ],
    }


# ---------------------------------------------------------------- requests (read side)
def request_of(
    record: PublishedRecord, public: Any = None, *, again: bool = True
) -> dict[str, Any]:
    """One published record as a GeoReport request. Its free text was redacted when it was
    published; an API answer passes it through the redactor once more (idempotent), so it
    never carries more than the redactor allows today. The nightly static copy is made
    from records scrubbed by tonight's redactor (a new redactor republishes every case),
    so it skips the second pass (``again=False``)."""

    def scrub(text: str) -> str:
        return redact(text, public) if again else text

    is_open = record["status"] in OPEN_STATUSES
    notes = [record["status_label"]]
    if record["outcome_label"]:
        notes.append(record["outcome_label"])
    if record["answer"]:
        notes.append(record["answer"])
    if record["deadline_note"]:
        notes.append(record["deadline_note"])
    deadlines = record["deadlines"] or {}
    address = record["grid_name"]  # 柳翠井巷社区第1网格: grid names carry their community
    if record["community_name"] and record["community_name"] not in address:
        address = f"{record['community_name']}{address}"
    answer: dict[str, Any] = {
        "service_request_id": str(record["id"]),
        "status": "open" if is_open else "closed",
        "status_notes": scrub(":".join(notes)),
        "service_name": record["category_name"],
        "service_code": record["category"],
        "description": scrub(record["summary"]),
        "agency_responsible": record["unit_name"] or _last_unit(record) or COMMAND_CENTRE,
        "service_notice": record["route_label"],
        "requested_datetime": record["received_at"],
        "updated_datetime": record["updated_at"] or record["received_at"],
        "address": address,
        "address_id": record["grid"],
    }
    # Left out rather than empty: no deadline yet (the calendar does not reach it), no
    # coordinates (a grid has none in the reference data), no zipcode, no media.
    if deadlines.get("due"):
        answer["expected_datetime"] = deadlines["due"]
    return answer


def _last_unit(record: PublishedRecord) -> str:
    """A closed case has no current unit: the last unit that acted on it."""
    for step in reversed(record["timeline"]):
        if step["unit_name"]:
            return step["unit_name"]
    return ""


@dataclass(frozen=True)
class RequestQuery:
    """GET requests' filters, checked: either ids, or a date window with optional filters."""

    ids: tuple[str, ...]
    codes: frozenset[str]
    statuses: frozenset[str]
    start: datetime
    end: datetime

    def months(self) -> list[str]:
        """The months (Beijing time) the date window touches: at most five for 90 days
        (31 January to 1 May)."""
        first = self.start.astimezone(BEIJING).date().replace(day=1)
        last = self.end.astimezone(BEIJING).date()
        months = []
        while first <= last:
            months.append(first.strftime("%Y-%m"))
            first = (first + timedelta(days=32)).replace(day=1)
        return months

    def matches(self, record: PublishedRecord) -> bool:
        if self.ids:
            return record["id"] in self.ids
        if self.codes and record["category"] not in self.codes:
            return False
        status = "open" if record["status"] in OPEN_STATUSES else "closed"
        if self.statuses and status not in self.statuses:
            return False
        return self.start <= datetime.fromisoformat(record["received_at"]) <= self.end


def _multi(params: Mapping[str, str], name: str) -> list[str]:
    return [v.strip() for v in params.get(name, "").split(",") if v.strip()]


def parse_datetime(value: str, name: str) -> datetime:
    """A W3C/ISO 8601 datetime; one without an offset is taken as Beijing time."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Open311Error(
            400, f"{name}：日期时间格式不正确，应为 ISO 8601，如 2026-11-16T09:30:00+08:00。"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=BEIJING)


def parse_query(params: Mapping[str, str], district: District, now: datetime) -> RequestQuery:
    """The filters of GET requests. Without dates: the last 90 days. A window wider than 90
    days, more than 1,000 ids, an unknown status or service code: 400."""
    known = {"service_request_id", "service_code", "start_date", "end_date", "status"}
    known |= {"jurisdiction_id"}
    if unknown := sorted(set(params) - known):
        raise Open311Error(400, f"不认识的参数：{_echo(', '.join(unknown))}")
    _check_jurisdiction(params.get("jurisdiction_id"), district)
    ids = tuple(dict.fromkeys(_multi(params, "service_request_id")))
    if len(ids) > MAX_IDS:
        raise Open311Error(400, f"service_request_id 一次最多 {MAX_IDS} 个。")
    codes = frozenset(_multi(params, "service_code"))
    if unknown_codes := sorted(c for c in codes if district.service(c) is None):
        raise Open311Error(400, f"service_code: 没有这个服务：{_echo(', '.join(unknown_codes))}")
    statuses = frozenset(s.lower() for s in _multi(params, "status"))
    if statuses - set(STATUSES):
        raise Open311Error(400, "status 只能是 open 或 closed。")
    start_text, end_text = params.get("start_date", ""), params.get("end_date", "")
    end = parse_datetime(end_text, "end_date") if end_text else None
    start = parse_datetime(start_text, "start_date") if start_text else None
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - WINDOW
    if end is None:
        end = min(start + WINDOW, max(now, start))
    if start > end:
        raise Open311Error(400, "start_date 不能晚于 end_date。")
    if end - start > WINDOW:
        raise Open311Error(400, f"日期范围不能超过 {WINDOW.days} 天。")
    return RequestQuery(ids, codes, statuses, start, end)


def select(
    records: Iterable[PublishedRecord], query: RequestQuery, public: Any = None
) -> list[dict[str, Any]]:
    """The matching records as requests, newest first, at most ``MAX_RESULTS``."""
    found = [r for r in records if query.matches(r)]
    found.sort(key=lambda r: (r["received_at"], r["id"]), reverse=True)
    return [request_of(r, public) for r in found[:MAX_RESULTS]]


def month_key(month: str) -> str:
    """Where the nightly build publishes a month's records (``opendata.month_data_keys``; the
    API bundle carries no shard code, a test keeps the two equal)."""
    return f"data/cases/{month}.json"


def month_records(data: bytes | None) -> list[PublishedRecord]:
    """A published month shard (``data/cases/<YYYY-MM>.json``) back into its records."""
    return list(json.loads(data)) if data else []


# ---------------------------------------------------------------- POST requests
@dataclass(frozen=True)
class Filing:
    """A checked POST requests form: the client's key and the complaint it files."""

    api_key: str
    complaint: Complaint
    body_digest: str  # SHA-256 of the form's fields, sorted: the retry's identity


def parse_form(raw: bytes | None) -> dict[str, str]:
    """The form of POST requests (application/x-www-form-urlencoded): within the body limit,
    UTF-8, each field once, only the fields the standard names."""
    # The web form's limit holds for what the form says (its UTF-8 text); the encoded body
    # may be up to three times that, as percent-encoding writes each byte as three.
    too_large = Open311Error(413, f"请求内容过大（上限 {requests.MAX_BODY_BYTES // 1024} KB）。")
    if raw is not None and len(raw) > FORM_ENCODING_FACTOR * requests.MAX_BODY_BYTES:
        raise too_large
    try:
        pairs = parse_qsl((raw or b"").decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise Open311Error(400, "表单编码不正确（应为 UTF-8 的 x-www-form-urlencoded）。") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise Open311Error(400, f"{_echo(name)}：重复的字段。")
        if name not in POST_FIELDS and not _is_attribute(name):
            raise Open311Error(400, f"不认识的字段：{_echo(name)}")
        form[name] = value
    if sum(len(k.encode()) + len(v.encode()) for k, v in form.items()) > requests.MAX_BODY_BYTES:
        raise too_large
    return form


def api_key_of(form: Mapping[str, str]) -> str:
    api_key = form.get("api_key", "").strip()
    if not api_key:
        raise Open311Error(403, "缺少 api_key。")
    return api_key


def parse_filing(form: Mapping[str, str], district: District) -> Filing:
    """A POST requests form as a complaint, checked with the web form's own rules
    (``requests.COMPLAINT``: characters, lengths, required fields) and the service's
    definition (the grid attribute is required)."""
    api_key = api_key_of(form)
    _check_jurisdiction(form.get("jurisdiction_id"), district)
    attributes = {name[len("attribute[") : -1] for name in form if _is_attribute(name)}
    if unknown := sorted(attributes - {GRID_ATTRIBUTE}):
        raise Open311Error(400, f"不认识的属性：{_echo(', '.join(unknown))}")
    code = form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code: 此项不能为空。")
    if district.service(code) is None:
        raise Open311Error(400, f"service_code: 没有这个服务：{_echo(code)}")
    grid = form.get(f"attribute[{GRID_ATTRIBUTE}]", "").strip()
    if not grid:
        raise Open311Error(400, f"attribute[{GRID_ATTRIBUTE}]: 必填属性（所在网格）不能为空。")
    grid_info = district.grid(grid)
    location = form.get("address_string", "").strip() or (grid_info.name if grid_info else grid)
    name = _full_name(form.get("first_name", ""), form.get("last_name", ""))
    body = {
        "category": code,
        "grid": grid,
        "location": location,
        "description": form.get("description", ""),
        "name": name,
        "phone": form.get("phone", ""),
    }
    try:
        checked = requests.COMPLAINT.parse(json.dumps(body, ensure_ascii=False).encode())
    except PortalError as exc:
        raise from_portal_error(exc) from exc
    canonical = json.dumps(
        {k: v for k, v in form.items() if k != "api_key"}, ensure_ascii=False, sort_keys=True
    )
    return Filing(
        api_key,
        requests.complaint(checked, Channel.PORTAL),
        hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _full_name(first: str, last: str) -> str:
    """王 + 小明 → 王小明 (Chinese order, no space); Ann + Lee → Ann Lee."""
    first, last = first.strip(), last.strip()
    if any(ch.isascii() and ch.isalpha() for ch in first + last):
        return " ".join(p for p in (first, last) if p)
    return last + first


def _is_attribute(name: str) -> bool:
    return name.startswith("attribute[") and name.endswith("]") and len(name) > len("attribute[]")


def _check_jurisdiction(value: str | None, district: District) -> None:
    if value and value.strip() != district.id:
        raise Open311Error(404, f"没有这个辖区（jurisdiction_id）：{_echo(value)}")


def idempotency_key(client: str, filing: Filing) -> str:
    """The filing's Idempotency-Key: the client and the body, so that the same client
    posting the same form again gets the same request (within the store's retry window)."""
    digest = hashlib.sha256(f"{client}\x00{filing.body_digest}".encode()).hexdigest()
    return f"open311-{digest[:48]}"


def created(public_id: str, token: str) -> list[dict[str, Any]]:
    """The answer to POST requests: a one-item list with the id and the token."""
    return [
        {
            "service_request_id": public_id,
            "token": token,
            "service_notice": SERVICE_NOTICE,
            "account_id": "",
        }
    ]


# ---------------------------------------------------------------- rendering
# For each answer kind: the root element and the element of each item (the standard's names).
_XML_SHAPES = {
    "services": ("services", "service"),
    "requests": ("service_requests", "request"),
    "errors": ("errors", "error"),
}
# Lists inside an item, and the element of each of their entries.
_XML_LISTS = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def render(kind: str, data: Any, fmt: str) -> bytes:
    """``data`` (a list for services/requests/errors, a dict for discovery and a service
    definition) in ``fmt``. ``kind``: services, requests, errors, discovery, service_definition."""
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    if kind in _XML_SHAPES:
        root_name, item_name = _XML_SHAPES[kind]
        body = _wrap(root_name, "".join(_wrap(item_name, _children(item)) for item in data))
    else:
        body = _wrap(kind, _children(data))
    return (_XML_DECLARATION + body).encode("utf-8", "xmlcharrefreplace")


# The same bytes as ``ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)``
# (a test compares them), written as text: the nightly copy writes every request of a
# month, and ElementTree's tree of elements was four fifths of that time.
_XML_DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"


def _children(data: Mapping[str, Any]) -> str:
    parts = []
    for key, value in data.items():
        if isinstance(value, list):
            entry = _XML_LISTS[key]
            inner = "".join(
                _wrap(entry, _children(v) if isinstance(v, Mapping) else _escape(_text(v)))
                for v in value
            )
            parts.append(_wrap(key, inner))
        else:
            parts.append(_wrap(key, _escape(_text(value))))
    return "".join(parts)


def _wrap(tag: str, body: str) -> str:
    return f"<{tag}>{body}</{tag}>" if body else f"<{tag} />"


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# ---------------------------------------------------------------- the static, nightly copy
def month_copy(month: str, records: Iterable[PublishedRecord]) -> dict[str, bytes]:
    """One month's requests as static files, ``open311/v2/requests/<YYYY-MM>.{json,xml}``:
    every request received that month, newest first, with no 1,000 cap. Written by the
    month's shard (``shards.build_shard``) next to its open data. Keys are site keys."""
    ordered = sorted(records, key=lambda r: (r["received_at"], r["id"]), reverse=True)
    month_requests = [request_of(r, again=False) for r in ordered if r["month"] == month]
    return {month_copy_key(month, fmt): render("requests", month_requests, fmt) for fmt in FORMATS}


def month_copy_key(month: str, fmt: str) -> str:
    return f"{PREFIX}/requests/{month}.{fmt}"


def site_copy(district: District, *, endpoint: str = "/api/open311/v2") -> dict[str, bytes]:
    """The site-wide documents, ``open311/v2/services.{json,xml}`` and
    ``open311/v2/discovery.{json,xml}``, written with the site-wide pages."""
    files: dict[str, bytes] = {}
    for fmt in FORMATS:
        files[f"{PREFIX}/services.{fmt}"] = render("services", services(district), fmt)
        files[f"{PREFIX}/discovery.{fmt}"] = render("discovery", discovery(endpoint), fmt)
    return files


# ---------------------------------------------------------------- keys and tokens (store)
_KEY_MARKER = "open311:key:"  # + Keys.digest("open311-key", api_key) → _IssuedKey as JSON
_KEYS_MARKER = "open311:keys"  # key id → _IssuedKey, for the operator's list and revocation
_TOKEN_MARKER = "open311:token:"  # + token → tracking number
_MONTH_MARKER = "open311:month:"  # + public id → month of receipt
API_KEY_BYTES = 24
KEY_ID_CHARS = 12  # of the key's digest: names a key in the operator's list, reveals nothing


def issue_key(store: Store, keys: Keys, client: str, now: datetime) -> str:
    """A new API key for a client application; only its keyed digest is stored."""
    name = client.strip()
    if not name or len(name) > 100:
        raise InvalidInput("invalid_field", "应用名称须为 1–100 个字符。", "client")
    api_key = secrets.token_urlsafe(API_KEY_BYTES)
    digest = keys.digest("open311-key", api_key)
    record = {"client": name, "issued_at": iso(now), "digest": digest}
    store.set_marker(_KEY_MARKER + digest, json.dumps(record, ensure_ascii=False))
    issued = issued_keys(store)
    issued[digest[:KEY_ID_CHARS]] = record
    store.set_marker(_KEYS_MARKER, json.dumps(issued, ensure_ascii=False, sort_keys=True))
    return api_key


def issued_keys(store: Store) -> dict[str, dict[str, str]]:
    """Every key issued, by key id: client, issued_at and, once revoked, revoked_at."""
    raw = store.get_marker(_KEYS_MARKER)
    return dict(json.loads(raw)) if raw else {}


def key_id(keys: Keys, api_key: str) -> str:
    return keys.digest("open311-key", api_key)[:KEY_ID_CHARS]


def revoke_key(store: Store, key: str, now: datetime) -> dict[str, str]:
    """Revoke the key with this id (from ``issued_keys``): from now on it gets 403. The
    requests it filed stay. Revoking twice keeps the first time."""
    issued = issued_keys(store)
    record = issued.get(key.strip())
    if record is None:
        raise InvalidInput("not_found", "没有这个 key_id 的 api_key。", "key_id")
    if "revoked_at" not in record:
        record = {**record, "revoked_at": iso(now)}
        store.set_marker(_KEY_MARKER + record["digest"], json.dumps(record, ensure_ascii=False))
        issued[key.strip()] = record
        store.set_marker(_KEYS_MARKER, json.dumps(issued, ensure_ascii=False, sort_keys=True))
    return record


def client_of(store: Store, keys: Keys, api_key: str) -> str:
    """The client application an API key was issued to; 403 for any other or revoked key."""
    raw = store.get_marker(_KEY_MARKER + keys.digest("open311-key", api_key)) if api_key else None
    record = json.loads(raw) if raw else None
    if record is None or "revoked_at" in record:
        raise Open311Error(403, "api_key 无效。请向平台运维人员申请。")
    return str(record["client"])


def token_of(keys: Keys, tracking: str) -> str:
    """A request's token: a keyed digest of its tracking number (never the number itself)."""
    return keys.digest("open311-token", tracking)[:32]


def remember(store: Store, keys: Keys, tracking: str, public_id: str, filed_at: datetime) -> str:
    """After a filing: token → tracking number, and public id → month (so that GET
    requests/{id} reads one month's shard). Written again by a retry: same values."""
    token = token_of(keys, tracking)
    store.set_marker(_TOKEN_MARKER + token, tracking)
    store.set_marker(_MONTH_MARKER + public_id, month_of(filed_at))
    return token


def tracking_of_token(store: Store, token: str) -> str | None:
    if not token or len(token) > 64 or not token.isalnum():
        return None
    return store.get_marker(_TOKEN_MARKER + token)


def month_of_request(store: Store, public_id: str) -> str | None:
    """The month of a request filed through Open311 (others: None)."""
    if not public_id.isalnum() or len(public_id) > 32:
        return None
    return store.get_marker(_MONTH_MARKER + public_id)


def recent_months(now: datetime) -> list[str]:
    """The months of the default window, newest first: where an id with no marker is sought."""
    window = RequestQuery((), frozenset(), frozenset(), now - WINDOW, now)
    return list(reversed(window.months()))
