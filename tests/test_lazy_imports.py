"""What ``multiarch --version``/``--help`` and ``inspect`` load: only what they use (issue 10).

Run in a fresh interpreter each, so the test suite's own imports do not hide anything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "requests",
    "plumbum",
    "tarfile",
    "gzip",
    "multiarch_tasks.registry",
    "multiarch_tasks.elf",
    "multiarch_tasks.build",
    "multiarch_tasks.publish",
    "multiarch_tasks.preflight",
    "multiarch_tasks.mirror",
)


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after running ``code``."""
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["--list"]])
def test_version_help_and_list_load_no_registry_client_plumbum_or_tar_reader(
    argv: list[str],
) -> None:
    code = (
        "import sys\nfrom multiarch_tasks.cli import main\n"
        f"sys.argv = ['multiarch', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert loaded_after(code) == []


def test_inspect_loads_the_registry_client_but_no_plumbum_tar_reader_or_build() -> None:
    code = "from multiarch_tasks import api\napi.inspect"
    assert loaded_after(code) == ["requests", "multiarch_tasks.registry"]


def test_package_names_resolve_on_first_use() -> None:
    code = (
        "import multiarch_tasks as m\n"
        "assert m.Platform.parse('linux/arm64').architecture == 'arm64'\n"
        "assert callable(m.api.verify) and m.multiarch.name == 'multiarch'"
    )
    # The asserts run in the child (check=True fails on them); verify needs the client.
    assert "multiarch_tasks.registry" in loaded_after(code)
