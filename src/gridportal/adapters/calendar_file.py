"""Load the working-day calendar with the overrides file from disk.

Where the file is, first match wins:
1. the ``path`` argument;
2. ``$GRIDPORTAL_CONTENT/calendar/overrides.json`` (the content directory);
3. ``content/calendar/overrides.json`` in the source checkout this module lives in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gridportal.domain.calendar import OverridesError, WorkCalendar, parse_overrides

CONTENT_ENV = "GRIDPORTAL_CONTENT"
OVERRIDES_RELATIVE = Path("calendar", "overrides.json")


def overrides_path() -> Path:
    content = os.environ.get(CONTENT_ENV)
    if content:
        return Path(content) / OVERRIDES_RELATIVE
    checkout = Path(__file__).resolve().parents[3] / "content"
    if checkout.is_dir():
        return checkout / OVERRIDES_RELATIVE
    raise FileNotFoundError(
        f"calendar overrides not found: set {CONTENT_ENV} to the content directory "
        "or pass the path of overrides.json"
    )


def load_calendar(path: Path | None = None) -> WorkCalendar:
    """The official calendar plus the overrides file; a missing file is an error."""
    path = path or overrides_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise OverridesError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise OverridesError(f"{path}: must hold a JSON object")
    try:
        overrides = parse_overrides(data)
    except OverridesError as error:
        raise OverridesError(f"{path}: {error}") from None
    return WorkCalendar.official(overrides)
