"""The embedded store: the shared Store contract on a real file, and what only SQLite has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_memory import StoreContract

from gridportal.adapters.sqlite import SqliteStore


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        store = SqliteStore(tmp_path / "var" / "portal.db")
        yield store
        store.close()
