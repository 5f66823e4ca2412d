"""`multiarch publish` on a terminal: the live view, read off a real pseudo-terminal (issue 18).

Each test runs the console script on a pty (pexpect) as a person would, with CI unset, and
reads the screen through a terminal emulator (pyte): what is drawn while the build runs,
what stays after, and the bytes that restore the terminal.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from pathlib import Path

import pytest

from testbed.fault_proxy import Rule
from testbed.processes import processes_mentioning
from testbed.terminal import Terminal, person_env
from tests.conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.e2e
THREE = "linux/amd64,linux/arm64,linux/s390x"  # one native, two emulated
# A raw BuildKit line (`#8 [linux/arm64 2/3] RUN ...`, `#8 DONE 0.1s`), prefixed or not.
RAW_BUILDKIT = re.compile(r"(^|│ )#\d+ (\[|DONE|CACHED|ERROR|\d+\.\d+ )", re.MULTILINE)


def _context(tmp_path: Path, base: str, *, fail_on: str = "") -> Path:
    """Four steps of a second or more each: the current step changes while one watches."""
    context = tmp_path / "ctx"
    context.mkdir()
    fail = f' && [ "$(uname -m)" != {fail_on} ]' if fail_on else ""
    (context / "Dockerfile").write_text(
        f"FROM {base}\n"
        # A new first layer each run: nothing below it comes from the cache.
        f"RUN echo {uuid.uuid4().hex} > /nonce && sleep 2\n"
        'RUN for i in 1 2 3 4 5 6 7 8; do echo "step two line $i"; done; sleep 2\n'
        f'RUN for i in 1 2 3 4 5 6 7 8; do echo "step three line $i"; done; sleep 1{fail}\n'
        "RUN uname -m > /built-on\n"
    )
    return context


def _publish(repo: str, context: Path, out: Path, *extra: str) -> list[str]:
    return [
        "publish", "--image", repo, "--tag", "live", "--platforms", THREE,
        "--context", str(context), "--output-dir", str(out), *extra,
    ]  # fmt: skip


def _row(screen: str, short: str) -> str:
    rows = [line for line in screen.splitlines() if re.match(rf"^\s+\S\s+{short}\s", line)]
    return rows[0] if rows else ""


def test_publish_on_a_terminal_draws_rows_per_platform_a_checklist_and_the_result(
    base_image, registry, repo, tmp_path
):
    out = tmp_path / "out"
    term = Terminal(*_publish(repo, _context(tmp_path, base_image.ref), out))
    term.watch()
    code = term.wait()
    final = term.text()
    assert code == 0, term.plain()[-3000:]

    during = [s for s in term.snapshots if "▸ build" in s]
    assert during, term.snapshots[-3:]
    # While it builds: a row per platform, native or emulated, on its node, and the steps
    # before it checked, those after it still to do.
    assert any(
        re.search(r"▸ amd64\s+native\s+default", s)
        and re.search(r"▸ arm64\s+emulated\s+default", s)
        and re.search(r"▸ s390x\s+emulated\s+default", s)
        for s in during
    ), during[-1]
    assert any("✓ preflight" in s and "✓ qemu-setup" in s and "· verify" in s for s in during)
    assert any("· promote" in s for s in during)
    # The current BuildKit step of an emulated platform changes over time.
    steps = {
        m.group(0) for s in during if (m := re.search(r"\[\d/\d\] RUN [^│]*", _row(s, "arm64")))
    }
    assert len(steps) >= 2, steps
    # After: every step checked with its time, every platform done with its own, and the
    # result lines (digest, tags moved, verify OK).
    for step in ("preflight", "qemu-setup", "builder", "build", "verify", "promote"):
        assert re.search(rf"✓ {step}\s+\d+\.\ds", final), (step, final)
    for short in ("amd64", "arm64", "s390x"):
        assert re.search(
            r"✓ \S+\s+(native|emulated)\s+default\s+\d+\.\ds\s+5/5", _row(final, short)
        ), final
    # verify --deep (publish's default scope) read each platform's added layers: a row each.
    lines = final.splitlines()
    verify = next(i for i, line in enumerate(lines) if re.match(r"^ ✓ verify\s", line))
    for short, line in zip(
        ("amd64", "arm64", "s390x"), lines[verify + 1 : verify + 4], strict=True
    ):
        assert re.search(
            rf"✓ {short}\s+[\d.]+/[\d.]+ [kM]B\s+[\d.]+ [kM]B/s\s+(\d+)/\1 layers", line
        ), final
    # (the publish line is wider than the screen: read it unwrapped)
    result = rf"^publish: {re.escape(repo)}:live sha256:[0-9a-f]{{64}}\r?$"
    assert re.search(result, term.plain(), re.MULTILINE), term.plain()[-600:]
    assert "  verified: OK" in final
    assert f"  promoted: {repo}:live" in final
    # No raw BuildKit line was ever drawn (they are in the log files), and the terminal is
    # left as it was found: the cursor shown again.
    assert not RAW_BUILDKIT.search(term.plain()), RAW_BUILDKIT.search(term.plain())
    assert "#1 [internal] load build definition" in (out / "logs" / "buildx-build.log").read_text()
    assert term.cursor_restored()
    (tmp_path / "screen.txt").write_text(final + "\n")  # the example kept in docs/guide.md


SECRET = "planted-s3cret-5e1d"  # noqa: S105 - planted, to prove it never shows


def test_a_failing_emulated_platform_shows_its_last_lines_and_log_under_its_row(
    base_image, registry, repo, tmp_path
):
    out = tmp_path / "out"
    context = _context(tmp_path, base_image.ref, fail_on="aarch64")
    term = Terminal(*_publish(repo, context, out, "--build-arg", f"API_TOKEN={SECRET}"))
    term.watch()
    code = term.wait()
    final = term.text()
    assert code == 1, term.plain()[-3000:]
    lines = final.splitlines()
    row = next(i for i, line in enumerate(lines) if re.match(r"^\s+✗ arm64\s+emulated", line))
    under = lines[row + 1 : row + 14]
    # Its own last lines (BuildKit's error for its step, wrapped, not cut), then its log.
    assert under[0].strip().startswith("│ #"), under
    told = " ".join(line.strip() for line in under)
    assert "did not complete successfully" in told, under
    own_log = out / "logs" / "build-linux-arm64.log"
    assert f"full log: {own_log}" in told, under
    assert re.search(r"^\s+- amd64\s+native", final, re.MULTILINE)  # stopped with it
    # The error names the one platform that failed, and the whole log.
    error = next(line for line in term.plain().splitlines() if line.startswith("multiarch: "))
    assert "build failed for linux/arm64;" in error, error
    assert "linux/amd64" not in error
    assert str(out / "logs" / "buildx-build.log") in error
    # The log files hold everything, redacted; the screen never showed a raw line.
    whole = (out / "logs" / "buildx-build.log").read_text()
    assert "step three line 8" in whole
    assert "did not complete successfully" in whole
    assert "step two line 1" in own_log.read_text()
    for path in (out / "logs").iterdir():
        assert SECRET not in path.read_text(), path
    assert SECRET not in term.plain()
    # BuildKit's lines show only there, as the failed platform's last lines (`│ #9 ...`).
    shown = {
        m.group(0) for m in re.finditer(r"^.*#\d+ (DONE|CACHED|ERROR).*$", final, re.MULTILINE)
    }
    assert all(line.lstrip().startswith("│ #") for line in shown), shown
    assert term.cursor_restored()


def test_ctrl_c_during_the_live_view_exits_130_restores_the_cursor_and_leaves_no_process(
    base_image, registry, repo, tmp_path
):
    term = Terminal(*_publish(repo, _context(tmp_path, base_image.ref), tmp_path / "out"))
    term.watch(until=lambda screen: re.search(r"▸ arm64 .*\[[23]/5\] RUN", screen) is not None)
    term.child.sendintr()  # Ctrl-C, as the terminal sends it: SIGINT to the foreground group
    code = term.wait()
    assert code == 130, term.plain()[-3000:]
    final = term.text()
    assert "multiarch: interrupted by SIGINT" in final
    # The last frame is whole (the build marked failed, the rows below it drawn), and the
    # interruption line comes after it, not inside it.
    assert final.index("✗ build") < final.index("multiarch: interrupted by SIGINT")
    assert "· promote" in final
    assert term.cursor_restored()
    assert term.raw.rstrip().endswith(b"\x1b[?25h") or b"\x1b[?25h" in term.raw[-400:]
    # Nothing it started is left (buildx and its children ran in groups of their own).
    deadline = time.monotonic() + 15
    while processes_mentioning(repo) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_mentioning(repo) == []


def test_no_color_and_a_60_column_terminal_resized_mid_run_keep_one_line_per_row(
    base_image, registry, repo, tmp_path
):
    term = Terminal(
        *_publish(repo, _context(tmp_path, base_image.ref), tmp_path / "out"),
        env=person_env(NO_COLOR="1"),
        cols=60,
    )
    term.watch(until=lambda screen: re.search(r"▸ arm64 .* [1-4]/5 ", screen) is not None)
    narrow = term.snapshots[-1]
    term.resize(100, 50)
    term.watch(until=lambda screen: "[4/5]" in screen or "✓ build" in screen)
    term.watch()
    code = term.wait()
    assert code == 0, term.plain()[-3000:]
    # 60 columns: each row cut at the width (…), not wrapped onto a second line.
    frame = narrow[narrow.rindex("plan: ") :].splitlines()
    frame = frame[: next(i for i, line in enumerate(frame) if " promote " in line) + 1]
    assert len(frame) == 1 + 6 + 3, frame  # the title, the six steps, three platforms
    assert "▸ build" in narrow
    assert any(line.endswith("…") for line in frame)
    # Resized to 100 (SIGWINCH): redrawn at the new width.
    wide = [s for s in term.snapshots[term.snapshots.index(narrow) + 1 :] if "▸ build" in s]
    assert any(len(line) > 60 for s in wide for line in s.splitlines() if " emulated " in line)
    # NO_COLOR: no colour escape was sent, the view was still drawn.
    assert not re.search(rb"\x1b\[[0-9;]*(3[0-9]|9[0-7]|38;[0-9;]+)m", term.raw)
    assert "✓ promote" in term.text()
    assert term.cursor_restored()


def test_term_dumb_falls_back_to_plain_lines(base_image, registry, repo, tmp_path):
    term = Terminal(
        *_publish(repo, _context(tmp_path, base_image.ref), tmp_path / "out"),
        env=person_env(TERM="dumb"),
    )
    code = term.wait()
    text = term.plain()
    assert code == 0, text[-3000:]
    assert b"\x1b[?25l" not in term.raw  # no cursor hidden, no redrawing
    assert "== build started" in text
    assert re.search(r"^  arm64 │ #\d+ \[linux/arm64 ", text, re.MULTILINE)
    assert "== promote done in " in text


def test_verify_deep_on_a_terminal_shows_the_layers_read_per_platform(
    base_image, registry, repo, tmp_path
):
    out = tmp_path / "out"
    context = _context(tmp_path, base_image.ref)
    done = run_cli(*_publish(repo, context, out, "--progress", "plain", "--no-verify"))
    assert done.returncode == 0, done.output[-3000:]
    term = Terminal("verify", f"{repo}:live", "--deep", "--platforms", THREE)
    term.watch()
    code = term.wait()
    final = term.text()
    assert code == 0, term.plain()[-3000:]
    # Every layer of every platform (the base's too: no publish to tell which it added).
    for short in ("amd64", "arm64", "s390x"):
        row = rf"✓ {short}\s+[\d.]+/[\d.]+ [kM]B\s+[\d.]+ [kM]B/s\s+6/6 layers\s+\d+\.\ds"
        assert re.search(row, final), final
    assert re.search(r"^verify .*: OK$", term.plain().replace("\r", ""), re.MULTILINE)
    assert term.cursor_restored()


def test_ci_rehearse_on_a_terminal_draws_a_row_per_shard(base_image, registry, repo, tmp_path):
    from multiarch_tasks.ci import templates as ci  # noqa: PLC0415
    from multiarch_tasks.config.settings import settings_from  # noqa: PLC0415
    from tests.conftest import pinned_requirement  # noqa: PLC0415
    from tests.e2e.test_ci_rehearse import FILES, make_project  # noqa: PLC0415

    # The jobs install this repository's HEAD, pinned (issue 20: the install line runs).
    project = make_project(tmp_path, repo, base_image.ref, pinned_requirement(tmp_path)[0])
    settings = settings_from(pyproject=project / "pyproject.toml")
    text = ci.ci_template(settings, "github", local_registry=True)
    path = ci.write_template(project / FILES["github"], text)
    term = Terminal("ci-rehearse", "--pipeline", str(path), "--project", str(project))
    term.watch()
    code = term.wait()
    final = term.text()
    assert code == 0, term.plain()[-3000:]
    shards = [r"build linux/\S+", "merge"]
    # While the build stage runs: its three shards side by side, each on its own row.
    assert any(len(re.findall(rf"▸ {shards[0]}", s)) == 3 for s in term.snapshots), term.snapshots
    # Each shard's row ends done with its time (the rehearsal's report, printed after the
    # view, may scroll the last frame off the screen: every frame drawn counts).
    done = re.findall(rf"✓ ({shards[0]}|{shards[1]})\s.*?\d+\.\ds", term.plain())
    assert len(set(done)) == 4, (done, final)
    assert "stand-in-password" not in term.plain()
    assert term.cursor_restored()


def test_a_retried_build_shows_the_retry_on_its_platforms_rows(
    base_image, registry, repo, fault_proxy, tmp_path
):
    """A 500 on dockerd's own push after the build (issue 17): the build runs again, and
    the live view says so on the row of each platform it builds, while it waits."""
    proxy = fault_proxy(
        Rule(method="PUT", path=r"/manifests/", agent=r"^docker/", first=1, status=500)
    )
    image = proxy.host + "/" + repo.split("/", 1)[1]
    out = tmp_path / "out"
    term = Terminal(
        "publish", "--image", image, "--tag", "v1", "--platforms", "linux/amd64,linux/arm64",
        "--context", str(_context(tmp_path, base_image.ref)), "--output-dir", str(out),
    )  # fmt: skip
    term.watch(every=0.25)
    code = term.wait()
    assert code == 0, term.plain()[-3000:]
    retry = r"↻ retrying in 1s \(1/3\) build linux/amd64,linux/arm64 after: .*500"
    shown = [s for s in term.snapshots if "↻ retrying in" in s]
    assert shown, term.snapshots[-1]
    lines = shown[0].splitlines()
    for short in ("amd64", "arm64"):
        row = next(i for i, line in enumerate(lines) if re.match(rf"^\s+▸ {short}\s", line))
        # Right under that platform's row, the whole cause (wrapped, not cut).
        under = []
        for line in lines[row + 1 :]:
            if not line.startswith("       "):
                break
            under.append(line.strip())
        assert re.search(retry, " ".join(under)), lines
    assert "retrying in" not in term.text()  # gone once the build ran again


def test_dry_on_a_terminal_prints_the_plan_with_its_commands_not_a_view(
    base_image, registry, repo, tmp_path
):
    term = Terminal("--dry", *_publish(repo, _context(tmp_path, base_image.ref), tmp_path / "o"))
    code = term.wait()
    text = term.plain()
    assert code == 0, text[-3000:]
    assert "$ docker buildx build" in text  # --dry is asked for to see the commands
    assert "--progress rawjson" not in text  # plain: BuildKit's text, as the plan says
    assert b"\x1b[?25l" not in term.raw


def test_per_arch_builds_on_a_terminal_show_each_platforms_own_steps(
    base_image, registry, repo, tmp_path
):
    """per-arch: one build per platform, whose BuildKit steps name no platform."""
    out = tmp_path / "out"
    term = Terminal(
        *_publish(repo, _context(tmp_path, base_image.ref), out, "--strategy", "per-arch")
    )
    term.watch()
    code = term.wait()
    final = term.text()
    assert code == 0, term.plain()[-3000:]
    during = [s for s in term.snapshots if "▸ build" in s]
    assert any(re.search(r"\[\d/5\] RUN", _row(s, "s390x")) for s in during), during[-1:]
    for short in ("amd64", "arm64", "s390x"):
        assert re.search(r"\d+\.\ds\s+5/5 \(\d cached\)\s+done", _row(final, short)), final
    assert not RAW_BUILDKIT.search(term.plain())


def test_build_on_a_terminal_draws_its_steps_and_a_row_per_platform(
    base_image, registry, repo, tmp_path
):
    """The `build` task alone (a CI shard's step) gets the same view as publish's build."""
    out = tmp_path / "out"
    term = Terminal(
        "build", "--image", repo, "--tag", "shard", "--platforms", "linux/amd64,linux/arm64",
        "--context", str(_context(tmp_path, base_image.ref)), "--output-dir", str(out),
    )  # fmt: skip
    term.watch()
    code = term.wait()
    final = term.text()
    assert code == 0, term.plain()[-3000:]
    during = [s for s in term.snapshots if "▸ build" in s]
    assert any(
        re.search(r"▸ amd64\s+native\s+default", s) and re.search(r"▸ arm64\s+emulated", s)
        for s in during
    ), term.snapshots[-3:]
    assert re.search(r"✓ build\s+\d+\.\ds", final), final
    for short in ("amd64", "arm64"):
        assert re.search(
            r"✓ \S+\s+(native|emulated)\s+default\s+\d+\.\ds\s+5/5", _row(final, short)
        )
    # build moves no final tag: no promote step drawn, and digests.json written.
    assert "promote" not in final, final
    assert (out / "digests.json").is_file()
    assert not RAW_BUILDKIT.search(term.plain()), RAW_BUILDKIT.search(term.plain())
    assert term.cursor_restored()


def test_inv_publish_from_a_users_tasks_py_on_a_terminal_draws_the_same_view(
    base_image, registry, repo, tmp_path
):
    """`inv multiarch.publish` (the collection imported in a user's tasks.py, configured in
    invoke.yaml) gets the live view on a terminal as the console script does."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".multiarch", "invoke.yaml"))
    assert (project / "tasks.py").is_file()
    (project / "invoke.yaml").write_text(json.dumps({"multiarch": {
        "image": repo, "tags": ["inv"], "platforms": ["linux/amd64", "linux/arm64"],
        "build_args": {"BASE": base_image.ref},
    }}))  # fmt: skip
    term = Terminal("multiarch.publish", program="inv", cwd=project)
    term.watch()
    code = term.wait()
    final = term.text()
    assert code == 0, term.plain()[-3000:]
    assert any(re.search(r"▸ arm64\s+emulated\s+default", s) for s in term.snapshots), (
        term.snapshots[-3:]
    )
    for step in ("preflight", "build", "verify", "promote"):
        assert re.search(rf"✓ {step}\s+\d+\.\ds", final), (step, final)
    assert f"  promoted: {repo}:inv" in final
    assert not RAW_BUILDKIT.search(term.plain()), RAW_BUILDKIT.search(term.plain())
    assert term.cursor_restored()
