"""The one definition of the portal's DynamoDB table, designed for its access patterns.

One table holds every item; keys say what an item is (see docs/data.md):

| item            | pk                  | sk             | indexes          | expires |
|-----------------|---------------------|----------------|------------------|---------|
| case            | CASE#<tracking>     | CASE           | by_unit, changed |         |
| event           | CASE#<tracking>     | EVENT#<seq:05> |                  |         |
| vote            | CASE#<tracking>     | VOTE           |                  |         |
| attempts        | ATTEMPT#<key>       | ATTEMPT        |                  | yes     |
| idempotency key | IDEM#<key hash>     | IDEM           |                  | yes     |
| staff member    | STAFF#<username>    | STAFF          |                  |         |
| build marker    | META#build          | META           |                  |         |

Access patterns, each one key read or one query, never a scan:
- a case by tracking number: GetItem(CASE#t, CASE)
- a case with its events and vote: Query(pk=CASE#t), its whole item collection
- a page of a unit's queue: Query(by_unit, unit_pk=<unit>, Limit), a sparse index (only
  open cases carry unit_pk) that projects what a queue line shows and nothing personal
- cases changed since a moment: Query(changed, ch_pk=<yyyy-mm-dd>#<shard>, ch_sk between)
  for every shard of every day since the last build (keys only)

Indexes copy only what their readers need: no contact data, no free text, no hash ever
reaches one. Attempt and idempotency items carry ``expires_at`` (epoch seconds) and
DynamoDB deletes them some time after it passes (up to days later: readers skip them).

The local set-up, the tests and ``infra/`` all take the table from here.
"""

from __future__ import annotations

import zlib
from typing import Any

TABLE_NAME = "gridportal"
TTL_ATTRIBUTE = "expires_at"  # epoch seconds, a number: DynamoDB's Time to Live
TIME_TO_LIVE: dict[str, Any] = {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}

# A day's changes (or a whole import) spread over this many partitions of the changed
# index; the nightly plan queries each of them for each day. It may grow but never shrink
# while the table holds data: an item keeps its shard until its case changes again.
CHANGED_SHARDS = 8

# What a queue line needs, projected into by_unit beside the keys (pk holds the tracking
# number): the snapshot the deadlines are computed from, and where the case came from.
QUEUE_ATTRIBUTES: tuple[str, ...] = (
    "public_id",
    "category",
    "grid",
    "channel",
    "filed_at",
    "filed_by",
    "filed_by_unit",
    "status",
    "unit",
    "seq",
    "updated_at",
    "priority",
    "route",
    "contacted_at",
    "extended_due",
)

_INDEXES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    # (index name, partition key attribute, sort key attribute, projection)
    (
        "by_unit",
        "unit_pk",
        "unit_sk",
        {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(QUEUE_ATTRIBUTES)},
    ),
    ("changed", "ch_pk", "ch_sk", {"ProjectionType": "KEYS_ONLY"}),
)


def changed_shard(tracking: str) -> int:
    """The changed index's shard of a case: stable across processes (unlike ``hash``)."""
    return zlib.crc32(tracking.encode()) % CHANGED_SHARDS


def table_definition(name: str = TABLE_NAME) -> dict[str, Any]:
    """Arguments for ``create_table``; also rendered into the CloudFormation template."""
    key_attrs = ["pk", "sk"] + [attr for _, pk, sk, _ in _INDEXES for attr in (pk, sk)]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": attr, "AttributeType": "S"} for attr in key_attrs
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": projection,
            }
            for index, pk, sk, projection in _INDEXES
        ],
    }


def create_table(client: Any, name: str = TABLE_NAME) -> None:
    """Create the table if it does not exist (idempotent), wait until it is active, and
    turn Time to Live on (CreateTable cannot; the template sets it with the table)."""
    existing = client.list_tables().get("TableNames", [])
    if name not in existing:
        client.create_table(**table_definition(name))
        client.get_waiter("table_exists").wait(TableName=name)
    status = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=TIME_TO_LIVE)
