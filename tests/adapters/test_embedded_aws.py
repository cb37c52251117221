"""The embedded AWS against moto's real server in this process (and, once, in a fresh one)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from gridportal.adapters.embedded_aws import (
    SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
    EmbeddedAws,
    EmbeddedAwsError,
    _write_atomically,
)
from gridportal.adapters.tables import TABLE_NAME, table_definition
from support.aws import SITE_BUCKET, all_items, point_boto3_at, running_aws

# One item with every kind of value the snapshot has to carry, binary ones included.
RICH_ITEM: dict[str, Any] = {
    "pk": {"S": "CASE#abc"},
    "sk": {"S": "CASE"},
    "text": {"S": "柳翠井巷 <script>"},
    "count": {"N": "42"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "digest": {"B": b"\x00\xff\x10"},
    "digests": {"BS": [b"\x01", b"\x02"]},
    "tags": {"SS": ["a", "b"]},
    "scores": {"NS": ["1", "2.5"]},
    "nested": {"M": {"list": {"L": [{"S": "x"}, {"B": b"\x7f"}, {"M": {"n": {"N": "1"}}}]}}},
}


def put(aws: EmbeddedAws, pk: str, **extra: dict[str, Any]) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": "CASE"}, **extra}
    aws.client("dynamodb").put_item(TableName=TABLE_NAME, Item=item)


def keys(aws: EmbeddedAws) -> set[str]:
    return {item["pk"]["S"] for item in all_items(aws, TABLE_NAME)}


def normalise(value: Any) -> Any:
    """Items compare through a canonical form: sets and maps come back in any order."""
    if isinstance(value, dict):
        return sorted(
            (k, sorted(v) if k in {"SS", "NS", "BS"} else normalise(v)) for k, v in value.items()
        )
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def test_listens_on_loopback_with_the_portal_table_and_buckets() -> None:
    with running_aws() as aws:
        url = urlsplit(aws.endpoint_url)
        assert url.hostname == "127.0.0.1" and url.port
        described = aws.client("dynamodb").describe_table(TableName=TABLE_NAME)["Table"]
        expected_indexes = {i["IndexName"] for i in table_definition()["GlobalSecondaryIndexes"]}
        assert {i["IndexName"] for i in described["GlobalSecondaryIndexes"]} == expected_indexes
        assert described["KeySchema"] == table_definition()["KeySchema"]
        buckets = aws.client("s3").list_buckets()["Buckets"]
        assert SITE_BUCKET in {bucket["Name"] for bucket in buckets}


def test_two_servers_pick_two_free_ports() -> None:
    with running_aws(buckets=()) as first, running_aws(buckets=()) as second:
        assert first.endpoint_url != second.endpoint_url


def test_environ_points_clients_made_elsewhere_at_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_aws() as aws:
        point_boto3_at(aws, monkeypatch)
        elsewhere = boto3.client("dynamodb")  # no endpoint, region or keys given
        assert TABLE_NAME in elsewhere.list_tables()["TableNames"]
        assert aws.environ["AWS_ENDPOINT_URL"] == aws.endpoint_url


def test_snapshot_on_stop_restores_every_kind_of_value(tmp_path: Path) -> None:
    state = tmp_path / "var" / "aws-state.json"
    with running_aws(state) as aws:
        aws.client("dynamodb").put_item(TableName=TABLE_NAME, Item=RICH_ITEM)
        put(aws, "CASE#second")
    document = json.loads(state.read_text(encoding="utf-8"))
    assert document["format"] == SNAPSHOT_FORMAT and document["version"] == SNAPSHOT_VERSION
    assert len(document["tables"][TABLE_NAME]) == 2

    with running_aws(state) as aws:
        restored = aws.client("dynamodb").get_item(
            TableName=TABLE_NAME, Key={"pk": RICH_ITEM["pk"], "sk": RICH_ITEM["sk"]}
        )["Item"]
        assert normalise(restored) == normalise(RICH_ITEM)
        assert keys(aws) == {"CASE#abc", "CASE#second"}


def test_restoring_replaces_what_the_process_still_holds(tmp_path: Path) -> None:
    # moto's memory outlives a server in the same process; a restore must not merge with it.
    state = tmp_path / "state.json"
    with running_aws(state) as aws:
        put(aws, "CASE#kept")
    with running_aws() as aws:  # no state file: writes stay in moto's memory
        put(aws, "CASE#ghost")
    with running_aws(state) as aws:
        assert keys(aws) == {"CASE#kept"}


def test_state_survives_a_real_restart_in_a_new_process(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_aws(state) as aws:
        put(aws, "CASE#persisted", count={"N": "7"})
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from gridportal.adapters.embedded_aws import EmbeddedAws
        with EmbeddedAws(state_file=Path({str(state)!r}), snapshot_interval=None) as aws:
            items = aws.client("dynamodb").scan(TableName="{TABLE_NAME}")["Items"]
            print([(i["pk"]["S"], i["count"]["N"]) for i in items])
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('CASE#persisted', '7')]"


def test_site_objects_are_not_kept(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_aws(state) as aws:
        aws.client("s3").put_object(Bucket=SITE_BUCKET, Key="index.html", Body=b"<p>old</p>")
    assert list(json.loads(state.read_text(encoding="utf-8"))["tables"]) == [TABLE_NAME]
    with running_aws(state) as aws:  # the build fills the bucket again after every start
        assert aws.client("s3").list_objects_v2(Bucket=SITE_BUCKET)["KeyCount"] == 0


def test_periodic_snapshot_runs_in_the_background(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_aws(state, snapshot_interval=0.1) as aws:
        put(aws, "CASE#autosaved")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if state.exists() and "CASE#autosaved" in state.read_text(encoding="utf-8"):
                break
            time.sleep(0.05)
        else:
            pytest.fail("no periodic snapshot within 10 s")


def test_unchanged_state_is_not_rewritten(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_aws(state) as aws:
        put(aws, "CASE#one")
        assert aws.snapshot() == state
        first = state.stat().st_ino, state.read_text(encoding="utf-8")
        aws.snapshot()
        assert (state.stat().st_ino, state.read_text(encoding="utf-8")) == first
        put(aws, "CASE#two")
        aws.snapshot()
        assert state.stat().st_ino != first[0]  # replaced by a new file, never edited in place


def test_snapshot_without_state_file_is_a_no_op() -> None:
    with running_aws() as aws:
        assert aws.snapshot() is None


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"before": true}', encoding="utf-8")
    with pytest.raises(TypeError):
        _write_atomically(state, {"tables": {"t": [object()]}})  # not JSON
    assert state.read_text(encoding="utf-8") == '{"before": true}'
    assert [path.name for path in tmp_path.iterdir()] == ["state.json"]  # no temporary left


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps({"format": "something-else", "version": 1, "tables": {}}), "[]"],
)
def test_an_unreadable_state_file_stops_the_start_and_is_kept(tmp_path: Path, content: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(content, encoding="utf-8")
    aws = EmbeddedAws(state_file=state)
    with pytest.raises(EmbeddedAwsError, match="delete it"):
        aws.start()
    assert state.read_text(encoding="utf-8") == content
    with pytest.raises(EmbeddedAwsError):
        aws.endpoint_url  # noqa: B018 - nothing is running


def test_a_busy_port_is_reported_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(EmbeddedAwsError, match=str(port)):
            EmbeddedAws(port=port).start()
        assert time.monotonic() - started < 5


def test_reset_empties_tables_and_buckets(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_aws(state) as aws:
        put(aws, "CASE#gone")
        aws.client("s3").put_object(Bucket=SITE_BUCKET, Key="index.html", Body=b"x")
        aws.reset()
        assert keys(aws) == set()
        assert aws.client("s3").list_objects_v2(Bucket=SITE_BUCKET).get("KeyCount") == 0
        put(aws, "CASE#after")
        aws.snapshot()  # the reset table can still be saved
    assert "CASE#after" in state.read_text(encoding="utf-8")


def test_many_items_restore_in_batches(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_aws(state, buckets=()) as aws:
        table = boto3.resource(
            "dynamodb",
            endpoint_url=aws.endpoint_url,
            region_name=aws.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).Table(TABLE_NAME)
        with table.batch_writer() as batch:
            for n in range(130):
                batch.put_item(Item={"pk": f"CASE#{n:03}", "sk": "CASE", "n": Decimal(n)})
    with running_aws(state, buckets=()) as aws:
        assert len(keys(aws)) == 130


def test_stop_is_idempotent_and_start_twice_is_refused() -> None:
    aws = EmbeddedAws(snapshot_interval=None)
    aws.start()
    try:
        with pytest.raises(EmbeddedAwsError, match="already running"):
            aws.start()
    finally:
        aws.stop()
    aws.stop()
    with pytest.raises(EmbeddedAwsError):
        aws.reset()
