"""The runner against real processes (``sys.executable -c ...``): no docker, no mocks."""

from __future__ import annotations

import io
import logging
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from multiarch_tasks.config.secrets import secret_values
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import REDACTED, TAIL_LINES, Runner, display, redact, redact_text
from multiarch_tasks.model.errors import CommandError, MultiarchError, ToolMissingError

PY = sys.executable


def py(code: str, *args: str) -> list[str]:
    return [PY, "-c", code, *args]


def make_runner(**kwargs: object) -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    return Runner(out=out, retry_delay=0.01, **kwargs), out  # type: ignore[arg-type]


# --- capture and failure ----------------------------------------------------------------


def test_captures_stdout_and_stderr_separately() -> None:
    runner, out = make_runner()
    result = runner.run(py("import sys; print('to out'); print('to err', file=sys.stderr)"))
    assert result.ok
    assert result.returncode == 0
    assert result.stdout == "to out\n"
    assert result.stderr == "to err\n"
    assert not result.dry
    assert result.argv[0] == PY
    assert out.getvalue() == ""  # not echoed unless asked


def test_argv_elements_are_passed_verbatim_without_a_shell() -> None:
    runner, _ = make_runner()
    tricky = ["a b", "$HOME", "`id`", "x;y", "'q'", "*"]
    result = runner.run(py("import sys, json; print(json.dumps(sys.argv[1:]))", *tricky))
    assert result.stdout.strip() == '["a b", "$HOME", "`id`", "x;y", "\'q\'", "*"]'


def test_non_string_argv_elements_are_converted() -> None:
    runner, _ = make_runner()
    result = runner.run([PY, "-c", "import sys; print(sys.argv[1])", 42])  # type: ignore[list-item]
    assert result.stdout == "42\n"


def test_empty_argv_is_refused() -> None:
    runner, _ = make_runner()
    with pytest.raises(ValueError, match="empty command"):
        runner.run([])


def test_non_zero_exit_raises_command_error_with_data() -> None:
    runner, _ = make_runner()
    code = (
        "import sys; print('some output'); print('first', file=sys.stderr); "
        "print('boom: it broke', file=sys.stderr); sys.exit(3)"
    )
    argv = py(code)
    with pytest.raises(CommandError) as info:
        runner.run(argv, label="build linux/arm64")
    err = info.value
    assert isinstance(err, MultiarchError)
    assert err.argv == argv
    assert err.returncode == 3
    assert err.stderr_tail == "first\nboom: it broke"
    assert err.label == "build linux/arm64"
    assert str(err).startswith("build linux/arm64: ")
    assert "exited 3" in str(err)
    assert str(err).endswith("boom: it broke")


def test_stderr_tail_keeps_only_the_last_lines() -> None:
    runner, _ = make_runner()
    code = "import sys\nfor i in range(100): print(f'line {i}', file=sys.stderr)\nsys.exit(1)"
    with pytest.raises(CommandError) as info:
        runner.run(py(code))
    lines = info.value.stderr_tail.splitlines()
    assert len(lines) == TAIL_LINES
    assert lines[-1] == "line 99"
    assert lines[0] == f"line {100 - TAIL_LINES}"


def test_tail_falls_back_to_stdout_when_stderr_is_empty() -> None:
    runner, _ = make_runner()
    with pytest.raises(CommandError) as info:
        runner.run(py("import sys; print('only stdout'); sys.exit(2)"))
    assert info.value.stderr_tail == "only stdout"


def test_check_false_returns_the_failure() -> None:
    runner, _ = make_runner()
    result = runner.run(py("import sys; sys.exit(5)"), check=False)
    assert not result.ok
    assert result.returncode == 5


def test_stdin_and_cwd(tmp_path: Path) -> None:
    runner, _ = make_runner()
    result = runner.run(
        py("import os, sys; print(sys.stdin.read().upper(), os.getcwd())"),
        stdin="hello",
        cwd=str(tmp_path),
    )
    text, cwd = result.stdout.split()
    assert text == "HELLO"
    assert Path(cwd).resolve() == tmp_path.resolve()


def test_env_passes_variables_and_keeps_the_rest() -> None:
    runner, _ = make_runner()
    result = runner.run(
        py("import os; print(os.environ['MULTIARCH_T'], 'PATH' in os.environ)"),
        env={"MULTIARCH_T": "value 1"},
    )
    assert result.stdout == "value 1 True\n"


def test_missing_program_is_tool_missing() -> None:
    runner, _ = make_runner()
    with pytest.raises(ToolMissingError, match="no-such-program-xyz") as info:
        runner.run(["no-such-program-xyz", "--version"])
    assert "not installed" in str(info.value)


def test_missing_program_by_path_is_tool_missing(tmp_path: Path) -> None:
    runner, _ = make_runner()
    missing = str(tmp_path / "bin" / "docker")
    with pytest.raises(ToolMissingError, match="bin/docker"):
        runner.run([missing, "version"])


# --- dry, probe, echo ---------------------------------------------------------------------


def test_dry_prints_the_quoted_command_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    runner, out = make_runner(dry=True)
    argv = py(f"open({str(marker)!r}, 'w').write('x')", "an arg")
    result = runner.run(argv)
    assert not marker.exists()
    assert result.dry
    assert result.ok
    assert result.stdout == ""
    assert out.getvalue() == shlex.join(argv) + "\n"
    assert "'an arg'" in out.getvalue()


def test_dry_with_retries_and_check_still_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    runner, _ = make_runner(dry=True)
    runner.run(py(f"open({str(marker)!r}, 'w').write('x'); raise SystemExit(1)"), retries=3)
    assert not marker.exists()


def test_probe_runs_under_dry(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    runner, out = make_runner(dry=True)
    result = runner.run(py(f"open({str(marker)!r}, 'w').write('x'); print('probed')"), probe=True)
    assert marker.read_text() == "x"
    assert not result.dry
    assert result.stdout == "probed\n"
    assert out.getvalue() == ""


def test_echo_prints_the_command_and_runs_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    runner, out = make_runner(echo=True)
    argv = py(f"open({str(marker)!r}, 'w').write('x')")
    runner.run(argv)
    assert marker.exists()
    assert out.getvalue() == shlex.join(argv) + "\n"


def test_echo_format_is_used() -> None:
    runner, out = make_runner(dry=True, echo_format="+ {command} #")
    runner.run(["docker", "buildx", "build", "."])
    assert out.getvalue() == "+ docker buildx build . #\n"


# --- redaction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (
            ["docker", "login", "--password", "s3cret", "-u", "me"],
            ["docker", "login", "--password", REDACTED, "-u", "me"],
        ),
        (["docker", "login", "-p", "s3cret", "reg"], ["docker", "login", "-p", REDACTED, "reg"]),
        (["docker", "login", "--password=s3cret"], ["docker", "login", f"--password={REDACTED}"]),
        (
            ["skopeo", "copy", "--creds", "u:p", "a", "b"],
            ["skopeo", "copy", "--creds", REDACTED, "a", "b"],
        ),
        (["skopeo", "copy", "--creds=u:p"], ["skopeo", "copy", f"--creds={REDACTED}"]),
        (
            ["skopeo", "copy", "--src-creds", "u:p", "--dest-creds=u:q"],
            ["skopeo", "copy", "--src-creds", REDACTED, f"--dest-creds={REDACTED}"],
        ),
        (
            ["x", "--token", "t0k", "--registry-token", "t1k"],
            ["x", "--token", REDACTED, "--registry-token", REDACTED],
        ),
        (
            ["docker", "build", "--platform", "linux/arm64"],
            ["docker", "build", "--platform", "linux/arm64"],
        ),
        (["x", "--password"], ["x", "--password"]),
    ],
)
def test_redact_options(argv: list[str], shown: list[str]) -> None:
    assert redact(argv) == shown


def test_redact_configured_secrets_anywhere_in_an_element() -> None:
    argv = ["curl", "-H", "Authorization: Bearer tok123", "https://u:tok123@host"]
    assert redact(argv, ["tok123", ""]) == [
        "curl",
        "-H",
        f"Authorization: Bearer {REDACTED}",
        "https://host",  # the URL loses its credentials altogether
    ]
    assert redact_text("a tok123 b tok123", ["tok123"]) == f"a {REDACTED} b {REDACTED}"
    assert redact_text("unchanged", [""]) == "unchanged"


def test_display_is_shell_quoted_and_redacted() -> None:
    shown = display(["docker", "login", "-p", "s 3", "my reg"], ())
    assert shown == f"docker login -p '{REDACTED}' 'my reg'"
    assert shlex.split(shown) == ["docker", "login", "-p", REDACTED, "my reg"]


def test_printed_command_is_redacted(tmp_path: Path) -> None:
    runner, out = make_runner(echo=True, secrets=("hunter2",))
    runner.run(
        py(
            "pass",
            "--password",
            "pw1",
            "-p",
            "pw2",
            "--password=pw3",
            "--creds",
            "u:pw4",
            "token=hunter2",
        )
    )
    printed = out.getvalue()
    for secret in ("pw1", "pw2", "pw3", "u:pw4", "hunter2"):
        assert secret not in printed
    assert printed.count(REDACTED) == 5


def test_dry_printed_command_is_redacted() -> None:
    runner, out = make_runner(dry=True)
    runner.run(["docker", "login", "--password", "pw1", "registry.lan"])
    assert out.getvalue() == f"docker login --password '{REDACTED}' registry.lan\n"


def test_configured_secrets_are_hidden_in_output_and_errors() -> None:
    runner, _ = make_runner(secrets=("hunter2",))
    ok = runner.run(py("import sys; print('pw=hunter2'); print('e hunter2', file=sys.stderr)"))
    assert ok.stdout == f"pw={REDACTED}\n"
    assert ok.stderr == f"e {REDACTED}\n"
    code = "import sys; print('denied for hunter2', file=sys.stderr); sys.exit(1)"
    with pytest.raises(CommandError) as info:
        runner.run(py(code, "--password", "hunter2"))
    err = info.value
    assert "hunter2" not in str(err)
    assert "hunter2" not in err.stderr_tail
    assert "hunter2" not in " ".join(err.argv)
    assert err.stderr_tail == f"denied for {REDACTED}"
    assert err.argv[-2:] == ["--password", REDACTED]


def test_option_secrets_are_hidden_in_the_error_argv() -> None:
    runner, _ = make_runner()
    with pytest.raises(CommandError) as info:
        runner.run(py("raise SystemExit(1)", "--creds", "user:pa55"))
    assert info.value.argv[-1] == REDACTED
    assert "pa55" not in repr(info.value.argv)


def test_with_secrets_adds_to_the_existing_ones() -> None:
    base, out = make_runner(secrets=("one",))
    runner = base.with_secrets("two", "")
    assert set(runner.secrets) == {"one", "two"}
    assert runner.out is out
    assert runner.retry_delay == base.retry_delay
    result = runner.run(py("print('one two three')"))
    assert result.stdout == f"{REDACTED} {REDACTED} three\n"
    runner.say("said one")
    assert out.getvalue() == f"said {REDACTED}\n"


def test_with_secrets_shares_the_probe_memo_and_lock() -> None:
    base, _ = make_runner()
    runner = base.with_secrets("x-secret")
    assert runner._facts is base._facts
    assert runner._lock is base._lock


def test_streamed_build_hides_build_arg_and_secret_values_everywhere(tmp_path: Path) -> None:
    """A real process streamed as a build is: argv, each output line, the error tail."""
    settings = Settings(
        build_args={"API_TOKEN": "bt-1f2e3d", "BASE": "busybox"},
        secrets=("id=tok,env=MY_TOK",),
    )
    base, out = make_runner()
    runner = base.with_secrets(*secret_values(settings, {"MY_TOK": "st-9a8b7c"}))
    code = (
        "import sys; print('#5 [2/2] RUN cat /run/secrets/tok'); print('#5 0.1 st-9a8b7c');"
        "print('ERROR: arg ' + sys.argv[2], file=sys.stderr); sys.exit(1)"
    )
    argv = py(code, "--build-arg", "API_TOKEN=bt-1f2e3d", "--build-arg", "BASE=busybox")
    with pytest.raises(CommandError) as info:
        runner.run(argv, stream_prefix="linux/arm64", label="build linux/arm64")
    runner.say("retrying API_TOKEN=bt-1f2e3d with st-9a8b7c")
    printed = out.getvalue()
    everything = printed + str(info.value) + info.value.stderr_tail + " ".join(info.value.argv)
    assert "bt-1f2e3d" not in everything
    assert "st-9a8b7c" not in everything
    assert f"--build-arg 'API_TOKEN={REDACTED}' --build-arg BASE=busybox" in printed
    assert f"  arm64 │ #5 0.1 {REDACTED}" in printed
    assert f"ERROR: arg API_TOKEN={REDACTED}" in info.value.stderr_tail
    assert f"retrying API_TOKEN={REDACTED} with {REDACTED}" in printed


def test_no_secret_reaches_a_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    # invoke --debug sets the root logger to DEBUG: whatever starts the process logs nothing
    # of its argv.
    runner, _ = make_runner()
    with caplog.at_level(logging.DEBUG):
        runner.run(py("pass", "--password", "pw-in-argv"))
        runner.run(py("pass", "--password", "pw-in-argv"), stream_prefix="amd64")
    assert "pw-in-argv" not in caplog.text


def test_printed_commands_and_tails_scrub_urls_but_probe_data_keeps_them() -> None:
    runner, out = make_runner(echo=True)
    url = "https://ci:glpat-SECRET@gitlab.example/g/app.git?private_token=T2&ref=main"
    result = runner.run(py("import sys; print(sys.argv[1])", url), probe=True)
    assert result.stdout.strip() == url  # data for the caller (labels scrub it themselves)
    assert "glpat-SECRET" not in out.getvalue()
    assert "T2" not in out.getvalue()
    assert "https://gitlab.example/g/app.git?ref=main" in out.getvalue()
    with pytest.raises(CommandError) as info:
        runner.run(py("import sys; sys.exit('fatal: ' + sys.argv[1])", url))
    assert "glpat-SECRET" not in info.value.stderr_tail + " ".join(info.value.argv)
    assert "fatal: https://gitlab.example/g/app.git?ref=main" in info.value.stderr_tail
    assert runner.redact(f"see {url}") == "see https://gitlab.example/g/app.git?ref=main"


# --- timeout and retries --------------------------------------------------------------------


def test_timeout_kills_the_process() -> None:
    runner, _ = make_runner()
    start = time.monotonic()
    with pytest.raises(CommandError) as info:
        runner.run(py("import time; print('started', flush=True); time.sleep(60)"), timeout=0.5)
    assert time.monotonic() - start < 30
    assert info.value.returncode is None
    assert "timed out" in str(info.value)
    assert "(timed out)" in info.value.stderr_tail


def test_timeout_kills_a_streamed_process() -> None:
    runner, out = make_runner()
    start = time.monotonic()
    with pytest.raises(CommandError) as info:
        runner.run(
            py("import time; print('started', flush=True); time.sleep(60)"),
            timeout=0.5,
            stream_prefix="arm64",
        )
    assert time.monotonic() - start < 30
    assert info.value.returncode is None
    assert "  arm64 │ started" in out.getvalue()


# The shell leads the new session; it prints its pid and its background child's, then waits.
GRANDCHILD = ["sh", "-c", "sleep 60 & echo $$ $!; sleep 60"]


def _alive_in_session(sid: int) -> list[int]:
    """Pids of the processes (zombies excepted) whose session is ``sid``, from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone while we looked
        # pid (comm) state ppid pgrp session ...: comm may hold spaces, so split after ")".
        state, _ppid, _pgrp, session = text.rsplit(")", 1)[1].split()[:4]
        if int(session) == sid and state != "Z":
            alive.append(int(text.split(" ", 1)[0]))
    return alive


def _left_behind(pids: list[int]) -> list[int]:
    """What of ``pids``' session still runs after up to 10 s (init reaps the orphans)."""
    deadline = time.monotonic() + 10
    while (alive := _alive_in_session(pids[0])) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def test_timeout_stops_the_grandchildren_of_a_captured_command() -> None:
    runner, _ = make_runner()
    start = time.monotonic()
    result = runner.run(GRANDCHILD, timeout=1, check=False)
    assert time.monotonic() - start < 30  # not the 60 s the grandchild holds the pipes for
    assert result.returncode == -1
    pids = [int(p) for p in result.stdout.split()]
    assert len(pids) == 2  # the shell and its background sleep both started
    assert _left_behind(pids) == []


def test_timeout_stops_the_grandchildren_of_a_streamed_command() -> None:
    runner, out = make_runner()
    start = time.monotonic()
    with pytest.raises(CommandError) as info:
        runner.run(GRANDCHILD, timeout=1, stream_prefix="arm64")
    assert time.monotonic() - start < 30
    assert info.value.returncode is None  # killed
    pids = [int(p) for p in out.getvalue().split("  arm64 │ ", 1)[1].split()]
    assert len(pids) == 2
    assert _left_behind(pids) == []


INTERRUPTED_RUN = """
import sys
from multiarch_tasks.engine.runner import Runner, interruptible
from multiarch_tasks.model.errors import RunInterruptedError
try:
    with interruptible():
        Runner().run(sys.argv[1:], stream_prefix="x")
except RunInterruptedError as err:
    sys.exit(err.code)
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_grandchildren_and_exits_128_plus_its_number(signame: str) -> None:
    sig = getattr(signal, signame)
    proc = subprocess.Popen(
        [PY, "-c", INTERRUPTED_RUN, *GRANDCHILD], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # the echoed command
    pids = [int(p) for p in proc.stdout.readline().split("│", 1)[1].split()]
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 128 + sig
    proc.stdout.close()
    assert len(pids) == 2
    assert _left_behind(pids) == []


def test_timeout_not_reached() -> None:
    runner, _ = make_runner()
    assert runner.run(py("print('quick')"), timeout=30).stdout == "quick\n"


COUNT_THEN_FAIL = """
import sys
from pathlib import Path
counter = Path(sys.argv[1])
runs = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(runs))
print(f"run {runs}", file=sys.stderr)
sys.exit(0 if runs >= int(sys.argv[2]) else 1)
"""


def test_retries_rerun_a_failing_command_until_it_succeeds(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    runner, out = make_runner()
    result = runner.run(py(COUNT_THEN_FAIL, str(counter), "3"), retries=5)
    assert result.ok
    assert counter.read_text() == "3"
    assert out.getvalue().count("retrying in") == 2
    assert "(1/5)" in out.getvalue()
    assert "(2/5)" in out.getvalue()


def test_retries_give_up_after_the_last_attempt(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    runner, _ = make_runner()
    with pytest.raises(CommandError) as info:
        runner.run(py(COUNT_THEN_FAIL, str(counter), "99"), retries=2)
    assert counter.read_text() == "3"  # first run + 2 retries
    assert info.value.stderr_tail == "run 3"


def test_no_retries_by_default(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    runner, _ = make_runner()
    with pytest.raises(CommandError):
        runner.run(py(COUNT_THEN_FAIL, str(counter), "2"))
    assert counter.read_text() == "1"


# --- streaming ----------------------------------------------------------------------------


def test_stream_prefix_prefixes_each_line() -> None:
    runner, out = make_runner()
    code = "import sys; print('one'); print('two', file=sys.stderr, flush=True); print('three')"
    argv = py(code)
    result = runner.run(argv, stream_prefix="linux/arm64")
    lines = out.getvalue().splitlines()
    assert lines[0] == shlex.join(argv)  # a streamed step announces its command
    assert sorted(lines[1:]) == sorted(["  arm64 │ one", "  arm64 │ two", "  arm64 │ three"])
    assert result.ok
    assert set(result.stdout.splitlines()) == {"one", "two", "three"}


def test_stream_failure_carries_the_tail_and_redacts() -> None:
    runner, out = make_runner(secrets=("hunter2",))
    with pytest.raises(CommandError) as info:
        runner.run(
            py("print('using hunter2'); print('failed'); raise SystemExit(4)"),
            stream_prefix="amd64",
        )
    assert info.value.returncode == 4
    assert info.value.stderr_tail == f"using {REDACTED}\nfailed"
    assert "hunter2" not in out.getvalue()
    assert f"  amd64 │ using {REDACTED}" in out.getvalue()


# --- map_parallel ---------------------------------------------------------------------------

# Each process creates its own file, then waits for the other's: both finish only when
# they run at the same time (serially, the first would give up after the deadline).
RENDEZVOUS = """
import sys, time
from pathlib import Path
mine, other = Path(sys.argv[1]), Path(sys.argv[2])
mine.write_text("here")
deadline = time.monotonic() + 20
while not other.exists():
    if time.monotonic() > deadline:
        sys.exit("the other process never started")
    time.sleep(0.02)
print(sys.argv[3])
"""


def test_map_parallel_runs_concurrently(tmp_path: Path) -> None:
    runner, _ = make_runner()
    a, b = tmp_path / "a", tmp_path / "b"
    jobs = {"first": (a, b), "second": (b, a)}

    def work(name: str) -> str:
        mine, other = jobs[name]
        return runner.run(py(RENDEZVOUS, str(mine), str(other), name)).stdout.strip()

    assert runner.map_parallel(work, ["first", "second"]) == ["first", "second"]


def test_map_parallel_returns_results_and_exceptions_in_order() -> None:
    runner, _ = make_runner()

    def work(code: int) -> int:
        runner.run(py(f"raise SystemExit({code})"))
        return code

    results = runner.map_parallel(work, [0, 7, 0, 9], jobs=2)
    assert results[0] == 0
    assert results[2] == 0
    assert isinstance(results[1], CommandError)
    assert results[1].returncode == 7
    assert isinstance(results[3], CommandError)
    assert results[3].returncode == 9


def test_map_parallel_collects_non_command_errors_and_handles_empty() -> None:
    runner, _ = make_runner()

    def work(item: str) -> str:
        if item == "bad":
            raise ToolMissingError("bad is missing")
        return item.upper()

    results = runner.map_parallel(work, ["a", "bad", "c"], jobs=1)
    assert results[0] == "A"
    assert isinstance(results[1], ToolMissingError)
    assert results[2] == "C"
    assert runner.map_parallel(work, []) == []


def test_map_parallel_hands_back_a_keyboard_interrupt_raised_in_an_item() -> None:
    runner, _ = make_runner()

    def work(item: int) -> int:
        if item == 1:
            raise KeyboardInterrupt
        return item * 10

    results = runner.map_parallel(work, [0, 1, 2], jobs=2)
    assert results[0] == 0
    assert isinstance(results[1], KeyboardInterrupt)
    assert results[2] == 20


def test_map_parallel_runs_no_more_than_jobs_items_at_once() -> None:
    runner, _ = make_runner()
    lock = threading.Lock()
    running = [0, 0]  # now, peak

    def work(item: int) -> int:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return item

    assert runner.map_parallel(work, list(range(9)), jobs=3) == list(range(9))
    assert 1 < running[1] <= 3


def test_start_probe_starts_the_process_before_wait_and_remembers_its_answer(
    tmp_path: Path,
) -> None:
    started = tmp_path / "started"
    gate = tmp_path / "gate"
    code = (
        "import sys, pathlib, time\n"
        "pathlib.Path(sys.argv[1]).open('a').write('x')\n"
        "while not pathlib.Path(sys.argv[2]).exists(): time.sleep(0.01)\n"
        "print('answer')"
    )
    runner, _ = make_runner()
    argv = py(code, str(started), str(gate))
    probe = runner.start_probe(argv, timeout=30)
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started.read_text() == "x"  # running although nobody waits for it yet
    gate.touch()
    result = probe.wait()
    assert (result.returncode, result.stdout) == (0, "answer\n")
    again = runner.start_probe(argv, timeout=30).wait()
    assert again is result
    assert started.read_text() == "x"  # not started a second time


def test_start_probe_names_a_missing_program_at_once() -> None:
    runner, _ = make_runner()
    with pytest.raises(ToolMissingError, match="no-such-probe-program"):
        runner.start_probe(["no-such-probe-program", "--version"])


def test_retry_line_names_the_step_the_attempt_and_the_cause_retry_if_gave(
    tmp_path: Path,
) -> None:
    counter = tmp_path / "count"
    runner, out = make_runner()
    runner.run(
        py(COUNT_THEN_FAIL, str(counter), "2"),
        retries=3,
        label="build linux/arm64",
        retry_if=lambda result: f"a registry fault before {result.stderr.strip()}",
    )
    retries = [line for line in out.getvalue().splitlines() if line.startswith("retrying")]
    assert retries == [
        "retrying in 0.01s (1/3) build linux/arm64 after: a registry fault before run 1"
    ]


def test_a_streamed_run_keeps_the_lines_keep_picks_from_beyond_its_tail() -> None:
    code = "print('fault 500 early')\nfor n in range(500): print(f'line {n}')"
    runner, _ = make_runner()
    result = runner.run(py(code), stream_prefix="x", keep=lambda line: "500" in line)
    assert "fault 500 early" not in result.stdout  # fell out of the 200-line tail
    assert result.kept == ("fault 500 early",)
