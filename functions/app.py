"""The portal's API on Lambda (Chalice). Routes stay thin: parse, call a use case, shape.

Residents: file a complaint, look a case up, vote. Staff: sign in, see their queue,
read a case, move it. The nightly build is a project of its own (functions/nightly,
run by the state machine in infra/nightly.json): this bundle carries neither Pelican nor
Markdown, and its cold start stays light.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Request, Response

from chalicelib.http import (
    RESIDENT_TYPES,
    ThreadLocalChalice,
    filing_key,
    finish,
    json_view,
    parse,
    record_url,
    resident_view,
    staff,
    submission,
)
from gridportal import requests, views
from gridportal.domain.model import Action, Channel, Rating, label
from gridportal.runtime import runtime

# Chalice would name its own logger after the app and set it to ERROR: that logger is
# "gridportal", the parent of every module's, so their warnings (and the local origin's
# access lines) would go unheard. Logging is the process's to configure.
app = ThreadLocalChalice(app_name="gridportal", configure_logs=False)


def _request() -> Request:
    request = app.current_request
    assert request is not None, "routes run inside a request"
    return request


@app.middleware("http")
def security_headers(event: Any, get_response: Any) -> Response:
    response = get_response(event)
    path = str(getattr(event, "path", ""))
    if response.status_code == 415 and path.startswith("/open311/"):
        # Chalice's own 415 (a body that is not a form), in the standard's error list.
        fmt = "xml" if path.endswith(".xml") else "json"
        response = o311.errors(415, "请以表单格式(application/x-www-form-urlencoded)提交。", fmt)
    return finish(response)


# ------------------------------------------------------------------ residents
# Each takes JSON (scripts, the pages' own script) or a plain HTML form post, answered
# with a small HTML page (chalicelib/html.py): the forms work without JavaScript.
@app.route("/complaints", methods=["POST"], content_types=RESIDENT_TYPES)
@resident_view("report")
def file_complaint() -> Response:
    request = _request()
    sub = submission(request, requests.COMPLAINT)
    rt = runtime()
    receipt = rt.portal.file_complaint(
        requests.complaint(sub.body, Channel.PORTAL),
        idempotency_key=filing_key(request, sub, rt),
    )
    return Response(views.receipt(receipt, rt.portal.district), status_code=201)


@app.route("/cases/lookup", methods=["POST"], content_types=RESIDENT_TYPES)
@resident_view("lookup")
def lookup_case() -> dict[str, Any]:
    body = submission(_request(), requests.LOOKUP).body
    rt = runtime()
    view = rt.portal.lookup(body["tracking"], body["code"])
    return {
        **views.resident_case(view, rt.portal.district),
        "record_url": record_url(rt, view.record.file.public_id),
    }


@app.route("/cases/vote", methods=["POST"], content_types=RESIDENT_TYPES)
@resident_view("vote")
def vote() -> Response:
    # The tracking number travels in the body, like the lookup's: never in a URL or a log.
    # A retry (same key, same vote) gets the first answer again: the vote is its own key.
    body = submission(_request(), requests.VOTE).body
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


# -------------------------------------------------------------------- open311
# Open311 GeoReport v2 under /api/open311/v2/ (docs/open311.md): discovery, services, filing
# and reading requests, tokens; XML and JSON. The glue is chalicelib/open311.py, the mapping
# gridportal/open311.py; the filing goes through Portal.file_complaint like the web form's.
from chalicelib import open311 as o311  # noqa: E402  (this section's own import)

FORM = ["application/x-www-form-urlencoded"]  # POST requests is a form post, as the standard says


@app.route("/open311/v2/discovery.xml", methods=["GET"])
@o311.view(o311.fixed("xml"))
def open311_discovery_xml(fmt: str) -> Response:
    return o311.answer("discovery", o311.open311.discovery(o311.endpoint()), fmt)


@app.route("/open311/v2/discovery.json", methods=["GET"])
@o311.view(o311.fixed("json"))
def open311_discovery_json(fmt: str) -> Response:
    return o311.answer("discovery", o311.open311.discovery(o311.endpoint()), fmt)


@app.route("/open311/v2/services.xml", methods=["GET"])
@o311.view(o311.fixed("xml"))
def open311_services_xml(fmt: str) -> Response:
    return o311.answer("services", o311.open311.services(runtime().portal.district), fmt)


@app.route("/open311/v2/services.json", methods=["GET"])
@o311.view(o311.fixed("json"))
def open311_services_json(fmt: str) -> Response:
    return o311.answer("services", o311.open311.services(runtime().portal.district), fmt)


@app.route("/open311/v2/services/{service_code}", methods=["GET"])
@o311.view(o311.from_segment("service_code"))
def open311_service_definition(fmt: str, service_code: str) -> Response:
    code, _ = o311.open311.split_format(service_code)
    definition = o311.open311.service_definition(runtime().portal.district, code)
    return o311.answer("service_definition", definition, fmt)


@app.route("/open311/v2/requests.xml", methods=["GET"])
@o311.view(o311.fixed("xml"))
def open311_requests_xml(fmt: str) -> Response:
    return o311.answer("requests", o311.list_requests(_request()), fmt)


@app.route("/open311/v2/requests.json", methods=["GET"])
@o311.view(o311.fixed("json"))
def open311_requests_json(fmt: str) -> Response:
    return o311.answer("requests", o311.list_requests(_request()), fmt)


@app.route("/open311/v2/requests.xml", methods=["POST"], content_types=FORM)
@o311.view(o311.fixed("xml"))
def open311_file_xml(fmt: str) -> Response:
    return o311.answer("requests", o311.file_request(_request()), fmt, 201)


@app.route("/open311/v2/requests.json", methods=["POST"], content_types=FORM)
@o311.view(o311.fixed("json"))
def open311_file_json(fmt: str) -> Response:
    return o311.answer("requests", o311.file_request(_request()), fmt, 201)


@app.route("/open311/v2/requests/{service_request_id}", methods=["GET"])
@o311.view(o311.from_segment("service_request_id"))
def open311_request(fmt: str, service_request_id: str) -> Response:
    public_id, _ = o311.open311.split_format(service_request_id)
    return o311.answer("requests", o311.one_request(public_id), fmt)


@app.route("/open311/v2/tokens/{token}", methods=["GET"])
@o311.view(o311.from_segment("token"))
def open311_token(fmt: str, token: str) -> Response:
    value, _ = o311.open311.split_format(token)
    return o311.answer("requests", o311.token(value), fmt)
