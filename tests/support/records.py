"""The one builder of published records for tests (site, open data, metrics, shards).

``published_record`` returns a whole ``PublishedRecord`` (every key of
``PUBLIC_FIELDS``, in order): by default a 一般 case received 2025-06-10 09:00 in
Beijing, dispatched, resolved on time and not yet rated. Keywords replace fields as
they are, with three conveniences: ``contact_met`` and ``met`` set the deadline
judgements, an open ``status`` clears the outcome and the resolution time, and
``month`` follows ``received_at`` unless given.
"""

from __future__ import annotations

import itertools
from typing import Any, cast

from gridportal.domain.model import OPEN_STATUSES
from gridportal.domain.publication import PUBLIC_FIELDS, PublishedRecord, PublishedStep

_ids = itertools.count(1)


def next_id() -> str:
    return f"c{next(_ids):011d}"


def step(
    at: str,
    action: str = "receive",
    label: str = "受理",
    role_label: str = "群众",
    note: str = "",
    *,
    role: str = "resident",
    unit: str | None = None,
    unit_name: str = "",
    round: int = 1,
    rating: str | None = None,
    rating_label: str = "",
) -> PublishedStep:
    return {
        "at": at,
        "action": action,
        "label": label,
        "role": role,
        "role_label": role_label,
        "unit": unit,
        "unit_name": unit_name,
        "note": note,
        "round": round,
        "rating": rating,
        "rating_label": rating_label,
    }


def published_record(
    received_at: str = "2025-06-10T09:00:00+08:00", **fields: Any
) -> PublishedRecord:
    judged = {k: fields.pop(k) for k in ("contact_met", "met") if k in fields}
    record: dict[str, Any] = {
        "id": next_id(),
        "category": "litter",
        "category_name": "垃圾乱堆",
        "category_group": "市容环境",
        "difficulty": "easy",
        "grid": "QB-LCJX-01",
        "grid_name": "柳翠井巷社区第1网格",
        "community": "LCJX",
        "community_name": "柳翠井巷社区",
        "channel": "portal",
        "channel_label": "网上投诉",
        "source": "resident",
        "source_label": "群众反映",
        "priority": "general",
        "priority_label": "一般",
        "route": "dispatch",
        "route_label": "分类转办",
        "status": "resolved",
        "status_label": "已办结",
        "outcome": "resolved",
        "outcome_label": "已解决",
        "unit": "CGB",
        "unit_name": "城市管理部",
        "units": ["CGB"],
        "month": received_at[:7],
        "received_at": received_at,
        "contacted_at": "2025-06-10T15:00:00+08:00",
        "resolved_at": "2025-06-12T10:00:00+08:00",
        "updated_at": "2025-06-12T10:00:00+08:00",
        "summary": "楼道堆放杂物",
        "location": "1幢2单元",
        "answer": "已清理",
        "deadlines": {
            "contact_due": "2025-06-11T23:59:59+08:00",
            "contact_met": True,
            "original_due": "2025-06-17T23:59:59+08:00",
            "due": "2025-06-17T23:59:59+08:00",
            "extended": False,
            "met": True,
            "overdue_working_days": 0,
            "pending_year": None,
        },
        "deadline_note": "",
        "rating": None,
        "rating_label": "",
        "rated_at": None,
        "reopen_count": 0,
        "return_count": 0,
        "extension_count": 0,
        "supervised": False,
        "merged_into": None,
        "timeline": [step(received_at)],
    }
    if fields.get("status") in OPEN_STATUSES:
        record.update(outcome=None, outcome_label="", resolved_at=None)
    record.update(fields)
    if judged and record["deadlines"] is not None:
        record["deadlines"] = {**record["deadlines"], **judged}
    assert tuple(record) == PUBLIC_FIELDS, "published_record and PUBLIC_FIELDS disagree"
    return cast(PublishedRecord, record)
