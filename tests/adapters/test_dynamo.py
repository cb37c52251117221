"""The DynamoDB store on moto: the shared Store contract, and what only DynamoDB has.

The contract itself lives in test_memory.py (``StoreContract``); here it runs against
``DynamoStore``. The rest checks the table's design: key reads and queries only (a scan
is for a full rebuild), the sparse queue index, and queries that follow pagination.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_memory import (
    DISPATCHER,
    HANDLER,
    T0,
    StoreContract,
    create,
    resolve,
    step,
)

from gridportal.adapters.dynamo import DynamoStore
from gridportal.adapters.tables import TABLE_NAME
from gridportal.domain.model import Action
from gridportal.ports import COMMAND_CENTRE


class TestDynamoStore(StoreContract):
    truly_atomic = False  # moto serialises nothing between threads

    @pytest.fixture
    def store(self, dynamo_store: DynamoStore) -> DynamoStore:
        return dynamo_store


class OperationLog:
    """Names every DynamoDB operation the client sends (a botocore event hook)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.dynamodb.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


def raw_case(client: Any, tracking: str) -> dict[str, Any]:
    key = {"pk": {"S": f"CASE#{tracking}"}, "sk": {"S": "CASE"}}
    return dict(client.get_item(TableName=TABLE_NAME, Key=key)["Item"])


def test_reads_are_key_reads_and_queries_never_scans(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    create(dynamo_store, "100000000001")
    resolve(dynamo_store, "100000000001")
    log = OperationLog(dynamodb)
    dynamo_store.get_case("100000000001")
    dynamo_store.get_events("100000000001")
    dynamo_store.get_vote("100000000001")
    dynamo_store.cases_by_grid_month("QB-LCJX-01", "2026-11")
    dynamo_store.unit_queue(COMMAND_CENTRE)
    list(dynamo_store.changed_since(T0 - timedelta(days=2), T0 + timedelta(days=1)))
    assert "Scan" not in log.names
    assert set(log.names) == {"GetItem", "Query"}
    list(dynamo_store.all_histories())  # the operator's full rebuild is the one scan
    assert log.names[-1] == "Scan"


def test_every_write_of_a_case_is_one_transaction(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    log = OperationLog(dynamodb)
    create(dynamo_store, "100000000001", key="k1")
    assert log.names == ["TransactWriteItems"]
    log.names.clear()
    step(dynamo_store, "100000000001", Action.ASSESS, DISPATCHER, T0, data={"priority": "general"})
    assert [n for n in log.names if n != "GetItem" and n != "Query"] == ["TransactWriteItems"]


def test_the_queue_index_is_sparse(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    create(dynamo_store, "100000000001")
    assert raw_case(dynamodb, "100000000001")["unit_pk"] == {"S": COMMAND_CENTRE}
    at = T0 + timedelta(minutes=1)
    step(dynamo_store, "100000000001", Action.ASSESS, DISPATCHER, at, data={"priority": "general"})
    step(dynamo_store, "100000000001", Action.DISPATCH, DISPATCHER, at, data={"unit": "dept-urban"})
    assert raw_case(dynamodb, "100000000001")["unit_pk"] == {"S": "dept-urban"}
    step(dynamo_store, "100000000001", Action.ACCEPT, HANDLER, at)
    step(dynamo_store, "100000000001", Action.RESOLVE, HANDLER, at, note="已清运。")
    item = raw_case(dynamodb, "100000000001")
    assert "unit_pk" not in item and "unit_sk" not in item


def test_queries_follow_every_page(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    for n in range(1, 6):
        create(dynamo_store, f"10000000000{n}", at=T0 + timedelta(minutes=n))

    def one_item_per_page(params: dict[str, Any], **_: Any) -> None:
        params["Limit"] = 1  # as if every item filled a 1 MB page

    dynamodb.meta.events.register("provide-client-params.dynamodb.Query", one_item_per_page)
    expected = [f"10000000000{n}" for n in range(1, 6)]
    assert [r.tracking for r in dynamo_store.unit_queue(COMMAND_CENTRE)] == expected
    assert [r.tracking for r in dynamo_store.cases_by_grid_month("QB-LCJX-01", "2026-11")] == (
        expected
    )
    later = T0 + timedelta(days=1)
    assert sorted(dynamo_store.changed_since(T0, later)) == expected
    assert len(dynamo_store.get_events("100000000001")) == 1


def test_secrets_are_stored_as_hashes_only(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    record = create(dynamo_store, "100000000001", key="k" * 64)
    item = raw_case(dynamodb, "100000000001")
    assert item["lookup_hash"] == {"S": record.lookup_hash}
    assert item["vote_hash"] == {"S": record.vote_hash}
    assert not {"lookup_code", "vote_token", "code", "token"} & set(item)
