"""The OpenAPI document stays true: committed, valid, complete, and matched by real answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gridportal import openapi, requests
from gridportal.domain.model import Role
from gridportal.runtime import runtime

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "openapi.json"
DOC_URI = "urn:gridportal:openapi"
HEADERS = {"Content-Type": "application/json"}
COMPLAINT = openapi.REQUEST_EXAMPLES["Complaint"]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.openapi_document()


@pytest.fixture(scope="module")
def registry(document: dict[str, Any]) -> Registry:
    # The document is not itself a JSON Schema; its schemas are 2020-12, as OpenAPI 3.1 says.
    resource: Resource[Any] = DRAFT202012.create_resource(document)
    return Registry().with_resource(DOC_URI, resource)


def validator(registry: Registry, ref: str) -> Draft202012Validator:
    """A validator for one schema of the document, with its $refs resolved in place."""
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{ref}"}, registry=registry, format_checker=FormatChecker()
    )


def errors_of(registry: Registry, ref: str, instance: Any) -> list[str]:
    found = validator(registry, ref).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


# ------------------------------------------------------------- the document itself
def test_committed_document_is_the_rendering() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi.render(), (
        "docs/openapi.json is stale: run `python -m gridportal.openapi > docs/openapi.json`"
    )


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate_spec(document)
    assert document["openapi"].startswith("3.1")


def test_every_chalice_route_is_documented_and_nothing_else() -> None:
    import app as chalice_app

    routes = {
        (path, method.lower())
        for path, methods in chalice_app.app.routes.items()
        for method in methods
    }
    documented = {(op.path, op.method) for op in openapi.OPERATIONS}
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations with no route"


def test_the_api_guide_covers_every_operation_and_error_status() -> None:
    guide = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for op in openapi.OPERATIONS:
        assert f"`{op.method.upper()} /api{op.path}`" in guide, op.path
    for status in openapi.ERROR_RESPONSES:
        assert f"\n| {status}    |" in guide, f"error status {status} missing from the table"
    assert "(openapi.json)" in guide


def test_request_schemas_are_the_validators_own(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for body in requests.BODIES:
        assert schemas[f"{body.name}Request"] == requests.json_schema(body)
    for op in openapi.OPERATIONS:
        content = document["paths"][op.path][op.method].get("requestBody", {}).get("content")
        if op.body is None:
            assert content is None
        else:
            ref = content["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{op.body.name}Request"


def test_staff_routes_and_only_they_need_a_bearer_token(document: dict[str, Any]) -> None:
    for op in openapi.OPERATIONS:
        operation = document["paths"][op.path][op.method]
        needs_token = op.path.startswith("/staff/") and op.path != "/staff/login"
        assert (operation["security"] == [{"staffBearer": []}]) is needs_token, op.path
        assert ("401" in operation["responses"]) is op.path.startswith("/staff/"), op.path
    assert document["components"]["securitySchemes"]["staffBearer"]["scheme"] == "bearer"


def test_every_example_validates_against_its_schema(
    document: dict[str, Any], registry: Registry
) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                ref = body["schema"]["$ref"].removeprefix("#")
                assert errors_of(registry, ref, body["example"]) == [], (method, path)
    for name, answer in openapi.RESPONSE_EXAMPLES.items():
        assert errors_of(registry, f"/components/schemas/{name}", answer) == [], name
    for status, error in openapi.ERROR_EXAMPLES.items():
        assert errors_of(registry, "/components/schemas/Error", error) == [], status


def test_examples_are_accepted_by_the_request_validator() -> None:
    for body in requests.BODIES:
        raw = json.dumps(openapi.REQUEST_EXAMPLES[body.name], ensure_ascii=False).encode()
        assert body.parse(raw)


# ---------------------------------------------------------------- real answers
class Recorder:
    """Sends requests through Chalice's test client and checks each answer on the way."""

    def __init__(self, api: Any, document: dict[str, Any], registry: Registry) -> None:
        self.api = api
        self.document = document
        self.registry = registry
        self.seen: set[tuple[str, str, int]] = set()

    def call(
        self,
        method: str,
        route: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: str = "",
        **path: str,
    ) -> Any:
        url = route.format(**path) + (f"?{query}" if query else "")
        all_headers = {**HEADERS, **(headers or {})}
        if method == "get":
            answer = self.api.http.get(url, headers=all_headers)
        else:
            raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False)
            answer = self.api.http.post(url, headers=all_headers, body=raw)
        self.check(method, route, answer)
        return answer

    def check(self, method: str, route: str, answer: Any) -> None:
        responses = self.document["paths"][route][method]["responses"]
        status = str(answer.status_code)
        assert status in responses, f"{method.upper()} {route} answered undocumented {status}"
        documented = responses[status]
        if "$ref" in documented:
            name = documented["$ref"].rpartition("/")[2]
            documented = self.document["components"]["responses"][name]
        assert answer.headers["Cache-Control"] == "no-store"
        if answer.headers["Content-Type"].startswith("text/html"):  # a form post's page
            assert "text/html" in documented["content"], f"{route} {status} answers a page"
            self.seen.add((method, route, answer.status_code))
            return
        ref = documented["content"]["application/json"]["schema"]["$ref"].removeprefix("#")
        problems = errors_of(self.registry, ref, answer.json_body)
        assert problems == [], f"{method.upper()} {route} {status}: {problems}"
        self.seen.add((method, route, answer.status_code))

    def login(self, username: str, role: Role, unit: str | None = None) -> dict[str, str]:
        runtime().portal.add_staff(username, username, role, unit, PASSWORD)
        answer = self.call("post", "/staff/login", {"username": username, "password": PASSWORD})
        assert answer.status_code == 200
        return {"Authorization": f"Bearer {answer.json_body['token']}"}


@pytest.fixture
def recorder(api: Any, document: dict[str, Any], registry: Registry) -> Recorder:
    return Recorder(api, document, registry)


def resident_flow(recorder: Recorder) -> None:
    """File, retry, look up, resolve and vote, with the errors on the way."""
    call = recorder.call
    filed = call("post", "/complaints", COMPLAINT, {"Idempotency-Key": "contract-1"})
    assert filed.status_code == 201
    receipt = filed.json_body
    tracking = receipt["tracking"]
    again = call("post", "/complaints", COMPLAINT, {"Idempotency-Key": "contract-1"})
    assert again.json_body["tracking"] == tracking
    changed = {**COMPLAINT, "description": "另一件事。"}
    assert (
        call("post", "/complaints", changed, {"Idempotency-Key": "contract-1"}).status_code == 422
    )
    assert call("post", "/complaints", b"{oops").status_code == 400
    assert call("post", "/complaints", b" " * (requests.MAX_BODY_BYTES + 1)).status_code == 413

    code = receipt["lookup_code"]
    assert call("post", "/cases/lookup", {"tracking": tracking, "code": code}).status_code == 200
    assert call("post", "/cases/lookup", {"tracking": tracking, "code": "1"}).status_code == 404
    assert call("post", "/cases/lookup", {"tracking": tracking}).status_code == 400

    vote = {"tracking": tracking, "token": receipt["vote_token"], "rating": "satisfied"}
    route = "/cases/vote"
    assert call("post", route, vote).status_code == 409  # not resolved
    wrong = {**vote, "token": "nope"}
    assert call("post", route, wrong).status_code == 404

    dispatcher = recorder.login("dispatch-01", Role.DISPATCHER)
    handler = recorder.login("urban-01", Role.HANDLER, "dept-urban")
    actions = "/staff/cases/{tracking}/actions"
    for who, body in (
        (dispatcher, {"action": "assess", "data": {"priority": "general"}}),
        (dispatcher, {"action": "dispatch", "data": {"unit": "dept-urban"}}),
        (handler, {"action": "accept"}),
        (handler, {"action": "resolve", "public_note": "已清运。"}),
    ):
        assert call("post", actions, body, who, tracking=tracking).status_code == 200
    assert call("post", route, vote, tracking=tracking).status_code == 201
    assert call("post", route, vote, tracking=tracking).status_code == 201  # a retry: replayed
    other = {**vote, "rating": "unsatisfied"}
    assert call("post", route, other, tracking=tracking).status_code == 409  # already voted
    looked = call("post", "/cases/lookup", {"tracking": tracking, "code": code})
    assert looked.json_body["rating_label"] == "满意"


def staff_flow(recorder: Recorder) -> None:
    """Sign in, read queues and cases, act, report on patrol, and the refusals."""
    call = recorder.call
    tracking = call("post", "/complaints", COMPLAINT).json_body["tracking"]
    dispatcher = recorder.login("dispatch-01", Role.DISPATCHER)
    police = recorder.login("police-01", Role.HANDLER, "city-police")
    worker = recorder.login("grid-01", Role.GRID_WORKER, "QB-LCJX-01")
    bad_login = {"username": "dispatch-01", "password": "wrong"}
    assert call("post", "/staff/login", bad_login).status_code == 401
    assert call("post", "/staff/login", {"username": "x y"}).status_code == 400

    assert call("get", "/staff/queue").status_code == 401
    assert call("get", "/staff/queue", headers=worker).status_code == 403  # no desk queue
    queue = call("get", "/staff/queue", headers=dispatcher)
    assert [c["tracking"] for c in queue.json_body["cases"]] == [tracking]
    assert queue.json_body["next"] is None  # one page
    bad_cursor = call("get", "/staff/queue", headers=dispatcher, query="after=nonsense")
    assert (bad_cursor.status_code, bad_cursor.json_body["error"]["code"]) == (
        400,
        "invalid_cursor",
    )

    case = "/staff/cases/{tracking}"
    assert call("get", case, headers=dispatcher, tracking=tracking).status_code == 200
    assert call("get", case, headers=police, tracking=tracking).status_code == 403
    assert call("get", case, headers=dispatcher, tracking="999999999999").status_code == 404
    assert call("get", case, tracking=tracking).status_code == 401

    actions = "/staff/cases/{tracking}/actions"
    refused = call("post", actions, {"action": "resolve"}, dispatcher, tracking=tracking)
    assert refused.status_code in (403, 409)
    accept = call("post", actions, {"action": "accept"}, dispatcher, tracking=tracking)
    assert accept.status_code == 403
    unknown = {"action": "dispatch", "data": {"unit": "nowhere"}}
    assert call("post", actions, unknown, dispatcher, tracking=tracking).status_code == 400
    early = {"action": "resolve", "public_note": "x"}
    assert call("post", actions, early, police, tracking=tracking).status_code == 403
    archive = {"action": "archive"}
    assert call("post", actions, archive, dispatcher, tracking=tracking).status_code == 409

    report = openapi.REQUEST_EXAMPLES["PatrolReport"]
    key = {"Idempotency-Key": "patrol-1"}
    filed = call("post", "/staff/patrol-reports", report, {**worker, **key})
    assert filed.status_code == 201 and filed.json_body["channel"] == "patrol"
    other = {**report, "description": "另一处隐患。"}
    assert call("post", "/staff/patrol-reports", other, {**worker, **key}).status_code == 422
    elsewhere = {**report, "grid": "QB-DAL-01"}
    assert call("post", "/staff/patrol-reports", elsewhere, worker).status_code == 403
    assert call("post", "/staff/patrol-reports", report, dispatcher).status_code == 403
    assert call("post", "/staff/patrol-reports", report).status_code == 401


def test_resident_answers_match_the_contract(recorder: Recorder) -> None:
    resident_flow(recorder)


def test_staff_answers_match_the_contract(recorder: Recorder) -> None:
    staff_flow(recorder)
    resident_flow(recorder)
    # Both flows together reach every operation's success answer and most error statuses.
    reached = {(method, route) for method, route, status in recorder.seen if status < 300}
    # Open311's answers (XML, the standard's error list): tests/functions/test_open311_routes.py.
    own = {(op.method, op.path) for op in openapi.OPERATIONS if op.tag != openapi.OPEN311_TAG}
    assert reached == own
    statuses = {status for _, _, status in recorder.seen}
    assert statuses >= {200, 201, 400, 401, 403, 404, 409, 413, 422}


def test_form_posts_and_a_locked_lookup_match_the_contract(recorder: Recorder) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def post_form(route: str, fields: dict[str, str]) -> Any:
        answer = recorder.api.http.post(route, headers=form, body=urlencode(fields))
        recorder.check("post", route, answer)
        return answer

    filed = post_form("/complaints", {**COMPLAINT, "idempotency_key": ""})
    assert filed.status_code == 201 and "受理编号" in filed.body.decode()
    assert post_form("/complaints", {**COMPLAINT, "grid": "nowhere"}).status_code == 400
    for _ in range(5):
        looked = post_form("/cases/lookup", {"tracking": "1111-2222-3333", "code": "0"})
        assert looked.status_code == 404
    locked = recorder.call("post", "/cases/lookup", {"tracking": "111122223333", "code": "0"})
    assert locked.status_code == 429 and locked.json_body["error"]["hotline"]
    again = post_form("/cases/lookup", {"tracking": "1111-2222-3333", "code": "0"})
    assert again.status_code == 429 and "锁定" in again.body.decode()
    vote = {"tracking": "1111-2222-3333", "token": "nope", "rating": "satisfied"}
    assert post_form("/cases/vote", vote).status_code == 404
    document = recorder.document
    for route in ("/complaints", "/cases/lookup", "/cases/vote"):
        body = document["paths"][route]["post"]["requestBody"]["content"]
        name = body["application/json"]["schema"]["$ref"].rpartition("/")[2]
        form_schema = document["components"]["schemas"][name.replace("Request", "Form")]
        assert body["application/x-www-form-urlencoded"]["schema"]["$ref"].endswith("Form")
        assert set(form_schema["properties"]) == {
            *document["components"]["schemas"][name]["properties"],
            "idempotency_key",
        }


def test_wrong_content_type_gets_the_error_shape(recorder: Recorder) -> None:
    answer = recorder.api.http.post(
        "/complaints", headers={"Content-Type": "text/plain"}, body="投诉"
    )
    assert answer.status_code == 415
    recorder.check("post", "/complaints", answer)


def test_a_method_a_route_does_not_take_gets_the_error_shape(recorder: Recorder) -> None:
    answer = recorder.api.http.get("/complaints")
    assert answer.status_code == 405
    assert answer.json_body["error"]["code"] == "method_not_allowed"
    assert answer.json_body["error"]["message"] == "该地址不支持此请求方法。"
