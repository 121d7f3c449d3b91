"""provenance sits at the bottom of the import graph and stays light."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import C2PA_FIXTURES, REPO_ROOT

PROBE = """
import sys
from provenance.cli.main import main
try:
    main(["verify", {path!r}, "--json"])
except SystemExit:
    pass
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {{"torch", "timm", "torchvision", "generators", "detectors",
                               "service", "fastapi", "onnxruntime"}}
)
print("HEAVY:" + ",".join(heavy))
"""


def test_verify_imports_no_torch_and_no_upper_package():
    code = PROBE.format(path=str(C2PA_FIXTURES / "adobe-20220124-CA.jpg"))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:", result.stdout


def test_provenance_source_never_imports_upper_packages():
    offenders = []
    for path in (REPO_ROOT / "provenance").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")) and stripped.split()[1].split(".")[0] in {
                "torch",
                "timm",
                "torchvision",
                "generators",
                "detectors",
                "service",
            }:
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {stripped}")
    assert offenders == []
