"""The gates: `make test` runs ruff (lint and format) and mypy strict before pytest, and a new finding fails them."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CLEAN = "def double(value: int) -> int:\n    return value * 2\n"
# One finding per gate: an unused import (ruff lint), `value*2` (ruff format), no annotations (mypy strict).
FLAWED = "import os\n\n\ndef double(value):\n    return value*2\n"


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    # -o: never reinstall the venv from inside a test; a make above us must not leak its flags or variables.
    # CI's own make passes PYTEST_ARGS (and a caller may set LINT_PATHS or TYPE_PATHS) through the environment.
    outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS", "LINT_PATHS", "TYPE_PATHS")
    env = {k: v for k, v in os.environ.items() if k not in outer}
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_test_runs_every_gate_before_pytest() -> None:
    commands = [line.split()[:3] for line in _make("-n", "test").stdout.splitlines() if line.startswith(".venv/bin/")]
    tools = [" ".join(words) for words in commands]
    assert tools == [
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check",
        ".venv/bin/mypy",
        ".venv/bin/pytest -n auto",  # on every core by default (pytest-xdist)
    ]


def test_make_test_args_come_after_the_parallel_default_so_they_can_override_it() -> None:
    pytest_line = next(line for line in _make("-n", "test", "PYTEST_ARGS=-n0").stdout.splitlines() if "pytest" in line)
    assert pytest_line.split()[1:] == ["-n", "auto", "--dist", "worksteal", "-n0"]


@pytest.mark.parametrize(
    ("source", "expected_failures"),
    [(CLEAN, []), (FLAWED, ["F401", "1 file would be reformatted", "[no-untyped-def]"])],
    ids=["clean-file-passes", "each-finding-fails"],
)
def test_check_fails_on_a_new_finding(tmp_path: Path, source: str, expected_failures: list[str]) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    result = _make("-k", "check", f"LINT_PATHS={probe}", f"TYPE_PATHS={probe}")
    output = result.stdout + result.stderr
    assert (result.returncode != 0) == bool(expected_failures), output
    for finding in expected_failures:
        assert finding in output


MAX_MODULE_LINES = 400


def test_no_module_of_the_packages_is_longer_than_400_lines() -> None:
    """A module past one screen of concerns is split by aggregate (docs/architecture.md): this keeps it so."""
    too_long = {
        str(path.relative_to(ROOT)): lines
        for package in ("common", "gateway", "services")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}
