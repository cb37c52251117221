"""Checking answers against GeoReport v2: the JSON schemas in tests/fixtures/open311/ and
the XML element names the standard gives."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from jsonschema import Draft202012Validator, FormatChecker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "open311"
# The portal's rule on top of the standard's date-time: Beijing time, to the second.
BEIJING_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$"
# Fields an answer must never carry: the complainant's contact and secrets, coordinates.
FORBIDDEN = ("email", "phone", "first_name", "last_name", "lat", "long", "tracking")
# For each XML answer: the root element, the element of each item, the fields an item may have.
XML_SHAPES = {
    "services": ("services", "service"),
    "requests": ("service_requests", "request"),
    "post_requests": ("service_requests", "request"),
    "tokens": ("service_requests", "request"),
    "errors": ("errors", "error"),
}


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def check_json(name: str, data: Any) -> None:
    """``data`` validates against the schema ``name`` and carries no forbidden field."""
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(name).iter_errors(data)
    ]
    assert problems == [], f"{name}: {problems}"
    items = data if isinstance(data, list) else [data]
    for item in items:
        assert not set(item) & set(FORBIDDEN), item
        for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
            if key in item:
                assert re.match(BEIJING_TIME, item[key]), (key, item[key])


def parse_xml(name: str, body: bytes) -> list[ElementTree.Element]:
    """The items of an XML answer, after checking its root and item element names."""
    assert body.startswith(b"<?xml"), body[:40]
    root = ElementTree.fromstring(body)
    if name in XML_SHAPES:
        root_name, item_name = XML_SHAPES[name]
        assert root.tag == root_name, root.tag
        assert all(child.tag == item_name for child in root), [c.tag for c in root]
        items = list(root)
    else:
        assert root.tag == name, root.tag
        items = [root]
    for item in items:
        assert not {child.tag for child in item} & set(FORBIDDEN)
    return items


def xml_text(item: ElementTree.Element, tag: str) -> str:
    found = item.find(tag)
    assert found is not None, f"<{tag}> missing from <{item.tag}>"
    return found.text or ""
