"""`make package`: the Lambda bundle is built without AWS credentials, core vendored in."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_chalice_package_vendors_the_core_and_schedules_the_nightly_build(tmp_path: Path) -> None:
    out = tmp_path / "chalice"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    subprocess.run(
        ["make", "--no-print-directory", "package", f"PACKAGE_DIR={out}"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=540,
    )
    names = set(zipfile.ZipFile(out / "deployment.zip").namelist())
    for expected in (
        "app.py",
        "chalicelib/http.py",
        "gridportal/services.py",
        "gridportal/adapters/pelican_site.py",
        "content/district.json",
        "themes/portal/templates/base.html",
        "site/pelicanconf.py",
        "chinese_calendar/__init__.py",
    ):
        assert expected in names, f"{expected} missing from the Lambda bundle"
    template = json.loads((out / "sam.json").read_text(encoding="utf-8"))
    schedules = [
        event["Properties"]["Schedule"]
        for resource in template["Resources"].values()
        for event in resource.get("Properties", {}).get("Events", {}).values()
        if event.get("Type") == "Schedule"
    ]
    assert schedules == ["cron(0 18 * * ? *)"]  # 02:00 Beijing time
