"""Every output form of a task goes through the runner's one redaction (issue 17).

The JSON document, the text result, the GitHub step summary, error lines and annotations,
the ``--debug`` traceback and invoke's own debug log, tested in-process; the e2e test
(tests/e2e/test_secret_leak.py) proves it through the real CLI and engine.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest
from invoke.exceptions import Exit

from multiarch_tasks.ci.output import GITHUB, write_summary
from multiarch_tasks.engine.runner import Runner, redact_data
from multiarch_tasks.model.errors import MultiarchError
from multiarch_tasks.taskbody import emit, guarded

SECRET = "s3cr3t-value-42"  # noqa: S105 - a planted value the tests look for


@dataclass
class _Result:
    data: dict[str, Any]
    ok: bool = True

    def to_json(self) -> dict[str, Any]:
        return self.data

    def render(self) -> str:
        return json.dumps(self.data)


def _runner() -> Runner:
    return Runner(out=io.StringIO()).with_secrets(SECRET)


def test_redact_data_hides_secrets_in_every_string_of_a_nested_document_keys_included() -> None:
    doc = {
        "commands": [["docker", "build", "--build-arg", f"X={SECRET}"]],
        SECRET: ("a", {"url": "https://u:pw@h/x?token=t&ref=main"}),
        "n": 3,
        "ok": True,
        "none": None,
    }
    shown = redact_data(doc, [SECRET])
    assert shown == {
        "commands": [["docker", "build", "--build-arg", "X=***"]],
        "***": ("a", {"url": "https://h/x?ref=main"}),
        "n": 3,
        "ok": True,
        "none": None,
    }


def test_emit_json_and_text_are_redacted_by_the_runner(capsys: pytest.CaptureFixture[str]) -> None:
    result = _Result({"plan": {"commands": [["b", f"NOTE={SECRET}", "API_KEY=k9"]]}})
    emit(result, as_json=True, runner=_runner())
    emit(result, as_json=False, runner=_runner())
    out = capsys.readouterr().out
    assert SECRET not in out
    assert "k9" not in out
    assert json.loads(out[: out.index("\n}") + 2])["plan"]["commands"] == [
        ["b", "NOTE=***", "API_KEY=***"]
    ]


def test_ci_template_text_hides_known_values_but_keeps_variables_and_urls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    emit(f"login -p $TOKEN https://r.example/?token=$T {SECRET}\n", as_json=False, runner=_runner())
    assert capsys.readouterr().out == "login -p $TOKEN https://r.example/?token=$T ***\n\n"


def test_step_summary_file_is_redacted_by_the_runner(tmp_path) -> None:
    summary = tmp_path / "summary.md"
    result = _Result(
        {"ok": False, "tags": ["r/app:1"], "platforms": [], "error": f"failed with {SECRET}"}
    )
    write_summary(GITHUB, result, {"GITHUB_STEP_SUMMARY": str(summary)}, redact=_runner().redact)
    text = summary.read_text()
    assert "**failed with ***" in text
    assert SECRET not in text


def test_error_json_annotation_exit_line_and_debug_traceback_are_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("INVOKE_DEBUG", "1")

    def fail() -> None:
        raise MultiarchError(f"build failed: echo {SECRET} https://u:pw@h/x DB_PASSWORD=dp1")

    with pytest.raises(Exit) as exit_info:
        guarded(fail, as_json=True, runner=_runner())
    captured = capsys.readouterr()
    shown = captured.out + captured.err + str(exit_info.value.message)
    assert "Traceback" in captured.err
    assert "::error title=multiarch::" in captured.err
    assert json.loads(captured.out)["error"].startswith("build failed: echo ***")
    for value in (SECRET, "pw@", "dp1"):
        assert value not in shown


def test_invoke_debug_log_masks_secret_build_args_and_url_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="invoke"):
        logging.getLogger("invoke").debug(
            "Starting argv: %s", ["-b", "API_TOKEN=at1", "-b", "U=postgres://a:pw2@h/x"]
        )
        logging.getLogger("invoke").debug("config: %s", {"build_args": {"DB_PASSWORD": "dp3"}})
    text = caplog.text
    assert "API_TOKEN=***" in text
    assert "'DB_PASSWORD': '***'" in text
    for value in ("at1", "pw2", "dp3"):
        assert value not in text
