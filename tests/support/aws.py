"""The embedded AWS in tests: moto's real server in the test process.

moto's state belongs to the process, and the ``mock_aws`` fixtures reset it when they
start: use one embedded AWS at a time, inside one test or one fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gridportal.adapters.embedded_aws import EmbeddedAws

SITE_BUCKET = "gridportal-site"


@contextmanager
def running_aws(
    state_file: Path | None = None, *, buckets: tuple[str, ...] = (SITE_BUCKET,), **options: Any
) -> Iterator[EmbeddedAws]:
    """An embedded AWS on a free port; snapshots only when the test asks (no timer)."""
    options.setdefault("snapshot_interval", None)
    with EmbeddedAws(state_file=state_file, buckets=buckets, **options) as aws:
        yield aws


def point_boto3_at(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every boto3 client the code under test creates talk to ``aws``."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in aws.environ.items():
        monkeypatch.setenv(name, value)


def all_items(aws: EmbeddedAws, table: str) -> list[dict[str, Any]]:
    """Every item of ``table`` (a scan: fine for a test's assertions, never in the portal)."""
    paginator = aws.client("dynamodb").get_paginator("scan")
    return [item for page in paginator.paginate(TableName=table) for item in page["Items"]]


ROOT = Path(__file__).resolve().parents[2]
REGION = "cn-north-1"


@contextmanager
def mocked_aws(secret: str) -> Iterator[None]:
    """moto in-process with the portal's settings in the environment, for one test or a
    module; the cached runtime is dropped on the way in and out."""
    from moto import mock_aws

    from gridportal.runtime import runtime

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "GRIDPORTAL_SECRET": secret,
        "GRIDPORTAL_CONTENT": str(ROOT / "content"),
        "GRIDPORTAL_STORE": "dynamodb",
    }
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        patch.delenv("GRIDPORTAL_SITE_DIR", raising=False)
        runtime.cache_clear()
        try:
            yield
        finally:
            runtime.cache_clear()
