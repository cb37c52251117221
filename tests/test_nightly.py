"""The nightly build as the state machine runs it, on moto (S3 and DynamoDB): the three
Lambda handlers of ``functions/nightly/app.py`` called in the machine's order (Plan, one
Shard per month, Finish), each from a fresh runtime as on separate invocations, so that
nothing passes between them but the state machine's payloads and the bucket.

Golden: the site they publish equals, file for file, the one the local process-pool
build (``publish``) makes from the same data at the same time.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from api_helpers import COMPLAINT, act, login, post
from gridportal import search
from gridportal.adapters.directory_site import DirectorySite, key_of
from gridportal.adapters.local_server import compressed_keys
from gridportal.adapters.s3_site import S3Site
from gridportal.domain.model import Role
from gridportal.domain.publication import month_of
from gridportal.publish import MARKER, NIGHTS_PREFIX, SITE_STATE, publish
from gridportal.runtime import runtime

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "gridportal-site"
# The API files with the real clock; the nights run after it (their own clocks).
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
MONTH = month_of(NOW - timedelta(hours=1))


@pytest.fixture(scope="module")
def nightly() -> ModuleType:
    """functions/nightly/app.py (a second module named ``app`` beside the API's)."""
    spec = importlib.util.spec_from_file_location("nightly_app", ROOT / "functions/nightly/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fresh_runtime(now: datetime) -> Any:
    """A new invocation: no runtime (store, clients) survives from the step before."""
    runtime.cache_clear()
    rt = runtime()
    rt.portal.clock = lambda: now
    return rt


def run_machine(nightly: ModuleType, execution: str, now: datetime, **options: Any) -> Any:
    """Plan → Shards (a Distributed Map: each item alone) → Finish, as in
    ``infra/nightly-build.asl.json``; payloads go through JSON like the service's."""

    def call(handler: Any, event: dict[str, Any]) -> Any:
        fresh_runtime(now)
        return json.loads(json.dumps(handler(json.loads(json.dumps(event)), None)))

    planned = call(nightly.plan, {"execution": execution, "input": options})
    shards = [
        call(nightly.shard, {"build": planned["build"], "shard": item})
        for item in planned["shards"]
    ]
    finished = call(nightly.finish, {"build": planned["build"], "shards": shards})
    return planned, shards, finished


def bucket(s3: Any) -> dict[str, bytes]:
    """Every object as a reader receives it (data files are stored gzip-encoded)."""
    site, out = S3Site(s3, BUCKET), {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = site.read(obj["Key"]) or b""
    return out


def directory(root: Path) -> dict[str, bytes]:
    """The published files of a directory site, without what only the local origin uses
    (the .br and .gz siblings, the search index): the edge compresses for a bucket."""
    files = {
        key_of(p.relative_to(root).as_posix()): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != search.INDEX_DIR
    }
    siblings = {s for key in files for s in compressed_keys(key)}
    return {key: data for key, data in files.items() if key not in siblings}


def some_cases(api: Any) -> None:
    """Three complaints: one resolved, one dispatched, one just received."""
    dispatcher = login(api, "dispatch-01", Role.DISPATCHER)
    handler = login(api, "urban-01", Role.HANDLER, "dept-urban")
    trackings = []
    for n in range(3):
        text = {**COMPLAINT, "description": f"第{n + 1}件：楼下垃圾没人清运。"}
        receipt = post(api, "/complaints", text, {"Idempotency-Key": f"nightly-{n}"}).json_body
        trackings.append(receipt["tracking"].replace("-", ""))
    for tracking in trackings[:2]:
        act(api, dispatcher, tracking, "assess", data={"priority": "general"})
        act(api, dispatcher, tracking, "dispatch", data={"unit": "dept-urban"})
    act(api, handler, trackings[0], "accept")
    act(api, handler, trackings[0], "resolve", public_note="已清运。")


def test_the_three_steps_publish_what_the_local_build_does(
    api: Any, nightly: ModuleType, tmp_path: Path
) -> None:
    some_cases(api)
    s3 = boto3.client("s3", region_name="cn-north-1")
    planned, shards, finished = run_machine(nightly, "arn:aws:states:exec:first", NOW)

    assert planned["build"]["full"] and planned["build"]["export_in_shards"]
    months = [item["month"] for item in planned["shards"]]
    assert months == [MONTH] and [s["month"] for s in shards] == months
    assert len(json.dumps(planned)) < 256 * 1024  # the state machine's payload limit
    assert finished["full"] and finished["total_cases"] == 3 and finished["uploaded"] > 0

    online = bucket(s3)
    assert not [k for k in online if k.startswith(NIGHTS_PREFIX)]  # the night cleaned up
    assert fresh_runtime(NOW).store.get_marker(MARKER) == NOW.isoformat()
    archive = json.loads(gzip.decompress(online["data/cases.json.gz"]))
    assert len(archive) == 3

    # The same store and time through the local build (process pool, work directory).
    rt = fresh_runtime(NOW)
    local = DirectorySite(tmp_path / "site")
    local.ensure_bucket()
    publish(rt.portal, local, work_dir=tmp_path / "work", full=True, now=NOW, workers=2)
    expected = directory(tmp_path / "site")
    assert set(online) == set(expected)
    assert [k for k in expected if online[k] != expected[k]] == []


def test_a_night_after_a_change_publishes_it_then_a_quiet_night_uploads_nothing(
    api: Any, nightly: ModuleType
) -> None:
    some_cases(api)
    s3 = boto3.client("s3", region_name="cn-north-1")
    run_machine(nightly, "arn:aws:states:exec:first", NOW)
    before = bucket(s3)

    lamp = {**COMPLAINT, "description": "巷口路灯坏了一个星期,晚上很黑。"}
    assert post(api, "/complaints", lamp, {"Idempotency-Key": "nightly-lamp"}).status_code == 201
    later = NOW + timedelta(hours=2)
    planned, _, finished = run_machine(nightly, "arn:aws:states:exec:second", later)
    assert not planned["build"]["full"] and planned["build"]["months"] == [MONTH]
    assert finished["changed_cases"] >= 1 and finished["total_cases"] == 4
    after = bucket(s3)
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed and not [k for k in after if k.startswith(NIGHTS_PREFIX)]
    assert json.loads(after[SITE_STATE])["index"][MONTH]["cases"] == 4
    text = gzip.decompress(after["data/cases.csv.gz"]).decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(text)))) == 1 + 4  # header and four cases

    quiet = NOW + timedelta(hours=3)
    _, _, finished = run_machine(nightly, "arn:aws:states:exec:third", quiet)
    assert finished["uploaded"] == 0 and finished["deleted"] == 0
    assert bucket(s3) == after
    assert fresh_runtime(quiet).store.get_marker(MARKER) == quiet.isoformat()
