"""The Open311 GeoReport v2 routes' glue: formats, the standard's error list, the reads.

The routes in app.py stay a few lines each; the mapping and rendering live in
``gridportal.open311``, the filing in ``Portal.file_complaint`` like the web form's.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from chalice.app import Request, Response

from gridportal import open311
from gridportal.domain.publication import PublishedRecord
from gridportal.domain.redaction import public_data
from gridportal.ports import StoreUnavailable
from gridportal.runtime import Runtime, runtime
from gridportal.services import PortalError

log = logging.getLogger("gridportal.open311")


def answer(kind: str, data: Any, fmt: str, status: int = 200) -> Response:
    return Response(
        body=open311.render(kind, data, fmt).decode("utf-8"),
        status_code=status,
        headers={"Content-Type": open311.CONTENT_TYPES[fmt]},
    )


def errors(status: int, description: str, fmt: str) -> Response:
    return answer("errors", open311.Open311Error(status, description).errors(), fmt, status)


def view(
    fmt_of: Callable[..., str],
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Run a route; every refusal becomes the standard's error list in the asked format.

    ``fmt_of`` takes the route's keyword arguments and gives the format (xml or json); an
    unknown format itself answers 404 in XML, the standard's required format."""

    def decorate(route: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(route)
        def wrapper(**kwargs: Any) -> Response:
            fmt = "xml"
            try:
                fmt = fmt_of(**kwargs)
                return route(fmt, **kwargs)
            except open311.Open311Error as exc:
                return errors(exc.status, exc.description, fmt)
            except PortalError as exc:
                converted = open311.from_portal_error(exc)
                return errors(converted.status, converted.description, fmt)
            except StoreUnavailable:
                log.warning("store unavailable in %s", route.__name__)
                busy = errors(503, "系统繁忙,请稍后重试;本次提交未被保存。", fmt)
                busy.headers["Retry-After"] = "5"
                return busy
            except Exception:
                log.exception("unhandled error in %s", route.__name__)  # no request data logged
                return errors(500, "系统出错,请稍后再试。", fmt)

        return wrapper

    return decorate


def fixed(fmt: str) -> Callable[..., str]:
    return lambda **_: fmt


def from_segment(name: str) -> Callable[..., str]:
    """The format from a path segment such as ``env-litter.json``."""
    return lambda **kwargs: open311.split_format(kwargs[name])[1]


def endpoint(rt: Runtime | None = None) -> str:
    """The base URL of /open311/v2: under the configured site URL (GRIDPORTAL_SITE_URL), or
    relative to the origin when none is set. Never from the Host header, which a client picks."""
    return f"{(rt or runtime()).settings.site_url}/api/{open311.PREFIX}"


def query_params(request: Request) -> dict[str, str]:
    return dict(request.query_params or {})


def raw_body(request: Request) -> bytes:
    raw = request.raw_body
    return raw.encode() if isinstance(raw, str) else (raw or b"")


def file_request(request: Request, rt: Runtime | None = None) -> list[dict[str, Any]]:
    """POST requests: the key first (403 writes nothing), then the form, then the same use
    case as the web form with an idempotency key from the client and the body."""
    rt = rt or runtime()
    form = open311.parse_form(raw_body(request))
    client = open311.client_of(rt.store, rt.portal.keys, open311.api_key_of(form))
    filing = open311.parse_filing(form, rt.portal.district)
    receipt = rt.portal.file_complaint(
        filing.complaint, idempotency_key=open311.idempotency_key(client, filing)
    )
    record = receipt.view.record
    token = open311.remember(
        rt.store, rt.portal.keys, record.tracking, record.file.public_id, record.file.filed_at
    )
    return open311.created(record.file.public_id, token)


def published(rt: Runtime, months: list[str]) -> Iterator[PublishedRecord]:
    """The records the nightly build published for these months (one read per month)."""
    site = rt.site_target()
    for month in months:
        yield from open311.month_records(site.read(open311.month_key(month)))


def list_requests(request: Request, rt: Runtime | None = None) -> list[dict[str, Any]]:
    """GET requests: from the published months the query touches, never from the store's
    cases. With ids: each id's month (a marker for requests filed here), else the months of
    the default window."""
    rt = rt or runtime()
    now = datetime.now(UTC)
    query = open311.parse_query(query_params(request), rt.portal.district, now)
    if query.ids:
        months: dict[str, None] = {}
        for public_id in query.ids:
            month = open311.month_of_request(rt.store, public_id)
            for m in [month] if month else open311.recent_months(now):
                months[m] = None
        chosen = sorted(months, reverse=True)
    else:
        chosen = query.months()
    public = public_data(rt.portal.district)
    return open311.select(published(rt, chosen), query, public)


def one_request(public_id: str, rt: Runtime | None = None) -> list[dict[str, Any]]:
    """GET requests/{id}: a one-item list, or 404 while the nightly build has not published
    it (a token resolves at once; the record follows after the next build)."""
    rt = rt or runtime()
    month = open311.month_of_request(rt.store, public_id)
    months = [month] if month else open311.recent_months(datetime.now(UTC))
    public = public_data(rt.portal.district)
    for record in published(rt, months):  # newest month first, stops at the first match
        if record["id"] == public_id:
            return [open311.request_of(record, public)]
    raise open311.Open311Error(
        404, "没有这个请求,或尚未公开(办理记录每晚公开;刚提交的请求可先用 token 查询)。"
    )


def token(value: str, rt: Runtime | None = None) -> list[dict[str, Any]]:
    """GET tokens/{token}: the request's public id, as soon as it is filed."""
    rt = rt or runtime()
    tracking = open311.tracking_of_token(rt.store, value)
    record = rt.store.get_case(tracking) if tracking else None
    if record is None:
        raise open311.Open311Error(404, "没有这个 token。")
    return [{"service_request_id": record.file.public_id, "token": value}]
