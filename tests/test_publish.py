"""The nightly build on moto: file, resolve, vote through the API, then publish to S3.

The build's own rules (golden incremental builds, takedowns, quiet nights, the plan's
order, dry runs) are in tests/test_publish_plan.py, on the in-memory store and a
directory target.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3
import pytest

from api_helpers import COMPLAINT, act, login, post
from gridportal.adapters.s3_site import S3Site
from gridportal.domain.model import Action, Actor, Complaint, Role
from gridportal.publish import SITE_STATE, publish
from gridportal.runtime import runtime
from gridportal.shards import staged_path

BUCKET = "gridportal-site"


def _bucket_text(s3: Any) -> dict[str, str]:
    """Every object as a reader receives it (data files are stored gzip-encoded)."""
    site, out = S3Site(s3, BUCKET), {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            body = site.read(obj["Key"]) or b""
            out[obj["Key"]] = body.decode("utf-8", errors="replace")
    return out


def test_whole_loop_publishes_an_anonymised_record(api: Any, tmp_path: Path) -> None:
    complaint = {
        **COMPLAINT,
        "description": "楼下垃圾没人清运,我是司马先生,电话13912345678,住3幢2单元501室。",
        "name": "司马晓岚",
        "phone": "13912345678",
    }
    receipt = post(api, "/complaints", complaint, {"Idempotency-Key": "whole-loop-01"}).json_body
    tracking = receipt["tracking"].replace("-", "")
    dispatcher = login(api, "dispatch-01", Role.DISPATCHER)
    handler = login(api, "urban-01", Role.HANDLER, "dept-urban")
    act(api, dispatcher, tracking, "assess", data={"priority": "general"})
    act(api, dispatcher, tracking, "dispatch", data={"unit": "dept-urban"})
    act(api, handler, tracking, "accept")
    act(api, handler, tracking, "contact", private_note="已电话联系司马晓岚 13912345678")
    act(api, handler, tracking, "resolve", public_note="已清运。")
    voted = post(
        api,
        "/cases/vote",
        {"tracking": tracking, "token": receipt["vote_token"], "rating": "satisfied"},
    )
    assert voted.status_code == 201

    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, BUCKET)
    site.ensure_bucket()
    report = publish(runtime().portal, site, work_dir=tmp_path)
    assert report.full and report.total == 1

    files = _bucket_text(s3)
    public_id = receipt["public_id"]
    (month_file,) = [k for k in files if k.startswith("data/cases/") and k.endswith(".json")]
    record = next(r for r in json.loads(files[month_file]) if r["id"] == public_id)
    assert record["status"] == "rated" and record["rating"] == "satisfied"
    assert f"cases/{public_id}/index.html" in files
    secrets = [
        "司马晓岚",
        "司马先生",
        "13912345678",
        "3幢2单元501室",
        tracking,
        receipt["tracking"],
        receipt["lookup_code"],
        receipt["vote_token"],
        "dispatch-01",
        "urban-01",
    ]
    for key, text in files.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked into {key}"


def test_second_build_uploads_only_what_changed(api: Any, tmp_path: Path) -> None:
    post(api, "/complaints", COMPLAINT)
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, BUCKET)
    site.ensure_bucket()
    first = publish(runtime().portal, site, work_dir=tmp_path)
    assert first.published is not None and first.published.uploaded
    second = publish(runtime().portal, site, work_dir=tmp_path)
    assert not second.full
    assert second.published is not None
    assert second.published.uploaded == () and second.published.deleted == ()
    assert SITE_STATE in _bucket_text(s3)
    # Each build removes what it staged once it is published: the next night does not
    # begin by deleting the first build's files.
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_dry_run_leaves_the_plan_s_files(api: Any, tmp_path: Path) -> None:
    post(api, "/complaints", COMPLAINT)
    site = S3Site(boto3.client("s3", region_name="cn-north-1"), BUCKET)
    site.ensure_bucket()
    report = publish(runtime().portal, site, work_dir=tmp_path, dry_run=True)
    assert report.plan is not None and report.plan.uploads
    assert all(staged_path(Path(report.plan.staging), s.key).is_file() for s in report.plan.uploads)


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(1)>",
    "javascript:alert(1)",
    '<a href="javascript:alert(1)">点我</a>',
    "'; alert(1); //",
    "<iframe src=//evil.example>",
    "{{ 7*7 }}{% raw %}",
    "<style>body{display:none}</style>",
    "<body onload=alert(1)>",
    '"onmouseover="alert(1)',
    "<scr<script>ipt>alert(1)</script>",
]
PERSONAL = [
    ("13987654321", "我的手机 139 8765 4321"),
    ("110101199003074518", "身份证 110101199003074518"),
    ("6222021234567890128", "卡号 6222 0212 3456 7890 128"),
    ("13711112222", "电话：１３７１１１１２２２２"),
]


class _TagAudit(HTMLParser):
    """Collects what would run: scripts, event handlers, javascript: URLs."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.problems: list[str] = []
        # The search page alone runs Pagefind's script (its CSP allows WebAssembly).
        self.own = re.compile(
            r"/theme/js/(portal\.js|search\.[0-9a-f]+\.js)"
            if key == "search/index.html"
            else r"/theme/js/portal\.js"
        )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "script" and not self.own.fullmatch(dict(attrs).get("src") or ""):
            self.problems.append(f"<script {attrs}>")
        if tag in ("iframe", "object", "embed", "style", "base"):
            self.problems.append(f"<{tag}>")


def test_hostile_text_never_becomes_code_or_leaks(dynamodb: Any, tmp_path: Path) -> None:
    portal = runtime().portal
    dispatcher = Actor(Role.DISPATCHER, "dispatch-01")
    handler = Actor(Role.HANDLER, "urban-01", "dept-urban")
    for i, payload in enumerate(XSS_PAYLOADS):
        digits, text = PERSONAL[i % len(PERSONAL)]
        receipt = portal.file_complaint(
            Complaint("env-litter", "QB-LCJX-01", f"路口{payload}", f"{payload} {text} {payload}")
        )
        t = receipt.tracking
        portal.act(t, Action.ASSESS, dispatcher, data={"priority": "general"})
        portal.act(t, Action.DISPATCH, dispatcher, data={"unit": "dept-urban"})
        portal.act(t, Action.ACCEPT, handler)
        portal.act(t, Action.RESOLVE, handler, public_note=f"答复{payload}{text}")
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, BUCKET)
    site.ensure_bucket()
    publish(portal, site, work_dir=tmp_path)

    for key, text in _bucket_text(s3).items():
        for digits, _ in PERSONAL:
            assert digits not in text.replace(" ", ""), f"{digits} leaked into {key}"
        if key.endswith(".html"):
            audit = _TagAudit(key)
            audit.feed(text)
            assert not audit.problems, f"{key}: {audit.problems}"
            assert "<script>alert" not in text


def test_a_failed_render_leaves_the_site_as_it_was(dynamodb: Any, tmp_path: Path) -> None:
    portal = runtime().portal
    portal.file_complaint(Complaint("env-litter", "QB-LCJX-01", "路口", "垃圾没人清运。"))
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, BUCKET)
    site.ensure_bucket()
    publish(portal, site, work_dir=tmp_path)
    before, marker = _bucket_text(s3), portal.store.get_marker("build")
    # A corrupt record in last night's month file makes the next render refuse to run.
    (key,) = [k for k in before if k.startswith("data/cases/") and k.endswith(".json")]
    corrupt = [*json.loads(before[key]), {"id": "../../evil", "received_at": "x", "month": "x"}]
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(corrupt).encode())
    before = _bucket_text(s3)
    portal.file_complaint(Complaint("env-litter", "QB-LCJX-01", "路口", "又满了。"))
    with pytest.raises(ValueError):
        publish(portal, site, work_dir=tmp_path)
    assert _bucket_text(s3) == before
    assert portal.store.get_marker("build") == marker


def test_a_failed_upload_keeps_entry_pages_and_marker(dynamodb: Any, tmp_path: Path) -> None:
    portal = runtime().portal
    portal.file_complaint(Complaint("env-litter", "QB-LCJX-01", "路口", "垃圾没人清运。"))
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, BUCKET)
    site.ensure_bucket()
    publish(portal, site, work_dir=tmp_path)
    home, marker = _bucket_text(s3)["index.html"], portal.store.get_marker("build")
    portal.file_complaint(Complaint("env-litter", "QB-LCJX-01", "路口", "又满了。"))

    uploads = {"count": 0}

    def fail_after_two(params: dict[str, Any], **_: Any) -> None:
        uploads["count"] += 1
        if uploads["count"] > 2:
            raise ConnectionError("network gone")

    s3.meta.events.register("provide-client-params.s3.PutObject", fail_after_two)
    with pytest.raises(ConnectionError):
        publish(portal, S3Site(s3, BUCKET), work_dir=tmp_path)
    s3.meta.events.unregister("provide-client-params.s3.PutObject", fail_after_two)
    assert _bucket_text(s3)["index.html"] == home  # the entry page still shows last night
    assert portal.store.get_marker("build") == marker  # so the next night redoes the work
    retried = publish(portal, S3Site(s3, BUCKET), work_dir=tmp_path)
    assert retried.published is not None and "index.html" in retried.published.uploaded
