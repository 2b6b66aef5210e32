"""The import contracts in pyproject.toml ([tool.importlinter]): `core` is the headless library
under both the studio and the command line, so nothing in it imports Qt, `app` or `core.cli`."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="the test extra (pip install -e .[test] brings import-linter)")

ROOT = Path(__file__).resolve().parents[1]
# import-linter in a child process: it puts its cwd on sys.path and configures logging globally
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filenames=('pyproject.toml',), no_cache=True, no_logo=True))")


def test_core_keeps_its_import_contracts():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert contracts, "pyproject.toml has no [[tool.importlinter.contracts]]"
    done = subprocess.run([sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"import contracts broken (fix the import, not the contract):\n{report}"
    for contract in contracts:
        assert f"{contract['name']} KEPT" in report, report


def test_cli_still_offers_the_shipped_model_folder():
    from core.cli import default_model_dir as from_cli
    from core.model.shipped import default_model_dir

    assert from_cli is default_model_dir
    assert (default_model_dir() / "config.json").is_file()
