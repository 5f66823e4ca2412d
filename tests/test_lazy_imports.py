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
    "urllib3",
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
def test_version_help_and_list_load_no_registry_client_or_tar_reader(
    argv: list[str],
) -> None:
    code = (
        "import sys\nfrom multiarch_tasks.cli import main\n"
        f"sys.argv = ['multiarch', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert loaded_after(code) == []


def test_inspect_loads_the_registry_client_but_no_requests_tar_reader_or_build() -> None:
    code = "from multiarch_tasks import api\napi.inspect"
    assert loaded_after(code) == ["multiarch_tasks.registry"]


def test_a_registry_request_loads_neither_requests_nor_urllib3() -> None:
    # A real request (refused: nobody listens on a fresh port) runs the whole client.
    code = (
        "from multiarch_tasks.registry import RegistryClient\n"
        "from multiarch_tasks.reference import ImageRef\n"
        "from multiarch_tasks.errors import RegistryError\n"
        "import socket\n"
        "with socket.socket() as sock:\n"
        "    sock.bind(('127.0.0.1', 0))\n"
        "    port = sock.getsockname()[1]\n"
        "try:\n"
        "    RegistryClient(retries=0).list_tags(ImageRef.parse(f'127.0.0.1:{port}/a/b'))\n"
        "except RegistryError:\n"
        "    pass"
    )
    assert loaded_after(code) == ["multiarch_tasks.registry"]


def test_package_names_resolve_on_first_use() -> None:
    code = (
        "import multiarch_tasks as m\n"
        "assert m.Platform.parse('linux/arm64').architecture == 'arm64'\n"
        "assert callable(m.api.verify) and m.multiarch.name == 'multiarch'"
    )
    # The asserts run in the child (check=True fails on them); verify needs the client.
    assert "multiarch_tasks.registry" in loaded_after(code)
