"""Tags from git and CI variables: a table of real git repositories and CI environments.

Each case makes a real repository (``git init``, commits, tags, a branch or a detached
HEAD), reads it through the runner as the library does, and compares the tag list.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from multiarch_tasks.config import tagrules
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.planning import gittags

SEMVER = [
    "type=semver,pattern={{version}}",
    "type=semver,pattern={{major}}.{{minor}}",
    "type=semver,pattern={{major}}",
    "type=ref,event=branch",
    "type=ref,event=pr",
    "type=sha",
]
PEP440 = [
    {"type": "pep440", "pattern": "{{version}}"},
    {"type": "pep440", "pattern": "{{major}}.{{minor}}"},
    {"type": "ref", "event": "branch"},
    {"type": "ref", "event": "pr"},
    {"type": "sha"},
]
CI_SHA = "0123456789abcdef0123456789abcdef01234567"
GH = {"GITHUB_ACTIONS": "true", "GITHUB_SHA": CI_SHA}
GL = {"GITLAB_CI": "true", "CI_COMMIT_SHA": CI_SHA, "CI_DEFAULT_BRANCH": "main"}
S = "{sha}"  # the repository's short HEAD commit, filled in by the test

# (id, rules, repo: (tags on HEAD, tags on the first commit, branch or None = detached),
#  env, expected)
CASES = [
    ("tag-v1.2.3", SEMVER, (["v1.2.3"], [], "main"), {},
     ["1.2.3", "1.2", "1", f"sha-{S}", "latest"]),
    ("tag-1.2.3rc1-pep440", PEP440, (["1.2.3rc1"], ["1.2.2"], "main"), {},
     ["1.2.3rc1", f"sha-{S}"]),
    ("tag-2.0.0.post1-pep440", PEP440, (["2.0.0.post1"], ["2.0.0"], "main"), {},
     ["2.0.0.post1", "2.0", f"sha-{S}", "latest"]),
    ("tag-v1.2.3-RC1-pep440-normalised", PEP440, (["v1.2.3-RC1"], [], "main"), {},
     ["1.2.3rc1", f"sha-{S}"]),
    ("tag-v1.2.3-rc.1-semver-prerelease", SEMVER, (["v1.2.3-rc.1"], ["v1.2.2"], "main"), {},
     ["1.2.3-rc.1", f"sha-{S}"]),
    ("tag-v1.2.3-below-v1.3.0-no-latest", SEMVER, (["v1.2.3"], ["v1.3.0"], "main"), {},
     ["1.2.3", "1.2", "1", f"sha-{S}"]),
    ("tag-v0.3.1-no-major", SEMVER, (["v0.3.1"], [], "main"), {},
     ["0.3.1", "0.3", f"sha-{S}", "latest"]),
    ("tag-not-a-version", SEMVER, (["release-candidate"], [], "main"), {}, [f"sha-{S}"]),
    ("no-tag-main", SEMVER, ([], ["v1.0.0"], "main"), {}, ["main", f"sha-{S}"]),
    ("feature-branch", SEMVER, ([], [], "feature/login-form"), {},
     ["feature-login-form", f"sha-{S}"]),
    ("detached-head", SEMVER, ([], ["v1.0.0"], None), {}, [f"sha-{S}"]),
    ("detached-head-at-tag", SEMVER, (["v1.4.0"], ["v1.0.0"], None), {},
     ["1.4.0", "1.4", "1", f"sha-{S}", "latest"]),
    ("github-tag", SEMVER, ([], [], "main"), {**GH, "GITHUB_REF": "refs/tags/v2.1.0"},
     ["2.1.0", "2.1", "2", "sha-0123456", "latest"]),
    ("github-branch", SEMVER, ([], [], "main"), {**GH, "GITHUB_REF": "refs/heads/release/2.x"},
     ["release-2.x", "sha-0123456"]),
    ("github-pull-request", SEMVER, ([], [], "main"),
     {**GH, "GITHUB_REF": "refs/pull/42/merge", "GITHUB_HEAD_REF": "feature/x"},
     ["pr-42", "sha-0123456"]),
    ("gitlab-tag", SEMVER, ([], ["v0.9.0"], "main"),
     {**GL, "CI_COMMIT_TAG": "v1.2.3", "CI_COMMIT_REF_NAME": "v1.2.3"},
     ["1.2.3", "1.2", "1", "sha-0123456", "latest"]),
    ("gitlab-tag-pep440-rc", PEP440, ([], [], "main"),
     {**GL, "CI_COMMIT_TAG": "1.2.3rc1", "CI_COMMIT_REF_NAME": "1.2.3rc1"},
     ["1.2.3rc1", "sha-0123456"]),
    ("gitlab-branch", SEMVER, ([], [], "main"),
     {**GL, "CI_COMMIT_BRANCH": "develop", "CI_COMMIT_REF_NAME": "develop"},
     ["develop", "sha-0123456"]),
    ("gitlab-merge-request", SEMVER, ([], [], "main"),
     {**GL, "CI_MERGE_REQUEST_IID": "7", "CI_COMMIT_REF_NAME": "feature/y"},
     ["pr-7", "sha-0123456"]),
    ("raw-and-edge-on-default-branch",
     ["type=edge", "type=raw,value=nightly,enable={{is_default_branch}}",
      "type=raw,value=build-{{sha}}", "type=sha,format=long,prefix="],
     ([], [], "main"), {}, ["edge", "nightly", f"build-{S}", "{long}"]),
    ("raw-disabled-off-default-branch",
     ["type=raw,value=nightly,enable={{is_default_branch}}", "type=ref,event=branch"],
     ([], [], "topic"), {}, ["topic"]),
]  # fmt: skip


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def make_repo(tmp: Path, head_tags: list[str], old_tags: list[str], branch: str | None) -> Path:
    repo = tmp / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "a").write_text("1")
    git(repo, "add", "a")
    git(repo, "commit", "-q", "-m", "one")
    for tag in old_tags:
        git(repo, "tag", tag)
    (repo / "a").write_text("2")
    git(repo, "commit", "-q", "-am", "two")
    for tag in head_tags:
        git(repo, "tag", tag)
    if branch is None:
        git(repo, "checkout", "-q", "--detach")
    elif branch != "main":
        git(repo, "checkout", "-q", "-b", branch)
    return repo


@pytest.mark.parametrize(
    ("rules", "repo_state", "env", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_tag_list_for_git_and_ci_state(tmp_path, rules, repo_state, env, expected):
    repo = make_repo(tmp_path, *repo_state)
    head = git(repo, "rev-parse", "HEAD")
    want = [t.replace("{sha}", head[:7]).replace("{long}", head) for t in expected]
    assert gittags.tags_from_git(rules, Runner(), cwd=str(repo), env=env) == want


def test_at_least_15_states_in_the_table():
    assert len(CASES) >= 15


def test_git_is_read_through_the_runner_as_probes_even_when_dry(tmp_path):
    repo = make_repo(tmp_path, ["v3.0.0"], [], "main")
    runner = Runner(dry=True)
    assert gittags.tags_from_git(SEMVER[:1], runner, cwd=str(repo), env={}) == ["3.0.0", "latest"]
    assert any(argv[:3] == ("git", "-C", str(repo)) for argv in runner._facts)


def test_github_default_branch_comes_from_the_event_file(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "trunk"}}))
    state = gittags.state_from_ci(
        {**GH, "GITHUB_REF": "refs/heads/trunk", "GITHUB_EVENT_PATH": str(event)}
    )
    assert state is not None
    assert state.is_default_branch
    assert gittags.compute_tags(tagrules.parse_rules(["type=edge"]), state) == ["edge"]


def test_no_tag_from_the_rules_is_an_error_naming_the_state(tmp_path):
    repo = make_repo(tmp_path, [], [], None)
    with pytest.raises(InvalidValueError, match=r"no tag from the rules type=ref.* detached"):
        gittags.tags_from_git(None, Runner(), cwd=str(repo), env={})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("type=semvr", "rule type 'semvr'"),
        ("type=ref", "needs event=branch, tag or pr"),
        ("type=raw", "needs a value"),
        ("type=sha,colour=blue", "unknown rule key"),
        ("semver", "is not key=value"),
    ],
)
def test_bad_rules_are_refused_with_the_reason(spec, message):
    with pytest.raises(InvalidValueError, match=message):
        tagrules.parse_rules([spec])


def test_pattern_with_an_unknown_placeholder_is_refused():
    state = gittags.GitState(sha=CI_SHA, tag="v1.0.0")
    with pytest.raises(InvalidValueError, match="unknown placeholder"):
        gittags.compute_tags(tagrules.parse_rules(["type=semver,pattern={{mayor}}"]), state)


def test_single_brace_placeholders_work_like_double():
    state = gittags.GitState(sha=CI_SHA, tag="v1.2.3")
    rules = tagrules.parse_rules(["type=semver,pattern={major}.{minor}"])
    assert gittags.compute_tags(rules, state, latest="false") == ["1.2"]


def test_settings_get_the_tags_of_their_context_checkout(tmp_path):
    repo = make_repo(tmp_path, ["v1.4.2"], [], "main")
    settings = Settings(image="r.example/app", context=str(repo))
    resolved = gittags.with_git_tags(settings, SEMVER[:2], Runner(), env={})
    assert resolved.tags == ("1.4.2", "1.4", "latest")
    assert resolved.image == settings.image
