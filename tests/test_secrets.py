"""Secret-looking build args, their warning, and the values the runner must hide."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from multiarch_tasks.config.secrets import (
    secret_build_args,
    secret_spec,
    secret_values,
    secret_warnings,
)
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import REDACTED, Runner
from multiarch_tasks.steps.build import secret_runner


def test_secret_build_args_are_picked_by_name() -> None:
    settings = Settings(
        build_args={"BASE": "b", "API_TOKEN": "t", "KEYBOARD": "us", "DB_PASSWORD": "p"}
    )
    assert secret_build_args(settings) == ["API_TOKEN", "DB_PASSWORD"]


def test_warning_names_the_arg_the_history_and_the_secret_form() -> None:
    [line] = secret_warnings(Settings(build_args={"API_TOKEN": "v4lue-xyz", "BASE": "b"}))
    assert line.startswith("warning: build arg API_TOKEN looks like a secret")
    assert "image history" in line
    assert "--secret id=API_TOKEN,env=API_TOKEN" in line
    assert "RUN --mount=type=secret,id=API_TOKEN" in line
    assert "\n" not in line
    assert "v4lue-xyz" not in line
    assert secret_warnings(Settings(build_args={"BASE": "b"})) == []


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ("id=tok,env=MY_TOK", {"id": "tok", "env": "MY_TOK"}),
        ("id=npm,src=/run/npmrc", {"id": "npm", "source": "/run/npmrc"}),
        ("id=npm,source=/run/npmrc", {"id": "npm", "source": "/run/npmrc"}),
        ("id=tok", {"id": "tok", "env": "tok"}),
        ("type=env,id=tok,src=VAR", {"type": "env", "id": "tok", "env": "VAR"}),
        ("type=file,id=k,src=f", {"type": "file", "id": "k", "source": "f"}),
    ],
)
def test_secret_spec_reads_like_buildx(spec: str, fields: dict[str, str]) -> None:
    assert secret_spec(spec) == fields


def test_secret_values_from_build_args_env_files_and_bare_ids(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("-----BEGIN KEY-----\nAAAAsecretline1\n}\n-----END KEY-----\n")
    settings = Settings(
        build_args={"API_TOKEN": "bt-123", "BASE": "not-hidden"},
        secrets=("id=tok,env=MY_TOK", f"id=k,src={key}", "id=bare", "id=gone,src=/nope"),
    )
    env = {"MY_TOK": "env-456\n", "bare": "bare-789", "OTHER": "x"}
    values = secret_values(settings, env)
    assert values[:3] == ("bt-123", "env-456", key.read_text().strip())
    assert "AAAAsecretline1" in values  # a multi-line secret is hidden line by line too
    assert "-----BEGIN KEY-----" in values
    assert "}" not in values  # too short to be a secret on its own
    assert "bare-789" in values
    assert "not-hidden" not in values
    assert "" not in values


def test_secret_values_empty_without_secrets() -> None:
    assert secret_values(Settings(build_args={"BASE": "b"}), {}) == ()


def test_secret_runner_warns_once_and_hides_the_values() -> None:
    out = io.StringIO()
    settings = Settings(build_args={"API_TOKEN": "bt-42x"}, secrets=("id=s,env=S",))
    runner = secret_runner(settings, Runner(out=out), {"S": "sv-43y"})
    assert out.getvalue().count("warning: build arg API_TOKEN looks like a secret") == 1
    runner.say("bt-42x and sv-43y")
    assert out.getvalue().splitlines()[-1] == f"{REDACTED} and {REDACTED}"
