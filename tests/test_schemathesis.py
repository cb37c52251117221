"""Schemathesis against a live local API: no server error, no answer outside the contract.

The Chalice app is served over real HTTP by the project's local origin
(``adapters.local_server``: the API under ``/api`` as the CDN serves it, through Chalice's
API Gateway emulation) on 127.0.0.1, with moto's DynamoDB in this process (``mock_aws``
patches botocore in every thread). The requests come from the OpenAPI
document, so the run tests the document as much as the server.

Random tracking numbers and secrets only ever meet a 404, so half of the generated
requests are steered at two real cases (one open, one resolved) with their real
secrets: that half reaches the lifecycle rules, the vote and the lookup.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gridportal.adapters.local_server import (
    ApiRequest,
    DirectorySite,
    LocalPortal,
    chalice_api,
)
from gridportal.adapters.tables import create_table
from gridportal.domain.model import Action, Channel, Complaint, Contact, Role
from gridportal.openapi import SERVER_URL, openapi_document
from support.aws import mocked_aws

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SECRET = "schemathesis-secret-not-for-production"
PASSWORD = "correct horse battery"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Modest and bounded: the whole module runs in well under a minute.
BUDGET = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
# TRACE and QUERY stop at Python's http.server (501), not the app: API Gateway answers
# those itself. The other unexpected methods reach Chalice's own 405.
CONFIG = schemathesis.Config.from_dict(
    {
        "phases": {
            "coverage": {"unexpected-methods": ["get", "put", "post", "delete", "patch", "options"]}
        }
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    tokens: dict[str, str]  # role → bearer token
    open_case: str  # tracking number of a case still received (the dispatcher's desk)
    handled_case: str  # in progress at dept-urban (the handler's desk)
    resolved_case: str  # resolved, not yet rated
    lookup_code: str  # of the resolved case
    vote_token: str  # of the resolved case


ROLES = {"dispatcher": None, "handler": "dept-urban", "grid_worker": "QB-LCJX-01"}


def _seed(portal: Any, base_url: str) -> LiveApi:
    """Staff with their tokens, and three cases at three points of the loop."""
    actors = {}
    tokens = {}
    for role, unit in ROLES.items():
        portal.add_staff(f"fuzz-{role}", "fuzz", Role(role), unit, PASSWORD)
        tokens[role] = portal.login(f"fuzz-{role}", PASSWORD)
        actors[role] = portal.authenticate(tokens[role])
    dispatcher, handler = actors["dispatcher"], actors["handler"]
    steps: list[tuple[Action, Any, dict[str, Any]]] = [
        (Action.ASSESS, dispatcher, {"data": {"priority": "general"}}),
        (Action.DISPATCH, dispatcher, {"data": {"unit": "dept-urban"}}),
        (Action.ACCEPT, handler, {}),
        (Action.RESOLVE, handler, {"public_note": "已清运。"}),
    ]
    complaint = Complaint(
        "env-litter",
        "QB-LCJX-01",
        "柳翠井巷北口",
        "垃圾桶满了。",
        Channel.PORTAL,
        Contact("王小明"),
    )
    cases = [portal.file_complaint(complaint) for _ in range(3)]
    for receipt, done in zip(cases, (0, 3, 4), strict=True):
        for action, actor, extra in steps[:done]:
            portal.act(receipt.tracking, action, actor, **extra)
    open_case, handled, resolved = cases
    return LiveApi(
        base_url,
        tokens,
        open_case.tracking,
        handled.tracking,
        resolved.tracking,
        resolved.lookup_code,
        resolved.vote_token,
    )


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with mocked_aws(SECRET):
        create_table(boto3.client("dynamodb", region_name="cn-north-1"))

        import app as chalice_app
        from gridportal.runtime import runtime

        site = DirectorySite(tmp_path_factory.mktemp("site"))  # no site: the API is under test
        api = chalice_api(chalice_app.app)
        with LocalPortal(site=site, api=api) as local:
            yield _seed(runtime().portal, local.base_url + SERVER_URL)


def steer(case: Any, live: LiveApi, staff_case: str = "") -> None:
    """Point every other generated request at a real case, with that case's real secrets.

    Which half is decided by the generated data itself, so Hypothesis replays and shrinks
    a failure the same way.
    """
    if zlib.crc32(repr((case.path_parameters, case.body)).encode()) % 2:
        return
    if "tracking" in (case.path_parameters or {}):
        case.path_parameters["tracking"] = staff_case or live.open_case
    if not isinstance(case.body, dict):
        return
    if case.path == "/cases/lookup":
        case.body.update(tracking=live.resolved_case, code=live.lookup_code)
    elif case.path == "/cases/vote":
        case.body.update(tracking=live.resolved_case, token=live.vote_token)


@schema.parametrize()
@BUDGET
def test_anonymous_requests_stay_within_the_contract(case: Any, live_api: LiveApi) -> None:
    steer(case, live_api)
    case.call_and_validate(base_url=live_api.base_url, checks=CHECKS)


def call_as(role: str, case: Any, live: LiveApi) -> None:
    steer(case, live, live.handled_case if role == "handler" else live.open_case)
    auth = {"Authorization": f"Bearer {live.tokens[role]}"}
    case.call_and_validate(base_url=live.base_url, headers=auth, checks=CHECKS)


# Signed in, each staff route is run as the roles that use it.
@schema.include(path_regex="^/staff/(queue|cases/)").parametrize()
@BUDGET
def test_dispatcher_requests_stay_within_the_contract(case: Any, live_api: LiveApi) -> None:
    call_as("dispatcher", case, live_api)


@schema.include(path_regex="^/staff/(queue|cases/)").parametrize()
@BUDGET
def test_handler_requests_stay_within_the_contract(case: Any, live_api: LiveApi) -> None:
    call_as("handler", case, live_api)


@schema.include(path_regex="^/staff/patrol-reports").parametrize()
@BUDGET
def test_grid_worker_requests_stay_within_the_contract(case: Any, live_api: LiveApi) -> None:
    call_as("grid_worker", case, live_api)


def test_the_local_origin_says_its_answers_are_json(live_api: LiveApi) -> None:
    import app as chalice_app

    api = chalice_api(chalice_app.app)
    answer = api(ApiRequest("POST", "/cases/lookup", {"Content-Type": "application/json"}, b"{}"))
    assert answer.status == 400
    assert dict(answer.headers).get("Content-Type", "").startswith("application/json")
