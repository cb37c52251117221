"""The operator's command line, against moto: staff, filing, moving, reading, building."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from gridportal.adapters.tables import create_table
from gridportal.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import"


def run(*args: str, stdin: str | None = None) -> Any:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    return result


def test_an_operator_runs_a_case_from_the_command_line(aws_env: None, tmp_path: Path) -> None:
    create_table(boto3.client("dynamodb", region_name="cn-north-1"))
    for username, role, unit in (
        ("dispatch-01", "dispatcher", None),
        ("urban-01", "handler", "dept-urban"),
        ("worker-01", "grid_worker", "QB-LCJX-01"),
    ):
        args = ["staff", "add", username, "--name", username, "--role", role]
        added = run(*args, *(["--unit", unit] if unit else []), stdin="pw-123456\npw-123456\n")
        assert added.exit_code == 0, added.output

    filed = run(
        "case",
        "file",
        "--as",
        "worker-01",
        "--category",
        "env-litter",
        "--location",
        "柳翠井巷北口",
        "--description",
        "巡查发现垃圾堆放。",
    )
    assert filed.exit_code == 0, filed.output
    tracking = filed.output.split(":")[0].strip()

    hotline = run(
        "case",
        "file",
        "--as",
        "dispatch-01",
        "--category",
        "env-litter",
        "--grid",
        "QB-LCJX-01",
        "--location",
        "路口",
        "--description",
        "来电反映垃圾。",
        "--phone",
        "13812345678",
    )
    assert hotline.exit_code == 0 and "lookup code" in hotline.output

    for args in (
        ("assess", "--as", "dispatch-01", "--set", "priority=general"),
        ("dispatch", "--as", "dispatch-01", "--set", "unit=dept-urban"),
        ("accept", "--as", "urban-01"),
        ("resolve", "--as", "urban-01", "--note", "已清运。"),
    ):
        moved = run("case", "act", tracking, *args)
        assert moved.exit_code == 0, moved.output
    assert "resolved" in moved.output

    refused = run("case", "act", tracking, "accept", "--as", "urban-01")
    assert refused.exit_code != 0 and "illegal_transition" in refused.output

    grouped = "-".join(tracking[i : i + 4] for i in range(0, len(tracking), 4))
    shown = run("case", "show", grouped, "--as", "dispatch-01")  # as the receipt shows it
    assert json.loads(shown.output)["status"] == "resolved"
    assert run("case", "show", "abc", "--as", "dispatch-01").exit_code == 2  # a usage error
    queue = run("case", "queue", "--as", "dispatch-01")
    assert len(json.loads(queue.output)) == 1  # the hotline case awaits assessment

    built = run("build", "--work-dir", str(tmp_path))
    assert built.exit_code == 0, built.output
    assert json.loads(built.output)["total_cases"] == 2


def test_import_check_writes_nothing(aws_env: None) -> None:
    create_table(boto3.client("dynamodb", region_name="cn-north-1"))
    checked = run("import", str(FIXTURES / "hotline.csv"), "--source", "hz12345", "--check")
    assert checked.exit_code == 0, checked.output
    client = boto3.client("dynamodb", region_name="cn-north-1")
    assert client.scan(TableName="gridportal")["Count"] == 0


def test_a_store_that_does_not_answer_ends_in_one_clear_line(
    monkeypatch: Any, tmp_path: Path
) -> None:
    import socket

    from gridportal.runtime import runtime

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for name, value in {
        "GRIDPORTAL_SECRET": "cli-test-secret",
        "GRIDPORTAL_STORE": "dynamodb:gridportal",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "cn-north-1",
    }.items():
        monkeypatch.setenv(name, value)
    runtime.cache_clear()
    try:
        result = CliRunner().invoke(main, ["case", "queue", "--as", "dispatch-01"])
    finally:
        runtime.cache_clear()
    assert result.exit_code == 1
    assert "存储不可用" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
