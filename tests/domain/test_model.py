"""Every code people see has its own Chinese label, per enum."""

from __future__ import annotations

from enum import StrEnum

import pytest

from gridportal.domain.model import (
    LABELS,
    Action,
    Channel,
    Outcome,
    Priority,
    Rating,
    Role,
    Route,
    Source,
    Status,
    label,
)

ENUMS: tuple[type[StrEnum], ...] = (
    Priority,
    Route,
    Channel,
    Source,
    Status,
    Outcome,
    Rating,
    Role,
    Action,
)


@pytest.mark.parametrize("enum", ENUMS)
def test_every_member_has_a_label(enum: type[StrEnum]) -> None:
    assert set(LABELS[enum]) == set(enum)
    assert all(label(member) for member in enum)


def test_values_shared_across_enums_keep_their_own_labels() -> None:
    # "resolved", "merged" and "dispatch" are values of two enums each.
    assert label(Status.RESOLVED) == "已办结" and label(Outcome.RESOLVED) == "已解决"
    assert label(Status.MERGED) == "已合并" and label(Outcome.MERGED) == "已合并至原件"
    assert label(Route.DISPATCH) == "分类转办" and label(Action.DISPATCH) == "转办"
