"""``portal``: the operator's command line.

    portal demo [--aws]              run the whole portal locally (embedded store, or moto)
    portal serve                     serve the configured site and API on one local origin
    portal build [--full]            the nightly rebuild and publish, now
    portal case show|queue|act ...   every staff operation, for an operator without a UI
    portal case takedown T --reason  take a public record down at the next build
    portal synth N --seed S          synthetic cases at city scale (benchmarks)
    portal open311 issue-key CLIENT  an Open311 API key for a client application
    portal open311 keys | revoke-key ID  the keys issued; revoke one
    portal staff add ...             create a staff member (password from stdin or prompt)
    portal import FILE --source S    bulk import from an existing platform
    portal synth N --seed S          N synthetic cases over the years (benchmarks, load)

Commands other than ``demo`` read their settings from the environment (see
docs/operations.md); they pick up the demo's settings from ``var/demo/portal.env``
automatically, whether or not the demo is running (the embedded store is a file).
Expected failures (a store that does not answer, bad settings, a refused action) end
with one clear line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

DEMO_DIR = Path("var/demo")
DEMO_ENV = DEMO_DIR / "portal.env"


def _load_env_file(path: Path) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


class _Commands(click.Group):
    """Turns expected failures into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from gridportal.config import ConfigError
        from gridportal.ports import StoreError
        from gridportal.services import PortalError

        try:
            return super().invoke(ctx)
        except PortalError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from exc
        except StoreError as exc:
            raise click.ClickException(f"存储不可用（store unavailable）：{exc}") from exc
        except ConfigError as exc:
            raise click.ClickException(f"设置有误（configuration）：{exc}") from exc
        except Exception as exc:
            if _is_connection_error(exc):
                raise click.ClickException(f"存储不可用（store unavailable）：{exc}") from exc
            raise


def _is_connection_error(exc: Exception) -> bool:
    """botocore's connection and timeout errors, recognised without importing botocore."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "NoCredentialsError",
            "ConnectionClosedError",
        }
    )


@click.group(cls=_Commands)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (NAME=value lines). Default: the running demo's, if any.",
)
def main(env_file: Path | None) -> None:
    """The grid transparency portal (网格化管理公开平台)."""
    if env_file is not None:
        _load_env_file(env_file)
    elif "GRIDPORTAL_SECRET" not in os.environ and DEMO_ENV.exists():
        _load_env_file(DEMO_ENV)


def _runtime() -> Any:
    from gridportal.runtime import runtime

    return runtime()


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


# --------------------------------------------------------------------------- build
@main.command()
@click.option("--full", is_flag=True, help="Re-render every page (after a theme change).")
@click.option(
    "--work-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("var/build")
)
@click.option("--dry-run", is_flag=True, help="Print the plan (uploads, deletions); send nothing.")
def build(full: bool, work_dir: Path, dry_run: bool) -> None:
    """Rebuild the public site from the case data and publish what changed."""
    from gridportal.publish import plan_lines, publish_from_runtime

    report = publish_from_runtime(_runtime(), full=full, work_dir=work_dir, dry_run=dry_run)
    if dry_run and report.plan is not None:
        for line in plan_lines(report.plan):
            click.echo(line)
        return
    _echo_json(report.summary())


# ---------------------------------------------------------------------------- demo
@main.command()
@click.option("--port", default=8000, show_default=True, help="Port of the local origin.")
@click.option("--aws-port", default=4566, show_default=True, help="Port of the embedded AWS.")
@click.option("--reset", is_flag=True, help="Forget the saved demo state and start afresh.")
@click.option("--aws", is_flag=True, help="Run on the AWS shape: DynamoDB and S3 played by moto.")
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEMO_DIR,
    show_default=True,
    help="Where the demo keeps its store, site and settings (other commands: --env-file "
    "DIR/portal.env).",
)
def demo(port: int, aws_port: int, reset: bool, aws: bool, root: Path) -> None:
    """Run the whole portal locally: demo district, built site, API on one origin."""
    from gridportal.demo_server import run_demo

    run_demo(root, port=port, aws_port=aws_port, reset=reset, aws=aws)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the configured site directory and the API on one origin (a pilot on one server)."""
    from gridportal.demo_server import serve as run_server

    run_server(host=host, port=port, banner=False)


# --------------------------------------------------------------------------- staff
@main.group()
def staff() -> None:
    """Staff accounts."""


@staff.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True)
@click.option(
    "--role",
    type=click.Choice(["dispatcher", "handler", "grid_worker", "supervisor", "auditor"]),
    required=True,
)
@click.option("--unit", help="Department id (handlers) or grid id (grid workers).")
@click.password_option(help="Read from the prompt, or from stdin when not a terminal.")
def staff_add(username: str, display_name: str, role: str, unit: str | None, password: str) -> None:
    from gridportal.domain.model import Role

    member = _runtime().portal.add_staff(username, display_name, Role(role), unit, password)
    click.echo(f"added {member.username} ({member.role}, {member.unit or '-'})")


# ---------------------------------------------------------------------------- case
@main.group()
def case() -> None:
    """Read and move cases as a named staff member (every action records its actor)."""


def _tracking(value: str) -> str:
    """A tracking number as people copy it: 2464-0661-3460 or 246406613460."""
    from gridportal.domain.credentials import normalise_tracking

    digits = normalise_tracking(value)
    if not digits:
        raise click.BadParameter(f"受理编号应为数字（a tracking number）：{value!r}")
    return digits


def _actor(username: str) -> Any:
    from gridportal.domain.model import Actor

    member = _runtime().store.get_staff(username)
    if member is None or not member.active:
        raise click.ClickException(f"没有在职的工作人员 {username!r}（no active staff member）")
    return Actor(member.role, member.username, member.unit)


@case.command("show")
@click.argument("tracking", callback=lambda _c, _p, v: _tracking(v))
@click.option("--as", "username", required=True, help="Staff username to read as.")
def case_show(tracking: str, username: str) -> None:
    from gridportal import views

    rt, actor = _runtime(), _actor(username)
    _guarded(
        lambda: _echo_json(
            views.staff_case(rt.portal.staff_view(tracking, actor), rt.portal.district, actor)
        )
    )


@case.command("queue")
@click.option("--as", "username", required=True)
def case_queue(username: str) -> None:
    from gridportal import views

    rt, actor = _runtime(), _actor(username)
    _guarded(
        lambda: _echo_json(
            [views.queue_item(v, rt.portal.district) for v in rt.portal.queue(actor)]
        )
    )


@case.command("act")
@click.argument("tracking", callback=lambda _c, _p, v: _tracking(v))
@click.argument("action")
@click.option("--as", "username", required=True)
@click.option(
    "--note",
    "public_note",
    default="",
    help="Public note (公开说明), published after redaction. Call the complainant 投诉人: "
    "a note with their name or phone is refused.",
)
@click.option(
    "--private-note", default="", help="Internal note, never published (contact details)."
)
@click.option(
    "--set", "pairs", multiple=True, metavar="KEY=VALUE", help="Action data, e.g. unit=dept-urban."
)
def case_act(
    tracking: str,
    action: str,
    username: str,
    public_note: str,
    private_note: str,
    pairs: tuple[str, ...],
) -> None:
    """Take ACTION on a case: assess, answer, dispatch, accept, return, contact, extend,
    supervise, report, decide, resolve, refuse, follow_up, reopen, merge, archive."""
    from gridportal.domain.credentials import format_tracking
    from gridportal.domain.model import Action

    try:
        chosen = Action(action)
    except ValueError as exc:
        raise click.BadParameter(f"unknown action {action!r}") from exc
    data = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    rt, actor = _runtime(), _actor(username)

    def run() -> None:
        view = rt.portal.act(
            tracking, chosen, actor, public_note=public_note, private_note=private_note, data=data
        )
        shown = format_tracking(view.record.tracking)
        click.echo(f"{shown}: {view.state.status} (step {view.state.last_seq})")

    _guarded(run)


@case.command("takedown")
@click.argument("tracking", callback=lambda _c, _p, v: _tracking(v))
@click.option("--reason", required=True, help="Why the record leaves the public site.")
def case_takedown(tracking: str, reason: str) -> None:
    """Take a case's public record down (撤下): the next build removes it from every page,
    file and number; the private record stays."""
    from datetime import UTC, datetime

    from gridportal.domain.credentials import format_tracking
    from gridportal.publish import take_down

    try:
        take_down(_runtime().store, tracking, reason, datetime.now(UTC))
    except (KeyError, ValueError) as exc:
        raise click.ClickException(f"takedown refused: {exc}") from exc
    click.echo(f"{format_tracking(tracking)}: will be taken down at the next build")


@case.command("file")
@click.option("--as", "username", required=True, help="Grid worker (patrol) or dispatcher.")
@click.option("--category", required=True, help="Service item code (事项类别).")
@click.option("--grid", help="Grid id; a grid worker's own grid by default.")
@click.option("--location", required=True, help="Where, at grid level.")
@click.option("--description", required=True)
@click.option(
    "--channel",
    type=click.Choice(["patrol", "hotline", "wechat"]),
    help="patrol for grid workers (default), hotline or wechat for the command centre.",
)
@click.option("--name", default="", help="Complainant's name (private).")
@click.option("--phone", default="", help="Complainant's phone (private).")
def case_file(
    username: str,
    category: str,
    grid: str | None,
    location: str,
    description: str,
    channel: str | None,
    name: str,
    phone: str,
) -> None:
    """File a case: a grid worker's patrol report (巡查上报), or a call or message the
    command centre takes down (热线、微信)."""
    from gridportal.domain.model import Channel, Complaint, Contact, Role

    rt, actor = _runtime(), _actor(username)
    chosen = Channel(channel or ("patrol" if actor.role is Role.GRID_WORKER else "hotline"))

    def run() -> None:
        complaint = Complaint(
            category, grid or actor.unit or "", location, description, chosen, Contact(name, phone)
        )
        receipt = rt.portal.file_complaint(complaint, actor=actor)
        click.echo(f"{receipt.tracking}: {receipt.view.state.status}")
        if chosen is not Channel.PATROL:
            # A caller gets their codes read out, as a web complainant sees them on screen.
            click.echo(f"lookup code {receipt.lookup_code}  vote token {receipt.vote_token}")

    _guarded(run)


def _guarded(run: Any) -> None:
    from gridportal.services import PortalError

    try:
        run()
    except PortalError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc


# -------------------------------------------------------------------------- import
@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source_system", required=True, help="Name of the source platform.")
@click.option("--check", is_flag=True, help="Validate against the store; write nothing.")
def import_command(path: Path, source_system: str, check: bool) -> None:
    """Import cases and their events (CSV or JSON, docs/import.md): the whole file or nothing."""
    from gridportal.importer import format_of, import_cases

    portal = _runtime().portal
    try:
        fmt = format_of(path.name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    report = import_cases(
        path.read_text(encoding="utf-8"),
        fmt=fmt,
        portal=portal,
        source_system=source_system,
        now=portal.clock(),
        dry_run=check,
    )
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


# --------------------------------------------------------------------------- synth
@main.command()
@click.argument("count", type=click.IntRange(min=1))
@click.option("--seed", default=2026, show_default=True, help="Same seed, same cases.")
@click.option("--years", default=5, show_default=True, help="Years of history up to --until.")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Last day (Beijing), default today; never past the official calendar.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Processes that build and write chunks of cases in parallel.",
)
def synth(count: int, seed: int, years: int, until: Any, workers: int) -> None:
    """Write COUNT synthetic cases over the years into the configured store (合成数据)."""
    from datetime import UTC, datetime, time

    from gridportal.domain.deadlines import BEIJING
    from gridportal.runtime import open_store
    from gridportal.synth import synthesize

    rt = _runtime()
    end = datetime.combine(until.date(), time.max, BEIJING) if until else datetime.now(UTC)
    summary = synthesize(
        rt.store,
        rt.portal.district,
        rt.portal.calendar,
        rt.portal.keys,
        count=count,
        seed=seed,
        end=end,
        years=years,
        workers=workers,
        open_store=lambda: open_store(rt.settings)[0],
    )
    for line in summary.lines():
        click.echo(line)


# -------------------------------------------------------------------------- open311
@main.group()
def open311() -> None:
    """Open311 GeoReport v2 clients (开放311接口的应用, docs/open311.md)."""


@open311.command("issue-key")
@click.argument("client")
def open311_issue_key(client: str) -> None:
    """Issue an API key to the client application CLIENT; only its digest is stored."""
    from datetime import UTC, datetime

    from gridportal import open311 as georeport

    rt = _runtime()
    key = georeport.issue_key(rt.store, rt.portal.keys, client, datetime.now(UTC))
    key_id = georeport.key_id(rt.portal.keys, key)
    click.echo(
        f"api_key 已签发给 {client.strip()}（key_id {key_id}；只显示这一次，平台只保存其摘要）：",
        err=True,
    )
    click.echo(key)


@open311.command("keys")
def open311_keys() -> None:
    """List the keys issued: key id, client, when issued and, if so, revoked."""
    from gridportal import open311 as georeport

    rt = _runtime()
    for key_id, record in sorted(georeport.issued_keys(rt.store).items()):
        revoked = f"\t已停用 {record['revoked_at']}" if "revoked_at" in record else ""
        click.echo(f"{key_id}\t{record['client']}\t{record['issued_at']}{revoked}")


@open311.command("revoke-key")
@click.argument("key_id")
def open311_revoke_key(key_id: str) -> None:
    """Revoke the key KEY_ID (see `portal open311 keys`); the client gets 403 from now on."""
    from datetime import UTC, datetime

    from gridportal import open311 as georeport

    rt = _runtime()
    record = georeport.revoke_key(rt.store, key_id, datetime.now(UTC))
    click.echo(f"已停用 {record['client']} 的 api_key {key_id}（自 {record['revoked_at']}）。")


if __name__ == "__main__":  # python -m gridportal.cli …, as the tests and benchmarks run it
    main()
