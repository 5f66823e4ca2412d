"""The layer contract (pyproject's ``[tool.importlinter]``, run by ``nox -s lint``) holds for
the package and catches what it is there to catch: an upward import and an import cycle,
``TYPE_CHECKING`` imports included."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "multiarch_tasks", tmp_path / "multiarch_tasks")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(path: Path, import_line: str) -> None:
    """Append ``import_line`` under ``if TYPE_CHECKING:``, as a type-only import is written."""
    path.write_text(
        f"{path.read_text()}\nfrom typing import TYPE_CHECKING\n\n"
        f"if TYPE_CHECKING:\n    {import_line}\n"
    )


def test_the_package_keeps_its_layer_and_cycle_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_a_planted_upward_import_under_type_checking_breaks_the_layer_contract(
    copy_of_the_package: Path,
) -> None:
    plant(
        copy_of_the_package / "multiarch_tasks" / "model" / "errors.py",
        "from multiarch_tasks.steps import publish",
    )
    result = lint_imports(copy_of_the_package)
    assert result.returncode == 1
    assert "packages by layer: imports point down BROKEN" in result.stdout
    assert "multiarch_tasks.model is not allowed to import multiarch_tasks.steps" in result.stdout
    assert "multiarch_tasks.model.errors -> multiarch_tasks.steps.publish" in result.stdout


def test_a_planted_cycle_between_two_modules_of_a_package_breaks_the_cycle_contract(
    copy_of_the_package: Path,
) -> None:
    # settings imports coerce (through keys); coerce importing settings closes a cycle.
    plant(
        copy_of_the_package / "multiarch_tasks" / "config" / "coerce.py",
        "from multiarch_tasks.config import settings",
    )
    result = lint_imports(copy_of_the_package)
    assert result.returncode == 1
    assert "no import cycle between the packages, nor between the modules of one BROKEN" in (
        result.stdout
    )
    assert "packages by layer: imports point down KEPT" in result.stdout
