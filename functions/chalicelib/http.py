"""Turning requests into use-case calls and answers into JSON responses."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Request, Response

from gridportal.domain.model import Actor
from gridportal.ports import StoreUnavailable
from gridportal.requests import Body
from gridportal.runtime import Runtime, runtime
from gridportal.services import PortalError, Unauthenticated

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
    """Every answer: JSON in our error shape (also Chalice's own 415), with security headers."""
    body = response.body
    if response.status_code == 415 and isinstance(body, dict) and "Code" in body:
        response = error(415, "unsupported_media_type", "请以 application/json 提交。")
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
        except PortalError as exc:
            return error(exc.status, exc.code, exc.message, exc.field)
        except StoreUnavailable:
            log.warning("store unavailable in %s", view.__name__)
            answer = error(503, "unavailable", "系统繁忙,请稍后重试;本次提交未被保存。")
            answer.headers["Retry-After"] = "5"
            return answer
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
