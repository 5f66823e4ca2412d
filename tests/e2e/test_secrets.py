"""Secrets in a real publish: a build arg and a build secret, both echoed by RUN steps (issue 9).

Needs publish to warn with ``secret_warnings(settings)`` and to run every step through
``runner.with_secrets(*secret_values(settings))`` (the lead's wiring in publish.py).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.e2e


def test_build_arg_and_secret_values_never_printed_nor_written(
    base_image, registry, repo, tmp_path, engine, qemu
):
    token = f"bt-{secrets.token_hex(12)}"
    secret = f"st-{secrets.token_hex(12)}"
    project = tmp_path / "project"
    project.mkdir()
    # ARG before both RUNs: a new token changes their cache keys, so both really run and
    # print (a secret mount alone does not invalidate the cache).
    (project / "Dockerfile").write_text(
        "ARG BASE\n"
        "FROM ${BASE}\n"
        "ARG API_TOKEN\n"
        'RUN echo "arg:$API_TOKEN"\n'
        'RUN --mount=type=secret,id=tok echo "secret:$(cat /run/secrets/tok)"\n'
    )
    (project / "invoke.yaml").write_text(
        json.dumps({"multiarch": {"secrets": ["id=tok,env=MY_TOK"]}})
    )
    out = tmp_path / "out"
    done = run_cli(
        "publish", "--image", repo, "--tag", "s1", "--platforms", "linux/amd64,linux/arm64",
        "--build-arg", f"BASE={base_image.ref}", "--build-arg", f"API_TOKEN={token}",
        "--output-dir", str(out),
        cwd=project,
        env={"MY_TOK": secret},
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    # Both values really went through the RUN steps, and came out hidden.
    assert "arg:***" in done.stdout
    assert "secret:***" in done.stdout
    assert "warning: build arg API_TOKEN looks like a secret" in done.output
    assert "--secret id=API_TOKEN,env=API_TOKEN" in done.output
    for value in (token, secret):
        assert value not in done.stdout
        assert value not in done.stderr
        assert value not in (out / "digests.json").read_text()
    written = {p.name: p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()}
    leaked = [name for name, text in written.items() if token in text or secret in text]
    assert leaked == [], f"values written to {leaked}"


def test_secret_values_stay_hidden_when_the_build_fails(base_image, repo, tmp_path, engine):
    secret = f"st-{secrets.token_hex(12)}"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image.ref}\n"
        'RUN --mount=type=secret,id=tok sh -c \'echo "failing with $(cat /run/secrets/tok)";'
        " exit 3'\n"
    )
    done = run_cli(
        "publish", "--image", repo, "--platforms", "linux/amd64", "--context", str(tmp_path),
        "--output-dir", str(tmp_path / "out"), "--no-preflight",
        cwd=tmp_path,
        env={"INVOKE_MULTIARCH_SECRETS": "id=tok,env=MY_TOK", "MY_TOK": secret},
    )  # fmt: skip
    assert done.returncode == 1, done.output[-3000:]
    assert "failing with ***" in done.output
    assert secret not in done.output
    assert not Path(tmp_path / "out" / "digests.json").exists()
