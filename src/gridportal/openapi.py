"""The API's written contract: an OpenAPI 3.1 document built from the code it describes.

Request bodies come from ``requests.json_schema`` (declared once, validated there);
response shapes mirror ``views``; the routes mirror ``functions/app.py``. Tests keep
the three honest: every Chalice route is documented and nothing else is, real answers
validate against the schemas below, and the committed ``docs/openapi.json`` equals
this rendering. Regenerate it with::

    python -m gridportal.openapi > docs/openapi.json

Paths are the Chalice routes; the server URL ``/api`` is the API Gateway stage that
the CDN serves on the site's own origin (``/api/complaints`` reaches ``/complaints``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from gridportal import requests
from gridportal.domain.model import Action, Priority, Rating, Role, Route, Status
from gridportal.ports import QUEUE_PAGE
from gridportal.requests import MAX_BODY_BYTES, Body
from gridportal.services import ALREADY_VOTED_MESSAGE, NOT_FOUND_MESSAGE

API_VERSION = "1.0.0"
SERVER_URL = "/api"
FORM_TYPE = "application/x-www-form-urlencoded"

# Error statuses a route can answer with, and what each means for the caller.
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "The request is not valid: malformed JSON, an unknown field, a wrong type, a value "
        "too long, a refused character, an unknown category/grid/unit. `field` names the "
        "field when there is one.",
    ),
    401: ("Unauthenticated", "No valid staff session (missing, forged or expired token)."),
    403: ("Forbidden", "The staff member's role or unit may not do this."),
    404: (
        "NotFound",
        "No such case, or the secret does not match. Every failure looks the same.",
    ),
    409: (
        "Conflict",
        "The case's state does not allow this now (already voted, not resolved, illegal "
        "transition), or the same request is still in flight: re-read and retry.",
    ),
    413: ("PayloadTooLarge", f"The body is larger than {MAX_BODY_BYTES} bytes."),
    415: (
        "UnsupportedMediaType",
        "The body is not sent as `application/json` (the residents' routes also take "
        "`application/x-www-form-urlencoded`).",
    ),
    422: (
        "MismatchedRetry",
        "The Idempotency-Key was already used for a request with a different body.",
    ),
    429: (
        "LookupLocked",
        "Five wrong lookup codes in 24 hours locked this tracking number, known or not (the "
        "answer says nothing of whether the case exists): `locked_until` says when lookups "
        "open again, `hotline` whom to call; `Retry-After` gives the seconds left.",
    ),
    503: (
        "Unavailable",
        "The database kept refusing after every retry; nothing was written. Retry later "
        "with the same Idempotency-Key.",
    ),
}


@dataclass(frozen=True)
class Operation:
    """One route of ``functions/app.py`` as the contract describes it."""

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str
    success: int
    response: str  # schema name under components/schemas
    errors: tuple[int, ...]
    body: Body | None = None
    staff: bool = False
    idempotency_key: bool = False
    paged: bool = False  # takes ?after=<cursor> and answers the next page's cursor
    form: bool = False  # also takes an HTML form post, answered with an HTML page


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post",
        "/complaints",
        "fileComplaint",
        "residents",
        "File a complaint (网上投诉)",
        "Creates a case and answers with its tracking number and the two secrets "
        "(lookup code, vote token). They are shown this once; only their hashes are "
        "stored. A retry with the same Idempotency-Key and the same body returns the "
        "same case and the same secrets. A form post without a key gets one derived from "
        "its fields, its sender and the minute (docs/api.md), so a double submit files once.",
        201,
        "Receipt",
        (400, 409, 413, 415, 422, 503),
        body=requests.COMPLAINT,
        idempotency_key=True,
        form=True,
    ),
    Operation(
        "post",
        "/cases/lookup",
        "lookUpCase",
        "residents",
        "Look a case up (受理查询)",
        "Tracking number and lookup code in the body, never in the URL. An unknown number "
        "and a wrong code get the same 404. Five wrong codes in 24 hours lock the number, "
        "known or not, with the same 429 saying until when and whom to call. "
        "`record_url` links the public record once the nightly build has published it.",
        200,
        "ResidentCase",
        (400, 404, 413, 415, 429, 503),
        body=requests.LOOKUP,
        form=True,
    ),
    Operation(
        "post",
        "/cases/vote",
        "rateCase",
        "residents",
        "Rate a resolved case (满意度评价)",
        "Once per case, with the vote code (评价码) from the receipt, and only once the case "
        "is resolved. The same vote sent again (a retry after a slow or lost answer, with "
        "the same Idempotency-Key) gets the first answer again, 201; a different vote on a "
        "rated case: 409 `already_voted`.",
        201,
        "VoteResult",
        (400, 404, 409, 413, 415, 503),
        body=requests.VOTE,
        idempotency_key=True,
        form=True,
    ),
    Operation(
        "post",
        "/staff/login",
        "staffLogin",
        "staff",
        "Sign a staff member in",
        "Answers a signed bearer token valid for 12 hours. Send it as "
        "`Authorization: Bearer <token>` on every staff route.",
        200,
        "Session",
        (400, 401, 413, 415, 503),
        body=requests.LOGIN,
    ),
    Operation(
        "get",
        "/staff/queue",
        "staffQueue",
        "staff",
        "The open cases on the caller's desk, a page at a time",
        "A handler sees their department's open cases; dispatchers, supervisors and "
        "auditors see the command centre's (cases no unit holds yet). Oldest change first, "
        f"at most {QUEUE_PAGE} to a page; `next` is the `after` of the following page "
        "(null on the last one).",
        200,
        "Queue",
        (400, 401, 403, 415, 503),  # 415: a non-JSON Content-Type header, even on a GET
        staff=True,
        paged=True,
    ),
    Operation(
        "get",
        "/staff/cases/{tracking}",
        "staffCase",
        "staff",
        "Read a case's private record",
        "Contact data in clear only for dispatchers, supervisors and the handler of the "
        "unit now responsible; masked for everyone else.",
        200,
        "StaffCase",
        (401, 403, 404, 415, 503),
        staff=True,
    ),
    Operation(
        "post",
        "/staff/cases/{tracking}/actions",
        "staffAction",
        "staff",
        "Move a case one step",
        "The lifecycle rules decide who may do what from which status; a refused action "
        "changes nothing.",
        200,
        "StaffCase",
        (400, 401, 403, 404, 409, 413, 415, 503),
        body=requests.STAFF_ACTION,
        staff=True,
    ),
    Operation(
        "post",
        "/staff/patrol-reports",
        "patrolReport",
        "staff",
        "A grid worker reports what they found on patrol (巡查上报)",
        "Only grid workers, only for their own grid. Idempotent like complaints.",
        201,
        "StaffCase",
        (400, 401, 403, 409, 413, 415, 422, 503),
        body=requests.PATROL_REPORT,
        staff=True,
        idempotency_key=True,
    ),
)

# ------------------------------------------------------------------ schemas
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_TIME = {"type": "string", "format": "date-time"}
_TRACKING = {
    "type": "string",
    "pattern": r"^[0-9]{4}-[0-9]{4}-[0-9]{4}$",
    "description": "tracking number (受理编号), shown grouped by four digits",
}


def _obj(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    """A closed object: every documented key is always present, no other key ever is."""
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }
    if description:
        schema["description"] = description
    return schema


def _enum(values: Any, *, nullable: bool = False) -> dict[str, Any]:
    codes: list[Any] = [str(v) for v in values]
    if nullable:
        return {"type": ["string", "null"], "enum": [*codes, None]}
    return {"type": "string", "enum": codes}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _case_common() -> dict[str, Any]:
    """The keys every case view shares (``views._common``)."""
    return {
        "tracking": _TRACKING,
        "status": _enum(Status),
        "status_label": {"type": "string"},
        "category": {"type": "string"},
        "category_name": {"type": "string"},
        "grid": {"type": "string"},
        "grid_name": {"type": "string"},
        "priority": _enum(Priority),
        "priority_label": {"type": "string"},
        "route": _enum(Route, nullable=True),
        "route_label": {"type": "string"},
        "unit_name": {"type": "string", "description": "responsible department, or empty"},
        "received_at": _TIME,
        "resolved_at": _NULLABLE_TIME,
        "deadlines": {"oneOf": [_ref("Deadlines"), {"type": "null"}]},
        "deadline_note": {
            "type": "string",
            "description": "non-empty when the deadlines cannot be computed yet",
        },
        "answer": {"type": "string", "description": "the public answer or refusal reason"},
        "rating": _enum(Rating, nullable=True),
        "rating_label": {"type": "string"},
        "timeline": {"type": "array", "items": _ref("TimelineStep")},
    }


def _form_schema(body: Body) -> dict[str, Any]:
    """A form post's fields: the JSON body's, plus the page's hidden idempotency key."""
    schema = requests.json_schema(body)
    key = {
        "type": "string",
        "pattern": "^([A-Za-z0-9_-]{8,128})?$",
        "description": "the form's hidden key (the page's script fills it in); without "
        "it, filing derives one from the fields, the sender and the minute",
    }
    return {**schema, "properties": {**schema["properties"], "idempotency_key": key}}


def _schemas() -> dict[str, Any]:
    common = _case_common()
    contact = _obj(
        {"name": {"type": "string"}, "phone": {"type": "string"}},
        "the complainant's contact; masked (王**, 138****5678) unless the reader must call back",
    )
    schemas: dict[str, Any] = {
        "Error": _obj(
            {
                "error": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["code", "message"],
                    "properties": {
                        "code": {
                            "type": "string",
                            "pattern": "^[a-z_]+$",
                            "description": "stable machine code (see docs/api.md)",
                        },
                        "message": {"type": "string", "description": "中文说明, for people"},
                        "field": {"type": "string", "description": "the field at fault"},
                        "locked_until": {
                            **_NULLABLE_TIME,
                            "description": "429 only: when lookups open again",
                        },
                        "hotline": {
                            "type": "string",
                            "description": "429 only: the number to call for help",
                        },
                    },
                }
            }
        ),
        "Deadlines": _obj(
            {
                "contact_due": _NULLABLE_TIME,
                "contact_met": {"type": ["boolean", "null"]},
                "original_due": _NULLABLE_TIME,
                "due": _NULLABLE_TIME,
                "extended": {"type": "boolean"},
                "met": {"type": ["boolean", "null"]},
                "overdue_working_days": {"type": ["integer", "null"], "minimum": 0},
                "pending_year": {"type": ["integer", "null"]},
            },
            "time limits (事项督办); `met` is null while pending and not yet due; a time or "
            "count that needs a year the working-day calendar lacks is null (待定), and "
            "`deadline_note` says so",
        ),
        "TimelineStep": _obj(
            {
                "at": _TIME,
                "action": _enum(Action),
                "label": {"type": "string"},
                "role": _enum(Role),
                "role_label": {"type": "string"},
                "unit": {"type": ["string", "null"]},
                "unit_name": {"type": "string"},
                "note": {"type": "string"},
                "round": {"type": "integer", "minimum": 1},
                "rating": {"type": ["string", "null"], "enum": [*(str(r) for r in Rating), None]},
                "rating_label": {"type": "string"},
            },
            "one public step of the handling record: role and unit, never a person; "
            "`round` is the handling round (a reopen opens the next), `rating` the "
            "resident's rating on a rating step",
        ),
        "Receipt": _obj(
            {
                **common,
                "lookup_code": {
                    "type": "string",
                    "pattern": "^[0-9]{8}$",
                    "description": "查询码: shown once, needed to look the case up",
                },
                "vote_token": {
                    "type": "string",
                    "pattern": "^[A-Za-z0-9_-]+$",
                    "description": "评价码: shown once, needed to rate the case",
                },
                "public_id": {
                    "type": "string",
                    "pattern": "^[a-z0-9]{12}$",
                    "description": "the case's id on the public site",
                },
            },
            "the answer to a new complaint: the only time the two secrets are shown",
        ),
        "ResidentCase": _obj(
            {
                **common,
                "location": {"type": "string"},
                "description": {"type": "string"},
                "contact": contact,
                "can_vote": {"type": "boolean"},
                "record_url": {
                    "type": ["string", "null"],
                    "description": "the case's public record, once published (else null)",
                },
            },
            "the complainant's own view of their case",
        ),
        "VoteResult": _obj({"rating": _enum(Rating), "rating_label": {"type": "string"}}),
        "Session": _obj(
            {"token": {"type": "string", "description": "bearer token, valid 12 hours"}}
        ),
        "QueueItem": _obj(
            {
                "tracking": _TRACKING,
                "status": _enum(Status),
                "status_label": {"type": "string"},
                "category_name": {"type": "string"},
                "grid_name": {"type": "string"},
                "priority_label": {"type": "string"},
                "received_at": _TIME,
                "deadlines": {"oneOf": [_ref("Deadlines"), {"type": "null"}]},
            }
        ),
        "Queue": _obj(
            {
                "cases": {"type": "array", "items": _ref("QueueItem")},
                "next": {
                    "type": ["string", "null"],
                    "description": "`after` for the next page; null on the last page",
                },
            }
        ),
        "StaffCase": _obj(
            {
                **common,
                "public_id": {"type": "string", "pattern": "^[a-z0-9]{12}$"},
                "channel": {"type": "string", "enum": ["portal", "hotline", "wechat", "patrol"]},
                "location": {"type": "string"},
                "description": {"type": "string"},
                "unit": {"type": ["string", "null"]},
                "contact": contact,
                "reopen_count": {"type": "integer", "minimum": 0},
                "return_count": {"type": "integer", "minimum": 0},
                "extensions": {
                    "type": "array",
                    "items": _obj(
                        {
                            "at": _TIME,
                            "new_due": {"type": "string", "format": "date"},
                            "reason": {"type": "string"},
                        }
                    ),
                },
                "events": {
                    "type": "array",
                    "items": _obj(
                        {
                            "seq": {"type": "integer", "minimum": 1},
                            "at": _TIME,
                            "action": _enum(Action),
                            "label": {"type": "string"},
                            "actor": {"type": "string"},
                            "role": _enum(Role),
                            "unit": {"type": ["string", "null"]},
                            "public_note": {"type": "string"},
                            "private_note": {"type": "string"},
                            "data": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        }
                    ),
                },
            },
            "a case's private record, for staff who may see it",
        ),
    }
    for body in requests.BODIES:
        schemas[f"{body.name}Request"] = requests.json_schema(body)
    for op in OPERATIONS:
        if op.form and op.body is not None:
            schemas[f"{op.body.name}Form"] = _form_schema(op.body)
    schemas.update(OPEN311_SCHEMAS)
    return schemas


# ----------------------------------------------------------------- examples
_DEADLINES_EXAMPLE = {
    "contact_due": "2026-11-17T23:59:59+08:00",
    "contact_met": None,
    "original_due": "2026-11-23T23:59:59+08:00",
    "due": "2026-11-23T23:59:59+08:00",
    "extended": False,
    "met": None,
    "overdue_working_days": 0,
    "pending_year": None,
}
_COMMON_EXAMPLE: dict[str, Any] = {
    "tracking": "2611-4827-3391",
    "status": "received",
    "status_label": "已受理",
    "category": "env-litter",
    "category_name": "垃圾堆放、乱扔垃圾",
    "grid": "QB-LCJX-01",
    "grid_name": "柳翠井巷社区第1网格",
    "priority": "general",
    "priority_label": "一般",
    "route": None,
    "route_label": "",
    "unit_name": "",
    "received_at": "2026-11-16T09:30:00+08:00",
    "resolved_at": None,
    "deadlines": _DEADLINES_EXAMPLE,
    "deadline_note": "",
    "answer": "",
    "rating": None,
    "rating_label": "",
    "timeline": [
        {
            "at": "2026-11-16T09:30:00+08:00",
            "action": "receive",
            "label": "受理",
            "role": "resident",
            "role_label": "群众",
            "unit": None,
            "unit_name": "",
            "note": "",
            "round": 1,
            "rating": None,
            "rating_label": "",
        }
    ],
}
REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "Complaint": {
        "category": "env-litter",
        "grid": "QB-LCJX-01",
        "location": "柳翠井巷北口垃圾桶旁",
        "description": "垃圾桶满了三天没人清运，气味很大。",
        "name": "王小明",
        "phone": "13812345678",
    },
    "Lookup": {"tracking": "2611-4827-3391", "code": "40817266"},
    "Vote": {
        "tracking": "2611-4827-3391",
        "token": "Xq3v9kTzN0bq1mW2c8f4Ag",
        "rating": "satisfied",
        "comment": "处理及时。",
    },
    "Login": {"username": "dispatch-01", "password": "correct horse battery staple"},
    "StaffAction": {
        "action": "dispatch",
        "public_note": "转城市管理部办理。",
        "data": {"unit": "dept-urban"},
    },
    "PatrolReport": {
        "category": "safe-fire",
        "grid": "QB-LCJX-01",
        "location": "柳翠井巷7幢楼道",
        "description": "楼道堆放电动车电池和纸箱，堵塞消防通道。",
    },
}
RESPONSE_EXAMPLES: dict[str, dict[str, Any]] = {
    "Receipt": {
        **_COMMON_EXAMPLE,
        "lookup_code": "40817266",
        "vote_token": "Xq3v9kTzN0bq1mW2c8f4Ag",
        "public_id": "mxlcdlztrjhn",
    },
    "ResidentCase": {
        **_COMMON_EXAMPLE,
        "location": "柳翠井巷北口垃圾桶旁",
        "description": "垃圾桶满了三天没人清运，气味很大。",
        "contact": {"name": "王**", "phone": "138****5678"},
        "can_vote": False,
        "record_url": "/cases/mxlcdlztrjhn/",
    },
    "VoteResult": {"rating": "satisfied", "rating_label": "满意"},
    "Session": {
        "token": "WyJkaXNwYXRjaC0wMSIsIDE3OTUxNDMyMDBd."
        "37565b42743f0866bfdfbf6449666924108f3ac79231b201f8f4e4588c863ab7"
    },
    "Queue": {
        "cases": [
            {
                "tracking": "2611-4827-3391",
                "status": "received",
                "status_label": "已受理",
                "category_name": "垃圾堆放、乱扔垃圾",
                "grid_name": "柳翠井巷社区第1网格",
                "priority_label": "一般",
                "received_at": "2026-11-16T09:30:00+08:00",
                "deadlines": _DEADLINES_EXAMPLE,
            }
        ],
        "next": None,
    },
    "StaffCase": {
        **_COMMON_EXAMPLE,
        "public_id": "mxlcdlztrjhn",
        "channel": "portal",
        "location": "柳翠井巷北口垃圾桶旁",
        "description": "垃圾桶满了三天没人清运，气味很大。",
        "unit": None,
        "contact": {"name": "王小明", "phone": "13812345678"},
        "reopen_count": 0,
        "return_count": 0,
        "extensions": [],
        "events": [
            {
                "seq": 1,
                "at": "2026-11-16T09:30:00+08:00",
                "action": "receive",
                "label": "受理",
                "actor": "resident",
                "role": "resident",
                "unit": None,
                "public_note": "",
                "private_note": "",
                "data": {"category": "env-litter", "grid": "QB-LCJX-01", "priority": "general"},
            }
        ],
    },
}
ERROR_EXAMPLES: dict[int, dict[str, Any]] = {
    400: {"error": {"code": "too_long", "message": "不能超过2000字。", "field": "description"}},
    401: {"error": {"code": "unauthenticated", "message": "请先登录。"}},
    403: {"error": {"code": "forbidden", "message": "无权查看该案件。"}},
    404: {
        "error": {
            "code": "not_found",
            "message": NOT_FOUND_MESSAGE,
        }
    },
    409: {"error": {"code": "already_voted", "message": ALREADY_VOTED_MESSAGE}},
    413: {"error": {"code": "too_large", "message": "请求内容过大（上限 16 KB）。"}},
    415: {"error": {"code": "unsupported_media_type", "message": "请以 JSON 格式提交。"}},
    422: {
        "error": {
            "code": "idempotency_mismatch",
            "message": "同一请求编号已用于内容不同的投诉，请刷新页面后重新提交。",
        }
    },
    429: {
        "error": {
            "code": "lookup_locked",
            "message": "查询错误次数过多，该受理编号的查询已暂时锁定。2026年11月17日 09:30"
            "（北京时间）后可再查询。如需帮助，请拨打热线 12345。",
            "locked_until": "2026-11-17T09:30:00+08:00",
            "hotline": "12345",
        }
    },
    503: {"error": {"code": "unavailable", "message": "系统繁忙，请稍后重试；本次提交未被保存。"}},
}
HTML_PAGE = {
    "text/html": {
        "schema": {
            "type": "string",
            "description": "a small zh-CN page saying the same, for a form post (no script)",
        }
    }
}


# ---------------------------------------------------------------- document
def _json_content(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema, "example": example}}


def _operation(op: Operation) -> dict[str, Any]:
    if op.tag == OPEN311_TAG:  # the standard's formats and error list (section at the end)
        return _open311_operation(op)
    no_store = {"Cache-Control": {"$ref": "#/components/headers/CacheControl"}}
    responses: dict[str, Any] = {
        str(op.success): {
            "description": "OK" if op.success == 200 else "Created",
            "headers": no_store,
            "content": _json_content(_ref(op.response), RESPONSE_EXAMPLES[op.response]),
        }
    }
    for status in op.errors:
        responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    if op.form:  # a form post gets the same answers as a page
        for code, answer in list(responses.items()):
            if "$ref" in answer:  # the shared error answer, written out to add the page
                answer = {
                    "description": ERROR_RESPONSES[int(code)][1],
                    "headers": no_store,
                    "content": _json_content(_ref("Error"), ERROR_EXAMPLES[int(code)]),
                }
            answer["content"] = {**answer["content"], **HTML_PAGE}
            responses[code] = answer
    document: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": op.summary,
        "description": op.description,
        "responses": responses,
        "security": [{"staffBearer": []}] if op.staff else [],
    }
    parameters = []
    if "{tracking}" in op.path:
        parameters.append({"$ref": "#/components/parameters/Tracking"})
    if op.idempotency_key:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if op.paged:
        parameters.append({"$ref": "#/components/parameters/After"})
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "description": f"JSON, at most {MAX_BODY_BYTES} bytes; unknown fields are refused.",
            "content": _json_content(
                _ref(f"{op.body.name}Request"), REQUEST_EXAMPLES[op.body.name]
            ),
        }
        if op.form:
            document["requestBody"]["description"] += (
                " Or an HTML form post (`application/x-www-form-urlencoded`, UTF-8): the same "
                "fields, plus the optional hidden `idempotency_key`; answered with a page."
            )
            document["requestBody"]["content"][FORM_TYPE] = {"schema": _ref(f"{op.body.name}Form")}
    return document


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    error_responses = {
        name: {
            "description": description,
            "headers": {"Cache-Control": {"$ref": "#/components/headers/CacheControl"}},
            "content": _json_content(_ref("Error"), ERROR_EXAMPLES[status]),
        }
        for status, (name, description) in ERROR_RESPONSES.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "网格化管理公开平台 API (grid governance transparency portal)",
            "version": API_VERSION,
            "summary": "File complaints, look cases up, rate them; staff move cases.",
            "description": (
                "Residents file a complaint, look its handling up and rate the result; staff "
                "sign in and move cases through the closed loop. Every answer is JSON and "
                "carries `Cache-Control: no-store`. Every error is "
                '`{"error": {"code", "message", "field"?}}` with a 4xx status (503 when the '
                "database is unavailable). Semantics, examples and the table of error codes: "
                "docs/api.md."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": SERVER_URL, "description": "the site's own origin"}],
        "tags": [
            {"name": "residents", "description": "公众：投诉、查询、评价"},
            {"name": "staff", "description": "工作人员：登录、待办、办理"},
        ],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "responses": error_responses,
            "headers": {
                "CacheControl": {
                    "description": "API answers are never stored by browsers or the CDN.",
                    "required": True,
                    "schema": {"type": "string", "const": "no-store"},
                }
            },
            "parameters": {
                "Tracking": {
                    "name": "tracking",
                    "in": "path",
                    "required": True,
                    "description": "tracking number; separators are ignored (2611-4827-3391)",
                    "schema": {"type": "string"},
                },
                "After": {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "description": (
                        "the `next` of the previous page; leave it out for the first page. "
                        "A cursor the portal did not write: 400 `invalid_cursor`."
                    ),
                    "schema": {"type": "string", "minLength": 1},
                },
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": (
                        "A UUID the form makes once per submission and sends again on every "
                        "retry. Same key and same body: the same case and secrets. Same key, "
                        "different body: 422. The first request still being written: 409."
                    ),
                    "schema": {"type": "string", "minLength": 1},
                },
            },
            "securitySchemes": {
                "staffBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the token from POST /staff/login, valid 12 hours",
                }
            },
        },
    }


# ------------------------------------------------------------------ open311
# Open311 GeoReport v2 (docs/open311.md) under /open311/v2/: the standard's paths, its two
# formats and its error list (``[{"code", "description"}]``), not this API's JSON error shape.
OPEN311_TAG = "open311"
_O311 = "/open311/v2"
_O311_ERRORS = "a list of errors in the standard's shape, in the format the path asks for"
_STRING = {"type": "string"}
_BEIJING = {"type": "string", "format": "date-time", "pattern": r"\+08:00$"}
OPEN311_SCHEMAS: dict[str, Any] = {
    "Open311Errors": {
        "type": "array",
        "minItems": 1,
        "items": _obj({"code": {"type": "integer"}, "description": _STRING}),
    },
    "Open311Discovery": _obj(
        {
            "changeset": _BEIJING,
            "contact": _STRING,
            "key_service": _STRING,
            "endpoints": {
                "type": "array",
                "items": _obj(
                    {
                        "specification": _STRING,
                        "url": _STRING,
                        "changeset": _BEIJING,
                        "type": {"type": "string", "enum": ["production", "test"]},
                        "formats": {"type": "array", "items": _STRING},
                    }
                ),
            },
        }
    ),
    "Open311Services": {
        "type": "array",
        "items": _obj(
            {
                "service_code": _STRING,
                "service_name": {**_STRING, "description": "中文名称"},
                "description": _STRING,
                "metadata": {"type": "boolean"},
                "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
                "keywords": _STRING,
                "group": {**_STRING, "description": "the service item's category (事项分类)"},
            }
        ),
    },
    "Open311ServiceDefinition": _obj(
        {
            "service_code": _STRING,
            "attributes": {
                "type": "array",
                "items": _obj(
                    {
                        "variable": {"type": "boolean"},
                        "code": _STRING,
                        "datatype": {"type": "string", "enum": ["singlevaluelist"]},
                        "required": {"type": "boolean"},
                        "datatype_description": _STRING,
                        "order": {"type": "integer"},
                        "description": _STRING,
                        "values": {
                            "type": "array",
                            "items": _obj({"key": _STRING, "name": _STRING}),
                        },
                    }
                ),
            },
        }
    ),
    "Open311Requests": {
        "type": "array",
        "maxItems": 1000,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "service_request_id",
                "status",
                "status_notes",
                "service_name",
                "service_code",
                "description",
                "agency_responsible",
                "service_notice",
                "requested_datetime",
                "updated_datetime",
                "address",
                "address_id",
            ],
            "properties": {
                "service_request_id": {**_STRING, "description": "the case's public id"},
                "status": {"type": "string", "enum": ["open", "closed"]},
                "status_notes": _STRING,
                "service_name": _STRING,
                "service_code": _STRING,
                "description": {**_STRING, "description": "redacted, as published"},
                "agency_responsible": _STRING,
                "service_notice": {**_STRING, "description": "the handling route (办理方式)"},
                "requested_datetime": _BEIJING,
                "updated_datetime": _BEIJING,
                "expected_datetime": {**_BEIJING, "description": "the resolution deadline"},
                "address": {**_STRING, "description": "community and grid, never a home"},
                "address_id": {**_STRING, "description": "grid id"},
            },
        },
    },
    "Open311Created": {
        "type": "array",
        "items": _obj(
            {
                "service_request_id": _STRING,
                "token": _STRING,
                "service_notice": _STRING,
                "account_id": _STRING,
            }
        ),
    },
    "Open311Tokens": {
        "type": "array",
        "items": _obj({"service_request_id": _STRING, "token": _STRING}),
    },
}
_REQUEST_EXAMPLE = {
    "service_request_id": "mxlcdlztrjhn",
    "status": "open",
    "status_notes": "已转办",
    "service_name": "垃圾堆放、乱扔垃圾",
    "service_code": "env-litter",
    "description": "垃圾桶满了三天没人清运，气味很大。",
    "agency_responsible": "城市管理部",
    "service_notice": "分类转办",
    "requested_datetime": "2026-11-16T09:30:00+08:00",
    "updated_datetime": "2026-11-16T10:05:00+08:00",
    "expected_datetime": "2026-11-23T23:59:59+08:00",
    "address": "柳翠井巷社区第1网格",
    "address_id": "QB-LCJX-01",
}
OPEN311_EXAMPLES: dict[str, Any] = {
    "Open311Errors": [{"code": 400, "description": "service_code: 没有这个服务:no-such"}],
    "Open311Discovery": {
        "changeset": "2026-12-01T00:00:00+08:00",
        "contact": "网格化管理公开平台（见网站“关于”页）",
        "key_service": "API key 由平台运维人员签发：portal open311 issue-key <应用名称>",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": "https://example.org/api/open311/v2",
                "changeset": "2026-12-01T00:00:00+08:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    },
    "Open311Services": [
        {
            "service_code": "env-litter",
            "service_name": "垃圾堆放、乱扔垃圾",
            "description": "市容环境：垃圾堆放、乱扔垃圾",
            "metadata": True,
            "type": "batch",
            "keywords": "市容环境，垃圾堆放、乱扔垃圾",
            "group": "市容环境",
        }
    ],
    "Open311ServiceDefinition": {
        "service_code": "env-litter",
        "attributes": [
            {
                "variable": True,
                "code": "grid",
                "datatype": "singlevaluelist",
                "required": True,
                "datatype_description": "所在网格（只到网格，不需要门牌号）",
                "order": 1,
                "description": "事项发生在哪个网格？",
                "values": [{"key": "QB-LCJX-01", "name": "柳翠井巷社区第1网格"}],
            }
        ],
    },
    "Open311Requests": [_REQUEST_EXAMPLE],
    "Open311Created": [
        {
            "service_request_id": "mxlcdlztrjhn",
            "token": "5f0c6f1e9a4b4e0d8c2a7b3e1d9f4a6c",
            "service_notice": "已受理。办理动态每晚公开；请用 token 查询 service_request_id。",
            "account_id": "",
        }
    ],
    "Open311Tokens": [
        {"service_request_id": "mxlcdlztrjhn", "token": "5f0c6f1e9a4b4e0d8c2a7b3e1d9f4a6c"}
    ],
}
_FORM_FIELDS = (
    "Form fields (application/x-www-form-urlencoded): `api_key` (required), `service_code`, "
    "`attribute[grid]` (the grid id, required), `description`, `address_string` (where, at "
    "grid level), `first_name`, `last_name`, `phone` (private: never in any answer); also "
    "accepted and not stored: `jurisdiction_id`, `lat`, `long`, `address_id`, `email`, "
    "`device_id`, `account_id`, `media_url`. The web form's limits apply (16 KB of text)."
)


def _o311_ops(
    method: str,
    name: str,
    op_id: str,
    summary: str,
    description: str,
    response: str,
    errors: tuple[int, ...],
    success: int = 200,
) -> tuple[Operation, ...]:
    """One operation per format: ``<name>.xml`` and ``<name>.json``."""
    return tuple(
        Operation(
            method,
            f"{_O311}/{name}.{fmt}",
            f"{op_id}{fmt.upper()}",
            OPEN311_TAG,
            summary,
            description,
            success,
            response,
            errors,
        )
        for fmt in ("xml", "json")
    )


OPEN311_OPERATIONS: tuple[Operation, ...] = (
    *_o311_ops(
        "get",
        "discovery",
        "open311Discovery",
        "Open311 discovery",
        "Where the endpoint is, which specification and formats it serves, how to get a key.",
        "Open311Discovery",
        (415,),
    ),
    *_o311_ops(
        "get",
        "services",
        "open311Services",
        "Open311 services (服务事项)",
        "Every service item as a service, Chinese names, `group` = its category.",
        "Open311Services",
        (415,),
    ),
    *_o311_ops(
        "get",
        "requests",
        "open311Requests",
        "Open311 requests, as published",
        "From the months the nightly build published: filters `service_request_id` (comma "
        "list, overrides the others), `service_code`, `status` (open, closed), `start_date`, "
        "`end_date` (ISO 8601; default the last 90 days, at most 90). Newest first, at most "
        "1,000.",
        "Open311Requests",
        (400, 404, 415, 503),
    ),
    *_o311_ops(
        "post",
        "requests",
        "open311File",
        "File a request (Open311)",
        "The same use case as POST /complaints; a retried POST with the same body from the "
        "same client gives the same request. " + _FORM_FIELDS,
        "Open311Created",
        (400, 403, 404, 413, 415, 503),
        success=201,
    ),
    Operation(
        "get",
        f"{_O311}/services/{{service_code}}",
        "open311ServiceDefinition",
        OPEN311_TAG,
        "An Open311 service definition",
        "The path segment is the code and the format: `env-litter.xml`. The one attribute "
        "is `grid`, required.",
        200,
        "Open311ServiceDefinition",
        (404, 415),
    ),
    Operation(
        "get",
        f"{_O311}/requests/{{service_request_id}}",
        "open311Request",
        OPEN311_TAG,
        "One Open311 request (a one-item list)",
        "The segment is the public id and the format: `mxlcdlztrjhn.json`. 404 until the "
        "nightly build has published it.",
        200,
        "Open311Requests",
        (404, 415, 503),
    ),
    Operation(
        "get",
        f"{_O311}/tokens/{{token}}",
        "open311Token",
        OPEN311_TAG,
        "The request id of a token",
        "Answers as soon as the request is filed: `<token>.xml` or `<token>.json`.",
        200,
        "Open311Tokens",
        (404, 415, 503),
    ),
)
OPERATIONS = (*OPERATIONS, *OPEN311_OPERATIONS)


def _open311_operation(op: Operation) -> dict[str, Any]:
    suffix = op.path.rpartition(".")[2]
    formats = [suffix] if suffix in ("xml", "json") else ["xml", "json"]
    no_store = {"Cache-Control": {"$ref": "#/components/headers/CacheControl"}}

    def content(schema: str, example: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "xml" in formats:
            out["text/xml"] = {
                "schema": {"type": "string", "description": "the same answer in XML"}
            }
        if "json" in formats:
            out["application/json"] = {"schema": _ref(schema), "example": example}
        return out

    responses: dict[str, Any] = {
        str(op.success): {
            "description": "OK" if op.success == 200 else "Created",
            "headers": no_store,
            "content": content(op.response, OPEN311_EXAMPLES[op.response]),
        }
    }
    for status in op.errors:
        responses[str(status)] = {
            "description": _O311_ERRORS,
            "headers": no_store,
            "content": content("Open311Errors", OPEN311_EXAMPLES["Open311Errors"]),
        }
    document: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": op.summary,
        "description": op.description,
        "responses": responses,
        "security": [],
    }
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": "the value, a dot, and the format: xml or json",
            "schema": {"type": "string", "pattern": r"\.(xml|json)$"},
        }
        for name in ("service_code", "service_request_id", "token")
        if f"{{{name}}}" in op.path
    ]
    if op.method == "get" and op.path.startswith(f"{_O311}/requests."):
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": _STRING}
            for name in ("service_request_id", "service_code", "start_date", "end_date", "status")
        ]
    if parameters:
        document["parameters"] = parameters
    return document


def render() -> str:
    """The committed text of docs/openapi.json."""
    return json.dumps(openapi_document(), ensure_ascii=False, indent=2) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
