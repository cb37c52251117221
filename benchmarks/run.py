"""``make bench``: the portal's speed targets, measured and printed.

Targets (docs/operations.md keeps the latest figures):
- API cold start: importing the Lambda app (no Pelican, no Markdown) well under 1 s
- a status lookup: one query for the case's items, two small conditional writes (lockout)
- filing a complaint: one idempotency read and one transaction
- the nightly build: grows with what changed, not with the archive
- redaction and metrics: fast enough for 100k cases a night

Everything runs on this machine against moto in-process. moto answers every query by
walking its whole table (about 14,000 items here), so its milliseconds say little about
DynamoDB; the request counts are the figures that carry over to AWS.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "cn-north-1",
        "GRIDPORTAL_SECRET": "bench-secret",
        "GRIDPORTAL_CONTENT": str(ROOT / "content"),
        # The AWS adapters' request counts: DynamoDB and S3 played by moto in-process.
        "GRIDPORTAL_STORE": "dynamodb",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("GRIDPORTAL_SITE_DIR", None)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"median {statistics.median(values) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def cold_start() -> None:
    code = (
        "import sys,time;t=time.perf_counter();import app;"
        "print(time.perf_counter()-t);"
        "print(int(any(m in sys.modules for m in ('pelican','markdown'))))"
    )
    runs = []
    heavy = "0"
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT / "functions",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        runs.append(float(out[0]))
        heavy = out[1]
    print(f"api cold start (import app):   {ms(runs)}; pelican/markdown imported: {heavy == '1'}")


def main() -> None:
    from moto import mock_aws

    cold_start()
    with mock_aws():
        import boto3

        from gridportal.adapters.s3_site import S3Site
        from gridportal.adapters.tables import create_table
        from gridportal.demo import copy_cases, generate_in_memory
        from gridportal.domain import redaction
        from gridportal.domain.metrics import compute_metrics
        from gridportal.domain.model import Complaint, Contact
        from gridportal.domain.redaction import redact
        from gridportal.publish import publish
        from gridportal.runtime import runtime

        create_table(boto3.client("dynamodb", region_name="cn-north-1"))
        rt = runtime()
        portal = rt.portal

        calls = {"n": 0}

        def count(**_: object) -> None:
            calls["n"] += 1

        rt.dynamodb.meta.events.register("before-call.dynamodb", count)

        def requests_for(fn: Callable[[], object]) -> int:
            before = calls["n"]
            fn()
            return calls["n"] - before

        # A demo-sized history written to DynamoDB first, so reads see a realistic table.
        end = datetime.now(UTC)
        started = time.perf_counter()
        scratch, summary = generate_in_memory(portal, end=end)
        print(
            f"demo generation:               {summary.cases} cases in "
            f"{time.perf_counter() - started:.1f} s"
        )
        copy_cases(scratch.store, rt.store)

        complaint = Complaint(
            "env-litter",
            "QB-LCJX-01",
            "柳翠井巷北口",
            "垃圾满了没人清运。",
            contact=Contact("", ""),
        )
        keys = iter(range(10**6))
        file_with_key = lambda: portal.file_complaint(  # noqa: E731
            complaint, idempotency_key=f"bench-key-{next(keys):08d}"
        )
        filed = timed(file_with_key, 20)
        print(
            f"file a complaint:              {requests_for(file_with_key)} DynamoDB requests; "
            f"moto {ms(filed)}"
        )
        receipt = portal.file_complaint(complaint)
        lookup = lambda: portal.lookup(receipt.tracking, receipt.lookup_code)  # noqa: E731
        looked = timed(lookup, 20)
        print(
            f"status lookup:                 {requests_for(lookup)} DynamoDB requests; "
            f"moto {ms(looked)}"
        )

        site = S3Site(rt.s3(), "bench-site")
        site.ensure_bucket()
        with tempfile.TemporaryDirectory() as work:
            full = publish(portal, site, work_dir=Path(work), full=True)
            print(f"nightly build, full:           {json.dumps(full.summary())}")
            portal.file_complaint(complaint)
            before = calls["n"]
            incremental = publish(portal, site, work_dir=Path(work))
            print(
                f"nightly build, incremental:    {json.dumps(incremental.summary())}, "
                f"{calls['n'] - before} DynamoDB requests"
            )
            archive = site.read("data/cases.json.gz")
            records = json.loads(gzip.decompress(archive)) if archive else []

        # Residents' own text, as filed (phones, addresses, names), not already redacted.
        originals = [
            record.file.complaint.description for record, _ in scratch.store.all_histories()
        ]
        texts = originals * max(1, 20000 // max(1, len(originals)))
        elapsed = 0.0
        for text in texts:
            redaction.forget()  # the texts repeat: each is timed as new to the redactor
            started = time.perf_counter()
            redact(text)
            elapsed += time.perf_counter() - started
        rate = len(texts) / elapsed
        print(f"redaction:                     {rate:,.0f} texts/s")

        many = (records * (100_000 // max(1, len(records)) + 1))[:100_000]
        many = [{**r, "id": f"{r['id']}{i}"} for i, r in enumerate(many)]
        started = time.perf_counter()
        compute_metrics(many, portal.district, now=end)
        print(f"metrics for 100,000 records:   {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
