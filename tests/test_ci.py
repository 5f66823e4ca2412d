"""ci-template: every variant validates against its provider's schema (the copies vendored
by check-jsonschema, offline); runner mapping; no secret in plain text; kaniko's argv."""

from __future__ import annotations

import functools
import io
import json
import re
import subprocess
from pathlib import Path

import check_jsonschema
import jsonschema
import pytest
import yaml

from multiarch_tasks.ci import gitlab, shards
from multiarch_tasks.ci import templates as ci
from multiarch_tasks.ci.rehearse import plan
from multiarch_tasks.ci.rehearse import run as rehearse
from multiarch_tasks.config.settings import settings_from
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform

VENDOR = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor"
SCHEMAS = {"github": "github-workflows.json", "gitlab": "gitlab-ci.json"}
THREE = "linux/amd64,linux/arm64,linux/s390x"


def settings(image="ghcr.io/acme/app", platforms=THREE, **extra):
    # The test venv holds an editable install, which ci-template refuses without `install`.
    extra.setdefault("install", "multiarch-tasks==0.1.0")
    return settings_from({"image": image, "platforms": platforms, **extra}, pyproject="/nowhere")


def load(text: str) -> dict:
    return yaml.safe_load(text)


def schema_errors(provider: str, doc: dict) -> list[str]:
    schema = json.loads((VENDOR / SCHEMAS[provider]).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


VARIANTS = [
    ("github", THREE, {}),
    ("github", THREE, {"runners": "qemu"}),
    ("github", THREE, {"login": "secrets", "registry": "registry.example.com"}),
    ("github", "linux/amd64,linux/arm/v7", {"login": "none"}),
    ("github", THREE, {"runner_labels": {"linux/s390x": "self-hosted-s390x"}}),
    ("gitlab", THREE, {}),
    ("gitlab", THREE, {"runners": "qemu"}),
    ("gitlab", THREE, {"login": "token"}),
    ("gitlab", "linux/amd64,linux/arm64", {"variant": "kaniko"}),
    ("gitlab", "linux/amd64,linux/arm64", {"variant": "kaniko", "login": "token"}),
    ("gitlab", "linux/amd64,linux/arm64", {"variant": "buildah"}),
    ("gitlab", "linux/amd64,linux/arm64", {"variant": "buildah", "login": "none"}),
    ("github", THREE, {"sign": "keyless"}),
    ("github", THREE, {"sign": "key"}),
    ("github", THREE, {"sign": "awskms:///alias/app"}),
    ("gitlab", THREE, {"sign": "keyless"}),
    ("gitlab", THREE, {"sign": "key"}),
    ("gitlab", "linux/amd64,linux/arm64", {"variant": "kaniko", "sign": "keyless"}),
    # issue 20: no file for setup-python's pip cache to key on (a Go project)
    ("github", THREE, {"project": "/nowhere"}),
]
# Each file holds every event's path (issue 20): push, same-repository pull request (a
# staging tag) and fork pull request (OCI layouts), so validating it validates all three.


@pytest.mark.parametrize(
    ("provider", "platforms", "options"),
    VARIANTS,
    ids=[f"{p}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}" for p, _, o in VARIANTS],
)
def test_every_variant_validates_against_the_provider_schema(provider, platforms, options):
    text = ci.ci_template(settings(platforms=platforms), provider, **options)
    doc = load(text)
    assert schema_errors(provider, doc) == []


def test_the_schemas_catch_a_broken_pipeline():
    github = load(ci.ci_template(settings(), "github"))
    github["jobs"]["build"]["runs-on"] = 42
    del github["jobs"]["merge"]["steps"]
    gitlab = load(ci.ci_template(settings(), "gitlab"))
    gitlab["build"]["when"] = "sometimes"
    assert schema_errors("github", github)
    assert schema_errors("gitlab", gitlab)


def test_github_shards_run_native_where_github_has_a_runner_and_qemu_elsewhere():
    doc = load(ci.ci_template(settings(), "github"))
    matrix = doc["jobs"]["build"]["strategy"]["matrix"]["include"]
    assert [(m["platform"], m["runner"], m["emulate"]) for m in matrix] == [
        ("linux/amd64", "ubuntu-24.04", False),
        ("linux/arm64", "ubuntu-24.04-arm", False),
        ("linux/s390x", "ubuntu-24.04", True),
    ]
    steps = doc["jobs"]["build"]["steps"]
    qemu = next(s for s in steps if "qemu-setup" in s.get("run", ""))
    assert qemu["if"] == "matrix.emulate"


def test_all_qemu_mode_puts_every_shard_on_amd64():
    doc = load(ci.ci_template(settings(), "gitlab", runners="qemu"))
    matrix = doc["build"]["parallel"]["matrix"]
    assert {m["RUNNER"] for m in matrix} == {"saas-linux-small-amd64"}
    assert [m["EMULATE"] for m in matrix] == ["false", "true", "true"]


def test_gitlab_uses_arm64_saas_runners_and_dind():
    doc = load(ci.ci_template(settings(), "gitlab"))
    matrix = doc["build"]["parallel"]["matrix"]
    assert [m["RUNNER"] for m in matrix] == [
        "saas-linux-small-amd64", "saas-linux-small-arm64", "saas-linux-small-amd64",
    ]  # fmt: skip
    assert doc["build"]["tags"] == ["$RUNNER"]
    assert doc[".multiarch"]["services"] == ["docker:27-dind"]


def test_commands_call_the_tasks_without_repeating_the_settings():
    text = ci.ci_template(settings(build_args={"BASE": "secret-base"}, tags="1.2"), "github")
    assert "ghcr.io/acme/app" not in text.split("jobs:")[1].replace("login ghcr.io", "")
    assert "secret-base" not in text
    assert "--tag 1.2" not in text  # only the pull request's own staging tag is written
    runs = [s["run"] for s in load(text)["jobs"]["build"]["steps"] if "run" in s]
    assert any(
        'multiarch build --platforms "$PLATFORM" --output-dir "out/$SHARD" --cache auto' in r
        for r in runs
    )


@pytest.mark.parametrize(
    ("provider", "options", "expected"),
    [
        ("github", {}, "${{ secrets.GITHUB_TOKEN }}"),
        ("github", {"registry": "quay.io"}, "${{ secrets.REGISTRY_PASSWORD }}"),
        (
            "gitlab",
            {"login": "token"},
            (
                '"$CI_REGISTRY_PASSWORD" | docker login --username "$CI_REGISTRY_USER"'
                ' --password-stdin "$CI_REGISTRY"'
            ),
        ),
        (
            "gitlab",
            {"registry": "quay.io"},
            (
                '"$REGISTRY_PASSWORD" | docker login --username "$REGISTRY_USERNAME"'
                " --password-stdin quay.io"
            ),
        ),
    ],
)
def test_login_reads_the_token_or_named_secret_through_password_stdin(provider, options, expected):
    text = ci.ci_template(settings(), provider, **options)
    assert expected in text
    assert "--password-stdin" in text
    assert "--password " not in text
    assert " -p " not in text


def test_github_token_login_asks_for_packages_write_only_then():
    assert load(ci.ci_template(settings(), "github"))["permissions"] == {
        "contents": "read", "packages": "write",
    }  # fmt: skip
    other = load(ci.ci_template(settings(), "github", registry="quay.io"))
    assert other["permissions"] == {"contents": "read"}


def test_merge_job_downloads_every_shard_then_merges_and_verifies():
    doc = load(ci.ci_template(settings(), "github"))
    runs = [s.get("run", "") for s in doc["jobs"]["merge"]["steps"]]
    assert any(
        r.startswith("multiarch merge --from digests/digests-linux-amd64,"
                     "digests/digests-linux-arm64,digests/digests-linux-s390x")
        for r in runs
    )  # fmt: skip
    assert runs[-1].startswith("multiarch verify ")
    assert doc["jobs"]["merge"]["needs"] == "build"


def test_kaniko_and_buildah_variants_refuse_platforms_without_a_native_runner():
    with pytest.raises(InvalidValueError, match=r"kaniko .* no native runner for linux/s390x"):
        ci.ci_template(settings(), "gitlab", variant="kaniko")
    text = ci.ci_template(
        settings(), "gitlab", variant="buildah", runner_labels={"linux/s390x": "my-s390x"}
    )
    assert load(text)["build-linux-s390x"]["tags"] == ["my-s390x"]


def test_kaniko_jobs_run_the_executor_per_platform_and_merge_natively():
    doc = load(ci.ci_template(settings(platforms="linux/amd64,linux/arm64"), "gitlab",
                              variant="kaniko"))  # fmt: skip
    script = doc["build-linux-arm64"]["script"]
    executor = next(line for line in script if line.startswith("/kaniko/executor"))
    assert "--custom-platform linux/arm64" in executor
    assert '--destination "ghcr.io/acme/app:ci-$CI_PIPELINE_ID-linux-arm64"' in executor
    assert "--digest-file out/linux-arm64/digest" in executor
    assert doc["build-linux-arm64"]["tags"] == ["saas-linux-small-arm64"]
    assert "--manifest-tool native" in doc["merge"]["script"][-2]


@pytest.mark.parametrize("variant", ["kaniko", "buildah"])
def test_secret_build_args_are_written_as_ci_variable_references_never_their_values(variant):
    """issue 17: a secret build arg in settings went in clear into the job (then as ``***``,
    which hid it and broke the build); the job now reads a masked CI variable of its name."""
    values = {
        "API_TOKEN": "at-0123456789", "DATABASE_URL": "postgres://app:pw-0123456789@db/x",
        "HOOK_URL": "https://hooks.example/n?token=qt-0123456789&ref=main", "BASE": "busybox",
    }  # fmt: skip
    text = ci.ci_template(
        settings(platforms="linux/amd64,linux/arm64", build_args=values), "gitlab", variant=variant
    )
    for secret in ("at-0123456789", "pw-0123456789", "qt-0123456789"):
        assert secret not in text
    assert "***" not in text
    doc = load(text)
    build = next(line for line in doc["build-linux-arm64"]["script"] if "--build-arg" in line)
    for name in ("API_TOKEN", "DATABASE_URL", "HOOK_URL"):
        assert f'--build-arg "{name}=${name}"' in build  # the job's shell expands it
    assert "--build-arg BASE=busybox" in build  # a plain build arg is written as it is
    assert "# Define these masked CI/CD variables: API_TOKEN, DATABASE_URL, HOOK_URL." in text
    assert schema_errors("gitlab", doc) == []


def test_docker_variant_and_github_write_no_build_arg_so_name_no_ci_variable():
    secret = settings(build_args={"API_TOKEN": "at-0123456789"})
    for provider in ("github", "gitlab"):
        text = ci.ci_template(secret, provider)
        assert "at-0123456789" not in text
        assert "API_TOKEN" not in text  # the job's `multiarch build` reads the settings


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("runners", "arm", "unknown runners 'arm'"),
        ("login", "password", "unknown login 'password'"),
        ("variant", "kaniko", "variant 'kaniko' is not available for github"),
        ("colour", "blue", "unknown option"),
    ],
)
def test_bad_options_are_refused_naming_the_choices(option, value, message):
    with pytest.raises(InvalidValueError, match=message):
        ci.ci_template(settings(), "github", **{option: value})


def test_unknown_provider_is_refused():
    with pytest.raises(InvalidValueError, match="unknown provider 'jenkins'"):
        ci.ci_template(settings(), "jenkins")


@pytest.mark.parametrize(
    ("arg", "word"),
    [("plain", "plain"), ("a b", "'a b'"), ("$CI_X/y", '"$CI_X/y"'), ('a"$B', '"a\\"$B"')],
)
def test_sh_word_quotes_but_keeps_variables_live(arg, word):
    assert ci.sh_word(arg) == word


def test_kaniko_executor_argv():
    argv = commands.kaniko_executor(
        context="/workspace",
        dockerfile="/workspace/Dockerfile",
        platform=Platform("linux", "arm", "v7"),
        destinations=["r.example/app:t-linux-arm-v7"],
        digest_file="out/digest",
        build_args={"BASE": "b"},
        labels={"l": "v"},
        target="final",
        insecure_registries=["127.0.0.1:5000"],
    )
    assert argv == [
        "/kaniko/executor", "--context", "/workspace", "--dockerfile", "/workspace/Dockerfile",
        "--custom-platform", "linux/arm/v7", "--destination", "r.example/app:t-linux-arm-v7",
        "--digest-file", "out/digest", "--build-arg", "BASE=b", "--label", "l=v",
        "--target", "final", "--insecure-registry", "127.0.0.1:5000",
    ]  # fmt: skip


def test_kaniko_executor_needs_a_destination():
    with pytest.raises(InvalidValueError, match="at least one --destination"):
        commands.kaniko_executor(
            context=".", dockerfile="Dockerfile", platform=Platform("linux", "amd64"),
            destinations=[],
        )  # fmt: skip


# --- ci-rehearse: what it refuses before running anything -------------------------------


def write(tmp_path, text, name="pipeline.yml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rehearse_refuses_kaniko_jobs_before_running_anything(tmp_path):
    text = ci.ci_template(settings(platforms="linux/amd64,linux/arm64"), "gitlab", variant="kaniko")
    runner = Runner(dry=True)
    with pytest.raises(rehearse.RehearsalError, match="kaniko cannot run on this machine"):
        rehearse.rehearse(write(tmp_path, text), runner, project=tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jobs: {b: {runs-on: x, steps: [{uses: docker/setup-buildx-action@v3}]}}\non: push\n",
         "action docker/setup-buildx-action@v3 has no local equivalent"),
        ("jobs: {b: {runs-on: x, steps: [{run: 'echo ${{ secrets.NPM }}'}]}}\non: push\n",
         "secret NPM has no value"),
        ("jobs: {b: {runs-on: x, steps: [{run: 'echo ${{ hashFiles(1) }}'}]}}\non: push\n",
         "cannot evaluate"),
        ("jobs: {a: {needs: b, steps: []}, b: {needs: a, steps: []}}\non: push\n",
         "wait on each other"),
        ("include: [x.yml]\nb: {script: [true]}\n", "include: is not rehearsed"),
        ("just: text\n", "neither a GitHub workflow nor a GitLab pipeline"),
        ("a: [b\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_rehearse_refuses_what_it_cannot_run_naming_it(tmp_path, text, message):
    with pytest.raises(rehearse.RehearsalError, match=re.escape(message)):
        rehearse.rehearse(write(tmp_path, text), Runner(dry=True), project=tmp_path)


def test_rehearse_evaluates_matrix_conditions_like_github(tmp_path):
    text = (
        "on: push\njobs:\n  b:\n    strategy: {matrix: {include: [{e: true}, {e: false}]}}\n"
        "    runs-on: x\n    steps: [{if: matrix.e, run: 'echo $E', env: {E: '${{ matrix.e }}'}}]\n"
    )
    jobs = rehearse.github_jobs(yaml.safe_load(text), "f", {}, rehearse.GitHead("s", "main", ""))
    assert [j.name for j in jobs] == ["b (0)", "b (1)"]
    notes = [step(None) for step in jobs[1].steps]  # the skipped step needs no context
    assert notes == ["step 1 skipped: if matrix.e is false"]


def test_dry_rehearsal_prints_every_job_command_and_creates_nothing(tmp_path):
    path = write(tmp_path, ci.ci_template(settings(), "github"))
    out = io.StringIO()
    result = rehearse.rehearse(path, Runner(dry=True, out=out), project=tmp_path)
    assert result.ok
    assert len(result.jobs) == 4
    assert sorted(tmp_path.iterdir()) == [path]
    printed = out.getvalue()
    assert printed.count("multiarch build --platforms") == 3
    assert printed.count("multiarch qemu-setup") == 1
    assert "multiarch merge --from digests/digests-linux-amd64," in printed


@pytest.mark.parametrize(
    ("event", "builds", "merges", "logins"),
    [
        ("push", "--cache auto $pull", "--output-dir out/merge --json", 4),
        ("pull_request", "--cache auto $pull", '--tag "pr-$PR-$GITHUB_SHA"', 4),
        ("fork", "--cache auto --layout", "--layout --json", 0),
    ],
)  # fmt: skip
def test_dry_rehearsal_of_each_github_event_runs_that_events_steps(
    tmp_path, event, builds, merges, logins
):
    path = write(tmp_path, ci.ci_template(settings(), "github"))
    out = io.StringIO()
    rehearse.rehearse(path, Runner(dry=True, out=out), project=tmp_path, event=event)
    printed = out.getvalue()
    assert f"rehearse: event {event} (" in printed.splitlines()[1]
    assert printed.count(builds) == 3
    assert printed.count("multiarch merge") == 1
    assert merges in printed
    assert printed.count("docker login") == logins  # a fork has no secrets: no login step


def test_rehearsed_pull_request_has_githubs_event_payload_and_variables():
    head = rehearse.GitHead("abc", "topic", "")
    github, env = plan.github_event(head, "fork")
    assert github["event_name"] == "pull_request"
    assert github["event.pull_request.head.repo.fork"] is True
    assert github["event.pull_request.number"] == github["event.number"] == 1
    assert env["GITHUB_REF"] == "refs/pull/1/merge"
    assert env["GITHUB_EVENT_NAME"] == "pull_request"
    assert plan.github_event(head, "push")[1]["GITHUB_REF"] == "refs/heads/topic"


def test_rehearsed_merge_request_has_gitlabs_variables_and_a_fork_runs_in_its_own_project():
    head = rehearse.GitHead("abc", "topic", "")
    env = plan.gitlab_event(head, "pull_request")
    assert env["CI_PIPELINE_SOURCE"] == "merge_request_event"
    assert env["CI_MERGE_REQUEST_IID"] == "1"
    assert env["CI_PROJECT_ID"] == env["CI_MERGE_REQUEST_PROJECT_ID"]
    assert "CI_COMMIT_BRANCH" not in env
    assert plan.gitlab_event(head, "push")["CI_COMMIT_BRANCH"] == "topic"
    fork = plan.gitlab_event(head, "fork")
    assert fork["CI_MERGE_REQUEST_IID"] == "1"
    assert fork["CI_PROJECT_ID"] == fork["CI_MERGE_REQUEST_SOURCE_PROJECT_ID"]
    assert fork["CI_PROJECT_ID"] != fork["CI_MERGE_REQUEST_PROJECT_ID"]


@pytest.mark.parametrize("variant", ["kaniko", "buildah"])
def test_fork_rehearsal_refuses_a_gitlab_pipeline_without_a_fork_path(variant):
    two = "linux/amd64,linux/arm64"
    doc = load(ci.ci_template(settings(platforms=two), "gitlab", variant=variant))
    head = rehearse.GitHead("abc", "topic", "")
    with pytest.raises(rehearse.RehearsalError, match="--event fork: this pipeline has no fork"):
        plan.gitlab_jobs(doc, ".gitlab-ci.yml", {}, head, "fork")


def test_gitlab_docker_fork_path_skips_the_logins_and_builds_and_merges_layouts():
    doc = load(ci.ci_template(settings(), "gitlab", login="secrets"))
    for job in ("build", "merge"):
        script = doc[job]["script"]
        assert script[0] == (
            'FORK=; if [ -n "$CI_MERGE_REQUEST_IID" ] && [ "$CI_PROJECT_ID" !='
            ' "$CI_MERGE_REQUEST_PROJECT_ID" ]; then FORK=true; fi'
        )
        logins = [line for line in script if "login" in line]
        assert logins, script
        assert all(line.startswith('[ -n "$FORK" ] || ') for line in logins), logins
    [merge] = [line for line in doc["merge"]["script"] if "multiarch merge" in line]
    first = merge.splitlines()[:2]
    assert first[0] == 'if [ -n "$FORK" ]; then'
    assert first[1].endswith(" --output-dir out/merge --layout --json > merge.json")


def test_rehearse_refuses_an_unknown_event_naming_it(tmp_path):
    path = write(tmp_path, ci.ci_template(settings(), "github"))
    with pytest.raises(rehearse.RehearsalError, match="--event merge: not one of push, "):
        rehearse.rehearse(path, Runner(dry=True), project=tmp_path, event="merge")


def test_rehearse_will_not_wipe_or_copy_into_a_directory_it_does_not_own(tmp_path):
    path = write(tmp_path, ci.ci_template(settings(), "github"))
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "precious").write_text("x")
    with pytest.raises(rehearse.RehearsalError, match="inside the project"):
        rehearse.rehearse(path, Runner(dry=True), project=tmp_path, work_dir=tmp_path / "keep")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-work"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("x")
    with pytest.raises(rehearse.RehearsalError, match="not a rehearsal's: not wiping it"):
        rehearse.rehearse(path, Runner(), project=tmp_path, work_dir=elsewhere)
    assert (elsewhere / "precious").exists()


def _github_merge(**options):
    doc = load(ci.ci_template(settings(), "github", **options))
    job = doc["jobs"]["merge"]
    [merge] = [s for s in job["steps"] if s.get("name") == "merge"]
    return doc, job, merge


def test_github_keyless_sign_lets_only_the_merge_job_request_an_oidc_token():
    doc, job, merge = _github_merge(sign="keyless")
    assert job["permissions"] == {"contents": "read", "packages": "write", "id-token": "write"}
    assert "id-token" not in doc["permissions"], "the build jobs get no OIDC token"
    assert "permissions" not in doc["jobs"]["build"]
    assert merge["run"].startswith("multiarch merge --from ")
    assert " --sign --json > merge.json" in merge["run"]
    assert "--sign-key" not in merge["run"]
    uses = [s.get("uses", "") for s in job["steps"]]
    assert uses.index("sigstore/cosign-installer@v3") < job["steps"].index(merge)


def test_github_key_sign_reads_the_key_and_password_from_secrets():
    _, job, merge = _github_merge(sign="key")
    assert "permissions" not in job
    assert " --sign --sign-key env://COSIGN_KEY " in merge["run"]
    assert merge["env"] == {
        "COSIGN_KEY": "${{ secrets.COSIGN_KEY }}",
        "COSIGN_PASSWORD": "${{ secrets.COSIGN_PASSWORD }}",
    }


def test_github_kms_sign_passes_the_uri_and_no_secret():
    _, job, merge = _github_merge(sign="gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k")
    assert (
        " --sign --sign-key gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k "
        in (merge["run"])
    )
    assert "env" not in merge
    assert "permissions" not in job


def test_no_sign_means_no_cosign_anywhere():
    for provider in ("github", "gitlab"):
        text = ci.ci_template(settings(), provider)
        assert "cosign" not in text
        assert "--sign" not in text
        assert "id-token" not in text
        assert "id_tokens" not in text


@pytest.mark.parametrize("variant", ["docker", "kaniko"])
def test_gitlab_keyless_sign_gives_the_merge_job_a_sigstore_id_token(variant):
    platforms = "linux/amd64,linux/arm64"
    doc = load(
        ci.ci_template(settings(platforms=platforms), "gitlab", variant=variant, sign="keyless")
    )
    merge = doc["merge"]
    assert merge["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
    [line] = [s for s in merge["script"] if "multiarch merge" in s]
    # A merge request's staging tag is not signed; the branch or tag pipeline's index is
    # (and a fork's layout, in the docker variant, is not either).
    signed = [part for part in line.splitlines() if "--sign" in part]
    assert len(signed) == 1, line
    assert signed[0].endswith(" --sign --json > merge.json")
    assert line.splitlines()[line.splitlines().index(signed[0]) - 1] == "else"
    install = merge["script"].index(line) - 1
    assert "cosign" in merge["script"][install], "cosign is installed just before the merge"
    build = doc["build"] if variant == "docker" else doc["build-linux-amd64"]
    assert "id_tokens" not in build


def test_gitlab_key_sign_uses_the_masked_variables():
    doc = load(ci.ci_template(settings(), "gitlab", sign="key"))
    merge = doc["merge"]
    assert "id_tokens" not in merge
    assert any(" --sign --sign-key env://COSIGN_KEY " in line for line in merge["script"])


@pytest.mark.parametrize(
    ("extra", "mode"),
    [
        ({}, "off"),
        ({"sign": True}, "keyless"),
        ({"sign": True, "sign_key": "cosign.key"}, "key"),
        ({"sign": True, "sign_key": "awskms:///alias/app"}, "awskms:///alias/app"),
        ({"sign_key": "cosign.key"}, "off"),
    ],
)
def test_the_sign_option_follows_the_settings_unless_given(extra, mode):
    text = ci.ci_template(settings(**extra), "github")
    expected = {
        "off": "--output-dir out/merge --json",
        "keyless": "--output-dir out/merge --sign --json",
        "key": "--sign --sign-key env://COSIGN_KEY --json",
    }.get(mode, f"--sign --sign-key {mode} --json")
    assert expected in text
    given = ci.ci_template(settings(**extra), "github", sign="off")
    assert "--sign" not in given


def test_an_unknown_sign_mode_is_refused_naming_the_choices():
    with pytest.raises(InvalidValueError, match="unknown sign 'yes' \\(choose off, keyless, key"):
        ci.ci_template(settings(), "github", sign="yes")


def test_dry_rehearsal_of_a_signing_pipeline_uses_this_machines_cosign(tmp_path):
    path = write(tmp_path, ci.ci_template(settings(), "github", sign="key"))
    out = io.StringIO()
    secrets = {"COSIGN_KEY": "key-text-3b9", "COSIGN_PASSWORD": "pw-71c"}
    result = rehearse.rehearse(path, Runner(dry=True, out=out), project=tmp_path, secrets=secrets)
    assert result.ok
    printed = out.getvalue()
    assert "--sign --sign-key env://COSIGN_KEY --json" in printed
    assert "key-text-3b9" not in printed
    assert "pw-71c" not in printed


# --- issue 20: pull requests, cache, concurrency, flags, installs ------------------------


def _steps(doc, job):
    return {s.get("name") or s.get("id") or s.get("uses"): s for s in doc["jobs"][job]["steps"]}


def test_github_runs_on_pull_requests_and_cancels_only_superseded_pull_request_runs():
    doc = load(ci.ci_template(settings(), "github"))
    assert doc["on"]["pull_request"] == {"branches": ["main"]}
    assert doc["on"]["push"] == {"branches": ["main"], "tags": ["*"]}
    assert doc["concurrency"] == {
        "group": "multiarch-${{ github.ref }}",
        "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
    }


def test_github_shards_create_a_docker_container_builder_and_cache_per_platform():
    doc = load(ci.ci_template(settings(), "github"))
    steps = _steps(doc, "build")
    names = list(steps)
    assert (
        steps["GitHub cache service for buildx"]["uses"] == "crazy-max/ghaction-github-runtime@v3"
    )
    builder = steps["builder (docker-container: exports the build cache)"]
    assert builder["run"] == (
        "multiarch builder-create --builder multiarch --driver docker-container --use"
        ' --platforms "$PLATFORM"'
    )
    # QEMU first (the builder checks it can run the platform), the builder before the build.
    assert names.index("QEMU for an emulated platform") < names.index(builder["name"])
    assert names.index(builder["name"]) < names.index("build")
    assert "--cache auto" in steps["build"]["run"]  # gha with the runtime, else registry
    assert 'case "$GITHUB_REF" in refs/tags/*) pull=--pull ;; esac' in steps["build"]["run"]


def test_a_project_cache_setting_is_left_to_the_job_and_none_needs_no_runtime():
    doc = load(ci.ci_template(settings(cache="none"), "github"))
    steps = _steps(doc, "build")
    assert "GitHub cache service for buildx" not in steps
    assert "--cache" not in steps["build"]["run"]


def test_github_fork_pull_requests_build_layouts_without_login_and_never_push():
    doc = load(ci.ci_template(settings(), "github"))
    fork = "github.event.pull_request.head.repo.fork"
    build, merge = _steps(doc, "build"), _steps(doc, "merge")
    assert build["registry login"]["if"] == f"!{fork}"
    assert merge["registry login"]["if"] == f"!{fork}"
    layout = build["build to an OCI layout (fork: no registry credentials)"]
    assert layout["if"] == fork
    assert layout["run"].endswith(' --output-dir "out/$SHARD" --cache auto --layout')
    assert build["build"]["if"] == f"!{fork}"
    merged = merge["merge the layouts (fork: no registry write)"]
    assert merged["if"] == fork
    assert merged["run"].startswith("multiarch merge --from digests/digests-linux-amd64,")
    assert merged["run"].endswith(" --output-dir out/merge --layout --json > merge.json")
    # verify reads the reference merge wrote: oci-layout://out/merge/layout:TAG for a fork
    assert merge["verify"]["run"].startswith('multiarch verify "$(python -c ')


def test_same_repository_pull_requests_merge_to_a_staging_tag_and_promote_nothing():
    doc = load(ci.ci_template(settings(tags="1.2", sign=True), "github"))
    merge = _steps(doc, "merge")
    staging = merge["merge to a staging tag (pull request: nothing is promoted)"]
    assert staging["if"] == (
        "github.event_name == 'pull_request' && !github.event.pull_request.head.repo.fork"
    )
    assert staging["env"] == {"PR": "${{ github.event.pull_request.number }}"}
    assert '--tag "pr-$PR-$GITHUB_SHA" --output-dir out/merge --json' in staging["run"]
    assert "--sign" not in staging["run"]
    assert merge["merge"]["if"] == "github.event_name != 'pull_request'"
    assert merge["sigstore/cosign-installer@v3"]["if"] == "github.event_name != 'pull_request'"


def test_gitlab_runs_merge_request_pipelines_interruptible_builds_and_registry_cache():
    doc = load(ci.ci_template(settings(), "gitlab"))
    assert doc["workflow"]["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
        {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"},
        {"if": "$CI_COMMIT_TAG"},
        {"if": '$CI_COMMIT_BRANCH == "main"'},
        {"if": '$CI_PIPELINE_SOURCE == "web"'},
    ]
    build = doc["build"]
    assert build["interruptible"] is True
    assert "interruptible" not in doc["merge"]  # the job that moves tags always finishes
    assert build["before_script"][-1] == (
        "multiarch builder-create --builder multiarch --driver docker-container --use"
        ' --platforms "$PLATFORM"'
    )
    assert build["script"][-1] == (
        'multiarch build --platforms "$PLATFORM" --output-dir "out/$SHARD" $out'
    )
    assert 'pull=; if [ -n "$CI_COMMIT_TAG" ]; then pull=--pull; fi' in build["script"]
    # A fork's pipeline (it runs in the fork's project) builds a layout: no push, no cache.
    assert build["script"][-2] == (
        'if [ -n "$FORK" ]; then out="--layout --cache none"; else out="--cache registry $pull"; fi'
    )
    [merge] = [line for line in doc["merge"]["script"] if "multiarch merge" in line]
    assert 'if [ -n "$CI_MERGE_REQUEST_IID" ]; then' in merge
    assert '--tag "pr-$CI_MERGE_REQUEST_IID-$CI_COMMIT_SHA"' in merge
    for variant in ("kaniko", "buildah"):
        other = load(ci.ci_template(settings(platforms="linux/amd64,linux/arm64"), "gitlab",
                                    variant=variant))  # fmt: skip
        assert other["build-linux-arm64"]["interruptible"] is True
        assert "workflow" in other


def test_flags_given_to_ci_template_are_written_into_the_jobs_and_the_header():
    s = settings_from(
        {"install": "multiarch-tasks==0.1.0"},
        {"image": "ghcr.io/acme/app", "tags": "1.2", "platforms": "linux/amd64,linux/arm64",
         "file": "build/Dockerfile", "context": "src"},
        pyproject="/nowhere",
    )  # fmt: skip
    text = ci.ci_template(s, "github")
    given = " --image ghcr.io/acme/app --tag 1.2 --platforms linux/amd64,linux/arm64"
    assert f"--variant docker{given} --file build/Dockerfile --context src`" in text
    doc = load(text)
    build, merge = _steps(doc, "build"), _steps(doc, "merge")
    assert (
        "multiarch build --image ghcr.io/acme/app --tag 1.2 --file build/Dockerfile"
        in (build["build"]["run"])
    )
    assert merge["merge"]["run"].startswith(
        "multiarch merge --from digests/digests-linux-amd64,digests/digests-linux-arm64"
        " --image ghcr.io/acme/app --platforms linux/amd64,linux/arm64 --tag 1.2 "
    )
    staging = merge["merge to a staging tag (pull request: nothing is promoted)"]["run"]
    assert "--tag 1.2" not in staging  # a pull request never writes the project's tags
    assert merge["verify"]["run"].endswith(" --platforms linux/amd64,linux/arm64")


@pytest.mark.parametrize(
    ("extra", "options", "message"),
    [
        ({"image": ""}, {}, "ci-template: no image set"),
        ({"image": "127.0.0.1:5000/app"}, {}, "image 127.0.0.1:5000/app: 127.0.0.1:5000 is a"),
        ({"image": "localhost/app"}, {}, "localhost is a loopback registry"),
        ({}, {"registry": "[::1]:5000"}, "registry [::1]:5000: [::1]:5000 is a loopback"),
    ],
)
def test_settings_a_hosted_runner_cannot_use_are_refused_naming_the_setting(
    extra, options, message
):
    s = settings(**extra) if extra.get("image") != "" else settings(image="")
    with pytest.raises(InvalidValueError, match=re.escape(message)):
        ci.ci_template(s, "github", **options)


def test_local_registry_allows_a_loopback_registry_for_runners_on_this_machine():
    text = ci.ci_template(settings(image="127.0.0.1:5000/app"), "github", local_registry=True)
    assert "--password-stdin 127.0.0.1:5000" in text


@pytest.mark.parametrize(
    ("direct_url", "spec"),
    [
        ({"url": "https://github.com/acme/multiarch-tasks.git",
          "vcs_info": {"vcs": "git", "commit_id": "0123abc", "requested_revision": "main"}},
         "multiarch-tasks @ git+https://github.com/acme/multiarch-tasks.git@0123abc"),
        ({"url": "https://github.com/acme/mono.git", "subdirectory": "tools/m",
          "vcs_info": {"vcs": "git", "commit_id": "0123abc"}},
         "multiarch-tasks @ git+https://github.com/acme/mono.git@0123abc#subdirectory=tools/m"),
        ({"url": "https://files.example/multiarch_tasks-0.1.0-py3-none-any.whl",
          "archive_info": {"hashes": {"sha256": "ab12"}}},
         ("multiarch-tasks @ https://files.example/multiarch_tasks-0.1.0-py3-none-any.whl"
         "#sha256=ab12")),
    ],
)  # fmt: skip
def test_the_install_line_is_the_pinned_url_the_package_was_installed_from(direct_url, spec):
    assert shards.spec_from_direct_url(direct_url) == spec


@pytest.mark.parametrize(
    ("direct_url", "message"),
    [
        ({"url": "file:///src/multiarch-tasks", "dir_info": {"editable": True}},
         "multiarch-tasks is an editable install here (file:///src/multiarch-tasks)"),
        ({"url": "file:///src/multiarch-tasks", "dir_info": {}}, "is a local path here"),
        ({"url": "file:///tmp/m.whl", "archive_info": {}}, "is a local path here"),
    ],
)  # fmt: skip
def test_a_local_or_editable_install_is_refused_naming_the_install_setting(direct_url, message):
    with pytest.raises(InvalidValueError, match=re.escape(message)) as err:
        shards.spec_from_direct_url(direct_url)
    assert "set install to the pip requirement" in str(err.value)


def test_the_install_setting_gives_the_line():
    line = "multiarch-tasks @ git+https://example.com/m.git@0123abc"
    doc = load(ci.ci_template(settings(install=line), "github"))
    assert _steps(doc, "build")["install"]["run"] == f"pip install '{line}'"


@pytest.mark.parametrize(
    ("files", "cache"),
    [
        ([], None),
        (["pyproject.toml", "requirements.txt"], "pyproject.toml"),
        (["requirements.txt", "requirements-dev.txt"], "requirements-dev.txt\nrequirements.txt"),
    ],
)
def test_setup_python_caches_pip_only_when_the_files_it_keys_on_exist(tmp_path, files, cache):
    for name in files:
        (tmp_path / name).write_text("")
    doc = load(ci.ci_template(settings(), "github", project=str(tmp_path)))
    python = next(s for s in doc["jobs"]["build"]["steps"] if "setup-python" in s.get("uses", ""))
    assert python["with"].get("cache-dependency-path") == cache
    assert ("cache" in python["with"]) is bool(cache)


@pytest.mark.parametrize("variant", ["kaniko", "buildah"])
def test_gitlab_merge_downloads_cosign_pinned_by_its_digest(variant):
    config = settings(platforms="linux/amd64,linux/arm64")
    doc = load(ci.ci_template(config, "gitlab", variant=variant, sign="keyless"))
    [line] = [s for s in doc["merge"]["script"] if "cosign-linux-amd64" in s]
    assert f"/download/{shards.COSIGN_VERSION}/cosign-linux-amd64" in line
    assert line.count(shards.COSIGN_SHA256) == 2  # compared, and named when it differs


def test_cosign_download_line_installs_matching_bytes_and_refuses_others(tmp_path):
    """The script line itself, run by a shell against a local HTTP server."""
    import hashlib  # noqa: PLC0415
    import http.server  # noqa: PLC0415
    import threading  # noqa: PLC0415

    served = tmp_path / "www"
    served.mkdir()
    (served / "cosign").write_bytes(b"#!/bin/sh\necho cosign v2\n")
    good = hashlib.sha256((served / "cosign").read_bytes()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/cosign"
    try:
        dest = tmp_path / "bin-cosign"
        bad = subprocess.run(["sh", "-c", gitlab.cosign_download(url, "0" * 64, str(dest))],
                             capture_output=True, text=True, check=False)  # fmt: skip
        assert bad.returncode == 1
        assert bad.stderr.strip() == f"cosign download: sha256 {good}, expected {'0' * 64}"
        assert not dest.exists()
        ok = subprocess.run(["sh", "-c", gitlab.cosign_download(url, good, str(dest))],
                            capture_output=True, text=True, check=False)  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        assert subprocess.run([str(dest)], capture_output=True, text=True,
                              check=True).stdout == "cosign v2\n"  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("variant", "cached"),
    [
        ("kaniko", "--cache=true --cache-repo ghcr.io/acme/app/buildcache"),
        ("buildah", ("--layers --cache-from ghcr.io/acme/app/buildcache"
                     " --cache-to ghcr.io/acme/app/buildcache")),
    ],
)  # fmt: skip
def test_kaniko_and_buildah_jobs_keep_a_layer_cache_in_the_registry_unless_cache_is_none(
    variant, cached
):
    two = "linux/amd64,linux/arm64"
    for config in (settings(platforms=two), settings(platforms=two, cache="registry")):
        doc = load(ci.ci_template(config, "gitlab", variant=variant))
        script = " ".join(doc["build-linux-arm64"]["script"])
        assert cached in script, script
    doc = load(ci.ci_template(settings(platforms=two, cache="none"), "gitlab", variant=variant))
    script = " ".join(doc["build-linux-arm64"]["script"])
    assert "buildcache" not in script
    assert "--layers" not in script
    with pytest.raises(InvalidValueError, match=rf"^ci-template: {variant} .* 'gha' is buildx's"):
        ci.ci_template(settings(platforms=two, cache="gha"), "gitlab", variant=variant)


def test_github_trigger_of_the_generated_workflow_follows_its_on_filters():
    from multiarch_tasks.ci.rehearse.triggers import github_skips  # noqa: PLC0415

    doc = load(ci.ci_template(settings(), "github"))
    assert github_skips(doc, "push", "main", "") == ""
    assert github_skips(doc, "push", "", "v1.2.3") == ""  # tags: '*'
    assert github_skips(doc, "push", "topic", "") == "a push to topic: on.push.branches is main"
    assert github_skips(doc, "pull_request", "topic", "") == ""
    assert github_skips(doc, "fork", "topic", "") == ""
    # Filters as GitHub reads them: ** crosses /, a later ! excludes, -ignore lists.
    on = {"push": {"branches": ["release/**", "!release/old*"], "tags-ignore": ["nightly"]}}
    assert github_skips({"on": on}, "push", "release/1/x", "") == ""
    assert github_skips({"on": on}, "push", "release/old-1", "")
    assert github_skips({"on": on}, "push", "", "v1") == ""  # tags-ignore lets v1 through
    assert github_skips({"on": on}, "push", "", "nightly") == (
        "a push of tag nightly: on.push.tags-ignore is nightly"
    )
    assert github_skips({"on": {"push": {"branches": ["main"]}}}, "push", "", "v1") == (
        "a push of tag v1: on.push filters branches only"
    )
    assert github_skips({"on": {"push": {"tags": ["v*"]}}}, "push", "main", "") == (
        "a push to main: on.push filters tags only"
    )
    assert github_skips({True: ["push"]}, "pull_request", "x", "") == "on: has no pull_request"


def test_gitlab_trigger_of_the_generated_pipeline_follows_its_workflow_rules():
    from multiarch_tasks.ci.rehearse.triggers import gitlab_skips  # noqa: PLC0415

    doc = load(ci.ci_template(settings(), "gitlab"))
    head = rehearse.GitHead("abc", "main", "")
    assert gitlab_skips(doc, plan.gitlab_event(head, "push")) == ""
    assert gitlab_skips(doc, plan.gitlab_event(head, "pull_request")) == ""
    assert gitlab_skips(doc, plan.gitlab_event(rehearse.GitHead("a", "", "v1"), "push")) == ""
    topic = plan.gitlab_event(rehearse.GitHead("abc", "topic", ""), "push")
    assert gitlab_skips(doc, topic) == "workflow: rules: none of them matches"
    # A push to a branch with a merge request open: the merge request's pipeline runs.
    opened = {**topic, "CI_OPEN_MERGE_REQUESTS": "!1"}
    assert gitlab_skips(doc, opened) == (
        "workflow: rules: `if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS` says when: never"
    )
    # Regexes, parentheses, null; what is not parsed decides nothing.
    rules = {"workflow": {"rules": [{"if": '($X =~ /^rel-\\d+$/i || $Y == null) && $Z != "a"'}]}}
    assert gitlab_skips(rules, {"X": "REL-2", "Z": "b"}) == ""
    assert gitlab_skips(rules, {"X": "dev", "Y": "set", "Z": "b"}) == (
        "workflow: rules: none of them matches"
    )
    assert gitlab_skips({"workflow": {"rules": [{"if": "$X <> 1"}]}}, {}) == ""
    assert gitlab_skips({"workflow": {"rules": [{"changes": ["a"]}]}}, {}) == ""
