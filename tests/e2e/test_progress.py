"""`--progress plain|json` and the run's log files, on a real publish (issue 18)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import example_args, run_cli

pytestmark = pytest.mark.e2e
THREE = "linux/amd64,linux/arm64,linux/arm/v7"
SECRET = "planted-s3cret-9f2c"  # noqa: S105 - planted, to prove it never shows


def _publish(repo: str, base: str, out: Path, *extra: str):
    return run_cli(
        "publish", "--image", repo, "--tag", "p", "--platforms", THREE,
        *example_args(base, str(out)), "--build-arg", f"API_TOKEN={SECRET}", *extra,
    )  # fmt: skip


def _first(lines: list[str], start: str) -> int:
    found = [i for i, line in enumerate(lines) if line.startswith(start)]
    assert found, f"no line starts with {start!r}"
    return found[0]


def test_plain_progress_is_in_order_with_short_prefixes_and_no_block_twice(
    base_image, registry, repo, tmp_path, qemu
):
    out = tmp_path / "o"
    done = _publish(repo, base_image.ref, out, "--progress", "plain")
    assert done.returncode == 0, done.output[-3000:]
    lines = done.stdout.splitlines()
    # The steps, in the order they ran: verify's report before any tag moved.
    order = [
        _first(lines, f"== {step} started")
        for step in ("preflight", "qemu-setup", "builder", "build", "verify", "promote")
    ]
    assert order == sorted(order)
    # Line by line, the steps' own lines: each started and done once, one after the other.
    steps = [re.sub(r" in \d+\.\ds$", "", line) for line in lines if line.startswith("== ")]
    assert steps == [
        f"== {step} {state}"
        for step in ("preflight", "qemu-setup", "builder", "build", "verify", "promote")
        for state in ("started", "done")
    ], steps
    verify_report = _first(lines, f"verify {repo}@sha256:")
    assert order[4] < verify_report < _first(lines, "promote: ")
    # Each platform's lines carry its short name; no line the whole list.
    assert "[linux/amd64,linux/arm64" not in done.stdout
    assert any(line.startswith("  arm64 │ #") and "[linux/arm64 " in line for line in lines)
    assert any(line.startswith(" arm/v7 │ #") and "[linux/arm/v7 " in line for line in lines)
    assert any(line.startswith("  amd64 │ build done in ") for line in lines)
    # Each block once: the plan, the builder's per-platform lines, the verify report.
    assert done.stdout.count("plan: ") == 1
    # The build command is in the plan: not echoed again when it starts.
    assert done.stdout.count("docker buildx build ") == 1
    # BuildKit's blank lines between its steps are not printed under a prefix.
    assert not any(re.fullmatch(r" *\S+ │", line) for line in lines)
    assert sum("emulated on default by qemu-aarch64" in line for line in lines) <= 2
    assert [line for line in lines if line.startswith("  linux/arm64: ")] == []
    assert done.stdout.count(f"verify {repo}@sha256:") == 1
    assert done.stdout.count("preflight: ok") == 1
    # The full logs: one file per step/platform, the planted secret in none of them (verify
    # without --run starts no process: no verify.log; the probes before any step: facts).
    logs = out / "logs"
    names = {p.name for p in logs.iterdir()}
    assert {"buildx-build.log", "build-linux-amd64.log", "build-linux-arm64.log",
            "build-linux-arm-v7.log", "facts.log"} <= names, names  # fmt: skip
    assert "[linux/arm64 " in (logs / "build-linux-arm64.log").read_text()
    assert "[linux/amd64 " not in (logs / "build-linux-arm64.log").read_text()
    for path in logs.iterdir():
        assert SECRET not in path.read_text(), path
    assert SECRET not in done.output


def test_json_progress_every_stderr_line_parses_and_covers_steps_platforms_and_their_progress(
    base_image, registry, repo, tmp_path, qemu
):
    done = _publish(repo, base_image.ref, tmp_path / "o", "--progress", "json", "--json")
    assert done.returncode == 0, done.output[-3000:]
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert json.loads(done.stdout)["ok"] is True  # --json: only the document on stdout
    steps = {e["step"] for e in events if e["state"] == "done" and not e["platform"]}
    assert {"preflight", "qemu-setup", "builder", "build", "verify", "promote"} <= steps
    built = {e["platform"] for e in events if e["step"] == "build" and e["state"] == "done"}
    assert built >= set(THREE.split(","))
    logged = {e["platform"] for e in events if e["state"] == "log"}
    assert logged >= set(THREE.split(","))
    # BuildKit's own events (--progress rawjson): each platform's steps done of its total.
    moved = [e for e in events if e["state"] == "progress" and e["step"] == "build"]
    assert {e["platform"] for e in moved} >= set(THREE.split(","))
    last = {e["platform"]: e["progress"] for e in moved}
    assert all(p["done"] == p["total"] > 0 for p in last.values()), last
    assert all({"time", "step", "platform", "state"} <= set(e) for e in events)
    assert SECRET not in done.output


def test_failing_emulated_platform_names_it_and_its_redacted_log(
    base_image, registry, repo, tmp_path, qemu
):
    context = tmp_path / "ctx"
    context.mkdir()
    # Many output lines before the failure: BuildKit's `> [linux/arm64 2/2]` summary
    # falls out of the last lines, so the platform must come from the whole log.
    (context / "Dockerfile").write_text(
        f"FROM {base_image.ref}\n"
        'RUN for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "line $i"; done;'
        ' [ "$(uname -m)" != aarch64 ]\n'
    )
    out = tmp_path / "o"
    done = run_cli(
        "publish", "--image", repo, "--tag", "f", "--platforms", "linux/amd64,linux/arm64",
        "--context", str(context), "--output-dir", str(out),
        "--build-arg", f"API_TOKEN={SECRET}", "--progress", "plain",
    )  # fmt: skip
    assert done.returncode == 1, done.output[-3000:]
    error = done.stderr.strip().splitlines()[-1]
    log = out / "logs" / "buildx-build.log"
    assert "build failed for linux/arm64;" in error
    assert "linux/amd64" not in error
    assert str(log) in error
    text = log.read_text()
    assert "did not complete successfully" in text
    assert "line 12" in text
    assert SECRET not in text
    assert "  arm64 │ build FAILED in " in done.stdout
