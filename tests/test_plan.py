"""The plan is a pure function of (settings, facts): decisions tested on real buildx outputs.

Facts come from tests/fixtures/buildx (a two-node remote builder, a docker-container
builder, the docker driver), with the host and binfmt handlers set per test.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from multiarch_tasks.config.settings import Settings, settings_from
from multiarch_tasks.engine.binfmt import Handler
from multiarch_tasks.engine.facts import Engine, Facts, parse_inspect
from multiarch_tasks.model.errors import PlanError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.planning.plan.make import (
    EMULATED,
    IMPOSSIBLE,
    NATIVE,
    assign,
    build_env,
    buildkitd_config,
    decide_strategy,
    make_plan,
)

FIXTURES = Path(__file__).parent / "fixtures" / "buildx"
AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
S390X = Platform("linux", "s390x")
ARMV7 = Platform("linux", "arm", "v7")
IMAGE = "127.0.0.1:5000/team/app"
USABLE = {
    f"qemu-{name}": Handler(
        f"qemu-{name}", enabled=True, interpreter=f"/usr/bin/qemu-{name}-static", flags="PF"
    )
    for name in ("aarch64", "s390x", "arm", "ppc64le")
}
CONTAINERD = Engine("26.1.5", "containerd")
CLASSIC = Engine("26.1.5", "classic", "unix:///var/run/docker-classic.sock")


def builder_from(name: str):
    return parse_inspect((FIXTURES / name).read_text())


def facts(builder_file: str | None = "inspect-docker-default.txt", **extra) -> Facts:
    builder = builder_from(builder_file) if builder_file else None
    base = {
        "host": AMD64,
        "engine": CONTAINERD,
        "builder": builder,
        "builder_name": builder.name if builder else "farm",
        "builder_source": "test",
        "handlers": USABLE,
        "programs": frozenset({"update-binfmts"}),
        "host_emulators": frozenset({"aarch64", "s390x", "arm", "ppc64le"}),
        "labels": {"org.opencontainers.image.revision": "abc"},
    }
    return Facts(**{**base, **extra})


def settings(**extra) -> Settings:
    return settings_from(
        {"image": IMAGE, "tags": "1.2,latest", "platforms": "linux/amd64,linux/arm64,linux/s390x",
         **extra}
    )  # fmt: skip


def argv_value(argv: tuple[str, ...], option: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == option]


# --- where each platform builds ------------------------------------------------------


def test_remote_two_nodes_amd64_on_n1_arm64_on_n2_s390x_on_first_supporting_node() -> None:
    s = settings()
    f = facts("inspect-remote-two-nodes.txt")
    amd, arm, s390 = (assign(p, s, f) for p in s.platforms)
    assert (amd.mode, amd.node, amd.why) == (NATIVE, "farm2-n1", "declared")
    assert (arm.mode, arm.node, arm.why) == (NATIVE, "farm2-n2", "declared")
    # No node declares s390x; both support it; buildx takes the first: farm2-n1, where
    # BuildKit's own QEMU runs it (the host's binfmt handlers do not matter there).
    assert (s390.mode, s390.node, s390.handler) == (EMULATED, "farm2-n1", "")
    assert "first node that supports it" in s390.why
    assert arm.render() == "native on farm2-n2 (declared)"


def test_preflight_plan_and_builder_agree_on_arm64_for_the_remote_builder() -> None:
    plan = make_plan(settings(), facts("inspect-remote-two-nodes.txt"), run_id="r1")
    text = plan.render()
    assert "linux/arm64  native on farm2-n2 (declared)" in text
    assert "farm2-n1 (declared)" in text


def test_docker_driver_local_node_native_host_and_emulated_by_the_host_handler() -> None:
    s = settings()
    f = facts()
    amd, arm, s390 = (assign(p, s, f) for p in s.platforms)
    assert (amd.mode, amd.node) == (NATIVE, "default")
    assert (arm.mode, arm.node, arm.handler, arm.register) == (
        EMULATED, "default", "qemu-aarch64", False
    )  # fmt: skip
    assert s390.render() == "emulated on default by qemu-s390x"


def test_missing_handler_is_registered_by_qemu_setup_unless_qemu_mode_off() -> None:
    f = facts(handlers={})
    arm = assign(ARM64, settings(), f)
    assert (arm.mode, arm.register) == (EMULATED, True)
    off = assign(ARM64, settings(qemu_mode="off"), f)
    assert off.mode == IMPOSSIBLE
    assert "qemu-aarch64 not registered, qemu_mode off" in off.why


def test_non_linux_platform_is_refused_before_anything_runs_naming_it() -> None:
    s = settings(platforms="linux/amd64,windows/amd64")
    assert assign(Platform("windows", "amd64"), s, facts()).mode == IMPOSSIBLE
    with pytest.raises(PlanError, match=r"cannot build windows/amd64: a Linux builder"):
        make_plan(s, facts(), run_id="r1")


# --- cache, push-by-digest, per-arch tags ---------------------------------------------


def test_docker_container_registry_cache_per_platform_and_push_by_digest() -> None:
    s = settings(cache="registry", strategy="per-arch")
    plan = make_plan(s, facts("inspect-docker-container.txt"), run_id="r1")
    assert plan.by_digest
    assert not plan.per_arch_tags
    for build in plan.builds:
        (platform,) = build.platforms
        ref = f"{IMAGE}:buildcache-{platform.tag_suffix}"
        assert argv_value(build.argv, "--cache-to") == [f"type=registry,ref={ref},mode=max"]
        assert argv_value(build.argv, "--cache-from") == [f"type=registry,ref={ref}"]
        assert argv_value(build.argv, "--output") == [
            f"type=image,name={IMAGE},push-by-digest=true,name-canonical=true,push=true"
        ]
        assert "--tag" not in build.argv
        assert argv_value(build.argv, "--builder") == ["dc"]
    promote = plan.step("promote")
    assert promote is not None
    assert not any("-linux-" in op for op in promote.ops)  # no per-arch tags left behind
    # The plan says what each platform imports and exports.
    ref = f"{IMAGE}:buildcache-linux-arm64"
    assert (
        f"cache linux-arm64: import type=registry,ref={ref};"
        f" export type=registry,ref={ref},mode=max (asked for)"
    ) in plan.notes


def test_docker_driver_inline_cache_with_a_note_and_per_arch_tags() -> None:
    """The docker driver on the classic store cannot export a registry cache."""
    s = settings(cache="registry", strategy="per-arch")
    plan = make_plan(s, facts(engine=CLASSIC), run_id="r1")
    assert not plan.by_digest
    assert plan.per_arch_tags
    arm = plan.builds[1]
    assert argv_value(arm.argv, "--cache-to") == ["type=inline"]
    assert argv_value(arm.argv, "--tag") == [f"{IMAGE}:1.2-linux-arm64-staging-r1"]
    assert "--push" in arm.argv
    assert any("docker driver cannot export a registry cache" in n for n in plan.notes)
    promote = plan.step("promote")
    assert promote is not None
    assert f"PUT {IMAGE}:1.2-linux-arm64 -> its linux/arm64 push" in promote.ops
    assert promote.ops[:2] == (
        f"PUT {IMAGE}:1.2 -> the verified index",
        f"PUT {IMAGE}:latest -> the verified index",
    )


def test_docker_driver_on_the_containerd_store_exports_the_registry_cache() -> None:
    plan = make_plan(settings(cache="registry", strategy="per-arch"), facts(), run_id="r1")
    ref = f"{IMAGE}:buildcache-linux-arm64"
    assert argv_value(plan.builds[1].argv, "--cache-to") == [f"type=registry,ref={ref},mode=max"]


@pytest.mark.parametrize(
    ("cache", "extra", "builder", "cache_to", "why"),
    [
        ("auto", {"gha_cache": True}, "inspect-docker-container.txt",
         "type=gha,scope=team-app-linux-arm64,mode=max", "auto: GitHub Actions cache service"),
        ("auto", {}, "inspect-docker-container.txt",
         f"type=registry,ref={IMAGE}:buildcache-linux-arm64,mode=max", "auto: the builder"),
        ("auto", {"engine": CLASSIC}, "inspect-docker-default.txt", None,
         "auto: builder 'default' (the docker driver on the classic image store) cannot"),
        ("gha", {"gha_cache": True}, "inspect-docker-default.txt",
         "type=gha,scope=team-app-linux-arm64,mode=max", "asked for"),
        ("inline", {}, "inspect-docker-container.txt", "type=inline", "asked for"),
        ("none", {}, "inspect-docker-container.txt", None, ""),
    ],
)  # fmt: skip
def test_cache_setting_decides_what_each_platform_imports_and_exports(
    cache, extra, builder, cache_to, why
) -> None:
    plan = make_plan(
        settings(cache=cache, strategy="per-arch"), facts(builder, **extra), run_id="r1"
    )
    arm = plan.builds[1]
    assert argv_value(arm.argv, "--cache-to") == ([cache_to] if cache_to else [])
    note = [n for n in plan.notes if n.startswith("cache linux-arm64:")]
    assert (why in note[0]) if why else not note


def test_cache_auto_writes_no_registry_cache_for_a_build_that_pushes_nothing() -> None:
    s = settings(cache="auto", strategy="per-arch", push=False)
    plan = make_plan(s, facts("inspect-docker-container.txt"), run_id="r1")
    assert "--cache-to" not in plan.builds[0].argv
    assert any("pushes nothing" in n for n in plan.notes)


def test_cache_gha_outside_a_github_job_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(PlanError, match="cache gha: no GitHub Actions cache service here"):
        make_plan(settings(cache="gha"), facts("inspect-docker-container.txt"), run_id="r1")


def test_no_cache_and_pull_reach_buildx() -> None:
    plan = make_plan(settings(no_cache=True, pull=True), facts(), run_id="r1")
    assert "--no-cache" in plan.builds[0].argv
    assert "--pull" in plan.builds[0].argv
    plain = make_plan(settings(), facts(), run_id="r1")
    assert "--no-cache" not in plain.builds[0].argv
    assert "--pull" not in plain.builds[0].argv


def test_per_arch_tags_always_keeps_them_on_a_push_by_digest_builder() -> None:
    plan = make_plan(
        settings(strategy="per-arch", per_arch_tags="always"),
        facts("inspect-docker-container.txt"),
        run_id="r1",
    )
    assert plan.by_digest
    assert plan.per_arch_tags


def test_staging_tags_and_metadata_files_are_unique_per_run() -> None:
    one = make_plan(settings(strategy="per-arch"), facts(), run_id="aaaa")
    two = make_plan(settings(strategy="per-arch"), facts(), run_id="bbbb")
    for a, b in zip(one.builds, two.builds, strict=True):
        assert a.tags != b.tags
        assert a.metadata_file != b.metadata_file


# --- strategy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("builder_file", "engine", "strategy"),
    [
        ("inspect-docker-default.txt", CONTAINERD, "multi-platform"),
        ("inspect-docker-default.txt", CLASSIC, "per-arch"),
        ("inspect-docker-container.txt", CLASSIC, "multi-platform"),
        ("inspect-remote-two-nodes.txt", CLASSIC, "multi-platform"),
    ],
)
def test_auto_strategy_is_one_build_where_the_builder_exports_multi_platform(
    builder_file: str, engine: Engine, strategy: str
) -> None:
    chosen, _ = decide_strategy(settings(strategy="auto"), facts(builder_file, engine=engine))
    assert chosen == strategy


def test_explicit_multi_platform_on_the_classic_store_is_refused_naming_both_ways_out() -> None:
    with pytest.raises(PlanError) as info:
        make_plan(settings(strategy="multi-platform"), facts(engine=CLASSIC), run_id="r1")
    message = str(info.value)
    assert "classic image store" in message
    assert "--strategy per-arch" in message
    assert "containerd" in message
    assert "\n" not in message


def test_multi_platform_on_docker_driver_pushes_one_staging_tag_then_promotes() -> None:
    plan = make_plan(settings(strategy="multi-platform"), facts(), run_id="r9")
    (build,) = plan.builds
    assert argv_value(build.argv, "--platform") == ["linux/amd64,linux/arm64,linux/s390x"]
    assert argv_value(build.argv, "--tag") == [f"{IMAGE}:1.2-staging-r9"]
    assert plan.step("merge") is None
    assert [s.name for s in plan.steps] == [
        "preflight", "qemu-setup", "builder", "build", "verify", "promote"
    ]  # fmt: skip


# --- builder creation -----------------------------------------------------------------


def test_remote_nodes_are_created_with_their_endpoints_first_create_carries_one() -> None:
    s = Settings(
        image=IMAGE,
        platforms=(AMD64, ARM64),
        builder="farm",
        driver="remote",
        nodes=settings_from(
            {"nodes": [
                {"endpoint": "tcp://127.0.0.1:1231", "platforms": ["linux/amd64"]},
                {"endpoint": "tcp://127.0.0.1:1232", "platforms": ["linux/arm64"]},
            ]}
        ).nodes,
    )  # fmt: skip
    plan = make_plan(s, facts(None, builder_name="farm"), run_id="r1")
    builder = plan.step("builder")
    assert builder is not None
    create, append = builder.commands
    assert create == (
        "docker", "buildx", "create", "--name", "farm", "--driver", "remote",
        "--node", "farm-node1", "--platform", "linux/amd64", "tcp://127.0.0.1:1231",
    )  # fmt: skip
    assert append == (
        "docker", "buildx", "create", "--name", "farm", "--append",
        "--node", "farm-node2", "--platform", "linux/arm64", "--bootstrap",
        "tcp://127.0.0.1:1232",
    )  # fmt: skip
    assert [a.render() for a in plan.assignments] == [
        "native on farm-node1 (declared)",
        "native on farm-node2 (declared)",
    ]


def test_remote_driver_without_nodes_is_refused_before_anything_runs() -> None:
    s = Settings(image=IMAGE, builder="farm", driver="remote")
    with pytest.raises(PlanError, match="needs nodes with endpoints"):
        make_plan(s, facts(None, builder_name="farm"), run_id="r1")


def test_driver_opts_as_a_mapping_become_driver_opt_flags() -> None:
    s = settings_from(
        {"image": IMAGE, "builder": "dc2", "driver": "docker-container",
         "driver_opts": {"image": "mirror/buildkit:v0.23", "network": "host"}}
    )  # fmt: skip
    plan = make_plan(s, facts(None, builder_name="dc2"), run_id="r1")
    builder = plan.step("builder")
    assert builder is not None
    assert argv_value(builder.commands[0], "--driver-opt") == [
        "image=mirror/buildkit:v0.23",
        "network=host",
    ]


def test_reused_builder_plans_no_create_command() -> None:
    plan = make_plan(settings(), facts(), run_id="r1")
    builder = plan.step("builder")
    assert builder is not None
    assert builder.commands == ()
    assert builder.summary == "reuse 'default' (driver docker)"


# --- qemu-setup -----------------------------------------------------------------------


def test_qemu_setup_registers_only_the_missing_handlers_with_the_host_emulators() -> None:
    handlers = {"qemu-aarch64": USABLE["qemu-aarch64"]}
    plan = make_plan(settings(), facts(handlers=handlers), run_id="r1")
    step = plan.step("qemu-setup")
    assert step is not None
    assert step.commands == (("update-binfmts", "--enable", "qemu-s390x"),)


def test_qemu_setup_falls_back_to_the_binfmt_image_without_host_emulators() -> None:
    plan = make_plan(settings(), facts(handlers={}, host_emulators=frozenset()), run_id="r1")
    step = plan.step("qemu-setup")
    assert step is not None
    ((*head, arches),) = step.commands
    assert head[:4] == ["docker", "run", "--privileged", "--rm"]
    assert arches == "arm64,s390x"


# --- the plan printed is the plan run ---------------------------------------------------


def test_render_lists_every_command_of_every_step_in_order() -> None:
    plan = make_plan(settings(strategy="per-arch"), facts(handlers={}), run_id="r1")
    text = plan.render()
    positions = [text.index(" ".join(argv[:4])) for argv in plan.commands]
    assert positions == sorted(positions)
    assert len(plan.commands) == 2 + 3  # two handlers to register, three builds


def test_labels_come_from_the_facts_and_the_user_wins() -> None:
    plan = make_plan(
        settings(labels={"org.opencontainers.image.revision": "mine"}), facts(), run_id="r1"
    )
    argv = plan.builds[0].argv
    assert "org.opencontainers.image.revision=mine" in argv
    assert "org.opencontainers.image.revision=abc" not in argv


# --- moved from the builder and build tests ---------------------------------------------


def test_buildkitd_config_insecure_registries_and_mirrors() -> None:
    assert buildkitd_config(Settings()) == ""
    data = tomllib.loads(
        buildkitd_config(
            Settings(
                registry_mirrors={"docker.io": "127.0.0.1:5001", "ghcr.io": "mirror.lan:5002"},
                insecure_registries=("mirror.lan:5002", "[::1]:5000"),
            )
        )
    )
    assert data == {
        "registry": {
            "docker.io": {"mirrors": ["127.0.0.1:5001"]},
            "ghcr.io": {"mirrors": ["mirror.lan:5002"]},
            "127.0.0.1:5001": {"http": True, "insecure": True},
            "mirror.lan:5002": {"http": True, "insecure": True},
            "[::1]:5000": {"http": True, "insecure": True},
        }
    }


def test_buildkitd_config_https_mirror_is_not_marked_insecure() -> None:
    data = tomllib.loads(
        buildkitd_config(Settings(registry_mirrors={"docker.io": "mirror.example.com:443"}))
    )
    assert "mirror.example.com:443" not in data["registry"]


@pytest.mark.parametrize(
    ("attestations", "artifacts", "env"),
    [
        ("auto", "auto", {}),
        ("off", "auto", {"BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}),
        ("auto", "off", {"BUILDX_NO_DEFAULT_OCI_ARTIFACT": "1"}),
        ("auto", "on", {"BUILDX_NO_DEFAULT_OCI_ARTIFACT": "0"}),
    ],
)
def test_attestation_switches(attestations: str, artifacts: str, env: dict[str, str]) -> None:
    s = settings(attestations=attestations, attestation_artifacts=artifacts)
    assert build_env(s) == env


def test_auto_strategy_builds_a_single_platform_shard_per_arch() -> None:
    chosen, why = decide_strategy(settings(strategy="auto", platforms="linux/arm64"), facts())
    assert (chosen, why) == ("per-arch", "one platform")


# --- the plan's JSON is redacted as its text is (issue 17) ------------------------------


def test_plan_json_hides_secret_build_args_and_url_credentials_as_the_text_plan_does() -> None:
    import json  # noqa: PLC0415

    from multiarch_tasks.config.secrets import secret_values  # noqa: PLC0415

    planted = {
        "API_TOKEN": "at-planted-1",
        "DB_PASSWORD": "dp-planted-2",
        "DATABASE_URL": "postgres://app:up-planted-3@db/x",
        "HOOK_URL": "https://hooks.example/n?token=qt-planted-4&ref=main",
        # Named like nothing secret: only the runner knows it (a --secret's value equals it).
        "NOTE": "st-planted-5",
    }
    s = settings(build_args=planted, secrets=("id=tok,env=MY_TOK",), strategy="per-arch")
    secrets = secret_values(s, {"MY_TOK": "st-planted-5"})
    plan = make_plan(s, facts(), run_id="r1")
    assert any("API_TOKEN=at-planted-1" in a for argv in plan.commands for a in argv)
    doc = json.dumps(plan.to_json(secrets))
    text = plan.render(secrets)
    for value in ("at-planted-1", "dp-planted-2", "up-planted-3", "qt-planted-4", "st-planted-5"):
        assert value not in doc
        assert value not in text
    steps = json.loads(doc)["steps"]
    build = next(c for step in steps if step["name"] == "build" for c in step["commands"])
    assert "API_TOKEN=***" in build
    assert "DATABASE_URL=postgres://app@db/x" in build
    assert "HOOK_URL=https://hooks.example/n?ref=main" in build
    assert "NOTE=***" in build


def test_plan_json_without_the_runner_still_masks_secret_names_and_urls() -> None:
    import json  # noqa: PLC0415

    s = settings(build_args={"API_TOKEN": "at-1", "U": "https://u:pw-2@h/x"})
    doc = json.dumps(make_plan(s, facts(), run_id="r1").to_json())
    assert "at-1" not in doc
    assert "pw-2" not in doc
