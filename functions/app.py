"""The portal's API on Lambda (Chalice). Routes stay thin: parse, call a use case, shape.

Residents: file a complaint, look a case up, vote. Staff: sign in, see their queue,
read a case, move it. The nightly build is a project of its own (functions/nightly,
run by the state machine in infra/nightly.json): this bundle carries neither Pelican nor
Markdown, and its cold start stays light.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Request, Response

from chalicelib.http import ThreadLocalChalice, finish, json_view, parse, staff
from gridportal import requests, views
from gridportal.domain.model import Action, Channel, Rating, label
from gridportal.runtime import runtime

app = ThreadLocalChalice(app_name="gridportal")


def _request() -> Request:
    request = app.current_request
    assert request is not None, "routes run inside a request"
    return request


@app.middleware("http")
def security_headers(event: Any, get_response: Any) -> Response:
    return finish(get_response(event))


# ------------------------------------------------------------------ residents
@app.route("/complaints", methods=["POST"])
@json_view
def file_complaint() -> Response:
    request = _request()
    body = parse(request, requests.COMPLAINT)
    rt = runtime()
    receipt = rt.portal.file_complaint(
        requests.complaint(body, Channel.PORTAL),
        idempotency_key=requests.idempotency_key(request.headers.get("idempotency-key")),
    )
    return Response(views.receipt(receipt, rt.portal.district), status_code=201)


@app.route("/cases/lookup", methods=["POST"])
@json_view
def lookup_case() -> dict[str, Any]:
    body = parse(_request(), requests.LOOKUP)
    rt = runtime()
    return views.resident_case(rt.portal.lookup(body["tracking"], body["code"]), rt.portal.district)


@app.route("/cases/vote", methods=["POST"])
@json_view
def vote() -> Response:
    # The tracking number travels in the body, like the lookup's: never in a URL or a log.
    body = parse(_request(), requests.VOTE)
    view = runtime().portal.vote(
        body["tracking"], body["token"], Rating(body["rating"]), body["comment"]
    )
    rating = view.state.rating
    assert rating is not None
    return Response({"rating": str(rating), "rating_label": label(rating)}, status_code=201)


# ---------------------------------------------------------------------- staff
@app.route("/staff/login", methods=["POST"])
@json_view
def staff_login() -> dict[str, Any]:
    body = parse(_request(), requests.LOGIN)
    return {"token": runtime().portal.login(body["username"], body["password"])}


@app.route("/staff/queue", methods=["GET"])
@json_view
def staff_queue() -> dict[str, Any]:
    request = _request()
    rt = runtime()
    actor = staff(request, rt)
    query: dict[str, str] = dict(request.query_params or {})
    page = rt.portal.queue(actor, after=query.get("after"))
    return {
        "cases": [views.queue_item(item, rt.portal.district) for item in page.items],
        "next": page.after,
    }


@app.route("/staff/cases/{tracking}", methods=["GET"])
@json_view
def staff_case(tracking: str) -> dict[str, Any]:
    rt = runtime()
    actor = staff(_request(), rt)
    return views.staff_case(rt.portal.staff_view(tracking, actor), rt.portal.district, actor)


@app.route("/staff/cases/{tracking}/actions", methods=["POST"])
@json_view
def staff_action(tracking: str) -> dict[str, Any]:
    rt = runtime()
    actor = staff(_request(), rt)
    body = parse(_request(), requests.STAFF_ACTION)
    view = rt.portal.act(
        tracking,
        Action(body["action"]),
        actor,
        public_note=body["public_note"],
        private_note=body["private_note"],
        data=body["data"],
    )
    return views.staff_case(view, rt.portal.district, actor)


@app.route("/staff/patrol-reports", methods=["POST"])
@json_view
def patrol_report() -> Response:
    request = _request()
    rt = runtime()
    actor = staff(request, rt)
    body = parse(request, requests.PATROL_REPORT)
    receipt = rt.portal.file_complaint(
        requests.complaint(body, Channel.PATROL),
        actor=actor,
        idempotency_key=requests.idempotency_key(request.headers.get("idempotency-key")),
    )
    return Response(views.staff_case(receipt.view, rt.portal.district, actor), status_code=201)
