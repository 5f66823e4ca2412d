"""Every task's ``--help`` read through invoke's own Program, and ``--json`` failures.

The flag sets below are written out by hand on purpose: they are the contract of
``../shared/DESIGN.md`` plus this package's own flags, and a change to the table in
tasks.py that drops, renames or adds a flag must show up here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from multiarch_tasks.cli import program
from multiarch_tasks.tasks import multiarch

INDEX = {
    "--image",
    "--tag",
    "--platforms",
    "--output-dir",
    "--manifest-tool",
    "--attestations",
    "--json",
}
BUILD = {
    "--image",
    "--tag",
    "--platforms",
    "--context",
    "--file",
    "--build-arg",
    "--secret",
    "--output-dir",
    "--builder",
    "--strategy",
    "--backend",
    "--attestations",
    "--provenance",
    "--sbom",
    "--sbom-generator",
    "--cache",
    "--no-cache",
    "--pull",
    "--per-arch-tags",
    "--jobs",
    "--json",
    "--progress",
}
EXPECTED = {
    "qemu-setup": {"--platforms", "--mode", "--json"},
    "builder-create": {"--builder", "--platforms", "--driver", "--use", "--json"},
    "build": {*BUILD, "--layout"},
    "manifest-create": INDEX,
    "manifest-push": INDEX,
    "merge": {
        "--from",
        *INDEX,
        "--sign",
        "--sign-key",
        "--sign-platforms",
        "--no-tlog",
        "--layout",
    },
    "publish": {
        *BUILD,
        "--manifest-tool",
        "--deep",
        "--no-deep",
        "--no-verify",
        "--no-preflight",
        "--registry",
        "--sign",
        "--sign-key",
        "--sign-platforms",
        "--no-tlog",
        "--verify-attestations",
    },
    "verify": {
        "--ref",
        "--attestations",
        "--sbom",
        "--platforms",
        "--deep",
        "--no-deep",
        "--run",
        "--run-cmd",
        "--allow-single",
        "--json",
        "--signed-by",
        "--certificate-identity",
        "--certificate-oidc-issuer",
        "--sign-platforms",
        "--no-tlog",
    },
    "inspect": {"--ref", "--platform", "--json"},
    "preflight": {
        "--platforms",
        "--context",
        "--file",
        "--build-arg",
        "--builder",
        "--allow-unreachable",
        "--json",
    },
    "mirror": {
        "--src",
        "--dest",
        "--platforms",
        "--tool",
        "--from-file",
        "--no-attestations",
        "--no-signatures",
        "--json",
        "--progress",
    },
    "ci-template": {
        "--image",
        "--tag",
        "--platforms",
        "--file",
        "--context",
        "--local-registry",
        "--provider",
        "--output",
        "--runners",
        "--variant",
        "--registry",
        "--login",
        "--runner-label",
        "--sign",
        "--sign-key",
    },
    "lint": {"--file", "--context", "--build-arg", "--platforms", "--json"},
    "doctor": {"--image", "--platforms", "--json"},
    "ci-rehearse": {
        "--pipeline",
        "--project",
        "--work-dir",
        "--jobs",
        "--image",
        "--registry",
        "--event",
        "--json",
        "--progress",
    },
}


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    program().run(["multiarch", *argv], exit=False)
    return capsys.readouterr().out


def _options(text: str) -> list[list[str]]:
    """The flag names of each option row of invoke's task help (``-c STRING, --context=...``)."""
    section = text.split("Options:\n", 1)[1]
    rows = []
    for line in section.splitlines():
        if not line.startswith("  -"):
            continue  # a wrapped help line, or the end of the section
        spec = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        rows.append([part.split("=")[0].split(" ")[0] for part in spec.split(", ")])
    return rows


def test_expected_covers_every_task() -> None:
    assert set(EXPECTED) == set(multiarch.task_names)


@pytest.mark.parametrize("task", sorted(EXPECTED))
@pytest.mark.parametrize("form", ["help-first", "task-first"])
def test_task_help_lists_exactly_its_flags(
    capsys: pytest.CaptureFixture[str], task: str, form: str
) -> None:
    argv = ("--help", task) if form == "help-first" else (task, "--help")
    text = _help(capsys, *argv)
    assert f"Usage: multiarch [--core-opts] {task} [--options]" in text
    rows = _options(text)
    option_lines = [line for line in text.splitlines() if line.startswith("  -")]
    assert all(re.search(r"\S\s{2,}\S", line) for line in option_lines), text  # help shown
    longs = [name for row in rows for name in row if name.startswith("--")]
    assert sorted(longs) == sorted(EXPECTED[task])
    for row in rows:
        # one long flag per row, at most one short: no `--, --no-preflight`
        assert len([n for n in row if n.startswith("--")]) == 1, row
        assert all(re.fullmatch(r"--[a-z][a-z-]+|-[a-z]", n) for n in row), row


def test_a_short_flag_means_the_same_long_flag_in_every_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    meaning: dict[str, set[str]] = {}
    for task in EXPECTED:
        for row in _options(_help(capsys, "--help", task)):
            longs = [n for n in row if n.startswith("--")]
            for short in (n for n in row if not n.startswith("--")):
                meaning.setdefault(short, set()).update(longs)
    assert {s: m for s, m in meaning.items() if len(m) > 1} == {}
    assert meaning["-p"] == {"--platforms"}  # and the common ones are there
    assert meaning["-t"] == {"--tag"}


def test_verify_help_after_the_task_does_not_read_help_as_ref(
    capsys: pytest.CaptureFixture[str],
) -> None:
    program().run(["multiarch", "verify", "--help"], exit=False)
    out, err = capsys.readouterr()
    assert "Prove every platform of REF" in out
    assert "invalid" not in err


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    return subprocess.run(
        [sys.executable, "-m", "multiarch_tasks.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["publish", "--json", "--image", "r.example/a/b", "--platforms", "linux/amd64,x/y"],
            "platforms (from command line): unknown platform 'x/y'",
        ),
        (
            ["build", "--json", "--image", "r.example/a/b", "--cache", "bogus"],
            "cache (from command line): invalid value 'bogus' (choose from none,",
        ),
        (["verify", "--json", "Bad Ref!"], "invalid image reference 'Bad Ref!'"),
    ],
    ids=["settings-error", "new-flag-value", "step-error"],
)
def test_json_failure_prints_ok_false_and_error_on_stdout(
    tmp_path: Path, args: list[str], error: str
) -> None:
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert set(document) == {"ok", "error"}
    assert document["error"].startswith(error)
    assert done.stderr.splitlines() == [f"multiarch: error: {document['error']}"]


def test_failure_without_json_prints_nothing_on_stdout(tmp_path: Path) -> None:
    done = _cli("verify", "Bad Ref!", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("multiarch: error: invalid image reference 'Bad Ref!'")


def test_guide_lists_every_flag() -> None:
    guide = (Path(__file__).parents[1] / "docs" / "guide.md").read_text()
    section = guide.split("### Flags", 1)[1].split("\n## ", 1)[0]
    positional = {"--ref", "--src", "--dest"}  # documented as `verify REF`, `mirror SRC DEST`
    flags = {f for names in EXPECTED.values() for f in names} - positional
    missing = {f for f in flags if f"`{f}`" not in section and f"`{f} " not in section}
    assert missing == set()
    assert "`verify REF`" in section
    assert "`mirror SRC DEST`" in section


def test_strategy_help_names_every_choice(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(_help(capsys, "--help", "publish").split())
    row = text.split("--strategy=STRING", 1)[1].split(" -t, --tag")[0]
    row = row.replace("- ", "-")  # invoke wraps "per-arch" after the hyphen
    assert all(choice in row for choice in ("auto", "per-arch", "multi-platform")), row
