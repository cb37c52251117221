"""The one definition of the portal's DynamoDB table, designed for its access patterns.

One table holds every item; keys say what an item is (see docs/data.md):

| item            | pk                  | sk             | indexes                          |
|-----------------|---------------------|----------------|----------------------------------|
| case            | CASE#<tracking>     | CASE           | by_grid_month, by_unit, changed  |
| event           | CASE#<tracking>     | EVENT#<seq:05> |                                  |
| vote            | CASE#<tracking>     | VOTE           |                                  |
| lookup attempts | CASE#<tracking>     | LOOKUP         |                                  |
| idempotency key | IDEM#<key hash>     | IDEM           |                                  |
| staff member    | STAFF#<username>    | STAFF          |                                  |
| build marker    | META#build          | META           |                                  |

Access patterns, each one key read or one query, never a scan:
- a case by tracking number: GetItem(CASE#t, CASE)
- a case with its events and vote: Query(pk=CASE#t), its whole item collection
- cases by grid and month: Query(by_grid_month, gm_pk=<grid>#<yyyy-mm>)
- a unit's queue: Query(by_unit, unit_pk=<unit>), a sparse index: only open cases carry unit_pk
- cases changed since a moment: Query(changed, ch_pk=<yyyy-mm-dd>, ch_sk > <iso time>) for
  each day since the last build (one partition per day keeps the writes spread)

The local set-up, the tests and ``infra/`` all take the table from here.
"""

from __future__ import annotations

from typing import Any

TABLE_NAME = "gridportal"

_INDEXES: tuple[tuple[str, str, str], ...] = (
    # (index name, partition key attribute, sort key attribute)
    ("by_grid_month", "gm_pk", "gm_sk"),
    ("by_unit", "unit_pk", "unit_sk"),
    ("changed", "ch_pk", "ch_sk"),
)


def table_definition(name: str = TABLE_NAME) -> dict[str, Any]:
    """Arguments for ``create_table``; also rendered into the CloudFormation template."""
    key_attrs = ["pk", "sk"] + [attr for _, pk, sk in _INDEXES for attr in (pk, sk)]
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
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, pk, sk in _INDEXES
        ],
    }


def create_table(client: Any, name: str = TABLE_NAME) -> None:
    """Create the table if it does not exist (idempotent) and wait until it is active."""
    existing = client.list_tables().get("TableNames", [])
    if name not in existing:
        client.create_table(**table_definition(name))
        client.get_waiter("table_exists").wait(TableName=name)
