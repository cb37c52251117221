from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from gridportal.adapters.calendar_file import CONTENT_ENV, load_calendar, overrides_path
from gridportal.domain.calendar import CalendarNotCovered, OverridesError

REPO_CONTENT = Path(__file__).resolve().parents[2] / "content"

FAKE_2027 = {"holidays": ["2027-01-01"], "workdays": ["2027-02-06"]}  # made up, tests only


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "calendar" / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_shipped_file_is_valid_and_invents_no_year(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONTENT_ENV, raising=False)
    assert overrides_path() == REPO_CONTENT / "calendar" / "overrides.json"
    calendar = load_calendar()
    assert max(calendar.covered_years) == 2026
    with pytest.raises(CalendarNotCovered):
        calendar.is_workday(date(2027, 1, 4))


def test_explicit_path(tmp_path: Path) -> None:
    calendar = load_calendar(write(tmp_path, {"years": {"2027": FAKE_2027}}))
    assert calendar.is_workday(date(2027, 2, 6))
    assert not calendar.is_workday(date(2027, 1, 1))


def test_content_directory_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"years": {"2027": FAKE_2027}})
    monkeypatch.setenv(CONTENT_ENV, str(tmp_path))
    assert overrides_path() == tmp_path / "calendar" / "overrides.json"
    assert load_calendar().covers(date(2027, 7, 1))


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_calendar(tmp_path / "nowhere.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must hold a JSON object"),
        ('{"years": {"2027": {"holidays": ["2027-13-01"], "workdays": []}}}', "not a valid date"),
    ],
)
def test_bad_file_names_the_path(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "overrides.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(OverridesError, match=message) as caught:
        load_calendar(path)
    assert str(path) in str(caught.value)
