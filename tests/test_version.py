"""The static version string ``multiarch --version`` prints is pyproject's version."""

from __future__ import annotations

import tomllib
from pathlib import Path

import multiarch_tasks
from multiarch_tasks._version import __version__

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_static_version_equals_pyprojects() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert __version__ == project["version"]
    assert multiarch_tasks.__version__ == __version__
