"""Helpers for tests that drive the API through Chalice's test client."""

from __future__ import annotations

import json
from typing import Any

from gridportal.domain.model import Role
from gridportal.runtime import runtime

HEADERS = {"Content-Type": "application/json"}
COMPLAINT = {
    "category": "env-litter",
    "grid": "QB-LCJX-01",
    "location": "柳翠井巷北口垃圾桶旁",
    "description": "垃圾桶满了三天没人清运,气味很大。",
    "name": "王小明",
    "phone": "13812345678",
}


def post(api: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    return api.http.post(path, headers={**HEADERS, **(headers or {})}, body=raw)


def login(api: Any, username: str, role: Role, unit: str | None = None) -> dict[str, str]:
    runtime().portal.add_staff(username, username, role, unit, "correct horse battery")
    answer = post(api, "/staff/login", {"username": username, "password": "correct horse battery"})
    assert answer.status_code == 200, answer.json_body
    return {"Authorization": f"Bearer {answer.json_body['token']}"}


def act(api: Any, auth: dict[str, str], tracking: str, action: str, **body: Any) -> Any:
    return post(api, f"/staff/cases/{tracking}/actions", {"action": action, **body}, auth)
