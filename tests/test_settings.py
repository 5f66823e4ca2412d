"""Settings layering and coercion: pyproject < invoke config < flags, as tables."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from multiarch_tasks.config.settings import (
    CHOICES,
    DEFAULT_BINFMT_IMAGE,
    KEYS,
    MAPPING_KEYS,
    Node,
    Settings,
    check_env_names,
    check_invoke_files,
    check_output_dir,
    env_overrides,
    load_pyproject,
    may_hold_our_table,
    resolve,
    settings_from,
    settings_from_invoke,
)
from multiarch_tasks.model.errors import ConfigError, InvalidValueError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
ARMV7 = Platform("linux", "arm", "v7")


def test_defaults() -> None:
    settings = resolve()
    assert settings == Settings()
    assert settings.tags == ("latest",)
    assert settings.platforms == (AMD64, ARM64)
    assert settings.strategy == "auto"
    assert settings.binfmt_image == DEFAULT_BINFMT_IMAGE
    assert settings.push is True
    assert dict(settings.build_args) == {}


def test_layers_later_wins() -> None:
    settings = resolve(
        (
            "pyproject",
            {
                "image": "ghcr.io/o/a",
                "platforms": "linux/amd64",
                "jobs": 1,
                "builder": "from-pyproject",
            },
        ),
        ("invoke", {"platforms": "linux/arm64", "jobs": 2}),
        ("flags", {"jobs": 3}),
    )
    assert settings.image == "ghcr.io/o/a"  # only pyproject set it
    assert settings.platforms == (ARM64,)  # invoke over pyproject
    assert settings.jobs == 3  # flags over both
    assert settings.builder == "from-pyproject"


def test_layers_replace_lists_and_mappings_wholesale() -> None:
    settings = resolve(
        ("pyproject", {"tags": ["a", "b"], "build_args": {"A": "1", "B": "2"}}),
        ("flags", {"tags": ["c"], "build_args": {"C": "3"}}),
    )
    assert settings.tags == ("c",)
    assert dict(settings.build_args) == {"C": "3"}


@pytest.mark.parametrize(
    "not_given",
    [None, [], (), {}],
    ids=["None", "empty-list", "empty-tuple", "empty-mapping"],
)
def test_none_and_empty_values_do_not_override(not_given: Any) -> None:
    settings = resolve(
        (
            "pyproject",
            {
                "tags": "v1",
                "platforms": "linux/s390x",
                "build_args": "A=1",
                "builder": "b1",
                "image": "ghcr.io/o/a",
            },
        ),
        (
            "flags",
            {
                "tags": not_given,
                "platforms": not_given,
                "build_args": not_given,
                "builder": None,
                "image": None,
            },
        ),
    )
    assert settings.tags == ("v1",)
    assert settings.platforms == (Platform("linux", "s390x"),)
    assert dict(settings.build_args) == {"A": "1"}
    assert settings.builder == "b1"
    assert settings.image == "ghcr.io/o/a"


def test_none_layer_mapping_is_skipped() -> None:
    assert resolve(("invoke", None), ("flags", {"jobs": 4})).jobs == 4


def test_empty_verify_run_list_is_given() -> None:
    settings = resolve(
        ("pyproject", {"verify_run": ["uname", "-m"]}), ("flags", {"verify_run": []})
    )
    assert settings.verify_run == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("linux/amd64,linux/arm64", (AMD64, ARM64)),
        ("linux/arm/v7", (ARMV7,)),
        (" aarch64 , armhf ", (ARM64, ARMV7)),
        (["linux/amd64", "linux/arm/v7"], (AMD64, ARMV7)),
        (("arm64", "linux/arm64/v8"), (ARM64,)),
        (["linux/amd64,linux/arm64", "armhf"], (AMD64, ARM64, ARMV7)),
    ],
)
def test_platforms_comma_strings_and_lists(value: Any, expected: tuple[Platform, ...]) -> None:
    assert resolve(("flags", {"platforms": value})).platforms == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("v1", ("v1",)),
        ("v1,latest", ("v1", "latest")),
        (" v1 , v2 ,", ("v1", "v2")),
        (["v1", "v2"], ("v1", "v2")),
        (["v1,v2", "v3"], ("v1", "v2", "v3")),
    ],
)
def test_tags_comma_strings_and_lists(value: Any, expected: tuple[str, ...]) -> None:
    assert resolve(("flags", {"tags": value})).tags == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A=1", {"A": "1"}),
        ("A=1,B=2", {"A": "1", "B": "2"}),
        (["A=1", "B=x=y"], {"A": "1", "B": "x=y"}),
        (["EMPTY="], {"EMPTY": ""}),
        ({"A": "1", "N": 2}, {"A": "1", "N": "2"}),
        ({"NONE": None}, {"NONE": ""}),
        (["A=1", "A=2"], {"A": "2"}),
        # a list item is one pair, as with docker's `--build-arg LIST=a,b`
        (["LIST=a,b", "B=2"], {"LIST": "a,b", "B": "2"}),
        (["A=1,B=2"], {"A": "1,B=2"}),
    ],
)
def test_build_args_lists_and_mappings(value: Any, expected: dict[str, str]) -> None:
    assert dict(resolve(("flags", {"build_args": value})).build_args) == expected


@pytest.mark.parametrize("value", ["A", ["A=1", "B"], "=1"])
def test_build_args_need_key_equals_value(value: Any) -> None:
    with pytest.raises(ConfigError, match="expected KEY=VALUE") as info:
        resolve(("flags", {"build_args": value}))
    assert info.value.key == "build_args"
    assert info.value.source == "flags"


@pytest.mark.parametrize(
    ("raw_key", "value", "attr", "expected"),
    [
        ("build-args", "A=1", "build_args", {"A": "1"}),
        ("build_args", "A=1", "build_args", {"A": "1"}),
        ("build-arg", ["A=1"], "build_args", {"A": "1"}),
        ("build_arg", ["A=1"], "build_args", {"A": "1"}),
        ("tag", ["v1"], "tags", ("v1",)),
        ("tags", "v1", "tags", ("v1",)),
        ("platform", "arm64", "platforms", (ARM64,)),
        ("label", ["a=b"], "labels", {"a": "b"}),
        ("annotation", ["a=b"], "annotations", {"a": "b"}),
        ("secret", ["id=npm,src=f"], "secrets", ("id=npm,src=f",)),
        ("secrets", "id=npm,env=NPM_TOKEN", "secrets", ("id=npm,env=NPM_TOKEN",)),
        ("output-dir", "out", "output_dir", "out"),
        ("manifest-tool", "docker", "manifest_tool", "docker"),
        ("insecure-registries", "a:5000,b:5000", "insecure_registries", ("a:5000", "b:5000")),
        ("registry-mirrors", {"docker.io": "m:5000"}, "registry_mirrors", {"docker.io": "m:5000"}),
        ("verify-run", "uname -m", "verify_run", ("uname", "-m")),
        ("verify_run", "sh -c 'test -x /a b'", "verify_run", ("sh", "-c", "test -x /a b")),
        ("verify_run", ["sh", "-c", "echo a,b"], "verify_run", ("sh", "-c", "echo a,b")),
        ("cache-from", "type=registry,ref=x", "cache_from", ("type=registry,ref=x",)),
        (
            "cache_to",
            ["type=local,dest=a", "type=inline"],
            "cache_to",
            ("type=local,dest=a", "type=inline"),
        ),
        (
            "driver-opts",
            "network=host,image=moby/buildkit",
            "driver_opts",
            ("network=host", "image=moby/buildkit"),
        ),
        (
            "labels",
            ["org.opencontainers.image.authors=a,b"],
            "labels",
            {"org.opencontainers.image.authors": "a,b"},
        ),
        ("timeout", "2.5", "timeout", 2.5),
        ("retries", "0", "retries", 0),
    ],
)
def test_key_normalisation_and_aliases(raw_key: str, value: Any, attr: str, expected: Any) -> None:
    got = getattr(resolve(("flags", {raw_key: value})), attr)
    assert (dict(got) if isinstance(expected, dict) else got) == expected


def test_alias_and_key_at_different_layers_override() -> None:
    settings = resolve(("pyproject", {"tags": ["a"]}), ("flags", {"tag": ["b"]}))
    assert settings.tags == ("b",)


@pytest.mark.parametrize(
    ("raw_key", "hint"),
    [
        ("platfroms", "did you mean 'platforms'?"),
        ("platforms_", "did you mean 'platforms'?"),
        ("strategie", "did you mean 'strategy'?"),
        ("build-argz", "did you mean 'build_args'?"),
        ("zzzz", "unknown key"),
    ],
)
def test_unknown_key(raw_key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(("ok", {"jobs": 1}), ("[tool.multiarch-tasks] in pyproject.toml", {raw_key: 1}))
    err = info.value
    assert err.key == raw_key
    assert err.source == "[tool.multiarch-tasks] in pyproject.toml"
    assert raw_key in str(err)
    assert "pyproject.toml" in str(err)
    assert hint in str(err)


def test_unknown_key_without_close_match_has_no_hint() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(("flags", {"zzzz": 1}))
    assert "did you mean" not in str(info.value)


def test_unknown_key_even_when_value_is_none() -> None:
    with pytest.raises(ConfigError, match="platfroms"):
        resolve(("invoke", {"platfroms": None}))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("strategy", "parallel"),
        ("backend", "kaniko"),
        ("manifest_tool", "crane"),
        ("attestations", "maybe"),
        ("qemu_mode", "kernel"),
        ("driver", "kubernetes"),
        ("media_type", "v1"),
        ("cache", "local"),
    ],
)
def test_invalid_choice(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(("invoke config 'multiarch'", {key: value}))
    message = str(info.value)
    assert info.value.key == key
    assert "invoke config 'multiarch'" in message
    assert repr(value) in message
    for choice in CHOICES[key]:
        assert choice in message


@pytest.mark.parametrize(("key", "value"), [(k, v[-1]) for k, v in CHOICES.items()])
def test_valid_choices(key: str, value: str) -> None:
    assert getattr(resolve(("flags", {key: value})), key) == value


def test_invalid_platform_names_key_and_source() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(("[tool.multiarch-tasks] in /x/pyproject.toml", {"platforms": "linux/arm65"}))
    message = str(info.value)
    assert info.value.key == "platforms"
    assert message.startswith("platforms (from [tool.multiarch-tasks] in /x/pyproject.toml)")
    assert "'linux/arm65'" in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("platforms", "", "no platforms given"),
        ("platforms", ",", "no platforms given"),
        ("tags", "", "no tags given"),
        ("tags", "-bad", "invalid tag"),
        ("tags", ["ok", "bad tag"], "bad tag"),
        ("image", "ghcr.io/o/a:v1", "must not carry a tag or digest"),
        ("image", "ghcr.io/o/a@sha256:" + "a" * 64, "must not carry a tag or digest"),
        ("image", "ghcr.io/O/a", "invalid repository name"),
        ("image", ["ghcr.io/o/a"], "expected a string"),
        ("builder", {"a": 1}, "expected a string"),
        ("jobs", -1, "expected a number >= 0"),
        ("jobs", "-2", "expected a number >= 0"),
        ("jobs", "many", "expected a whole number >= 0, got 'many'"),
        ("retries", -1, "expected a number >= 0"),
        ("timeout", "-0.5", "expected a number >= 0"),
        ("push", "maybe", "expected true or false"),
        ("push", 2, "expected true or false"),
        ("tags", 5, "expected a list or comma-separated string"),
        ("nodes", "ssh://box", "expected a list"),
        ("nodes", [{"platforms": "arm64"}], "each node needs an endpoint"),
        ("nodes", [{"endpoint": "ssh://box", "platfroms": "x"}], "unknown node key(s) platfroms"),
        ("nodes", [{"endpoint": "ssh://box", "platforms": "arm65"}], "'arm65'"),
        ("verify_run", 3, "expected a list"),
        ("verify_run", "sh -c 'open", 'cannot split "sh -c \'open" into words'),
        ("secrets", 3, "expected a list"),
    ],
)
def test_invalid_values_name_key_and_source(key: str, value: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(("command line", {key: value}))
    assert info.value.key == key
    assert info.value.source == "command line"
    assert str(info.value).startswith(f"{key} (from command line): ")
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("True", True),
        ("yes", True),
        ("on", True),
        ("1", True),
        (1, True),
        ("false", False),
        ("FALSE", False),
        ("no", False),
        ("off", False),
        ("0", False),
        (0, False),
        ("", False),
        (" yes ", True),
    ],
)
def test_bools_from_strings(value: Any, expected: bool) -> None:
    for key in ("push", "use_builder", "allow_unreachable"):
        assert getattr(resolve(("env", {key: value})), key) is expected
    # verify_deep was a switch: its booleans still mean every layer (true) or none.
    assert resolve(("env", {"verify_deep": value})).verify_deep == ("all" if expected else "off")


@pytest.mark.parametrize(
    ("layer", "value", "expected"),
    [
        ("pyproject", "all", "all"),
        ("pyproject", True, "all"),
        ("invoke", "off", "off"),
        ("invoke", False, "off"),
        ("env", "AUTO", "auto"),
        ("flags", "all", "all"),
    ],
)
def test_verify_deep_takes_auto_all_or_off_at_every_layer(
    layer: str, value: Any, expected: str
) -> None:
    assert resolve().verify_deep == "auto"
    assert resolve((layer, {"verify_deep": value})).verify_deep == expected


def test_verify_deep_refuses_another_word_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"verify_deep.*expected auto, all or off"):
        resolve(("env", {"verify_deep": "some"}))


@pytest.mark.parametrize(("value", "scope"), [(True, "all"), (False, "off"), ("auto", "auto")])
def test_deep_scope_reads_a_bool_given_from_python(value: Any, scope: str) -> None:
    assert Settings(verify_deep=value).deep_scope == scope


def test_bool_default_true_can_be_switched_off_from_a_string() -> None:
    assert resolve(("env", {"preflight": "false"})).preflight is False
    assert resolve(("env", {"preflight": "false"}), ("flags", {"preflight": True})).preflight


def test_nodes() -> None:
    settings = resolve(
        (
            "pyproject",
            {
                "nodes": [
                    {
                        "endpoint": "ssh://me@arm-box",
                        "platforms": "linux/arm64,armhf",
                        "name": "arm",
                    },
                    {"endpoint": "tcp://10.0.0.2:1234", "platforms": ["s390x"]},
                    {"endpoint": "ssh://other"},
                ]
            },
        ),
    )
    assert settings.nodes == (
        Node("ssh://me@arm-box", (ARM64, ARMV7), "arm"),
        Node("tcp://10.0.0.2:1234", (Platform("linux", "s390x"),), ""),
        Node("ssh://other", (), ""),
    )


def test_every_key_is_resolvable_from_its_own_default() -> None:
    # Feeding a default back through the layer machinery must give the same Settings.
    defaults = Settings()
    for key in KEYS:
        value = getattr(defaults, key)
        if key == "platforms":
            value = [str(p) for p in value]
        elif key == "nodes" or value in ("", (), {}):
            continue
        assert getattr(resolve(("x", {key: value})), key) == getattr(defaults, key), key


def test_mapping_keys() -> None:
    assert sorted(MAPPING_KEYS) == ["annotations", "build_args", "labels", "registry_mirrors"]
    assert set(KEYS) >= MAPPING_KEYS


@pytest.mark.parametrize(
    ("tag", "platform", "expected"),
    [
        (None, ARMV7, "ghcr.io/o/app:v1-linux-arm-v7"),
        (None, ARM64, "ghcr.io/o/app:v1-linux-arm64"),
        ("edge", AMD64, "ghcr.io/o/app:edge-linux-amd64"),
    ],
)
def test_per_arch_ref(tag: str | None, platform: Platform, expected: str) -> None:
    settings = resolve(("flags", {"image": "ghcr.io/o/app", "tags": "v1,latest"}))
    ref = settings.per_arch_ref(platform, tag)
    assert str(ref) == expected
    assert ref.tag.endswith(platform.tag_suffix)


def test_ref_uses_first_tag() -> None:
    settings = resolve(("flags", {"image": "localhost:5000/app", "tags": ["v1", "latest"]}))
    assert settings.ref() == ImageRef("localhost:5000", "app", "v1")
    assert settings.ref("latest") == ImageRef("localhost:5000", "app", "latest")
    assert settings.image_ref == ImageRef("localhost:5000", "app")


def test_image_ref_unset_says_what_to_do() -> None:
    with pytest.raises(InvalidValueError, match="--image"):
        _ = Settings().image_ref


def test_image_with_tag_rejected_even_when_built_directly() -> None:
    with pytest.raises(InvalidValueError, match="must not carry a tag"):
        _ = Settings(image="ghcr.io/o/app:v1").image_ref


@pytest.mark.parametrize(
    ("registry", "listed", "insecure"),
    [
        ("localhost:5000", (), True),
        ("127.0.0.1:5000", (), True),
        ("[::1]:5000", (), True),
        ("registry.lan:5000", (), False),
        ("registry.lan:5000", ("registry.lan:5000",), True),
        ("registry.lan:5000", ("registry.lan",), False),
        ("ghcr.io", ("registry.lan:5000",), False),
    ],
)
def test_is_insecure(registry: str, listed: tuple[str, ...], insecure: bool) -> None:
    settings = resolve(("flags", {"insecure_registries": list(listed)}))
    assert settings.is_insecure(registry) is insecure


def test_dockerfile_path() -> None:
    assert Settings().dockerfile == "Dockerfile"
    assert Settings(context="app").dockerfile == str(Path("app") / "Dockerfile")
    assert Settings(context="app", file="other.Dockerfile").dockerfile == "other.Dockerfile"


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().jobs = 2  # type: ignore[misc]


PYPROJECT = """\
[project]
name = "demo"

[tool.multiarch-tasks]
image = "ghcr.io/o/demo"
platforms = ["linux/amd64", "linux/arm/v7"]
build-args = { VERSION = "1.0" }
jobs = 2
"""


def test_load_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    assert load_pyproject(path) == {
        "image": "ghcr.io/o/demo",
        "platforms": ["linux/amd64", "linux/arm/v7"],
        "build-args": {"VERSION": "1.0"},
        "jobs": 2,
    }


def test_load_pyproject_absent_file_or_table(tmp_path: Path) -> None:
    assert load_pyproject(tmp_path / "missing.toml") == {}
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n')
    assert load_pyproject(path) == {}


def test_load_pyproject_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.multiarch-tasks]\nimage = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_pyproject(path)
    assert info.value.source == str(path)


def test_load_pyproject_table_must_be_a_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool]\nmultiarch-tasks = "yes"\n')
    with pytest.raises(ConfigError, match="must be a table"):
        load_pyproject(path)


def test_settings_from_layers_pyproject_config_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    settings = settings_from(
        {"platforms": None, "jobs": 4, "tags": "v1,v2"},
        {"tag": ["v3"], "platforms": None},
        pyproject=path,
    )
    assert settings.image == "ghcr.io/o/demo"
    assert settings.platforms == (AMD64, ARMV7)
    assert dict(settings.build_args) == {"VERSION": "1.0"}
    assert settings.jobs == 4
    assert settings.tags == ("v3",)


def test_settings_from_names_pyproject_as_the_source(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.multiarch-tasks]\nplatforms = "linux/arm65"\n')
    with pytest.raises(ConfigError) as info:
        settings_from(pyproject=path)
    assert info.value.key == "platforms"
    assert str(path) in info.value.source
    assert "[tool.multiarch-tasks]" in info.value.source


# --- no silent coercion (issue 9) -------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("jobs", 1.7, "expected a whole number >= 0, got 1.7"),
        ("jobs", "1.7", "expected a whole number >= 0, got '1.7'"),
        ("jobs", True, "expected a whole number >= 0, got true (a boolean)"),
        ("retries", True, "got true (a boolean)"),
        ("retries", False, "got false (a boolean)"),
        ("timeout", True, "expected a number of seconds >= 0, got True"),
        ("timeout", "soon", "expected a number of seconds >= 0, got 'soon'"),
        ("timeout", "inf", "expected a number >= 0"),
        ("push", 1.0, "expected true or false"),
        ("builder", True, "value true is a boolean in the config file; quote it"),
        ("target", 1.5, "value 1.5 is a number in the config file; quote it"),
        ("tags", [True], "tag true is a boolean"),
        ("tags", 1.1, "tag 1.1 is a number in the config file"),
        ("build_args", {"DEBUG": True}, "DEBUG: true is a boolean"),
        ("build_args", 5, "expected a mapping, K=V items or 'K=V,K2=V2', got int 5"),
        ("build_args", ["A"], "expected KEY=VALUE, got 'A'"),
        ("secrets", [1.5], "is a number"),
    ],
)
def test_no_silent_coercion(key: str, value: Any, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        resolve(("x", {key: value}))


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("jobs", 2.0, 2),
        ("jobs", "3", 3),
        ("jobs", " 4 ", 4),
        ("retries", 0, 0),
        ("timeout", 1, 1.0),
        ("timeout", "2.5", 2.5),
        ("attestations", False, "off"),  # YAML reads an unquoted `off` as false
        ("attestation_artifacts", True, "on"),
    ],
)
def test_exact_values_still_accepted(key: str, value: Any, expected: Any) -> None:
    assert getattr(resolve(("x", {key: value})), key) == expected


def test_secret_looking_build_arg_value_never_shown_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(("x", {"build_args": {"API_TOKEN": 123.45}}))
    assert "123" not in str(info.value)
    assert "API_TOKEN: the value (hidden)" in str(info.value)
    with pytest.raises(ConfigError) as info:
        resolve(("x", {"build_args": ["DB_PASSWORD"]}))
    assert str(info.value).endswith("expected KEY=VALUE, got 'DB_PASSWORD...'")


def test_tag_with_slash_is_an_invalid_tag_not_a_host() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(("command line", {"tags": ["v1/x"]}))
    assert "invalid tag 'v1/x'" in str(info.value)
    assert "host" not in str(info.value)


def test_image_that_is_a_registry_host() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(("command line", {"image": "127.0.0.1:5000"}))
    assert str(info.value).startswith("image (from command line): '127.0.0.1:5000' is a registry")


def test_sources_record_the_winning_layer() -> None:
    settings = resolve(("a", {"jobs": 1, "tags": "x"}), ("b", {"jobs": 2}))
    assert settings.sources == {"jobs": "b", "tags": "a"}
    assert "sources" not in KEYS
    assert settings == Settings(jobs=2, tags=("x",))  # sources take no part in equality


# --- settings_from_invoke: file:line, env, the numbers as written --------------------------


def _from_invoke(
    tmp_path: Path, yaml: str, raw: Any, env: dict[str, str] | None = None, **flags: Any
) -> Settings:
    (tmp_path / "invoke.yaml").write_text(yaml)
    return settings_from_invoke(
        raw, flags, env or {}, pyproject=tmp_path / "pyproject.toml", project_dir=tmp_path
    )


def test_invoke_errors_name_the_yaml_line(tmp_path: Path) -> None:
    yaml = "run:\n  echo: true\nmultiarch:\n  image: r.example/a/b\n  jobs: 1.7\n"
    with pytest.raises(ConfigError) as info:
        _from_invoke(tmp_path, yaml, {"image": "r.example/a/b", "jobs": 1.7})
    assert info.value.source == f"{tmp_path / 'invoke.yaml'}:5"
    assert str(info.value).endswith("expected a whole number >= 0, got 1.7")


@pytest.mark.parametrize(
    ("yaml", "raw", "hint"),
    [
        ("multiarch:\n  tags: [1.10]\n", {"tags": [1.1]}, 'quote it as written: "1.10"'),
        ("multiarch:\n  tags:\n  - v1\n  - 2.50\n", {"tags": ["v1", 2.5]}, '"2.50"'),
        (
            "multiarch:\n  build_args: {GO_VERSION: 1.20}\n",
            {"build_args": {"GO_VERSION": 1.2}},
            'GO_VERSION: 1.2 is a number in the config file; quote it as written: "1.20"',
        ),
        ('{"multiarch": {"tags": [1.10]}}', {"tags": [1.1]}, '"1.10"'),
        ("multiarch:\n  tags: [v1]\n", {"tags": [1.1]}, "may have lost digits: 1.10 reads as 1.1"),
    ],
)
def test_number_hint_quotes_the_number_as_written(
    tmp_path: Path, yaml: str, raw: dict[str, Any], hint: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _from_invoke(tmp_path, yaml, raw)
    assert hint in str(info.value)


def test_number_hint_in_pyproject_reads_the_toml(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.multiarch-tasks]\ntags = ["a", 1.10]\n')
    with pytest.raises(ConfigError) as info:
        settings_from_invoke(
            {}, {}, {}, pyproject=tmp_path / "pyproject.toml", project_dir=tmp_path
        )
    assert 'quote it as written: "1.10"' in str(info.value)


@pytest.mark.parametrize("raw", [["linux/amd64"], 3, "linux/amd64"])
def test_multiarch_must_be_a_mapping(tmp_path: Path, raw: Any) -> None:
    with pytest.raises(ConfigError) as info:
        _from_invoke(tmp_path, "# settings\nmultiarch: x\n", raw)
    assert info.value.key == "multiarch"
    assert info.value.source == f"{tmp_path / 'invoke.yaml'}:2"
    assert "expected a mapping of settings" in str(info.value)
    assert repr(raw) in str(info.value)


def test_null_values_mean_not_set(tmp_path: Path) -> None:
    settings = _from_invoke(tmp_path, "multiarch:\n  labels:\n", {"labels": None, "jobs": None})
    assert dict(settings.labels) == {}
    assert settings.jobs == 0
    assert _from_invoke(tmp_path, "multiarch:\n", None) == Settings()


def test_env_ranks_above_invoke_yaml_and_below_flags(tmp_path: Path) -> None:
    env = {"INVOKE_MULTIARCH_JOBS": "2", "INVOKE_MULTIARCH_TAG": "e1,e2"}
    settings = _from_invoke(tmp_path, "multiarch:\n  jobs: 1\n", {"jobs": 1}, env)
    assert (settings.jobs, settings.tags) == (2, ("e1", "e2"))
    assert settings.sources["jobs"] == "env INVOKE_MULTIARCH_JOBS"
    settings = _from_invoke(tmp_path, "multiarch:\n  jobs: 1\n", {"jobs": 1}, env, jobs="3")
    assert settings.jobs == 3
    assert settings.sources["jobs"] == "command line"


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    env = {"INVOKE_MULTIARCH_RETRIES": "lots"}
    with pytest.raises(ConfigError) as info:
        _from_invoke(tmp_path, "", {}, env)
    assert str(info.value) == (
        "retries (from env INVOKE_MULTIARCH_RETRIES): expected a whole number >= 0, got 'lots'"
    )


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("INVOKE_MULTIARCH_PLATFROMS", "did you mean INVOKE_MULTIARCH_PLATFORMS?"),
        ("INVOKE_MULTIARCH_BUILD_ARGS_A", "did you mean INVOKE_MULTIARCH_BUILD_ARGS?"),
        ("INVOKE_MULTIARCH_ZZZZZZZZZZZZ", "known: "),
        ("INVOKE_MULTIARCH_jobs", "did you mean INVOKE_MULTIARCH_JOBS?"),
    ],
)
def test_unknown_env_variable_is_refused(name: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_env_names({name: "s3cret-value", "INVOKE_RUN_ECHO": "1", "HOME": "/root"})
    assert info.value.key == name
    assert info.value.source == "environment"
    assert hint in str(info.value)
    assert "s3cret-value" not in str(info.value)


def test_known_env_variables_and_aliases_pass() -> None:
    check_env_names({"INVOKE_MULTIARCH_PLATFORMS": "x", "INVOKE_MULTIARCH_TAG": "y"})
    assert env_overrides({"INVOKE_MULTIARCH_TAG": "y", "INVOKE_OTHER": "z"}) == {"tags": "y"}


# --- check_output_dir ----------------------------------------------------------------------


def _with_output_dir(path: str | Path) -> Settings:
    return resolve(("command line", {"output_dir": str(path)}))


def test_output_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError) as info:
        check_output_dir(_with_output_dir(tmp_path / "f"))
    assert str(info.value).startswith("output_dir (from command line): ")
    assert str(info.value).endswith("f' is a file, not a directory")
    with pytest.raises(ConfigError, match=r"cannot be created: .* is a file"):
        check_output_dir(_with_output_dir(tmp_path / "f" / "sub"))


def test_output_dir_that_cannot_be_created() -> None:
    with pytest.raises(ConfigError) as info:
        check_output_dir(_with_output_dir("/proc/nope/deeper"))
    assert "'/proc/nope/deeper' cannot be created" in str(info.value)
    assert not Path("/proc/nope").exists()


def test_output_dir_check_creates_nothing(tmp_path: Path) -> None:
    check_output_dir(_with_output_dir(tmp_path / "a" / "b"))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "out").mkdir()
    check_output_dir(_with_output_dir(tmp_path / "out"))
    assert list((tmp_path / "out").iterdir()) == []
    check_output_dir(Settings())  # the default, .multiarch, under a writable cwd


# --- check_invoke_files: what invoke cannot merge ---------------------------------------


def test_invoke_file_section_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "invoke.yaml"
    path.write_text("run:\n  echo: true\nmultiarch:\n  - a\n")
    with pytest.raises(ConfigError) as info:
        check_invoke_files({"project": ({"multiarch": ["a"]}, str(path))}, {})
    assert info.value.source == f"{path}:3"
    assert "got a list ['a']" in str(info.value)


def test_invoke_file_value_clashing_with_a_declaration(tmp_path: Path) -> None:
    path = tmp_path / "invoke.yaml"
    path.write_text("multiarch:\n  image: r/x\n  build_args: A=1\n")
    data = {"multiarch": {"image": "r/x", "build_args": "A=1"}}
    with pytest.raises(ConfigError) as info:
        check_invoke_files({"project": (data, str(path))}, {"multiarch": {"build_args": {}}})
    assert info.value.source == f"{path}:3"
    assert "got str 'A=1'" in str(info.value)
    check_invoke_files({"project": (data, str(path))}, {})  # nothing declared: no clash
    check_invoke_files({"user": (None, "/x")}, {})


def test_invoke_file_section_left_empty_is_not_set(tmp_path: Path) -> None:
    path = tmp_path / "invoke.yaml"
    path.write_text("multiarch:\n  # image: r/x\n")
    check_invoke_files({"project": ({"multiarch": None}, str(path))}, {})
    with pytest.raises(ConfigError, match="got null"):  # invoke could not merge it over a {}
        check_invoke_files({"project": ({"multiarch": None}, str(path))}, {"multiarch": {}})


def test_output_dir_check_races_no_other_run_and_leaves_nothing(tmp_path: Path) -> None:
    """Two runs sharing one missing output dir check it at the same moment (issue 9): the
    probe must not create (or remove) that directory, or one run fails "File exists"."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from multiarch_tasks.config.settings import check_output_dir  # noqa: PLC0415

    target = tmp_path / "shared" / "out"
    settings = Settings(output_dir=str(target))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: check_output_dir(settings), range(64)))
    assert results == [None] * 64
    assert list(tmp_path.iterdir()) == []  # nothing created, nothing left behind


PYPROJECTS = {
    "header": '[tool.multiarch-tasks]\nimage = "r.example/a"\n',
    "quoted header": '[ tool . "multiarch-tasks" ]\nimage = "r.example/a"\n',
    "sub-table header": '[tool.multiarch-tasks.build_args]\nA = "1"\n',
    "dotted key": 'tool.multiarch-tasks.image = "r.example/a"\n',
    "under [tool]": '[tool]\nmultiarch-tasks.image = "r.example/a"\n',
    "quoted under [tool]": '[tool]\n"multiarch-tasks" = { image = "r.example/a" }\n',
    "inline table": 'tool = { multiarch-tasks = { image = "r.example/a" } }\n',
    "array of tables": '[[tool.multiarch-tasks]]\nimage = "r.example/a"\n',
    "named only": '[project]\nname = "multiarch-tasks"\n',
    "dependency": '[project]\ndependencies = ["multiarch-tasks>=0.1", "invoke"]\n',
    "dependency lines": '[project]\ndependencies = [\n  "multiarch-tasks[zstd]",\n]\n',
    "no mention": '[project]\nname = "app"\n[tool.ruff]\nline-length = 100\n',
}


@pytest.mark.parametrize("name", PYPROJECTS)
def test_pyproject_skipped_unparsed_only_where_toml_finds_no_table_of_ours(
    name: str, tmp_path: Path
) -> None:
    text = PYPROJECTS[name]
    data = tomllib.loads(text)
    ours = data.get("tool", {}).get("multiarch-tasks")
    if ours is not None:
        assert may_hold_our_table(text)
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    if isinstance(ours, dict) or ours is None:
        assert load_pyproject(path) == (ours or {})
    else:
        with pytest.raises(ConfigError, match="must be a table"):
            load_pyproject(path)


def test_pyproject_that_only_names_the_package_is_not_parsed() -> None:
    for name in ("named only", "dependency", "no mention"):
        assert not may_hold_our_table(PYPROJECTS[name])
