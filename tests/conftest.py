"""Shared fixtures: the shipped reference data, a controllable clock, portals on a fake
store and on moto's DynamoDB, and the Chalice app bound to moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import settings

from gridportal.adapters.calendar_file import load_calendar
from gridportal.adapters.dynamo import DynamoStore
from gridportal.adapters.memory import MemoryStore
from gridportal.adapters.tables import TABLE_NAME, create_table
from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.credentials import Keys
from gridportal.domain.reference import District, parse_district
from gridportal.services import Portal
from support.aws import mocked_aws

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-secret-not-for-production"

# No per-example deadline: the suite runs on 2 busy cores, where a slow example is load,
# not a bug. Hypothesis still reports examples that hang, through pytest's own output.
settings.register_profile("portal", deadline=None)
settings.load_profile("portal")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture(scope="session")
def district() -> District:
    with open(ROOT / "content" / "district.json", encoding="utf-8") as handle:
        return parse_district(json.load(handle))


@pytest.fixture(scope="session")
def calendar() -> WorkCalendar:
    return load_calendar(ROOT / "content" / "calendar" / "overrides.json")


@pytest.fixture
def keys() -> Keys:
    return Keys(SECRET.encode())


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 16, 1, 30, tzinfo=UTC))  # Monday 09:30 Beijing


@pytest.fixture
def portal(district: District, calendar: WorkCalendar, keys: Keys, clock: Clock) -> Portal:
    return Portal(store=MemoryStore(), district=district, calendar=calendar, keys=keys, clock=clock)


@pytest.fixture
def aws_env() -> Iterator[None]:
    with mocked_aws(SECRET):
        yield


@pytest.fixture
def dynamodb(aws_env: None) -> Any:
    client = boto3.client("dynamodb", region_name="cn-north-1")
    create_table(client)
    return client


@pytest.fixture
def dynamo_store(dynamodb: Any) -> DynamoStore:
    return DynamoStore(dynamodb, TABLE_NAME, sleep=lambda _: None)


@pytest.fixture
def api(dynamodb: Any) -> Iterator[Any]:
    """The Chalice app on moto, through Chalice's own test client."""
    from chalice.test import Client

    import app as chalice_app

    with Client(chalice_app.app) as client:
        yield client
