"""`make package`: two Lambda bundles built without AWS credentials. The API's is small and
imports nothing that renders; the nightly build's carries Pelican and the theme and has
the three steps of the state machine in infra/nightly.json."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from gridportal.adapters import state_machine

ROOT = Path(__file__).resolve().parents[1]
API_LIMIT_BYTES = 15 * 1024 * 1024  # unzipped (docs/scale.md)
RENDERING = ("pelican", "markdown", "pygments", "docutils", "jinja2")
STEPS = ("plan", "shard", "finish")


def unzipped_size(path: Path) -> int:
    return sum(info.file_size for info in zipfile.ZipFile(path).infolist())


def tops(path: Path) -> set[str]:
    return {name.split("/")[0] for name in zipfile.ZipFile(path).namelist()}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def schedules(template: dict[str, Any]) -> list[Any]:
    return [
        event["Properties"]["Schedule"]
        for function in functions(template).values()
        for event in function.get("Events", {}).values()
        if event.get("Type") == "Schedule"
    ]


def in_bundle(packaged: Path, tmp_path: Path, probe: str, env: dict[str, str]) -> str:
    """Run ``probe`` in the API's unpacked bundle alone: -S, no site-packages, as on
    Lambda only the bundle (and the runtime's boto3) is there. Returns its output."""
    target = tmp_path / "task"
    zipfile.ZipFile(packaged / "deployment.zip").extractall(target)
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        cwd=target,
        env={"PATH": os.environ.get("PATH", ""), **env},
        check=True,
        capture_output=True,
        encoding="utf-8",  # not the locale's: CI runs without one
        timeout=120,
    )
    return done.stdout


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package") / "chalice"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    subprocess.run(
        ["make", "--no-print-directory", "package", f"PACKAGE_DIR={out}"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=540,
    )
    return out


@pytest.mark.slow
def test_the_api_bundle_is_small_and_carries_nothing_that_renders(packaged: Path) -> None:
    bundle = packaged / "deployment.zip"
    names = set(zipfile.ZipFile(bundle).namelist())
    for expected in (
        "app.py",
        "chalicelib/http.py",
        "gridportal/services.py",
        "gridportal/adapters/dynamo.py",
        "content/district.json",
        "content/calendar/overrides.json",
        "chinese_calendar/__init__.py",
        "argon2/__init__.py",
    ):
        assert expected in names, f"{expected} missing from the API bundle"
    for absent in (
        "gridportal/publish.py",
        "gridportal/adapters/pelican_site.py",
        "themes/portal/templates/base.html",
        "site/pelicanconf.py",
    ):
        assert absent not in names, f"{absent} does not belong in the API bundle"
    assert not tops(bundle) & set(RENDERING)
    assert unzipped_size(bundle) < API_LIMIT_BYTES
    template = json.loads((packaged / "sam.json").read_text(encoding="utf-8"))
    assert schedules(template) == []  # the nightly build is no longer the API's
    for function in functions(template).values():
        variables = function["Environment"]["Variables"]
        assert variables["GRIDPORTAL_STORE"].startswith("dynamodb:")


@pytest.mark.slow
def test_the_api_bundle_imports_on_its_own_without_boto3_or_a_renderer(
    packaged: Path, tmp_path: Path
) -> None:
    probe = (
        "import json, sys; sys.path.insert(0, '.'); import app; "
        f"print(json.dumps([m for m in {['boto3', 'botocore', *RENDERING]!r} "
        "if m in sys.modules]))"
    )
    env = {"GRIDPORTAL_SECRET": "x" * 32}
    assert json.loads(in_bundle(packaged, tmp_path, probe, env)) == []


@pytest.mark.slow
def test_the_api_bundle_carries_its_bytecode_so_a_cold_start_compiles_nothing(
    packaged: Path, tmp_path: Path
) -> None:
    template = json.loads((packaged / "sam.json").read_text(encoding="utf-8"))
    if {f["Runtime"] for f in functions(template).values()} != {
        f"python{sys.version_info.major}.{sys.version_info.minor}"
    }:
        pytest.skip("bytecode is made only by the Python of the bundle's runtime")
    bundle = packaged / "deployment.zip"
    names = set(zipfile.ZipFile(bundle).namelist())
    for module in ("app.py", "chalicelib/http.py", "gridportal/services.py"):
        assert importlib.util.cache_from_source(module) in names, module
    assert importlib.util.cache_from_source("jieba/finalseg/prob_emit.py") in names
    assert not [n for n in names if n.endswith(".pyc") and n.startswith(("cffi/", "pycparser/"))]
    # Unchecked: the API imports from its bytecode without reading a source, as on
    # Lambda's read-only /var/task (here even a source that would fail is never read).
    target = tmp_path / "task"
    zipfile.ZipFile(bundle).extractall(target)
    for module in ("chalicelib/http.py", "gridportal/services.py"):
        (target / module).write_text("raise ImportError('compiled from source')\n")
    done = subprocess.run(
        [sys.executable, "-S", "-B", "-c", "import sys; sys.path.insert(0, '.'); import app"],
        cwd=target,
        env={"PATH": os.environ.get("PATH", ""), "GRIDPORTAL_SECRET": "x" * 32},
        capture_output=True,
        encoding="utf-8",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_the_api_bundle_redacts_as_a_lookup_and_a_staff_note_need(
    packaged: Path, tmp_path: Path
) -> None:
    # A lookup shows staff text through the redactor (jieba), a staff note is checked for
    # the complainant's name in pinyin (pypinyin): both work from the bundle alone.
    probe = (
        "import json, sys; sys.path.insert(0, '.'); "
        "from gridportal.domain.model import Contact; "
        "from gridportal.domain.redaction import KnownPeople, known_data_in, redact; "
        "known = KnownPeople.of_contact(Contact('王晓岚', '13912345678')); "
        "print(json.dumps([redact('对门住户赵一鸣已整改，Wang Xiaoming到场。'), "
        "known_data_in('经与Wang Xiaolan核实', known)], ensure_ascii=False))"
    )
    out = in_bundle(packaged, tmp_path, probe, {"TMPDIR": str(tmp_path)})
    assert json.loads(out) == ["对门住户[姓名]已整改，[姓名]到场。", ["name"]]


@pytest.mark.slow
def test_the_nightly_bundle_has_the_three_steps_and_the_renderer(packaged: Path) -> None:
    bundle = packaged / "nightly" / "deployment.zip"
    names = set(zipfile.ZipFile(bundle).namelist())
    for expected in (
        "app.py",
        "gridportal/publish.py",
        "gridportal/adapters/pelican_site.py",
        "content/district.json",
        "content/pages/about.md",
        "themes/portal/templates/base.html",
        "site/pelicanconf.py",
        "pelican/__init__.py",
        "chinese_calendar/__init__.py",
    ):
        assert expected in names, f"{expected} missing from the nightly bundle"
    template = json.loads((packaged / "nightly" / "sam.json").read_text(encoding="utf-8"))
    steps = functions(template)
    assert sorted(f["Handler"] for f in steps.values()) == sorted(f"app.{s}" for s in STEPS)
    for function in steps.values():
        assert function["Timeout"] <= state_machine.LAMBDA_TIMEOUT_SECONDS
        assert function["Environment"]["Variables"]["GRIDPORTAL_STORE"].startswith("dynamodb:")
    # The schedule starts the state machine (infra/nightly.json), not a function.
    assert schedules(template) == []


def test_the_nightly_handlers_are_the_state_machines_steps() -> None:
    spec = importlib.util.spec_from_file_location(
        "nightly_app", ROOT / "functions" / "nightly" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handlers = {name for name in STEPS if callable(getattr(module, name, None))}
    assert handlers == set(STEPS)
    parameters = {p.removesuffix("FunctionArn").lower() for p in state_machine.FUNCTION_PARAMETERS}
    assert parameters == set(STEPS)
    rule = state_machine.template()["Resources"]["NightlySchedule"]["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert state_machine.SCHEDULE == "cron(0 18 * * ? *)"  # 02:00 Beijing time
    config = json.loads(
        (ROOT / "functions" / "nightly" / ".chalice" / "config.json").read_text(encoding="utf-8")
    )
    assert set(config["stages"]["prod"]["lambda_functions"]) == set(STEPS)
