"""Wiring: settings → store (SQLite or DynamoDB) → Portal, and the site target. Built once
per process.

boto3 is imported only when a setting needs AWS (the DynamoDB store, the S3 site): the
embedded default never loads it, and the API's cold start stays light.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from gridportal.adapters.calendar_file import load_calendar
from gridportal.config import Settings
from gridportal.domain.credentials import Keys
from gridportal.domain.reference import District, parse_district
from gridportal.ports import Store
from gridportal.services import Portal


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: Store
    portal: Portal
    dynamodb: Any = None  # the boto3 client behind a DynamoDB store, else None

    def s3(self) -> Any:
        return self._s3

    @cached_property
    def _s3(self) -> Any:
        # One client for the runtime, made once under cached_property's lock: request
        # threads share the runtime, and creating clients from boto3's default session at
        # the same time is not thread-safe. A client itself may be shared by threads.
        return client("s3", self.settings)

    def site_target(self) -> Any:
        """Where the nightly build publishes: the site directory, or the S3 bucket."""
        if self.settings.site_dir is not None:
            from gridportal.adapters.directory_site import DirectorySite

            return DirectorySite(self.settings.site_dir)
        from gridportal.adapters.s3_site import S3Site

        return S3Site(self.s3(), self.settings.site_bucket)


def client(service: str, settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    # Standard retry mode backs off on throttling and dropped connections; the store adds
    # its own layer for throttled transactions. Two layers stay short so that the API
    # answers 503 within its 10 s timeout.
    config = Config(
        retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=10
    )
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        config=config,
    )


def load_district(settings: Settings) -> District:
    with open(settings.content_dir / "district.json", encoding="utf-8") as handle:
        return parse_district(json.load(handle))


def open_store(settings: Settings) -> tuple[Store, Any]:
    """The store the settings name, and its boto3 client when it has one."""
    if settings.store == "dynamodb":
        from gridportal.adapters.dynamo import DynamoStore

        dynamodb = client("dynamodb", settings)
        return DynamoStore(dynamodb, settings.table), dynamodb
    from gridportal.adapters.sqlite import SqliteStore

    return SqliteStore(settings.db_path), None


def build_runtime(settings: Settings) -> Runtime:
    store, dynamodb = open_store(settings)
    portal = Portal(
        store=store,
        district=load_district(settings),
        calendar=load_calendar(settings.content_dir / "calendar" / "overrides.json"),
        keys=Keys(settings.secret),
    )
    return Runtime(settings, store, portal, dynamodb)


@cache
def runtime() -> Runtime:
    """The process-wide runtime (a Lambda cold start builds it once)."""
    return build_runtime(Settings.from_env())
