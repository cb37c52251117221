"""Wiring: settings → boto3 clients → store → Portal. Built once per process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from gridportal.adapters.calendar_file import load_calendar
from gridportal.adapters.dynamo import DynamoStore
from gridportal.config import Settings
from gridportal.domain.credentials import Keys
from gridportal.domain.reference import District, parse_district
from gridportal.services import Portal

# Standard retry mode backs off on throttling and dropped connections; the store adds its
# own layer for throttled transactions. Two layers stay short so that the API answers 503
# within its 10 s timeout.
_BOTO = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=10)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    dynamodb: Any
    store: DynamoStore
    portal: Portal

    def s3(self) -> Any:
        return client("s3", self.settings)


def client(service: str, settings: Settings) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        config=_BOTO,
    )


def load_district(settings: Settings) -> District:
    with open(settings.content_dir / "district.json", encoding="utf-8") as handle:
        return parse_district(json.load(handle))


def build_runtime(settings: Settings) -> Runtime:
    dynamodb = client("dynamodb", settings)
    store = DynamoStore(dynamodb, settings.table)
    portal = Portal(
        store=store,
        district=load_district(settings),
        calendar=load_calendar(settings.content_dir / "calendar" / "overrides.json"),
        keys=Keys(settings.secret),
    )
    return Runtime(settings, dynamodb, store, portal)


@cache
def runtime() -> Runtime:
    """The process-wide runtime (a Lambda cold start builds it once)."""
    return build_runtime(Settings.from_env())
