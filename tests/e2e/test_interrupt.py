"""SIGINT/SIGTERM during the registry commands: every child stops, exit 130/143, and one
line says what moved and what did not (issue 17: Ctrl-C during ``mirror``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from testbed import images
from testbed.fault_proxy import Rule
from testbed.processes import processes_mentioning

if TYPE_CHECKING:
    from testbed.registry import Registry
    from tests.conftest import BaseImage

pytestmark = pytest.mark.e2e
BLOB_DELAY = 6.0  # each blob GET through the proxy waits this long: the copy is mid-way


def _tag_digest(registry: Registry, ref: str) -> str | None:
    repository, _, tag = ref.split("/", 1)[1].rpartition(":")
    found = registry.manifest(repository, tag)
    return found[1] if found else None


def _interrupt_when(
    argv: list[str], started: object, sig: signal.Signals
) -> tuple[int, str, str, float]:
    """Run ``argv``; once ``started()`` is true send ``sig``; (code, out, err, seconds to exit)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not started():  # type: ignore[operator]
            if proc.poll() is not None:
                pytest.fail(f"ended before it was interrupted: {proc.communicate()}")
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(sig)
        begin = time.monotonic()
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out, err, time.monotonic() - begin
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    ("sig", "code", "existing"),
    [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, True)],
    ids=["SIGINT-new-tag", "SIGTERM-existing-tag"],
)
def test_signal_during_skopeo_mirror_stops_skopeo_and_says_the_tag_is_untouched(
    base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy,
    sig: signal.Signals,
    code: int,
    existing: bool,
) -> None:
    dest = f"{repo}:mirrored"
    before = None
    if existing:
        desc, _ = images.push_image(
            RegistryClient(), ImageRef.parse(dest), {"os": "linux", "architecture": "amd64"},
            [b"not the source"], by_digest=False,
        )  # fmt: skip
        before = desc.digest
    slow = Rule(method="GET", path=r"/blobs/", delay=BLOB_DELAY)
    proxy = fault_proxy(slow)
    src = base_image.ref.replace(registry.host, proxy.host)
    multiarch = str(Path(sys.executable).parent / "multiarch")
    returncode, out, err, took = _interrupt_when(
        [multiarch, "mirror", "--tool", "skopeo", src, dest], lambda: slow.seen > 0, sig
    )
    assert returncode == code, out + err
    assert took < 15, took
    assert processes_mentioning(dest) == []
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in out + err
    state = f"{dest} untouched: still at {before}" if existing else f"{dest} untouched: not created"
    assert f"interrupted by {sig.name}" in lines[0]
    assert state in lines[0], lines[0]
    # skopeo is gone: the tag stays as it was once the delayed requests are over.
    time.sleep(BLOB_DELAY + 1)
    assert _tag_digest(registry, dest) == before


def test_sigint_during_verify_deep_exits_130_with_one_line_saying_nothing_changed(
    base_image: BaseImage, registry: Registry, fault_proxy
) -> None:
    slow = Rule(method="GET", path=r"/blobs/", delay=BLOB_DELAY)
    proxy = fault_proxy(slow)
    ref = base_image.ref.replace(registry.host, proxy.host)
    multiarch = str(Path(sys.executable).parent / "multiarch")
    returncode, out, err, took = _interrupt_when(
        [multiarch, "verify", "--deep", ref], lambda: slow.seen > 0, signal.SIGINT
    )
    assert returncode == 130, out + err
    assert took < 10, took
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    expected = f"multiarch: interrupted by SIGINT: verify of {ref} stopped;"
    assert lines == [f"{expected} it only reads: nothing was changed"], err
