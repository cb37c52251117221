"""The vocabulary of a case: plain enums and dataclasses, no I/O.

Every enum value is a stable English code stored in the data and published in
open data; the Chinese label shown to people lives beside it in ``LABELS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType


class Priority(StrEnum):
    URGENT = "urgent"  # 紧急
    GENERAL = "general"  # 一般
    COMPLEX = "complex"  # 复杂


class Route(StrEnum):
    """The four handling routes (分级分类处置)."""

    DIRECT_ANSWER = "direct_answer"  # 直接解答
    DISPATCH = "dispatch"  # 分类转办
    ONSITE_SUPERVISION = "onsite_supervision"  # 现场督办
    SPECIAL_REPORT = "special_report"  # 专报批办


class Channel(StrEnum):
    """Where a case came in (事项受理多元化)."""

    PORTAL = "portal"  # 网上投诉
    HOTLINE = "hotline"  # 热线
    WECHAT = "wechat"  # 微信
    PATROL = "patrol"  # 网格员巡查上报


class Source(StrEnum):
    """Who raised the case: published so that metrics cannot hide the mix."""

    RESIDENT = "resident"
    PATROL = "patrol"


class Status(StrEnum):
    RECEIVED = "received"  # 已受理
    ASSESSED = "assessed"  # 已研判
    DISPATCHED = "dispatched"  # 已转办
    IN_PROGRESS = "in_progress"  # 办理中
    AWAITING_DECISION = "awaiting_decision"  # 专报待批
    RESOLVED = "resolved"  # 已办结
    RATED = "rated"  # 已评价
    ARCHIVED = "archived"  # 已归档
    MERGED = "merged"  # 已合并


OPEN_STATUSES = frozenset(
    {
        Status.RECEIVED,
        Status.ASSESSED,
        Status.DISPATCHED,
        Status.IN_PROGRESS,
        Status.AWAITING_DECISION,
    }
)
CLOSED_STATUSES = frozenset({Status.RESOLVED, Status.RATED, Status.ARCHIVED, Status.MERGED})


class Outcome(StrEnum):
    """How a closed case ended."""

    RESOLVED = "resolved"  # 已解决
    ANSWERED = "answered"  # 直接解答
    REFUSED = "refused"  # 不予办理(说明理由)
    MERGED = "merged"  # 合并至原件


class Rating(StrEnum):
    """The callback scale (满意度评价)."""

    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


class Role(StrEnum):
    DISPATCHER = "dispatcher"  # 指挥中心派单员
    HANDLER = "handler"  # 职能部门承办人
    GRID_WORKER = "grid_worker"  # 网格员
    SUPERVISOR = "supervisor"  # 督查员
    AUDITOR = "auditor"  # 审计(只读)
    RESIDENT = "resident"  # 群众
    SYSTEM = "system"  # 系统(导入、定时任务)


class Action(StrEnum):
    """Every event kind a case can go through; see ``lifecycle`` for the rules."""

    RECEIVE = "receive"  # 受理
    ASSESS = "assess"  # 研判分类
    ANSWER = "answer"  # 直接解答
    DISPATCH = "dispatch"  # 分类转办
    ACCEPT = "accept"  # 签收
    RETURN = "return"  # 退回
    CONTACT = "contact"  # 联系群众
    EXTEND = "extend"  # 延期
    SUPERVISE = "supervise"  # 现场督办
    REPORT = "report"  # 专报
    DECIDE = "decide"  # 专报批办
    RESOLVE = "resolve"  # 办结
    REFUSE = "refuse"  # 不予办理
    FOLLOW_UP = "follow_up"  # 回访
    RATE = "rate"  # 评价
    REOPEN = "reopen"  # 重办
    MERGE = "merge"  # 合并
    ARCHIVE = "archive"  # 归档


# Labels per enum: values repeat across enums (Status.RESOLVED and Outcome.RESOLVED are
# both "resolved"), and StrEnum members compare equal to their value, so one flat dict
# would let one overwrite the other.
LABELS: Mapping[type[StrEnum], Mapping[StrEnum, str]] = MappingProxyType(
    {
        Priority: {
            Priority.URGENT: "紧急",
            Priority.GENERAL: "一般",
            Priority.COMPLEX: "复杂",
        },
        Route: {
            Route.DIRECT_ANSWER: "直接解答",
            Route.DISPATCH: "分类转办",
            Route.ONSITE_SUPERVISION: "现场督办",
            Route.SPECIAL_REPORT: "专报批办",
        },
        Channel: {
            Channel.PORTAL: "网上投诉",
            Channel.HOTLINE: "热线电话",
            Channel.WECHAT: "微信",
            Channel.PATROL: "网格员巡查上报",
        },
        Source: {
            Source.RESIDENT: "群众反映",
            Source.PATROL: "巡查发现",
        },
        Status: {
            Status.RECEIVED: "已受理",
            Status.ASSESSED: "已研判",
            Status.DISPATCHED: "已转办",
            Status.IN_PROGRESS: "办理中",
            Status.AWAITING_DECISION: "专报待批",
            Status.RESOLVED: "已办结",
            Status.RATED: "已评价",
            Status.ARCHIVED: "已归档",
            Status.MERGED: "已合并",
        },
        Outcome: {
            Outcome.RESOLVED: "已解决",
            Outcome.ANSWERED: "已直接解答",
            Outcome.REFUSED: "不予办理（已说明理由）",
            Outcome.MERGED: "已合并至原件",
        },
        Rating: {
            Rating.SATISFIED: "满意",
            Rating.BASICALLY_SATISFIED: "基本满意",
            Rating.UNSATISFIED: "不满意",
        },
        Role: {
            Role.DISPATCHER: "指挥中心",
            Role.HANDLER: "承办部门",
            Role.GRID_WORKER: "网格员",
            Role.SUPERVISOR: "督查员",
            Role.AUDITOR: "审计员",
            Role.RESIDENT: "群众",
            Role.SYSTEM: "系统",
        },
        Action: {
            Action.RECEIVE: "受理",
            Action.ASSESS: "研判分类",
            Action.ANSWER: "直接解答",
            Action.DISPATCH: "转办",
            Action.ACCEPT: "签收",
            Action.RETURN: "退回",
            Action.CONTACT: "联系反映人",
            Action.EXTEND: "延期",
            Action.SUPERVISE: "现场督办",
            Action.REPORT: "专报",
            Action.DECIDE: "专报批办",
            Action.RESOLVE: "办结",
            Action.REFUSE: "不予办理",
            Action.FOLLOW_UP: "回访",
            Action.RATE: "评价",
            Action.REOPEN: "重办",
            Action.MERGE: "合并",
            Action.ARCHIVE: "归档",
        },
    }
)


def label(value: StrEnum) -> str:
    return LABELS[type(value)][value]


@dataclass(frozen=True)
class Actor:
    """Who did something: a staff member, a resident or the system."""

    role: Role
    id: str
    unit: str | None = None  # department id for handlers, grid id for grid workers


RESIDENT = Actor(Role.RESIDENT, "resident")
SYSTEM = Actor(Role.SYSTEM, "system")


@dataclass(frozen=True)
class Event:
    """One appended step in a case's history. Events are never rewritten.

    ``data`` carries the action's own arguments as strings (target unit, priority,
    route, rating, new due date, merged-into tracking number, follow-up result).
    ``public_note`` is published after redaction; ``private_note`` never is.
    """

    seq: int
    at: datetime
    action: Action
    actor: Actor
    public_note: str = ""
    private_note: str = ""
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Contact:
    """The complainant's private contact data. Never published, never shown to others."""

    name: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Complaint:
    """What a resident (or a grid worker, or an import) files."""

    category: str  # service item code from the service list
    grid: str  # grid id
    location: str  # free text: where, at grid level (no home address needed)
    description: str
    channel: Channel = Channel.PORTAL
    contact: Contact = field(default_factory=Contact)


@dataclass(frozen=True)
class CaseFile:
    """The private record of a case as filed. Its text is kept exactly as received;
    what is published is derived from it through ``publication`` and never written back.
    """

    tracking: str  # random tracking number (受理编号), shown to the complainant only
    public_id: str  # id on the public site; cannot be turned back into ``tracking``
    complaint: Complaint
    filed_at: datetime
    filed_by: Actor

    @property
    def source(self) -> Source:
        return Source.PATROL if self.complaint.channel is Channel.PATROL else Source.RESIDENT
