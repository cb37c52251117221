"""Add its modules' bytecode to a Lambda bundle made by ``chalice package``.

    python scripts/compile_bundle.py build/chalice           (sam.json, deployment.zip)

On Lambda a bundle is unpacked into /var/task, which is read-only: Python can write no
``__pycache__`` there, so every cold start compiled each module it imported from
source (about a third of the API's import; jieba's HMM tables alone take 0.2 s, on the
first request that redacts). The bundle now carries each module's bytecode beside its
source as an "unchecked-hash" pyc (PEP 552), which Python loads without reading the
source to compare: a bundle never changes once built. So a source edited inside a
bundle (in Lambda's console, say) is not what runs: change the code and package again.

Bytecode belongs to one Python version. It is made only when the Python running this
is the template's runtime (``python3.11``); with another, the bundle is left as it is
and a line says so, since Lambda's Python would ignore the files.
"""

from __future__ import annotations

import compileall
import json
import py_compile
import re
import sys
import tempfile
import zipfile
from pathlib import Path

# Packages that build C bindings when a bundle is installed; nothing imports them on
# Lambda (argon2's bindings need only the compiled _cffi_backend).
BUILD_ONLY = re.compile(r"[/\\](cffi|pycparser)[/\\]")


def runtimes(template: Path) -> set[str]:
    resources = json.loads(template.read_text("utf-8")).get("Resources", {})
    return {
        r["Properties"]["Runtime"]
        for r in resources.values()
        if r.get("Type") == "AWS::Serverless::Function" and "Runtime" in r.get("Properties", {})
    }


# Where Lambda unpacks a bundle: the path each module's bytecode names as its source.
TASK_ROOT = "/var/task"


def add_bytecode(bundle: Path) -> int:
    """Compile every module of ``bundle`` (build-only packages aside) and append the
    pycs to it. Returns how many were added.

    The same sources give the same bundle, byte for byte, as Chalice's own zip does:
    the pycs name their source under /var/task, not the scratch directory, and their
    entries carry a fixed time and mode (readable on Lambda whatever the umask)."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with zipfile.ZipFile(bundle) as archive:
            known = set(archive.namelist())
            archive.extractall(root, [n for n in known if n.endswith(".py")])
        compileall.compile_dir(
            root,
            quiet=1,
            rx=BUILD_ONLY,
            stripdir=str(root),
            prependdir=TASK_ROOT,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        made = sorted(
            (p.relative_to(root).as_posix(), p)
            for p in root.rglob("*.pyc")
            if p.relative_to(root).as_posix() not in known
        )
        with zipfile.ZipFile(bundle, "a") as archive:
            for name, pyc in made:
                entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                entry.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, pyc.read_bytes())
    return len(made)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    package = Path(sys.argv[1])
    ours = f"python{sys.version_info.major}.{sys.version_info.minor}"
    wanted = runtimes(package / "sam.json")
    if wanted != {ours}:
        print(f"    no bytecode added: the bundle runs on {', '.join(sorted(wanted))}, not {ours}")
        return
    count = add_bytecode(package / "deployment.zip")
    print(f"    {count} modules' bytecode added ({ours}, unchecked-hash)")


if __name__ == "__main__":
    main()
