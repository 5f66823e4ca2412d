"""Tasks through invoke's own parser: config from every layer arrives (STYLE habit 5).

``ci-template`` renders the resolved image/tag/platforms and needs no engine, so it shows
which layer won; those cases run a real ``python -m invoke`` (or the ``multiarch`` script)
in a project directory, as a user would. Flags of build and publish are checked in-process
through the ``multiarch`` Program (invoke's parser and config loading) with the api step
replaced by one that records the settings it got: no engine, and every key visible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from invoke import Config, Context

from multiarch_tasks import api, tasks
from multiarch_tasks.cli import program
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.model.platforms import Platform

BIN = Path(sys.executable).parent


# The test venv holds an editable install, which ci-template refuses without this setting.
INSTALL = {"INVOKE_MULTIARCH_INSTALL": "multiarch-tasks==0.1.0"}


def _inv(project: Path, *args: str, env: dict[str, str] | None = None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    clean |= INSTALL
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=project,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _project(
    tmp_path: Path, tasks_py: str, invoke_yaml: dict | None = None, pyproject: str = ""
) -> Path:
    (tmp_path / "tasks.py").write_text(textwrap.dedent(tasks_py))
    if invoke_yaml is not None:
        (tmp_path / "invoke.yaml").write_text(json.dumps(invoke_yaml))
    if pyproject:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    return tmp_path


class _Done:
    ok = True

    def render(self) -> str:
        return ""

    def to_json(self) -> dict[str, bool]:
        return {"ok": True}


@pytest.fixture
def recorded(tmp_path, monkeypatch) -> list[Settings]:
    """The settings each ``build``/``publish`` call resolved; the api steps do nothing else.

    The tasks run in-process through the ``multiarch`` Program (invoke's own parser and
    config loading) in ``tmp_path``, with no ``INVOKE_*`` variable of the caller.
    """
    seen: list[Settings] = []

    def step(settings: Settings, _runner: object) -> _Done:
        seen.append(settings)
        return _Done()

    monkeypatch.setattr(api, "build", step)
    monkeypatch.setattr(api, "publish", step)
    for name in [k for k in os.environ if k.startswith("INVOKE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return seen


def _call(recorded: list[Settings], task: str, *args: str) -> Settings:
    before = len(recorded)
    program().run(["multiarch", task, *args], exit=False)
    assert len(recorded) == before + 1, "the task did not reach its step"
    return recorded[-1]


def _build(recorded: list[Settings], *args: str) -> Settings:
    return _call(recorded, "build", *args)


def _publish(recorded: list[Settings], *args: str) -> Settings:
    return _call(recorded, "publish", *args)


PLAIN = """
    from invoke import Collection
    from multiarch_tasks import multiarch
    ns = Collection(multiarch)
"""


def test_invoke_yaml_reaches_the_task(tmp_path):
    project = _project(
        tmp_path,
        PLAIN,
        {
            "multiarch": {
                "image": "r.example/team/app",
                "tags": ["7"],
                "platforms": ["linux/s390x", "arm64"],
            }
        },
    )
    done = _inv(project, "multiarch.ci-template")
    assert done.returncode == 0, done.stderr
    assert "image=r.example/team/app tags=7 platforms=linux/s390x,linux/arm64" in done.stdout


def test_layers_pyproject_then_yaml_then_env_then_flags(tmp_path, recorded, monkeypatch):
    """Each layer is added in turn over the ones below and must win for ``tags``."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.multiarch-tasks]\nimage = "r.example/py/app"\ntags = ["from-py"]\n'
        'platforms = "linux/ppc64le"\n'
    )
    assert _build(recorded).tags == ("from-py",)
    # A comma string, not a YAML list: invoke cannot cast an env string over a list
    # (UncastableEnvVar), which the env step below would hit.
    (tmp_path / "invoke.yaml").write_text(json.dumps({"multiarch": {"tags": "from-yaml"}}))
    assert _build(recorded).tags == ("from-yaml",)  # yaml beats pyproject
    monkeypatch.setenv("INVOKE_MULTIARCH_TAGS", "from-env")
    assert _build(recorded).tags == ("from-env",)  # env beats yaml
    settings = _build(recorded, "--tag", "from-flag")
    assert settings.tags == ("from-flag",)  # the flag beats env
    assert settings.image == "r.example/py/app"  # lower layers still fill the rest
    assert settings.platforms == (Platform("linux", "ppc64le"),)


def test_from_module_config_deep_merges(tmp_path):
    project = _project(
        tmp_path,
        """
        from invoke import Collection
        import multiarch_tasks.tasks
        ns = Collection()
        ns.add_collection(Collection.from_module(
            multiarch_tasks.tasks, config={"multiarch": {"image": "r.example/mod/app"}}))
    """,
    )
    done = _inv(project, "multiarch.ci-template", env={"INVOKE_MULTIARCH_TAGS": "from-env"})
    assert done.returncode == 0, done.stderr
    assert "image=r.example/mod/app tags=from-env" in done.stdout


def test_shallow_root_configure_still_honours_env(tmp_path):
    """``ns.configure({"multiarch": ...})`` on the root drops our declared keys; env must
    still arrive (invoke alone would ignore INVOKE_MULTIARCH_TAGS silently here)."""
    project = _project(
        tmp_path,
        """
        from invoke import Collection
        from multiarch_tasks import multiarch
        ns = Collection()
        ns.add_collection(multiarch)
        ns.configure({"multiarch": {"image": "r.example/root/app"}})
    """,
    )
    done = _inv(project, "multiarch.ci-template", env={"INVOKE_MULTIARCH_TAGS": "env-tag"})
    assert done.returncode == 0, done.stderr
    assert "image=r.example/root/app tags=env-tag" in done.stdout


def test_unknown_key_in_invoke_yaml_is_one_line_error_naming_file_and_line(tmp_path):
    project = _project(tmp_path, PLAIN, {"multiarch": {"platfroms": "linux/amd64"}})
    done = _inv(project, "multiarch.ci-template")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        ("multiarch: error: platfroms (from invoke.yaml:1): unknown key; did you mean 'platforms'?")
    ]


def test_flags_beat_config_and_comma_tags(tmp_path, recorded):
    (tmp_path / "invoke.yaml").write_text(
        json.dumps(
            {
                "multiarch": {
                    "image": "r.example/yaml/app",
                    "tags": ["from-yaml"],
                    "cache": "inline",
                    "platforms": "linux/s390x",
                }
            }
        )
    )
    from_config = _build(recorded)  # the config is really read: it is what the flags beat
    assert (from_config.image, from_config.tags, from_config.cache) == (
        "r.example/yaml/app",
        ("from-yaml",),
        "inline",
    )
    flagged = _build(
        recorded, "--image", "r.example/flag/app", "--tag", "v1,v2", "-t", "v3", "--cache",
        "registry",
    )  # fmt: skip
    assert flagged.image == "r.example/flag/app"
    assert flagged.tags == ("v1", "v2", "v3")  # a comma list splits; repeats add up
    assert flagged.cache == "registry"
    assert flagged.platforms == (Platform("linux", "s390x"),)  # no flag: config stays


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (["--secret", "id=npm,env=NPM_TOKEN", "--secret", "id=key,src=k.pem"], "secrets",
         ("id=npm,env=NPM_TOKEN", "id=key,src=k.pem")),
        (["--per-arch-tags", "always"], "per_arch_tags", "always"),
        (["--cache", "registry"], "cache", "registry"),
        (["--strategy", "multi-platform"], "strategy", "multi-platform"),
        (["--manifest-tool", "native"], "manifest_tool", "native"),
        (["--deep"], "verify_deep", "all"),
        (["--no-deep"], "verify_deep", "off"),
        (["--no-verify"], "verify", False),
        (["--no-preflight"], "preflight", False),
        (["--build-arg", "A=1,2", "-b", "B=3"], "build_args", {"A": "1,2", "B": "3"}),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)  # fmt: skip
def test_publish_flag_sets_its_settings_key(recorded, args, field, value):
    """Each flag reaches its key through invoke's parser (a spec keeps its commas)."""
    default = getattr(_publish(recorded), field)
    assert default != value  # so the flag is what changed it
    assert getattr(_publish(recorded, *args), field) == value


def test_build_no_longer_takes_manifest_tool(recorded, capsys):
    program().run(["multiarch", "build", "--manifest-tool", "native"], exit=False)
    assert "No idea what '--manifest-tool' is" in capsys.readouterr().err
    assert recorded == []


def test_task_called_from_python_takes_keywords(recorded):
    """The generated signature is real: keywords bind, an unknown one is refused."""
    c = Context(Config(overrides={"run": {"dry": False}}))
    tasks.build(c, image="r.example/py/call", tag=["a,b"])
    assert (recorded[-1].image, recorded[-1].tags) == ("r.example/py/call", ("a", "b"))
    with pytest.raises(TypeError, match="manifest_tool"):
        tasks.build(c, manifest_tool="native")


@pytest.mark.parametrize("args", [["--list"], ["--help", "publish"], ["--version"]])
def test_console_script_speaks_invoke(args):
    done = subprocess.run(
        [str(BIN / "multiarch"), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_debug_shows_traceback(tmp_path):
    done = subprocess.run(
        [str(BIN / "multiarch"), "--debug", "build", "--platforms", "x/y/z/w"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    plain = subprocess.run(
        [str(BIN / "multiarch"), "build", "--platforms", "x/y/z/w"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in plain.stderr


def test_env_sets_mapping_keys(tmp_path):
    """invoke's env loader skips mapping keys; build_args etc. still come from env."""
    project = _project(tmp_path, PLAIN, {"multiarch": {"build_args": {"A": "yaml"}}})
    code = (
        "from invoke import Config, Context;"
        "from multiarch_tasks.tasks import settings_for;"
        "c = Context(Config(overrides={'multiarch': {'build_args': {'A': 'yaml'}}}));"
        "print(dict(settings_for(c).build_args))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env={**os.environ, "INVOKE_MULTIARCH_BUILD_ARGS": "A=env,B=2"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'A': 'env', 'B': '2'}"


def test_unquoted_numeric_tag_in_invoke_yaml_is_refused(tmp_path):
    """YAML turns `1.10` into 1.1; the tag must not change silently."""
    (tmp_path / "tasks.py").write_text(textwrap.dedent(PLAIN))
    (tmp_path / "invoke.yaml").write_text("multiarch:\n  image: r.example/a/b\n  tags: [1.10]\n")
    done = _inv(tmp_path, "multiarch.ci-template")
    assert done.returncode == 1
    assert "tag 1.1 is a number in the config file; quote it" in done.stderr


def test_unquoted_numeric_build_arg_in_invoke_yaml_is_refused(tmp_path):
    (tmp_path / "tasks.py").write_text(textwrap.dedent(PLAIN))
    (tmp_path / "invoke.yaml").write_text(
        "multiarch:\n  image: r.example/a/b\n  build_args: {GO_VERSION: 1.20}\n"
    )
    done = _inv(tmp_path, "multiarch.ci-template")
    assert done.returncode == 1
    assert "GO_VERSION: 1.2 is a number in the config file; quote it" in done.stderr


def test_tag_rules_give_the_tags_from_git_unless_a_tag_flag_is_given(
    tmp_path, recorded, monkeypatch
):
    for key in ("GITHUB_ACTIONS", "GITHUB_REF", "GITLAB_CI", "CI_COMMIT_TAG"):
        monkeypatch.delenv(key, raising=False)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x")
    git("tag", "v1.2.3")
    rules = [{"type": "semver", "pattern": "{{major}}.{{minor}}"}, "type=sha"]
    (tmp_path / "invoke.yaml").write_text(
        json.dumps({"multiarch": {"image": "r.example/git/app", "tag_rules": rules}})
    )
    short = git("rev-parse", "--short=7", "HEAD")
    tags = _build(recorded).tags
    assert "1.2" in tags
    assert any(t.startswith("sha-") and short in t for t in tags)
    assert _build(recorded, "--tag", "manual").tags == ("manual",)


def test_deep_and_no_deep_together_are_a_one_line_error(recorded, capsys):
    program().run(["multiarch", "publish", "--deep", "--no-deep"], exit=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["multiarch: error: --deep and --no-deep contradict each other: give one"]
    assert recorded == []


@pytest.mark.parametrize(
    ("args", "deep"),
    [
        (["verify", "r.example/app:1"], False),  # auto: verify REF knows no base image
        (["verify", "--deep", "r.example/app:1"], True),  # a switch: REF stays positional
        (["verify", "-d", "r.example/app:1"], True),
        (["verify", "r.example/app:1", "--no-deep"], False),
    ],
)
def test_verify_reads_layers_only_with_deep(monkeypatch, tmp_path, args, deep):
    seen: list[bool] = []

    def step(_settings: Settings, _ref: object, _runner: object, **kw: object) -> _Done:
        seen.append(bool(kw["deep"]))
        return _Done()

    monkeypatch.setattr(api, "verify", step)
    monkeypatch.chdir(tmp_path)
    program().run(["multiarch", *args], exit=False)
    assert seen == [deep]
