"""The whole loop on moto: file, resolve, vote through the API, then the nightly publish."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from gridportal.adapters.s3_site import MANIFEST, S3Site
from gridportal.domain.model import Role
from gridportal.publish import publish
from gridportal.runtime import runtime
from api_helpers import COMPLAINT, act, login, post

BUCKET = "gridportal-site"


def _bucket_text(s3: Any) -> dict[str, str]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            out[obj["Key"]] = body.decode("utf-8", errors="replace")
    return out


def test_whole_loop_publishes_an_anonymised_record(api: Any, tmp_path: Path) -> None:
    complaint = {
        **COMPLAINT,
        "description": "楼下垃圾没人清运,我是司马先生,电话13912345678,住3幢2单元501室。",
        "name": "司马晓岚",
        "phone": "13912345678",
    }
    receipt = post(api, "/complaints", complaint, {"Idempotency-Key": "loop"}).json_body
    tracking = receipt["tracking"].replace("-", "")
    dispatcher = login(api, "dispatch-01", Role.DISPATCHER)
    handler = login(api, "urban-01", Role.HANDLER, "dept-urban")
    act(api, dispatcher, tracking, "assess", data={"priority": "general"})
    act(api, dispatcher, tracking, "dispatch", data={"unit": "dept-urban"})
    act(api, handler, tracking, "accept")
    act(api, handler, tracking, "contact", private_note="已电话联系司马晓岚 13912345678")
    act(api, handler, tracking, "resolve", public_note="已清运。")
    voted = post(api, f"/cases/{tracking}/vote", {"token": receipt["vote_token"], "rating": "satisfied"})
    assert voted.status_code == 201

    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, BUCKET)
    site.ensure_bucket()
    report = publish(runtime().portal, site, work_dir=tmp_path)
    assert report.full and report.total == 1

    files = _bucket_text(s3)
    public_id = receipt["public_id"]
    record = next(r for r in json.loads(files["data/cases.json"]) if r["id"] == public_id)
    assert record["status"] == "rated" and record["rating"] == "satisfied"
    assert f"cases/{public_id}/index.html" in files
    secrets = ["司马晓岚", "司马先生", "13912345678", "3幢2单元501室", tracking, receipt["tracking"],
               receipt["lookup_code"], receipt["vote_token"], "dispatch-01", "urban-01"]
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
    # Nothing changed: at most the pages that show the build time differ.
    assert len(second.published.uploaded) < len(first.published.uploaded)
    assert MANIFEST in _bucket_text(s3)
