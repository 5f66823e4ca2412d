"""`multiarch mirror` on a terminal: bytes and rate per platform (issue 18).

A 2-platform image with one 300 MiB layer per platform (the mirror bench's, incompressible)
is copied to another registry, on a real pseudo-terminal (the live view) and, in turn,
with its output piped (plain lines): the view shows each platform's bytes and rate, moving
as the bytes stream (not only as each blob ends). What the view costs in time and memory
is the bench's to measure, terminal against piped in the same run
(bench/registry_vs_skopeo.py, docs/benchmarks.md), not a timed test's. By skopeo (the
default copier where it is installed), each platform's row comes from skopeo's own lines.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.registry_vs_skopeo import push_big
from testbed.registry import Registry, RegistryConfig
from testbed.terminal import Terminal, person_env

pytestmark = pytest.mark.e2e
MIB = 300


@pytest.fixture
def dest_registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(RegistryConfig(root=tmp_path / "dest"))
    yield reg
    reg.stop()


def piped_mirror(*argv: str) -> str:
    """``multiarch mirror ARGV --progress plain`` with its output piped; its stdout."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "multiarch"), "mirror", *argv, "--progress", "plain"],
        env=person_env(), capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_mirror_on_a_terminal_shows_bytes_moving_within_blobs_and_rate_per_platform(
    registry, repo, dest_registry
):
    src = f"{repo}:big"
    push_big(src, MIB)
    term = Terminal("mirror", src, f"{dest_registry.host}/tty/big:v1", "--tool", "native")
    code = term.wait()
    assert code == 0, term.plain()[-2000:]
    piped = piped_mirror(src, f"{dest_registry.host}/plain/big:v1", "--tool", "native")
    # On the terminal: each platform's row with all its bytes, a rate, its blobs, its time,
    # and the cursor shown again at the end.
    text = term.text()
    size = f"{(MIB << 20) / 1e6:.1f}"
    for short in ("amd64", "arm64"):
        row = rf"✓ {short}\s+{size}/{size} MB\s+\d+\.\d MB/s\s+2/2 blobs\s+\d+\.\ds"
        assert re.search(row, text), text
    assert term.cursor_restored()
    # During the copy the bytes move within a blob, not only when one ends: the frames
    # drawn show counts strictly between none and all of a platform's one big layer.
    drawn = bytes(term.raw)
    shown = {float(n) for n in re.findall(rb"(\d+\.\d)/" + size.encode() + rb" MB", drawn)}
    partial = sorted(n for n in shown if 1.0 < n < float(size) - 1.0)
    assert len(partial) >= 3, sorted(shown)
    # Piped, the same copy prints one line per platform when its blobs are all there.
    assert re.search(rf"^  arm64 │ mirror done in \d+\.\ds: {size} MB in 2 blobs$",
                     piped, re.MULTILINE), piped  # fmt: skip


def test_mirror_by_skopeo_on_a_terminal_shows_each_platforms_blobs_then_bytes_and_rate(
    registry, repo, dest_registry
):
    """The default copier where skopeo is installed: its own lines give each platform's row."""
    src = f"{repo}:skopeo"
    push_big(src, 100)
    term = Terminal("mirror", src, f"{dest_registry.host}/by/skopeo:v1")
    term.watch(every=0.1)
    code = term.wait()
    assert code == 0, term.plain()[-3000:]
    size = f"{(100 << 20) / 1e6:.1f}"
    # While skopeo copies a platform: no bytes claimed, the blobs it has begun.
    begun = [s for s in term.snapshots if re.search(rf"▸ \w+\s+\?/{size} MB .*blobs begun", s)]
    assert begun, term.snapshots
    final = term.text()
    for short in ("amd64", "arm64"):
        assert re.search(rf"✓ {short}\s+{size}/{size} MB\s+\d+\.\d MB/s\s+2/2 blobs", final), final
    assert f"-> {dest_registry.host}/by/skopeo:v1 via skopeo" in term.plain(), term.plain()
    assert "Copying blob" not in term.plain()  # skopeo's own lines: in the log file only
    assert term.cursor_restored()
    # Piped: a line per platform when its image is whole.
    piped = piped_mirror(src, f"{dest_registry.host}/by/skopeo-plain:v1")
    for short in ("amd64", "arm64"):
        line = rf"^\s*{short} │ mirror done in \d+\.\ds: {size} MB in 2 blobs$"
        assert re.search(line, piped, re.MULTILINE), piped
