"""The architecture rules (pyproject's [tool.importlinter], docs/architecture.md) hold, and a
wrong import — deferred inside a function, too — breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("web", "api", "community", "scoring", "forecasts", "trading", "markets", "config")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def tree_copy(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_architecture_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        # markets reaching up into scoring from inside a function (a deferred import).
        (
            "markets/models.py",
            "def _planted():\n    from scoring.models import Score\n\n    return Score\n",
            "Layers point down",
        ),
        # ingestion learning about questions.
        (
            "markets/benchmarks/ingest.py",
            "def _planted():\n    from markets.models import Question\n\n    return Question\n",
            "Benchmarks are independent of questions and resolution",
        ),
        # the pure math importing Django.
        ("scoring/rules.py", "import django.db  # noqa\n", "The pure math imports no Django"),
    ],
)
def test_a_planted_wrong_import_breaks_a_contract(
    tmp_path: Path, module: str, wrong_import: str, contract: str
) -> None:
    root = tree_copy(tmp_path)
    with (root / module).open("a") as f:
        f.write("\n\n" + wrong_import)
    result = lint_imports(root)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
