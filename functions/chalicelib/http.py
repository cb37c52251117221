"""Turning requests into use-case calls and answers into JSON responses.

The residents' routes also take HTML form posts and answer them with a small HTML page
(chalicelib/html.py): filing, lookup and voting work without JavaScript.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from chalice.app import Chalice, Request, Response

from chalicelib import html
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import Actor
from gridportal.domain.publication import iso
from gridportal.domain.redaction import HOTLINES
from gridportal.domain.reference import District
from gridportal.ports import StoreUnavailable
from gridportal.requests import MAX_BODY_BYTES, Body, PayloadTooLarge, idempotency_key
from gridportal.runtime import Runtime, runtime
from gridportal.services import InvalidInput, LookupLocked, PortalError, Unauthenticated

log = logging.getLogger("gridportal.api")


class ThreadLocalChalice(Chalice):
    """A Chalice app whose current request belongs to the thread handling it.

    Lambda runs one request at a time per process, but the local origin serves many
    at once from threads; Chalice keeps the request on the app object, so here each
    thread sees its own.
    """

    _local = threading.local()

    @property
    def current_request(self) -> Request | None:
        return getattr(self._local, "request", None)

    @current_request.setter
    def current_request(self, value: Request | None) -> None:
        self._local.request = value

    @property
    def lambda_context(self) -> Any:
        return getattr(self._local, "context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._local.context = value


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return Response(body={"error": body}, status_code=status)


def finish(response: Response) -> Response:
    """Every answer: JSON in our error shape (also Chalice's own 405 and 415), with
    security headers."""
    body = response.body
    if response.status_code == 415 and isinstance(body, dict) and "Code" in body:
        response = error(415, "unsupported_media_type", "请以 application/json 提交。")
    elif response.status_code == 405 and isinstance(body, dict) and "Code" in body:
        allow = response.headers.get("Allow")
        response = error(405, "method_not_allowed", "该地址不支持此请求方法。")
        if allow:
            response.headers["Allow"] = allow
    response.headers.setdefault("Content-Type", "application/json; charset=utf-8")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def json_view(view: Callable[..., Any]) -> Callable[..., Response]:
    """Run a view; a PortalError becomes its 4xx JSON answer, anything else a logged 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            result = view(*args, **kwargs)
        except LookupLocked as exc:
            return locked(exc, runtime().portal.district)
        except PortalError as exc:
            return error(exc.status, exc.code, exc.message, exc.field)
        except StoreUnavailable:
            log.warning("store unavailable in %s", view.__name__)
            answer = error(503, "unavailable", "系统繁忙，请稍后重试；本次提交未被保存。")
            answer.headers["Retry-After"] = "5"
            return answer
        except Exception:
            log.exception("unhandled error in %s", view.__name__)  # no request data logged
            return error(
                500, "internal_error", "系统出错，请稍后再试。再次提交同一内容不会重复受理。"
            )
        if isinstance(result, Response):
            return result
        return Response(body=result, status_code=200)

    return wrapper


def parse(request: Request, body: Body) -> dict[str, Any]:
    raw = request.raw_body
    return body.parse(raw.encode() if isinstance(raw, str) else raw)


def staff(request: Request, rt: Runtime | None = None) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("unauthenticated", "请先登录。")
    return (rt or runtime()).portal.authenticate(token.strip())


# ------------------------------------------------------------ residents' forms
FORM_TYPE = "application/x-www-form-urlencoded"
RESIDENT_TYPES = ["application/json", FORM_TYPE]  # the residents' routes take both
KEY_FIELD = "idempotency_key"  # the forms' hidden field, filled in by the page's script
# Percent-encoding takes 9 bytes for a Chinese character that JSON sends in 3: the form's
# own limit is wider, and the decoded fields meet MAX_BODY_BYTES as JSON, like a script's.
MAX_FORM_BYTES = 3 * MAX_BODY_BYTES
# A form sent without a key gets one derived from its fields, its sender's address and
# the minute; the minute before is looked up too, so a double submit files one case.
FORM_KEY_SECONDS = 60


@dataclass(frozen=True)
class Submission:
    """A resident's request: its validated fields, its idempotency key, and its kind."""

    body: dict[str, Any]
    key: str | None
    form: bool


def current_request() -> Request | None:
    return getattr(ThreadLocalChalice._local, "request", None)


def media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";")[0].strip().lower()


def wants_html(request: Request) -> bool:
    """A form post, or a client that asks for HTML before JSON."""
    if media_type(request) == FORM_TYPE:
        return True
    accept = (request.headers.get("accept") or "").lower()
    return "text/html" in accept and "application/json" not in accept


def form_fields(raw: bytes) -> dict[str, str]:
    """An urlencoded body as one value per name (a repeated name is refused)."""
    if len(raw) > MAX_FORM_BYTES:
        raise PayloadTooLarge("too_large", f"请求内容过大（上限 {MAX_BODY_BYTES // 1024} KB）。")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("malformed_form", "表单内容无法识别，请用 UTF-8 提交。") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise InvalidInput("invalid_field", "同一项填写了两次。", name)
        fields[name] = value
    return fields


def submission(request: Request, body: Body) -> Submission:
    """Parse a JSON or form body by ``body``'s rules; the key from the header or the form."""
    raw = request.raw_body
    data = raw.encode() if isinstance(raw, str) else raw or b""
    form = media_type(request) == FORM_TYPE
    key = request.headers.get("idempotency-key")
    if form:
        fields = form_fields(data)
        key = key or fields.pop(KEY_FIELD, "") or None
        fields = {k: v for k, v in fields.items() if k != KEY_FIELD}
        data = json.dumps(fields, ensure_ascii=False).encode()
    return Submission(body.parse(data), idempotency_key(key), form)


def form_key(fields: Mapping[str, Any], sender: str, minute: int) -> str:
    """The key of a form sent without one: its normalised fields, sender and minute."""
    material = json.dumps([sorted(fields.items()), sender, minute], ensure_ascii=False)
    return "form-" + hashlib.sha256(material.encode()).hexdigest()[:40]


def filing_key(
    request: Request, sub: Submission, rt: Runtime, now: float | None = None
) -> str | None:
    """The key a filing goes under: the client's, or for a form without one, the derived
    key of this minute, unless the same form was filed in the minute before."""
    if sub.key or not sub.form:
        return sub.key
    identity = (request.context or {}).get("identity") or {}
    sender = str(identity.get("sourceIp") or "")
    minute = int((time.time() if now is None else now) // FORM_KEY_SECONDS)
    earlier = form_key(sub.body, sender, minute - 1)
    if rt.store.get_idempotency(rt.portal.keys.digest("idempotency", earlier)):
        return earlier
    return form_key(sub.body, sender, minute)


def hotline(district: District) -> str:
    """The number a resident is told to call: the district's own, else 12345."""
    return str(getattr(district, "hotline", "") or HOTLINES[0])


def beijing(at: datetime) -> str:
    local = at.astimezone(BEIJING)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def locked(exc: LookupLocked, district: District) -> Response:
    """429: the lookup is locked, until when (Beijing time), and whom to call."""
    phone = hotline(district)
    until = f"{beijing(exc.until)}（北京时间）后可再查询。" if exc.until else "请明天再查询。"
    message = f"{exc.message}{until}如需帮助，请拨打热线 {phone}。"
    answer = error(429, exc.code, message)
    answer.body["error"].update({"locked_until": iso(exc.until), "hotline": phone})
    if exc.until:
        wait = exc.until.timestamp() - time.time()
        answer.headers["Retry-After"] = str(max(1, int(wait)))
    return answer


_SITES: dict[int, Any] = {}


def record_url(rt: Runtime, public_id: str) -> str | None:
    """The case's public record, once the nightly build has published it (else None).

    The page key is shards.case_page_key's (the site builder is not imported here)."""
    site = _SITES.get(id(rt))
    try:
        if site is None:
            site = _SITES[id(rt)] = rt.site_target()
        found = site.read(f"cases/{public_id}/index.html") is not None
    except Exception:  # the site unreadable: the lookup answers all the same
        log.warning("site unreadable while looking for a record page")
        return None
    return f"{rt.settings.site_url}/cases/{public_id}/" if found else None


_PAGES: dict[str, Callable[..., Response]] = {
    "report": html.receipt,
    "lookup": html.case,
    "vote": html.voted,
}


def resident_view(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """``json_view``, and for a form post the same answer as a small HTML page."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Response]:
        run = json_view(view)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            response = run(*args, **kwargs)
            request = current_request()
            if request is None or not wants_html(request):
                return response
            return as_html(kind, response)

        return wrapper

    return decorate


def _back_to(kind: str) -> str | None:
    """The form page a refused form post came from: a grid's own (its QR code's, the
    grid chosen) when the post named a grid of the district, else None (the plain form)."""
    request = current_request()
    if kind != "report" or request is None or media_type(request) != FORM_TYPE:
        return None
    raw = request.raw_body
    try:
        grid = form_fields(raw.encode() if isinstance(raw, str) else raw or b"").get("grid")
    except PortalError:
        return None
    known = grid and runtime().portal.district.grid(grid) is not None
    return f"/grids/{grid}/report/" if known else None


def as_html(kind: str, response: Response) -> Response:
    site = runtime().settings.site_url
    body = response.body if isinstance(response.body, dict) else {}
    status = response.status_code
    if status < 400:
        page = _PAGES[kind](body, site)
    else:
        err = body.get("error") or {}
        extra = []
        if err.get("hotline"):
            phone = str(err["hotline"])
            extra.append(f'<p>热线：<a href="tel:{html.e(phone)}">{html.e(phone)}</a></p>')
        page = html.error(kind, status, err, site, extra, back=_back_to(kind))
    page.status_code = status
    if "Retry-After" in response.headers:
        page.headers["Retry-After"] = response.headers["Retry-After"]
    return page
