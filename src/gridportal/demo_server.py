"""``portal demo``: the whole portal on one machine.

moto's server on 127.0.0.1 plays AWS (DynamoDB and S3); the demo district and
months of cases are loaded once and kept in a snapshot between runs; the site is
built and published to the local bucket; one local origin serves the published
site and the API. Ctrl-C stops everything and saves what was filed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from gridportal.adapters.embedded_aws import EmbeddedAws
from gridportal.adapters.local_server import BucketSite, chalice_api, make_server
from gridportal.adapters.s3_site import S3Site
from gridportal.config import SOURCE_ROOT
from gridportal.domain.model import Role
from gridportal.publish import MARKER as BUILD_MARKER
from gridportal.publish import publish

SITE_BUCKET = "gridportal-site"
DEMO_PASSWORD = "demo-2026"  # printed in the banner; the demo is local and private
DEMO_MARKER = "demo-loaded"


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # `kill <pid>` stops the demo as cleanly as Ctrl-C, saving state


def run_demo(root: Path, *, port: int, aws_port: int, reset: bool) -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server is chatty
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("pelican").setLevel(logging.WARNING)  # one line per written page
    root.mkdir(parents=True, exist_ok=True)
    state_file = root / "aws-state.json"
    if reset:
        for name in ("aws-state.json", "receipts.json"):
            (root / name).unlink(missing_ok=True)
        shutil.rmtree(root / "build", ignore_errors=True)
    secret = _secret(root / "secret")
    click.echo("启动内置 AWS(moto,仅监听 127.0.0.1)…")
    with EmbeddedAws(port=aws_port, state_file=state_file, buckets=[SITE_BUCKET]) as aws:
        settings = {
            **aws.environ,
            "GRIDPORTAL_SECRET": secret,
            "GRIDPORTAL_SITE_BUCKET": SITE_BUCKET,
            "GRIDPORTAL_CONTENT": str(SOURCE_ROOT / "content"),
            "GRIDPORTAL_SITE_URL": f"http://127.0.0.1:{port}",
        }
        os.environ.update(settings)
        (root / "portal.env").write_text(
            "".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8"
        )
        from gridportal.runtime import runtime

        runtime.cache_clear()
        rt = runtime()
        site = S3Site(rt.s3(), SITE_BUCKET)
        site.ensure_bucket()
        work_dir = root / "build"
        if rt.store.get_marker(DEMO_MARKER) is None:
            _load_demo(rt, site, work_dir)
            aws.snapshot()
        else:
            click.echo("恢复上次发布的站点,并增量重建…")
            if (work_dir / "site").is_dir():
                site.publish(work_dir / "site")  # S3 is not kept between runs; the mirror is
            report = publish(rt.portal, site, work_dir=work_dir, site_url=rt.settings.site_url)
            click.echo(f"  {json.dumps(report.summary(), ensure_ascii=False)}")

        sys.path.insert(0, str(SOURCE_ROOT / "functions"))
        import app as chalice_app

        server = make_server(
            site=BucketSite(rt.s3(), SITE_BUCKET), api=chalice_api(chalice_app.app), port=port
        )
        _banner(server.base_url, aws.endpoint_url, root)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("\n正在停止,保存演示数据…")
        finally:
            server.server_close()
    click.echo("已停止。")


def _secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _load_demo(rt: Any, site: S3Site, work_dir: Path) -> None:
    """Generate the demo through the real use cases on a fast in-memory store, publish the
    first build from it, then copy every case history into DynamoDB with batch writes."""
    from gridportal.demo import copy_cases, generate_in_memory

    started = time.perf_counter()
    end = datetime.now(UTC)
    click.echo("生成演示数据(约六个月的案件)…")
    scratch, summary = generate_in_memory(rt.portal, end=end)
    click.echo(f"  {summary.cases} 件案件,用时 {time.perf_counter() - started:.1f} 秒")
    click.echo("构建并发布公开站点…")
    report = publish(
        scratch, site, work_dir=work_dir, site_url=rt.settings.site_url, full=True, now=end
    )
    click.echo(f"  {json.dumps(report.summary(), ensure_ascii=False)}")
    click.echo("写入内置 DynamoDB…")
    copy_cases(scratch.store, rt.store)
    for member in _demo_staff(rt):
        rt.store.put_staff(member)
    receipts = [
        {"tracking": r[0], "lookup_code": r[1], "vote_token": r[2]}
        for r in getattr(summary, "receipts", ())
    ]
    rt.store.set_marker(BUILD_MARKER, scratch.store.get_marker(BUILD_MARKER) or end.isoformat())
    (work_dir.parent / "receipts.json").write_text(
        json.dumps(receipts, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    rt.store.set_marker(DEMO_MARKER, end.isoformat())


def _demo_staff(rt: Any) -> list[Any]:
    from gridportal.domain.credentials import hash_password
    from gridportal.ports import StaffMember

    password = hash_password(DEMO_PASSWORD)  # one hash for every demo account: fast start
    district = rt.portal.district
    people = [
        ("dispatch-01", "指挥中心派单员", Role.DISPATCHER, None),
        ("supervisor-01", "督查员", Role.SUPERVISOR, None),
        ("auditor-01", "审计员", Role.AUDITOR, None),
    ]
    people += [
        (f"{d.id}-handler", f"{d.name}承办人", Role.HANDLER, d.id) for d in district.departments
    ]
    people += [
        (f"{g.id}-worker", f"{g.name}网格员", Role.GRID_WORKER, g.id) for g in district.grids
    ]
    return [StaffMember(u, n, r, unit, password) for u, n, r, unit in people]


def _banner(base_url: str, aws_url: str, root: Path) -> None:
    receipts_file = root / "receipts.json"
    receipts = (
        json.loads(receipts_file.read_text(encoding="utf-8")) if receipts_file.exists() else []
    )
    lines = [
        "",
        "网格化管理公开平台 · 本地演示",
        f"  公开站点     {base_url}/",
        f"  我要投诉     {base_url}/report/",
        f"  查询进度     {base_url}/lookup/",
        f"  评价         {base_url}/vote/",
        f"  统计指标     {base_url}/metrics/",
        f"  接口         {base_url}/api/  (docs/api.md)",
        f"  内置 AWS     {aws_url}  (moto, 仅 127.0.0.1)",
        "",
        "  工作人员账号  dispatch-01 / supervisor-01 / auditor-01 / <部门id>-handler",
        f"               / <网格id>-worker,密码均为 {DEMO_PASSWORD}",
        "  办理案件     .venv/bin/portal case act <受理编号> assess --as dispatch-01 \\",
        "                 --set priority=general",
        "  重建站点     make rebuild   (即 .venv/bin/portal build)",
    ]
    for r in receipts[:3]:
        lines.append(f"  演示案件     受理编号 {r['tracking']}  查询码 {r['lookup_code']}")
        lines.append(f"               评价凭证 {r['vote_token']}")
    lines += ["", "按 Ctrl-C 停止(已提交的数据会保存,下次启动仍在)。", ""]
    click.echo("\n".join(lines))
