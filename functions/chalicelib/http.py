"""Turning requests into use-case calls and answers into JSON responses."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response

from gridportal.domain.model import Actor
from gridportal.requests import Body
from gridportal.runtime import Runtime, runtime
from gridportal.services import PortalError, Unauthenticated

log = logging.getLogger("gridportal.api")

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


def json_view(view: Callable[..., Any]) -> Callable[..., Response]:
    """Run a view; a PortalError becomes its 4xx JSON answer, anything else a logged 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            result = view(*args, **kwargs)
        except PortalError as exc:
            return error(exc.status, exc.code, exc.message, exc.field)
        except Exception:
            log.exception("unhandled error in %s", view.__name__)  # no request data logged
            return error(
                500, "internal_error", "系统出错,请稍后再试。您提交的内容如已受理会有受理编号。"
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
