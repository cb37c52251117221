"""The embedded AWS (内置 AWS): moto's server in this process, standing in for DynamoDB and S3.

The local demo and the tests talk to it exactly as the functions talk to AWS: boto3 clients
with an endpoint URL. It listens on 127.0.0.1 only.

moto keeps its state in memory, so this module adds persistence for the demo: the named
DynamoDB tables are written to a JSON snapshot on ``stop()``, every ``snapshot_interval``
seconds and on ``snapshot()``, and read back on ``start()``. S3 objects are not kept: the
named buckets start empty and the site build fills them again at every start.

A snapshot reads a table the way one backs up a real one: an export to S3
(ExportTableToPointInTime, which is why point-in-time recovery is on, as in production).
That is a fair use of a whole-table read, since this is the demo's persistence and not one
of the portal's access paths (those are key reads and queries, see tables.py); and it is
fast, where a paged Scan costs moto time quadratic in the table's size (every page sorts
the whole table again): 1 s against 15 s for six months of demo cases.

moto's state belongs to the process, not to a server: two instances running in one process
see the same tables, and starting one empties the tables and buckets it names. Run one at a
time.

Example::

    with EmbeddedAws(state_file=Path("var/aws-state.json"), buckets=["gridportal-site"]) as aws:
        dynamodb = aws.client("dynamodb")
        os.environ.update(aws.environ)  # boto3 clients made elsewhere find it too
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from gridportal.adapters.tables import TABLE_NAME, create_table

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DEFAULT_REGION = "cn-north-1"
SNAPSHOT_FORMAT = "gridportal-embedded-aws"
SNAPSHOT_VERSION = 1

# moto accepts any credentials; fixed dummy ones keep real ones from ever being sent to it.
_DUMMY_KEY = "testing"
_START_TIMEOUT_SECONDS = 10.0
_EXPORT_TIMEOUT_SECONDS = 120.0
_BATCH_SIZE = 25  # DynamoDB's limit for batch_write_item
# Where table exports land on their way to the state file; emptied after each read.
EXPORT_BUCKET = "embedded-aws-exports"


class EmbeddedAwsError(RuntimeError):
    """The embedded AWS could not start, or its state file could not be read."""


class EmbeddedAws:
    """moto's server on 127.0.0.1 with the portal's tables and buckets, as a context manager.

    ``port=0`` picks a free port. ``state_file`` (optional) is where the tables are kept
    between runs; a missing file means an empty start.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        state_file: Path | None = None,
        tables: Sequence[str] = (TABLE_NAME,),
        buckets: Sequence[str] = (),
        region: str = DEFAULT_REGION,
        snapshot_interval: float | None = 30.0,
    ) -> None:
        self._port = port
        self.state_file = state_file
        self.tables = tuple(tables)
        self.buckets = tuple(buckets)
        self.region = region
        self._snapshot_interval = snapshot_interval
        self._server: Any = None
        self._endpoint_url: str | None = None
        self._snapshot_lock = threading.Lock()
        self._last_digest: str | None = None
        self._stopping = threading.Event()
        self._autosave: threading.Thread | None = None
        # boto3 sessions are not thread-safe (clients are): one session, one lock.
        self._session = boto3.session.Session()
        self._session_lock = threading.Lock()
        self._dynamodb: Any = None
        self._s3: Any = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> EmbeddedAws:
        if self._server is not None:
            raise EmbeddedAwsError("the embedded AWS is already running")
        snapshot = self._read_state_file()  # fail before anything starts
        if self._port:
            _check_port_free(self._port)
        _quiet_request_log()

        from moto.server import ThreadedMotoServer  # heavy import, only when used

        server = ThreadedMotoServer(ip_address=LOOPBACK, port=self._port, verbose=False)
        # start() waits without a timeout for a server that may never bind: wait here instead.
        starter = threading.Thread(target=server.start, daemon=True)
        starter.start()
        starter.join(_START_TIMEOUT_SECONDS)
        if starter.is_alive():
            raise EmbeddedAwsError(f"moto's server did not start on {LOOPBACK}:{self._port}")
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        self._dynamodb = self.client("dynamodb")
        self._s3 = self.client("s3")
        try:
            self._prepare(snapshot)
        except BaseException:
            self._stop_server()
            raise
        self._stopping.clear()
        if self.state_file is not None and self._snapshot_interval:
            self._autosave = threading.Thread(
                target=self._autosave_loop, name="embedded-aws-autosave", daemon=True
            )
            self._autosave.start()
        logger.info("embedded AWS on %s (region %s)", self._endpoint_url, self.region)
        return self

    def stop(self) -> None:
        """Write a last snapshot and stop the server. Safe to call twice."""
        if self._server is None:
            return
        self._stopping.set()
        if self._autosave is not None:
            self._autosave.join()
            self._autosave = None
        try:
            self.snapshot()
        finally:
            self._stop_server()

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- access -------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise EmbeddedAwsError("the embedded AWS is not running")
        return self._endpoint_url

    @property
    def environ(self) -> dict[str, str]:
        """Environment variables that point the portal, and boto3 clients made anywhere in a
        process, here: the DynamoDB store and the S3 site."""
        return {
            "GRIDPORTAL_STORE": f"dynamodb:{TABLE_NAME}",
            "GRIDPORTAL_SITE_DIR": "",
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": _DUMMY_KEY,
            "AWS_SECRET_ACCESS_KEY": _DUMMY_KEY,
        }

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` ("dynamodb", "s3") talking to this server."""
        with self._session_lock:
            return self._session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=_DUMMY_KEY,
                aws_secret_access_key=_DUMMY_KEY,
            )

    # -- state --------------------------------------------------------------------------

    def snapshot(self) -> Path | None:
        """Write the tables to the state file now; returns its path (None without one).

        The file is replaced atomically, and left alone when nothing changed.
        """
        if self.state_file is None or self._server is None:
            return None
        with self._snapshot_lock:
            document = {
                "format": SNAPSHOT_FORMAT,
                "version": SNAPSHOT_VERSION,
                "tables": {name: self._export(name) for name in self.tables},
            }
            digest = _digest(document)
            if digest == self._last_digest and self.state_file.exists():
                return self.state_file
            document["saved_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            _write_atomically(self.state_file, document)
            self._last_digest = digest
        logger.debug("embedded AWS state saved to %s", self.state_file)
        return self.state_file

    def reset(self) -> None:
        """Empty the tables and buckets (in memory; the state file follows at the next save)."""
        if self._server is None:
            raise EmbeddedAwsError("the embedded AWS is not running")
        for name in self.tables:
            _fresh_table(self._dynamodb, name)
        for bucket in self.buckets:
            _empty_bucket(self._s3, bucket)

    # -- internals ----------------------------------------------------------------------

    def _prepare(self, snapshot: dict[str, Any] | None) -> None:
        dynamodb, s3 = self._dynamodb, self._s3
        saved: dict[str, list[dict[str, Any]]] = snapshot["tables"] if snapshot else {}
        for name in self.tables:
            # moto's memory is process-wide and may hold an earlier server's items: a start is
            # always from empty tables plus the snapshot, never a merge.
            _fresh_table(dynamodb, name)
            _put_all(dynamodb, name, (_decode_item(item) for item in saved.get(name, [])))
        for bucket in (*self.buckets, EXPORT_BUCKET):
            _create_bucket(s3, bucket, self.region)
            _empty_bucket(s3, bucket)  # nothing in S3 outlives a run
        if snapshot is not None:
            counts = ", ".join(f"{name}: {len(saved.get(name, []))}" for name in self.tables)
            logger.info("embedded AWS state restored from %s (%s)", self.state_file, counts)

    def _export(self, table: str) -> list[dict[str, Any]]:
        """Every item of ``table`` in DynamoDB's JSON (binary values in base64)."""
        dynamodb, s3 = self._dynamodb, self._s3
        prefix = f"{table}/{uuid.uuid4().hex}"
        arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
        export = dynamodb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket=EXPORT_BUCKET, S3Prefix=prefix, ExportFormat="DYNAMODB_JSON"
        )["ExportDescription"]
        deadline = time.monotonic() + _EXPORT_TIMEOUT_SECONDS
        while export["ExportStatus"] == "IN_PROGRESS" and time.monotonic() < deadline:
            time.sleep(0.02)
            export = dynamodb.describe_export(ExportArn=export["ExportArn"])["ExportDescription"]
        if export["ExportStatus"] != "COMPLETED":
            reason = export.get("FailureMessage") or export["ExportStatus"]
            raise EmbeddedAwsError(f"the export of {table} did not complete: {reason}")
        items: list[dict[str, Any]] = []
        keys = [
            entry["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=EXPORT_BUCKET, Prefix=f"{prefix}/"
            )
            for entry in page.get("Contents", [])
        ]
        for key in keys:
            body = s3.get_object(Bucket=EXPORT_BUCKET, Key=key)["Body"].read()
            if key.endswith(".gz"):
                body = gzip.decompress(body)
            items.extend(json.loads(line)["Item"] for line in body.splitlines() if line.strip())
            s3.delete_object(Bucket=EXPORT_BUCKET, Key=key)
        return items

    def _read_state_file(self) -> dict[str, Any] | None:
        if self.state_file is None or not self.state_file.exists():
            return None
        try:
            document = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise EmbeddedAwsError(
                f"cannot read the state file {self.state_file}: {error}; "
                "move it away (or delete it) to start empty"
            ) from error
        if (
            not isinstance(document, dict)
            or document.get("format") != SNAPSHOT_FORMAT
            or document.get("version") != SNAPSHOT_VERSION
            or not isinstance(document.get("tables"), dict)
        ):
            raise EmbeddedAwsError(
                f"{self.state_file} is not a version {SNAPSHOT_VERSION} snapshot of the "
                "embedded AWS; move it away (or delete it) to start empty"
            )
        return document

    def _autosave_loop(self) -> None:
        assert self._snapshot_interval
        while not self._stopping.wait(self._snapshot_interval):
            try:
                self.snapshot()
            except (BotoCoreError, ClientError, OSError, EmbeddedAwsError):
                logger.exception("embedded AWS: periodic snapshot failed; will retry")

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        self._endpoint_url = None
        self._dynamodb = self._s3 = None
        self._last_digest = None
        if server is not None:
            server.stop()


# -- helpers ------------------------------------------------------------------------------


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            raise EmbeddedAwsError(f"port {port} on {LOOPBACK} is not free: {error}") from error


def _quiet_request_log() -> None:
    # moto's server logs every request through werkzeug; keep that out of the demo's output
    # unless someone asked for werkzeug's log on purpose.
    werkzeug_log = logging.getLogger("werkzeug")
    if werkzeug_log.level == logging.NOTSET:
        werkzeug_log.setLevel(logging.WARNING)


def _fresh_table(dynamodb: Any, name: str) -> None:
    """The table, empty, with point-in-time recovery on (as in production; exports need it)."""
    _drop_table(dynamodb, name)
    create_table(dynamodb, name)
    dynamodb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


def _drop_table(dynamodb: Any, name: str) -> None:
    with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.delete_table(TableName=name)
        dynamodb.get_waiter("table_not_exists").wait(TableName=name)


def _put_all(dynamodb: Any, table: str, items: Iterable[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == _BATCH_SIZE:
            _write_batch(dynamodb, table, batch)
            batch = []
    if batch:
        _write_batch(dynamodb, table, batch)


def _write_batch(dynamodb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: requests}
    for _ in range(10):
        pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
    raise EmbeddedAwsError(f"could not restore every item of {table}")


def _create_bucket(s3: Any, bucket: str, region: str) -> None:
    arguments: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # S3 refuses an explicit us-east-1 constraint
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(**arguments)


def _empty_bucket(s3: Any, bucket: str) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def _digest(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        try:
            json.dump(document, handle, ensure_ascii=False, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            os.unlink(handle.name)
            raise
    os.replace(handle.name, path)


# DynamoDB's JSON carries binary values as base64 text (so do the snapshot and the export);
# boto3 takes them as bytes.


def _decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _decode_value(value) for name, value in item.items()}


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(part) for part in inner]}
    if kind == "M":
        return {"M": _decode_item(inner)}
    if kind == "L":
        return {"L": [_decode_value(part) for part in inner]}
    return value
