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
    "multiarch_tasks.registry.client",
    "multiarch_tasks.checks.elf",
    "multiarch_tasks.steps.build",
    "multiarch_tasks.steps.publish",
    "multiarch_tasks.checks.preflight",
    "multiarch_tasks.steps.mirror",
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
    assert loaded_after(code) == ["multiarch_tasks.registry.client"]


def test_a_registry_request_loads_urllib3_but_not_requests() -> None:
    # A real request (refused: nobody listens on a fresh port) runs the whole client.
    code = (
        "from multiarch_tasks.registry.client import RegistryClient\n"
        "from multiarch_tasks.model.reference import ImageRef\n"
        "from multiarch_tasks.model.errors import RegistryError\n"
        "import socket\n"
        "with socket.socket() as sock:\n"
        "    sock.bind(('127.0.0.1', 0))\n"
        "    port = sock.getsockname()[1]\n"
        "try:\n"
        "    RegistryClient(retries=0).list_tags(ImageRef.parse(f'127.0.0.1:{port}/a/b'))\n"
        "except RegistryError:\n"
        "    pass"
    )
    assert loaded_after(code) == ["urllib3", "multiarch_tasks.registry.client"]


def test_package_names_resolve_on_first_use() -> None:
    code = (
        "import multiarch_tasks as m\n"
        "assert m.Platform.parse('linux/arm64').architecture == 'arm64'\n"
        "assert callable(m.api.verify) and m.multiarch.name == 'multiarch'"
    )
    # The asserts run in the child (check=True fails on them); verify needs the client.
    assert "multiarch_tasks.registry.client" in loaded_after(code)


def test_a_publish_loads_no_invoke_yaml_packaging_tar_reader_or_http_client() -> None:
    # Every module a publish run imports, through the fast path's own entry; the work
    # itself needs the engine (tests/e2e), the imports do not.
    code = (
        "import multiarch_tasks.fastpath, multiarch_tasks.steps.publish, multiarch_tasks.planning.plan,"
        " multiarch_tasks.steps.build, multiarch_tasks.steps.builder, multiarch_tasks.steps.qemu,"
        " multiarch_tasks.model.digests, multiarch_tasks.checks.preflight, multiarch_tasks.checks.verify,"
        " multiarch_tasks.steps.manifest, multiarch_tasks.registry.client, multiarch_tasks.checks.lint,"
        " multiarch_tasks.steps.backends.buildx\n"
        "import sys, json\n"
        "heavy = ('invoke', 'yaml', 'packaging', 'tarfile', 'http.client', 'email',"
        " 'concurrent.futures', 'logging', 'plumbum')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
