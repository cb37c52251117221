"""``portal demo`` and ``portal serve``: the whole portal on one machine.

The embedded default (内置模式): cases live in one SQLite file, the site is a directory, and
one local origin serves the site at ``/`` and the API at ``/api``. Nothing else runs: no
emulator sits on a resident's path. Everything is kept between runs in ``var/demo/``; a
restart opens the same file and serves the same directory, so it is ready in a second.

The first start loads the demo district's months of cases and builds the site in a child
process, so that the server never carries the generator's or Pelican's memory.

``portal demo --aws`` (``make demo-aws``) runs the same demo on the AWS shape instead:
moto's server on 127.0.0.1 plays DynamoDB and S3, with its snapshot between runs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from gridportal.config import SOURCE_ROOT
from gridportal.domain.credentials import format_tracking
from gridportal.domain.model import Role

SITE_BUCKET = "gridportal-site"
DEMO_PASSWORD = "demo-2026"  # printed in the banner; the demo is local and private
DEMO_MARKER = "demo-loaded"
DB_FILE = "portal.db"
SITE_DIR = "site"
ENV_FILE = "portal.env"
RECEIPTS_FILE = "receipts.json"


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    # `kill <pid>` stops the demo as cleanly as Ctrl-C. Once: a stop signal sent again
    # while it stops (make passes its own SIGTERM on to the demo, systemd signals every
    # process of the unit, Ctrl-C pressed twice) would break off the stop with a traceback.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """SIGTERM and SIGINT (Ctrl-C) stop the demo or the server, each taken once."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, _stop_on_sigterm)


def _setup_logging() -> None:
    _stop_on_signals()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for chatty in ("werkzeug", "botocore", "pelican"):  # one line per page or request
        logging.getLogger(chatty).setLevel(logging.WARNING)


def embedded_settings(root: Path, *, port: int, secret: str) -> dict[str, str]:
    """The environment of an embedded portal kept under ``root``."""
    root = root.resolve()
    return {
        "GRIDPORTAL_STORE": f"sqlite:{root / DB_FILE}",
        "GRIDPORTAL_SITE_DIR": str(root / SITE_DIR),
        "GRIDPORTAL_SECRET": secret,
        "GRIDPORTAL_CONTENT": str(SOURCE_ROOT / "content"),
        "GRIDPORTAL_SITE_URL": f"http://127.0.0.1:{port}",
    }


def run_demo(root: Path, *, port: int, aws_port: int, reset: bool, aws: bool = False) -> None:
    _setup_logging()
    root.mkdir(parents=True, exist_ok=True)
    if reset:
        _forget(root)
    secret = _secret(root / "secret")
    if aws:
        _run_aws_demo(root, port=port, aws_port=aws_port, secret=secret)
        return
    settings = embedded_settings(root, port=port, secret=secret)
    _use(settings, root)
    from gridportal.runtime import runtime

    if runtime().store.get_marker(DEMO_MARKER) is None:
        click.echo("首次启动：生成演示数据（约六个月的案件）并构建公开站点…")
        started = time.perf_counter()
        # A child process does the heavy lifting, so the server's memory stays small.
        command = [sys.executable, "-m", "gridportal.demo_server", "load", str(root)]
        if subprocess.run(command, env={**os.environ, **settings}, check=False).returncode:
            raise click.ClickException("演示数据加载失败（见上方信息）。")
        click.echo(f"  用时 {time.perf_counter() - started:.1f} 秒")
    serve(root=root, port=port, banner=True)


def serve(*, root: Path | None = None, host: str = "127.0.0.1", port: int, banner: bool) -> None:
    """Serve the configured site directory and the API on one origin until stopped."""
    from gridportal.adapters.directory_site import move_to_flat_layout
    from gridportal.adapters.local_server import (
        DirectorySite,
        chalice_api,
        give_back_large_blocks,
        make_server,
    )
    from gridportal.runtime import runtime

    give_back_large_blocks()  # before the first password hash and the first thread
    rt = runtime()
    if rt.settings.site_dir is None:
        raise click.ClickException("本地站点需要 GRIDPORTAL_SITE_DIR（站点目录）。")
    rt.settings.site_dir.mkdir(parents=True, exist_ok=True)
    move_to_flat_layout(rt.settings.site_dir)  # a site written before: served as it is now
    server = make_server(
        site=DirectorySite(rt.settings.site_dir),
        api=chalice_api(_chalice_app()),
        host=host,
        port=port,
    )
    _warm_in_background()
    _stop_on_signals()  # `portal serve` under systemd too
    if banner and root is not None:
        _banner(server.base_url, root, backend="SQLite " + str(rt.settings.db_path))
    else:
        click.echo(f"portal on {server.base_url}/ (site {rt.settings.site_dir})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("\n正在停止…")
    finally:
        server.server_close()
    click.echo("已停止。已提交的数据都已保存。")


# A public note with a name in characters and in pinyin: the redactor loads both of its
# dictionaries (jieba's, pypinyin's) to mask it, as a resident's lookup of such a case does.
_WARM_TEXT = "已通知物业王建国（Wang Jianguo）到场清理。"
WARMED = "预加载完成"  # the line that says the server holds all it will load (benchmarks)


def warm_api() -> float:
    """Load now what the API otherwise loads on first use; the seconds it took.

    The redactor's dictionaries (about 130 MB, a few seconds) load on the first lookup of
    a case with a staff answer, the password hasher (argon2, 19 MiB of working memory) on
    the first staff login, the site reader on the first lookup (it links the case's public
    record once published). Loaded at start, no resident waits for them in the middle of
    a request later, and the server's memory once warm is what it keeps: any later growth
    is growth with use.
    """
    from gridportal.domain.credentials import hash_password
    from gridportal.domain.redaction import redact
    from gridportal.runtime import runtime

    started = time.perf_counter()
    redact(_WARM_TEXT)
    hash_password(secrets.token_urlsafe(8))
    runtime().site_target()
    return time.perf_counter() - started


def _warm_in_background() -> None:
    """Warm beside the server rather than before it: the site, filings and lookups of
    cases without a staff answer are served at once; a request that needs the redactor
    in the first seconds waits for this one load (the redactor's lock), never a second."""

    def run() -> None:
        try:
            seconds = warm_api()
        except Exception:  # the first request that needs it loads it, and says why not
            logging.getLogger(__name__).exception("warming the API failed")
            return
        click.echo(f"{WARMED}：脱敏词典与密码模块（用时 {seconds:.1f} 秒）")

    threading.Thread(target=run, name="warm-api", daemon=True).start()


def _chalice_app() -> Any:
    sys.path.insert(0, str(SOURCE_ROOT / "functions"))
    import app as chalice_app

    return chalice_app.app


def _forget(root: Path) -> None:
    for name in (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", "aws-state.json", RECEIPTS_FILE):
        (root / name).unlink(missing_ok=True)
    for name in ("build", SITE_DIR):
        shutil.rmtree(root / name, ignore_errors=True)


def _use(settings: Mapping[str, str], root: Path) -> None:
    """Put the settings in this process and in ``portal.env`` for the staff CLI."""
    os.environ.update(settings)
    (root / ENV_FILE).write_text(
        "".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8"
    )
    (root / ENV_FILE).chmod(0o600)
    from gridportal.runtime import runtime

    runtime.cache_clear()


def _secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def load_demo(root: Path) -> None:
    """Generate the demo through the real use cases on a fast in-memory store, copy every
    case history into the configured store in bulk, add the demo staff, and run the first
    (full) build exactly as the nightly build runs."""
    from gridportal.demo import copy_cases, generate_in_memory
    from gridportal.publish import publish_from_runtime
    from gridportal.runtime import runtime

    rt = runtime()
    started = time.perf_counter()
    end = datetime.now(UTC)
    scratch, summary = generate_in_memory(rt.portal, end=end)
    click.echo(f"  {summary.cases} 件案件，用时 {time.perf_counter() - started:.1f} 秒")
    copy_cases(scratch.store, rt.store)
    for member in _demo_staff(rt):
        rt.store.put_staff(member)
    receipts = [
        {"tracking": r[0], "lookup_code": r[1], "vote_token": r[2]}
        for r in getattr(summary, "receipts", ())
    ]
    (root / RECEIPTS_FILE).write_text(
        json.dumps(receipts, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    click.echo("构建并发布公开站点…")
    report = publish_from_runtime(rt, full=True, work_dir=root / "build")
    click.echo(f"  {json.dumps(report.summary(), ensure_ascii=False)}")
    rt.store.set_marker(DEMO_MARKER, end.isoformat())


def _run_aws_demo(root: Path, *, port: int, aws_port: int, secret: str) -> None:
    """The AWS shape on one machine: moto's server for DynamoDB and S3, with snapshots."""
    from gridportal.adapters.embedded_aws import EmbeddedAws
    from gridportal.adapters.local_server import (
        BucketSite,
        chalice_api,
        give_back_large_blocks,
        make_server,
    )
    from gridportal.publish import publish_from_runtime

    give_back_large_blocks()
    click.echo("启动内置 AWS(moto，仅监听 127.0.0.1)…")
    state_file = root / "aws-state.json"
    with EmbeddedAws(port=aws_port, state_file=state_file, buckets=[SITE_BUCKET]) as aws:
        settings = {
            **aws.environ,
            "GRIDPORTAL_SECRET": secret,
            "GRIDPORTAL_SITE_BUCKET": SITE_BUCKET,
            "GRIDPORTAL_CONTENT": str(SOURCE_ROOT / "content"),
            "GRIDPORTAL_SITE_URL": f"http://127.0.0.1:{port}",
        }
        _use(settings, root)
        from gridportal.runtime import runtime

        rt = runtime()
        if rt.store.get_marker(DEMO_MARKER) is None:
            load_demo(root)
            aws.snapshot()
        else:
            # moto keeps no S3 objects between runs: publish the whole site again.
            click.echo("重新发布公开站点（内置 S3 不保存对象）…")
            report = publish_from_runtime(rt, full=True, work_dir=root / "build-aws")
            click.echo(f"  {json.dumps(report.summary(), ensure_ascii=False)}")
        server = make_server(
            site=BucketSite(rt.s3(), SITE_BUCKET), api=chalice_api(_chalice_app()), port=port
        )
        _warm_in_background()
        _banner(server.base_url, root, backend=f"DynamoDB/S3 on moto {aws.endpoint_url}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("\n正在停止，保存演示数据…")
        finally:
            server.server_close()
    click.echo("已停止。")


def _demo_staff(rt: Any) -> list[Any]:
    from gridportal.domain.credentials import hash_password
    from gridportal.ports import StaffMember

    password = hash_password(DEMO_PASSWORD)  # one hash for every demo account: fast start
    district = rt.portal.district
    # Display names are people's names, as in a real directory: staff names are private
    # and the redactor removes them from published text, so a role title given as a name
    # (督查员) was removed wherever a note used the word.
    people = [
        ("dispatch-01", "陈立群", Role.DISPATCHER, None),
        ("supervisor-01", "周慧敏", Role.SUPERVISOR, None),
        ("auditor-01", "吴浩然", Role.AUDITOR, None),
    ]
    people += [
        (f"{d.id}-handler", _DEMO_HANDLERS[i % len(_DEMO_HANDLERS)], Role.HANDLER, d.id)
        for i, d in enumerate(district.departments)
    ]
    # A grid worker is the one on the grid's bulletin (public: the redactor keeps it).
    people += [
        (f"{g.id}-worker", _grid_worker_name(g), Role.GRID_WORKER, g.id) for g in district.grids
    ]
    return [StaffMember(u, n, r, unit, password) for u, n, r, unit in people]


# Names that are no everyday word, whole or by surname (施展 took 施工 with it: a staff
# surname is removed with 工, 总 and the like after it).
_DEMO_HANDLERS = (
    "郑凯文", "孙晓岚", "钱立新", "冯嘉怡", "蒋文博", "沈佳宁", "韩雪梅", "杨志远", "朱建平",
    "秦海燕", "许文杰", "何佳琪", "吕志刚", "罗斌", "张晓峰", "孔德明", "曹丽娜",
)  # fmt: skip


def _grid_worker_name(grid: Any) -> str:
    from gridportal.domain.reference import TeamRole

    workers = [m.name for m in grid.team if m.role is TeamRole.WORKER]
    return workers[0] if workers else f"{grid.name}网格员"


def _banner(base_url: str, root: Path, *, backend: str) -> None:
    receipts_file = root / RECEIPTS_FILE
    receipts = (
        json.loads(receipts_file.read_text(encoding="utf-8")) if receipts_file.exists() else []
    )
    # The other commands find the demo's settings in var/demo/ by themselves; elsewhere
    # (portal demo --dir) they are told where.
    default = root.resolve() == (Path("var") / "demo").resolve()
    portal = ".venv/bin/portal" + ("" if default else f" --env-file {root / ENV_FILE}")
    rebuild = (
        "make rebuild   （即 .venv/bin/portal build）"
        if default
        else f"{portal} build --work-dir {root / 'build'}"
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
        f"  数据存储     {backend}",
        "",
        "  工作人员账号  dispatch-01 / supervisor-01 / auditor-01 / <部门id>-handler",
        f"               / <网格id>-worker，密码均为 {DEMO_PASSWORD}",
        f"  办理案件     {portal} case act <受理编号> assess --as dispatch-01 \\",
        "                 --set priority=general",
        f"  重建站点     {rebuild}",
    ]
    for r in receipts[:3]:
        tracking = format_tracking(r["tracking"])  # as the receipt shows it
        lines.append(f"  演示案件     受理编号 {tracking}  查询码 {r['lookup_code']}")
        lines.append(f"               评价码 {r['vote_token']}")
    lines += ["", "按 Ctrl-C 停止（已提交的数据都已保存，下次启动仍在）。", ""]
    click.echo("\n".join(lines), nl=True)
    sys.stdout.flush()


if __name__ == "__main__":  # the first start's loader: python -m gridportal.demo_server load DIR
    if len(sys.argv) == 3 and sys.argv[1] == "load":
        logging.basicConfig(level=logging.WARNING)
        load_demo(Path(sys.argv[2]))
    else:
        sys.exit("usage: python -m gridportal.demo_server load DIR")
