"""The DynamoDB store: one table (see ``tables``), every access a key read or a query.

Writes that belong together go in one ``TransactWriteItems``; their conditions
make concurrent updates fail rather than overwrite. Throttling is retried with
backoff; a failed condition is reported to the caller, who re-reads and decides
again. Batch writes resend their unprocessed items until none remain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from gridportal.adapters.tables import CHANGED_SHARDS, TABLE_NAME, TTL_ATTRIBUTE, changed_shard
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.lifecycle import CaseState, replay, vote_round
from gridportal.domain.model import (
    Action,
    Actor,
    CaseFile,
    Channel,
    Complaint,
    Contact,
    Event,
    Priority,
    Rating,
    Role,
    Route,
    Status,
)
from gridportal.ports import (
    QUEUE_PAGE,
    AlreadyExists,
    AlreadyVoted,
    CaseHistory,
    CaseRecord,
    Conflict,
    IdempotencyRecord,
    InFlight,
    QueuePage,
    StaffMember,
    StoreUnavailable,
    Vote,
    queue_of,
)

T = TypeVar("T")
_ser = TypeSerializer()
_de = TypeDeserializer()
_THROTTLED = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}
MAX_ATTEMPTS = 4  # with botocore's own 2 attempts each, within the API's 10 s timeout
# A retried filing finds its first answer for this long; then DynamoDB's TTL removes the
# key (a retry of a complaint comes within minutes, a week is ample and costs nothing).
IDEMPOTENCY_TTL = timedelta(days=7)


def _case_key(tracking: str) -> dict[str, str]:
    return {"pk": f"CASE#{tracking}", "sk": "CASE"}


def _event_sk(seq: int) -> str:
    return f"EVENT#{seq:05d}"


def _ts(moment: datetime) -> str:
    return moment.astimezone(BEIJING).isoformat(timespec="microseconds")


def _attempt_key(key: str) -> dict[str, str]:
    return {"pk": f"ATTEMPT#{key}", "sk": "ATTEMPT"}


def _epoch(moment: datetime) -> Decimal:
    return Decimal(str(moment.timestamp()))


def _live(item: dict[str, Any], now: float | Decimal) -> bool:
    """False once ``expires_at`` has passed: DynamoDB deletes such items late (up to days)."""
    expires = item.get(TTL_ATTRIBUTE)
    return expires is None or Decimal(expires) > Decimal(str(now))


class DynamoStore:
    def __init__(
        self,
        client: Any,
        table: str = TABLE_NAME,
        *,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.table = table
        self._sleep = sleep
        # DynamoDB's TTL runs on real time: idempotency keys expire by this clock, whatever
        # clock the use cases run on.
        self._wall_clock = wall_clock

    # ------------------------------------------------------------------ retries
    def _call(self, operation: Callable[[], T]) -> T:
        """Retry throttling and transient errors with jittered exponential backoff."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                return operation()
            except ClientError as exc:
                if not _is_throttled(exc) or attempt == MAX_ATTEMPTS - 1:
                    if _is_throttled(exc):
                        raise StoreUnavailable(str(exc)) from exc
                    raise
                self._sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    def _transact(self, items: list[dict[str, Any]]) -> None:
        # The same items always carry the same token, so DynamoDB applies a retried
        # transaction once even when the first attempt's answer was lost.
        payload = json.dumps(items, sort_keys=True, default=str).encode()
        token = hashlib.sha256(payload).hexdigest()[:36]
        self._call(
            lambda: self.client.transact_write_items(TransactItems=items, ClientRequestToken=token)
        )

    def _put(self, item: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": _serialise(item)}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    # -------------------------------------------------------------------- cases
    def create_case(
        self, record: CaseRecord, first: Event, idempotency: IdempotencyRecord | None
    ) -> None:
        items = [
            self._put(_case_item(record), "attribute_not_exists(pk)"),
            self._put(_event_item(record.tracking, first), "attribute_not_exists(pk)"),
        ]
        if idempotency:
            now = int(self._wall_clock())
            expires = now + int(IDEMPOTENCY_TTL.total_seconds())
            # A key past its expiry that TTL has not deleted yet is free to take again.
            put = self._put(
                _idempotency_item(idempotency, expires),
                f"attribute_not_exists(pk) OR {TTL_ATTRIBUTE} <= :now",
            )
            put["Put"]["ExpressionAttributeValues"] = _serialise({":now": now})
            items.append(put)
        try:
            self._transact(items)
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if "TransactionConflict" in reasons:
                raise InFlight(record.tracking) from exc
            if "ConditionalCheckFailed" in reasons:
                raise AlreadyExists(record.tracking) from exc
            raise

    def get_case(self, tracking: str) -> CaseRecord | None:
        item = self._get(_case_key(tracking))
        return _case_record(item) if item else None

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        response = self._call(
            lambda: self.client.get_item(
                TableName=self.table, Key=_serialise(key), ConsistentRead=True
            )
        )
        return _deserialise(response["Item"]) if "Item" in response else None

    def get_events(self, tracking: str) -> list[Event]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": f"CASE#{tracking}", ":prefix": "EVENT#"},
            ConsistentRead=True,
        )
        return [_event(item) for item in items]

    def get_history(self, tracking: str) -> CaseHistory | None:
        # A case's item collection holds its record, events and vote: one query reads all.
        record: CaseRecord | None = None
        events: list[Event] = []
        vote: Vote | None = None
        for item in self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": f"CASE#{tracking}"},
            ConsistentRead=True,
        ):
            if item["sk"] == "CASE":
                record = _case_record(item)
            elif item["sk"] == "VOTE":
                vote = _vote(item)
            elif item["sk"].startswith("EVENT#"):
                events.append(_event(item))
        return CaseHistory(record, tuple(events), vote) if record else None

    def append_event(self, record: CaseRecord, event: Event, state: CaseState) -> CaseRecord:
        updated = record.with_state(state)
        try:
            self._transact(self._append_items(record, updated, event))
        except ClientError as exc:
            if set(_cancellation_reasons(exc)) & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise Conflict(record.tracking) from exc
            raise
        return updated

    def _append_items(
        self, record: CaseRecord, updated: CaseRecord, event: Event, extra_condition: str = ""
    ) -> list[dict[str, Any]]:
        condition = "seq = :expected" + (f" AND {extra_condition}" if extra_condition else "")
        case_put = self._put(_case_item(updated), condition)
        values: dict[str, Any] = {":expected": record.seq}
        if extra_condition:
            values |= {":resolved": str(Status.RESOLVED), ":vote_hash": record.vote_hash}
        case_put["Put"]["ExpressionAttributeValues"] = _serialise(values)
        return [
            self._put(_event_item(record.tracking, event), "attribute_not_exists(pk)"),
            case_put,
        ]

    def record_vote(
        self, record: CaseRecord, vote: Vote, event: Event, state: CaseState
    ) -> CaseRecord:
        updated = record.with_state(state)
        # One vote item per case, holding the latest rating round's vote: a vote for a
        # round already rated is refused, a reopened case's next round replaces it.
        vote_put = self._put(
            _vote_item(record.tracking, vote, state.round),
            "attribute_not_exists(pk) OR attribute_not_exists(#round) OR #round < :round",
        )
        vote_put["Put"]["ExpressionAttributeNames"] = {"#round": "round"}
        vote_put["Put"]["ExpressionAttributeValues"] = _serialise({":round": state.round})
        items = [
            vote_put,
            *self._append_items(
                record, updated, event, "#status = :resolved AND vote_hash = :vote_hash"
            ),
        ]
        items[2]["Put"]["ExpressionAttributeNames"] = {"#status": "status"}
        try:
            self._transact(items)
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise AlreadyVoted(record.tracking) from exc
            if set(reasons) & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise Conflict(record.tracking) from exc
            raise
        return updated

    def get_vote(self, tracking: str) -> Vote | None:
        item = self._get({"pk": f"CASE#{tracking}", "sk": "VOTE"})
        return _vote(item) if item else None

    def reserve_attempt(self, key: str, now: datetime, window: timedelta, limit: int) -> bool:
        # One item per guarded key, apart from the case so that a new step never resets it;
        # each attempt is one conditional ADD. ``expires_at`` ends the window (TTL then
        # deletes the item), so an expired item left behind counts as no item.
        ddb_key = _serialise(_attempt_key(key))
        values = {
            ":now": _epoch(now),
            ":one": 1,
            ":expires": math.ceil((now + window).timestamp()),
        }
        try:  # the first attempt, or one more in a running window below the limit
            self._call(
                lambda: self.client.update_item(
                    TableName=self.table,
                    Key=ddb_key,
                    UpdateExpression=f"SET {TTL_ATTRIBUTE} = if_not_exists({TTL_ATTRIBUTE}, "
                    ":expires) ADD attempts :one",
                    ConditionExpression=f"attribute_not_exists({TTL_ATTRIBUTE}) OR "
                    f"({TTL_ATTRIBUTE} > :now AND attempts < :limit)",
                    ExpressionAttributeValues=_serialise(values | {":limit": limit}),
                )
            )
            return True
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
        try:  # the window has run out: start a new one with this attempt
            self._call(
                lambda: self.client.update_item(
                    TableName=self.table,
                    Key=ddb_key,
                    UpdateExpression=f"SET {TTL_ATTRIBUTE} = :expires, attempts = :one",
                    ConditionExpression=f"{TTL_ATTRIBUTE} <= :now",
                    ExpressionAttributeValues=_serialise(values),
                )
            )
            return True
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            return False  # locked

    def release_attempt(self, key: str) -> None:
        try:
            self._call(
                lambda: self.client.update_item(
                    TableName=self.table,
                    Key=_serialise(_attempt_key(key)),
                    UpdateExpression="ADD attempts :minus",
                    ConditionExpression="attempts > :zero",
                    ExpressionAttributeValues=_serialise({":minus": -1, ":zero": 0}),
                )
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise

    def attempts_locked_until(
        self, key: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        item = self._get(_attempt_key(key))
        if item is None or not _live(item, _epoch(now)) or int(item["attempts"]) < limit:
            return None
        return datetime.fromtimestamp(int(item[TTL_ATTRIBUTE]), UTC)

    def get_idempotency(self, key_hash: str) -> IdempotencyRecord | None:
        item = self._get({"pk": f"IDEM#{key_hash}", "sk": "IDEM"})
        if item is None or not _live(item, self._wall_clock()):
            return None
        return IdempotencyRecord(
            item["key_hash"], item["request_hash"], item["tracking"], _dt(item["created_at"])
        )

    # ------------------------------------------------------------------ queries
    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs = {"TableName": self.table, **kwargs}
        if "ExpressionAttributeValues" in kwargs:
            kwargs["ExpressionAttributeValues"] = _serialise(kwargs["ExpressionAttributeValues"])
        while True:
            response = self._call(lambda: self.client.query(**kwargs))
            for item in response.get("Items", []):
                yield _deserialise(item)
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def unit_queue(self, unit: str) -> list[CaseRecord]:
        """Every case of a queue, all pages; records as ``queue_page`` gives them."""
        items = self._query(
            IndexName="by_unit",
            KeyConditionExpression="unit_pk = :pk",
            ExpressionAttributeValues={":pk": unit},
        )
        return [_case_record(item) for item in items]

    def queue_page(
        self, unit: str, *, limit: int = QUEUE_PAGE, after: str | None = None
    ) -> QueuePage:
        """One page of a queue, straight from the by_unit index: one request, no read per
        case. The index holds no contact data, free text or hashes, so those fields of the
        records are empty; read the case (``get_history``) for the whole of it."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "by_unit",
            "KeyConditionExpression": "unit_pk = :pk",
            "ExpressionAttributeValues": _serialise({":pk": unit}),
            "Limit": limit + 1,  # one more tells whether a next page exists
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = _serialise(_queue_start_key(unit, after))
        items: list[dict[str, Any]] = []
        while len(items) <= limit:  # a 1 MB page may stop short of the Limit
            response = self._call(lambda: self.client.query(**kwargs))
            items.extend(_deserialise(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            kwargs["Limit"] = limit + 1 - len(items)
        page = items[:limit]
        more = len(items) > limit
        return QueuePage(
            tuple(_case_record(item) for item in page),
            _queue_cursor(page[-1]["unit_sk"]) if more else None,
        )

    def changed_since(self, moment: datetime, until: datetime) -> Iterator[str]:
        day = moment.astimezone(BEIJING).date()
        last = until.astimezone(BEIJING).date()
        # "~" sorts after "#<tracking>": a change exactly at ``moment`` is not "since", one
        # exactly at ``until`` is within.
        bounds = {":after": _ts(moment) + "~", ":until": _ts(until) + "~"}
        while day <= last:
            for shard in range(CHANGED_SHARDS):
                for item in self._query(
                    IndexName="changed",
                    KeyConditionExpression="ch_pk = :pk AND ch_sk BETWEEN :after AND :until",
                    ExpressionAttributeValues={":pk": _changed_pk(day, shard), **bounds},
                ):
                    yield item["pk"].removeprefix("CASE#")
            day += timedelta(days=1)

    def all_histories(self) -> Iterator[tuple[CaseRecord, list[Event]]]:
        # The full rebuild reads everything once: one paginated scan beats a query a case.
        # A scan returns each item collection whole and in a row (sorted by sk, even across
        # pages), so one case at a time is held: memory does not grow with the table.
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :case)",
            "ExpressionAttributeValues": _serialise({":case": "CASE#"}),
        }
        current: str | None = None
        case: dict[str, Any] | None = None
        events: list[Event] = []
        while True:
            response = self._call(lambda: self.client.scan(**kwargs))
            for raw in response.get("Items", []):
                item = _deserialise(raw)
                if item["pk"] != current:
                    if case is not None:
                        yield _case_record(case), sorted(events, key=lambda e: e.seq)
                    current, case, events = item["pk"], None, []
                if item["sk"] == "CASE":
                    case = item
                elif item["sk"].startswith("EVENT#"):
                    events.append(_event(item))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        if case is not None:
            yield _case_record(case), sorted(events, key=lambda e: e.seq)

    def put_histories(
        self, histories: Iterable[tuple[CaseRecord, Sequence[Event], Vote | None]]
    ) -> None:
        """Many case histories in as few batch writes as possible (demo loading)."""
        self.batch_put(
            item
            for record, events, vote in histories
            for item in (
                _case_item(record),
                *(_event_item(record.tracking, e) for e in events),
                *([_vote_item(record.tracking, vote, vote_round(events))] if vote else []),
            )
        )

    # ------------------------------------------------------------- bulk writes
    def put_history(self, record: CaseRecord, events: Sequence[Event], vote: Vote | None) -> None:
        items = [_case_item(record), *(_event_item(record.tracking, e) for e in events)]
        if vote is not None:
            items.append(_vote_item(record.tracking, vote, vote_round(events)))
        self.batch_put(items)

    def batch_put(self, items: Iterable[dict[str, Any]]) -> None:
        """Write items 25 at a time, resending unprocessed ones with backoff."""
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append({"PutRequest": {"Item": _serialise(item)}})
            if len(batch) == 25:
                self._write_batch(batch)
                batch = []
        if batch:
            self._write_batch(batch)

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        pending = requests
        for attempt in range(MAX_ATTEMPTS * 2):
            response = self._call(
                partial(self.client.batch_write_item, RequestItems={self.table: pending})
            )
            pending = response.get("UnprocessedItems", {}).get(self.table, [])
            if not pending:
                return
            self._sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        raise StoreUnavailable(f"{len(pending)} items still unprocessed after retries")

    # ------------------------------------------------------------------ upgrade
    def refresh_case_items(self) -> tuple[int, int]:
        """Rewrite every case item in today's shape: the deadline snapshot replayed from its
        events, the sharded changed key. For tables written by earlier versions; run once
        after deploying (docs/deployment.md). Each case is one conditional put, so a step
        taken meanwhile wins (and writes the new shape itself). Returns (rewritten, skipped).
        """
        rewritten = skipped = 0
        for record, events in self.all_histories():
            fresh = record.with_state(replay(events))
            put = self._put(_case_item(fresh), "seq = :seq")["Put"]
            put["ExpressionAttributeValues"] = _serialise({":seq": record.seq})
            try:
                self._call(partial(self.client.put_item, **put))
                rewritten += 1
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                skipped += 1
        return rewritten, skipped

    # -------------------------------------------------------------- staff, meta
    def put_staff(self, member: StaffMember) -> None:
        item = {
            "pk": f"STAFF#{member.username}",
            "sk": "STAFF",
            "username": member.username,
            "display_name": member.display_name,
            "role": str(member.role),
            "unit": member.unit,
            "password_hash": member.password_hash,
            "active": member.active,
        }
        self._call(lambda: self.client.put_item(TableName=self.table, Item=_serialise(item)))

    def get_staff(self, username: str) -> StaffMember | None:
        item = self._get({"pk": f"STAFF#{username}", "sk": "STAFF"})
        if item is None:
            return None
        return StaffMember(
            item["username"],
            item["display_name"],
            Role(item["role"]),
            item.get("unit"),
            item["password_hash"],
            bool(item.get("active", True)),
        )

    def get_marker(self, name: str) -> str | None:
        item = self._get({"pk": f"META#{name}", "sk": "META"})
        return str(item["value"]) if item else None

    def set_marker(self, name: str, value: str) -> None:
        item = {"pk": f"META#{name}", "sk": "META", "value": value}
        self._call(lambda: self.client.put_item(TableName=self.table, Item=_serialise(item)))


# ------------------------------------------------------------------- codec
def _serialise(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None and v != ""}


def _deserialise(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _case_item(record: CaseRecord) -> dict[str, Any]:
    complaint = record.file.complaint
    filed = record.file.filed_at
    queue = queue_of(record)
    changed = f"{_ts(record.updated_at)}#{record.tracking}"
    return {
        **_case_key(record.tracking),
        "tracking": record.tracking,
        "public_id": record.file.public_id,
        "category": complaint.category,
        "grid": complaint.grid,
        "location": complaint.location,
        "description": complaint.description,
        "channel": str(complaint.channel),
        "contact_name": complaint.contact.name,
        "contact_phone": complaint.contact.phone,
        "filed_at": _ts(filed),
        "filed_by": [str(record.file.filed_by.role), record.file.filed_by.id],
        "filed_by_unit": record.file.filed_by.unit,
        "lookup_hash": record.lookup_hash,
        "vote_hash": record.vote_hash,
        "status": str(record.status),
        "unit": record.unit,
        "seq": record.seq,
        "updated_at": _ts(record.updated_at),
        "idempotency_key": record.idempotency_key,
        # the deadline snapshot, for the queue (None values are left out)
        "priority": str(record.priority) if record.priority else None,
        "route": str(record.route) if record.route else None,
        "contacted_at": _ts(record.contacted_at) if record.contacted_at else None,
        "extended_due": record.extended_due.isoformat() if record.extended_due else None,
        # index keys
        "unit_pk": queue,  # sparse: closed cases leave the queue index
        "unit_sk": changed if queue else None,
        "ch_pk": _changed_pk(
            record.updated_at.astimezone(BEIJING).date(), changed_shard(record.tracking)
        ),
        "ch_sk": changed,
    }


def _changed_pk(day: date, shard: int) -> str:
    return f"{day.isoformat()}#{shard}"


def _case_record(item: dict[str, Any]) -> CaseRecord:
    """A case from its item, or from a queue index item (no contact, free text or hashes)."""
    role, actor_id = item["filed_by"]
    return CaseRecord(
        file=CaseFile(
            tracking=item["pk"].removeprefix("CASE#"),
            public_id=item.get("public_id", ""),
            complaint=Complaint(
                category=item["category"],
                grid=item["grid"],
                location=item.get("location", ""),
                description=item.get("description", ""),
                channel=Channel(item["channel"]),
                contact=Contact(item.get("contact_name", ""), item.get("contact_phone", "")),
            ),
            filed_at=_dt(item["filed_at"]),
            filed_by=Actor(Role(role), actor_id, item.get("filed_by_unit")),
        ),
        lookup_hash=item.get("lookup_hash", ""),
        vote_hash=item.get("vote_hash", ""),
        status=Status(item["status"]),
        unit=item.get("unit"),
        seq=int(item["seq"]),
        updated_at=_dt(item["updated_at"]),
        idempotency_key=item.get("idempotency_key"),
        priority=Priority(item["priority"]) if "priority" in item else None,
        route=Route(item["route"]) if "route" in item else None,
        contacted_at=_dt(item["contacted_at"]) if "contacted_at" in item else None,
        extended_due=date.fromisoformat(item["extended_due"]) if "extended_due" in item else None,
    )


def _queue_cursor(unit_sk: str) -> str:
    """The opaque cursor of a queue page: where the page ended in the index."""
    return base64.urlsafe_b64encode(unit_sk.encode()).decode().rstrip("=")


def _queue_start_key(unit: str, cursor: str) -> dict[str, str]:
    """The ExclusiveStartKey a cursor stands for, in ``unit``'s queue (ValueError if bad)."""
    try:
        if not cursor or len(cursor) > 200:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, _, tracking = raw.decode("ascii").rpartition("#")
        at = datetime.fromisoformat(moment)
        if at.tzinfo is None or not tracking.isdigit() or _queue_cursor(raw.decode()) != cursor:
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"not a queue cursor: {cursor!r}") from exc
    unit_sk = f"{_ts(at)}#{tracking}"
    return {**_case_key(tracking), "unit_pk": unit, "unit_sk": unit_sk}


def _event_item(tracking: str, event: Event) -> dict[str, Any]:
    return {
        "pk": f"CASE#{tracking}",
        "sk": _event_sk(event.seq),
        "seq": event.seq,
        "at": _ts(event.at),
        "action": str(event.action),
        "actor": [str(event.actor.role), event.actor.id],
        "actor_unit": event.actor.unit,
        "public_note": event.public_note,
        "private_note": event.private_note,
        "data": dict(event.data) or None,
    }


def _event(item: dict[str, Any]) -> Event:
    role, actor_id = item["actor"]
    return Event(
        seq=int(item["seq"]),
        at=_dt(item["at"]),
        action=Action(item["action"]),
        actor=Actor(Role(role), actor_id, item.get("actor_unit")),
        public_note=item.get("public_note", ""),
        private_note=item.get("private_note", ""),
        data={k: str(v) for k, v in item.get("data", {}).items()},
    )


def _vote_item(tracking: str, vote: Vote, rating_round: int) -> dict[str, Any]:
    return {
        "pk": f"CASE#{tracking}",
        "sk": "VOTE",
        "rating": str(vote.rating),
        "comment": vote.comment,
        "at": _ts(vote.at),
        "round": rating_round,  # the rating round (1, plus one per reopen) this vote rated
    }


def _vote(item: dict[str, Any]) -> Vote:
    return Vote(Rating(item["rating"]), item.get("comment", ""), _dt(item["at"]))


def _idempotency_item(record: IdempotencyRecord, expires_at: int) -> dict[str, Any]:
    return {
        "pk": f"IDEM#{record.key_hash}",
        "sk": "IDEM",
        "key_hash": record.key_hash,
        "request_hash": record.request_hash,
        "tracking": record.tracking,
        "created_at": _ts(record.created_at),
        TTL_ATTRIBUTE: expires_at,
    }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_throttled(exc: ClientError) -> bool:
    code = _code(exc)
    if code in _THROTTLED:
        return True
    return code == "TransactionCanceledException" and "ThrottlingError" in _cancellation_reasons(
        exc
    )


def _cancellation_reasons(exc: ClientError) -> list[str]:
    """Per-item reasons of a cancelled transaction, in the order of the items."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    reasons = exc.response.get("CancellationReasons")
    if reasons:
        return [r.get("Code", "None") for r in reasons]
    # Some clients only give the reasons in the message: "[ConditionalCheckFailed, None]".
    message = exc.response.get("Error", {}).get("Message", "")
    start, end = message.rfind("["), message.rfind("]")
    return [part.strip() for part in message[start + 1 : end].split(",")] if start >= 0 else []


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m gridportal.adapters.dynamo refresh --table NAME``: the one-off rewrite of
    case items after an upgrade (AWS credentials and region from the environment)."""
    import argparse
    import os

    import boto3

    parser = argparse.ArgumentParser(prog="python -m gridportal.adapters.dynamo")
    parser.add_argument("command", choices=["refresh"])
    parser.add_argument("--table", default=os.environ.get("GRIDPORTAL_TABLE", TABLE_NAME))
    args = parser.parse_args(argv)
    store = DynamoStore(boto3.client("dynamodb"), args.table)
    rewritten, skipped = store.refresh_case_items()
    print(f"{rewritten} case items rewritten, {skipped} changed meanwhile (already current)")


if __name__ == "__main__":
    main()
