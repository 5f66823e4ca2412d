"""Orchestration in-process: build, qemu-setup, builder-create, manifest-create and
publish driven through a recording runner (tests/recording.py) against scripted facts.

No engine: the probes are answered with the real buildx outputs in tests/fixtures/buildx,
and the host, its binfmt_misc handlers and its programs are pinned, so these tests decide
the same on any machine. What they prove: each task runs the commands of its plan, in the
plan's order, and nothing else; the printed plan shows them all; the decisions it prints
follow the builder and the engine's image store. The last test runs a whole publish whose
scripted buildx pushes small images to the test bed's registry (marked e2e for that).
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable
from itertools import takewhile
from pathlib import Path

import pytest

from multiarch_tasks.config.settings import Settings, settings_from
from multiarch_tasks.engine import binfmt
from multiarch_tasks.engine import facts as facts_mod
from multiarch_tasks.engine.binfmt import Handler
from multiarch_tasks.engine.facts import Engine, Facts
from multiarch_tasks.engine.runner import display
from multiarch_tasks.model import oci
from multiarch_tasks.model.digests import read_digest_map
from multiarch_tasks.model.errors import BuildFailedError, MultiarchError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.planning.plan.make import Plan, make_plan
from multiarch_tasks.registry.client import RegistryClient
from multiarch_tasks.steps import build as build_mod
from multiarch_tasks.steps.build import build
from multiarch_tasks.steps.builder import builder_create
from multiarch_tasks.steps.manifest.lists import manifest_create
from multiarch_tasks.steps.publish import publish
from multiarch_tasks.steps.qemu import run_qemu_step
from testbed import images
from tests.recording import Answer, RecordingRunner, Script, digest_for, inspect_text, option

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
S390X = Platform("linux", "s390x")
IMAGE = "127.0.0.1:1/team/app"  # nothing listens there: no test can reach a registry
RUN_ID = "run1"
FIXTURE_BUILDERS = {
    "default": inspect_text("inspect-docker-default.txt"),
    "dc": inspect_text("inspect-docker-container.txt"),
    "farm2": inspect_text("inspect-remote-two-nodes.txt"),
}


def handler(name: str) -> Handler:
    return Handler(name, enabled=True, interpreter=f"/usr/bin/{name}-static", flags="PF")


# qemu-aarch64 is registered on the pinned host, qemu-s390x is not.
HOST_HANDLERS = {"qemu-aarch64": handler("qemu-aarch64")}


def _no_handlers_but_the_hosts(_root: Path = binfmt.BINFMT_DIR) -> dict[str, Handler]:
    return dict(HOST_HANDLERS)


@pytest.fixture(autouse=True)
def pinned_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An amd64 host with every program, binfmt_misc mounted and only qemu-aarch64 in it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUILDX_BUILDER", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(Platform, "host", classmethod(lambda _cls: AMD64))
    monkeypatch.setattr(facts_mod, "which", lambda program: f"/usr/bin/{program}")
    monkeypatch.setattr(facts_mod, "read_handlers", _no_handlers_but_the_hosts)
    monkeypatch.setattr(binfmt, "is_mounted", lambda _root=binfmt.BINFMT_DIR: True)
    monkeypatch.setattr(build_mod, "new_run_id", lambda: RUN_ID)


def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "app"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text("FROM busybox:1.36\nRUN echo hi > /hi\n")
    return ctx


def app_settings(tmp_path: Path, **extra: object) -> Settings:
    return settings_from(
        {
            "image": IMAGE,
            "tags": "1.0",
            "platforms": "linux/amd64,linux/arm64,linux/s390x",
            "context": str(context(tmp_path)),
            "output_dir": str(tmp_path / "out"),
            **extra,
        }
    )


def recorder(**script: object) -> RecordingRunner:
    return RecordingRunner(Script(builders=dict(FIXTURE_BUILDERS), **script))  # type: ignore[arg-type]


def planned(settings: Settings, task: str, **script: object) -> Plan:
    """The plan ``task`` makes, from facts gathered by a runner of its own."""
    facts = facts_mod.gather(settings, recorder(**script))
    return make_plan(settings, facts, run_id=RUN_ID, task=task)


def non_probes(runner: RecordingRunner) -> list[tuple[str, ...]]:
    return runner.commands


# --- build ----------------------------------------------------------------------------


def test_build_runs_exactly_the_plans_build_commands_in_order_and_writes_their_digests(
    tmp_path: Path,
) -> None:
    s = app_settings(tmp_path, builder="dc", strategy="per-arch", cache="registry", jobs=1)
    plan = planned(s, "build")
    runner = recorder()
    result = build(s, runner)

    assert non_probes(runner) == plan.commands
    assert plan.commands == [b.argv for b in plan.builds]
    assert all(c.probe for c in runner.calls if c.argv[:3] != ("docker", "buildx", "build"))
    for step, platform in zip(plan.builds, s.platforms, strict=True):
        ref = f"{IMAGE}:buildcache-{platform.tag_suffix}"
        assert step.platforms == (platform,)
        assert option(step.argv, "--builder") == "dc"
        assert option(step.argv, "--output") == (
            f"type=image,name={IMAGE},push-by-digest=true,name-canonical=true,push=true"
        )  # BuildKit speaks plain HTTP to loopback by itself: no registry.insecure unless listed
        assert "--tag" not in step.argv
        assert option(step.argv, "--cache-from") == f"type=registry,ref={ref}"
        assert option(step.argv, "--cache-to") == f"type=registry,ref={ref},mode=max"
    digests, index = read_digest_map(s.output_dir)
    assert digests == {p: digest_for(str(p)) for p in s.platforms}
    assert index == ""
    assert result.digest_map == str(Path(s.output_dir) / "digests.json")
    assert [b.digest for b in result.builds] == [digest_for(str(p)) for p in s.platforms]


def test_build_prints_the_plan_with_every_command_it_then_runs(tmp_path: Path) -> None:
    s = app_settings(tmp_path, builder="dc", strategy="per-arch", jobs=1)
    runner = recorder()
    build(s, runner)
    head, *rest = runner.printed.splitlines()
    assert head.startswith(f"plan: {IMAGE}:1.0 for 3 platform(s)")
    # The plan is the first block: its first line and the indented lines under it.
    plan_text = "\n".join([head, *takewhile(lambda line: line.startswith(" "), rest)])
    positions = [plan_text.index(f"$ {display(argv)}") for argv in non_probes(runner)]
    assert positions == sorted(positions)
    assert len(positions) == 3
    # ... and then ran them, each output line prefixed with its platform.
    assert "[linux/s390x] #1 pushing linux/s390x done" in rest


# --- retries of a per-arch build -------------------------------------------------------


def arm64_build(argv: tuple[str, ...]) -> bool:
    return argv[:3] == ("docker", "buildx", "build") and option(argv, "--platform") == "linux/arm64"


def test_transient_registry_error_reruns_the_same_build_argv_then_succeeds(
    tmp_path: Path,
) -> None:
    s = app_settings(tmp_path, builder="dc", strategy="per-arch", jobs=1, retries=2)
    runner = recorder()
    tail = (
        "#12 pushing layers\n"
        "ERROR: failed to push: unexpected status from PUT request to"
        " https://127.0.0.1:1/v2/team/app/manifests/sha256:abc: 500 Internal Server Error\n"
    )
    runner.fail_next(arm64_build, Answer(1, "", tail))
    result = build(s, runner)

    arm = [a for a in runner.attempts if arm64_build(a)]
    assert len(arm) == 2
    assert arm[0] == arm[1]
    assert result.ok
    assert result.digests[ARM64] == digest_for("linux/arm64")
    assert "retrying in 0s (1/2) build linux/arm64 after: ERROR: failed to push" in runner.printed


def test_unauthorized_push_is_not_retried_and_the_build_fails_naming_the_platform(
    tmp_path: Path,
) -> None:
    s = app_settings(tmp_path, builder="dc", strategy="per-arch", jobs=1, retries=2)
    runner = recorder()
    tail = (
        "ERROR: failed to push 127.0.0.1:1/team/app: failed to authorize:"
        " failed to fetch oauth token: unexpected status: 401 Unauthorized\n"
    )
    runner.fail_next(arm64_build, Answer(1, "", tail))
    with pytest.raises(BuildFailedError) as info:
        build(s, runner)

    assert len([a for a in runner.attempts if arm64_build(a)]) == 1
    assert str(info.value).startswith(
        "build failed for linux/arm64; the final tag was not moved; full log: "
    )
    assert str(info.value).endswith("/logs/build-linux-arm64.log")
    assert "401 Unauthorized" in info.value.failures["linux/arm64"]
    assert not (Path(s.output_dir) / "digests.json").exists()


# --- qemu-setup -----------------------------------------------------------------------


def scripted_facts(**extra: object) -> Facts:
    base: dict[str, object] = {
        "host": AMD64,
        "engine": Engine("26.1.5", "containerd"),
        "builder": facts_mod.parse_inspect(FIXTURE_BUILDERS["default"]),
        "builder_name": "default",
        "builder_source": "test",
        "handlers": dict(HOST_HANDLERS),
        "programs": frozenset({"update-binfmts"}),
        "host_emulators": frozenset({"aarch64", "s390x"}),
    }
    return Facts(**{**base, **extra})  # type: ignore[arg-type]


QEMU_SETTINGS = Settings(image=IMAGE, platforms=(AMD64, ARM64, S390X))


def test_qemu_setup_runs_the_planned_update_binfmts_and_reports_the_handler_added(
    tmp_path: Path,
) -> None:
    root = tmp_path / "binfmt_misc"
    root.mkdir()
    (root / "qemu-aarch64").write_text(
        "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: PF\n"
    )
    plan = make_plan(QEMU_SETTINGS, scripted_facts(), run_id="", task="qemu-setup")
    runner = RecordingRunner(Script(binfmt_dir=root))
    result = run_qemu_step(plan, runner, root=root)

    assert plan.commands == [("update-binfmts", "--enable", "qemu-s390x")]
    assert non_probes(runner) == plan.commands
    assert (result.native, result.already, result.added) == ((AMD64,), (ARM64,), (S390X,))
    assert result.mode == "host"
    assert result.ok


def test_qemu_setup_without_host_emulators_runs_the_planned_binfmt_image(tmp_path: Path) -> None:
    root = tmp_path / "binfmt_misc"
    root.mkdir()
    facts = scripted_facts(host_emulators=frozenset(), handlers={})
    plan = make_plan(QEMU_SETTINGS, facts, run_id="", task="qemu-setup")
    runner = RecordingRunner(Script(binfmt_dir=root))
    result = run_qemu_step(plan, runner, root=root)

    ((*head, arches),) = plan.commands
    assert head[:2] == ["docker", "run"]
    assert arches == "arm64,s390x"
    assert non_probes(runner) == plan.commands
    assert (result.mode, result.added) == ("docker", (ARM64, S390X))


def test_qemu_setup_whose_command_registers_nothing_fails_naming_the_platform(
    tmp_path: Path,
) -> None:
    root = tmp_path / "binfmt_misc"
    root.mkdir()
    plan = make_plan(QEMU_SETTINGS, scripted_facts(), run_id="", task="qemu-setup")
    runner = RecordingRunner(Script(binfmt_dir=root, register_handlers=False))
    with pytest.raises(MultiarchError, match=r"could not register emulators for linux/s390x;"):
        run_qemu_step(plan, runner, root=root)
    assert non_probes(runner) == plan.commands


# --- builder-create -------------------------------------------------------------------


def farm_settings(builder: str = "farm") -> Settings:
    return settings_from(
        {
            "builder": builder,
            "driver": "remote",
            "platforms": "linux/amd64,linux/arm64",
            "nodes": [
                {"endpoint": "tcp://127.0.0.1:1231", "platforms": ["linux/amd64"]},
                {"endpoint": "tcp://127.0.0.1:1232", "platforms": ["linux/arm64"]},
            ],
        }
    )


def test_builder_create_creates_a_missing_remote_builder_node_by_node_with_endpoints() -> None:
    runner = recorder()  # `docker buildx inspect farm` answers: no builder "farm" found
    result = builder_create(farm_settings(), runner)

    create, append = non_probes(runner)
    assert create[:7] == ("docker", "buildx", "create", "--name", "farm", "--driver", "remote")
    assert (option(create, "--node"), option(create, "--platform"), create[-1]) == (
        "farm-node1", "linux/amd64", "tcp://127.0.0.1:1231"
    )  # fmt: skip
    assert "--append" not in create
    assert append[:6] == ("docker", "buildx", "create", "--name", "farm", "--append")
    assert (option(append, "--node"), option(append, "--platform"), append[-1]) == (
        "farm-node2", "linux/arm64", "tcp://127.0.0.1:1232"
    )  # fmt: skip
    probes = [c.argv for c in runner.calls if c.probe]
    assert ("docker", "buildx", "inspect", "farm") in probes
    assert result.created
    assert result.render().startswith("builder-create: created builder 'farm' (driver remote")


def test_builder_create_reuses_an_existing_remote_builder_and_creates_nothing() -> None:
    runner = recorder()
    result = builder_create(farm_settings("farm2"), runner)

    assert non_probes(runner) == []
    assert not result.created
    assert [a.render() for a in result.assignments] == [
        "native on farm2-n1 (declared)",
        "native on farm2-n2 (declared)",
    ]


# --- publish --dry --------------------------------------------------------------------

MULTI_CACHE = f"type=registry,ref={IMAGE}:buildcache-multi,mode=max"


@pytest.mark.parametrize(
    ("builder", "containerd", "strategy", "by_digest", "cache_to"),
    [
        # The docker driver exports a cache on the containerd store, not on the classic one.
        ("", True, "multi-platform", False, [MULTI_CACHE]),
        ("", False, "per-arch", False, ["type=inline"] * 3),
        ("dc", True, "multi-platform", True, [MULTI_CACHE]),
        ("dc", False, "multi-platform", True, [MULTI_CACHE]),
        ("farm2", True, "multi-platform", True, [MULTI_CACHE]),
        ("farm2", False, "multi-platform", True, [MULTI_CACHE]),
    ],
    ids=[
        "docker-default-containerd", "docker-default-classic", "docker-container-containerd",
        "docker-container-classic", "remote-two-nodes-containerd", "remote-two-nodes-classic",
    ],
)  # fmt: skip
def test_dry_publish_runs_only_probes_and_prints_the_whole_plan_with_its_decisions(
    tmp_path: Path,
    builder: str,
    containerd: bool,
    strategy: str,
    by_digest: bool,
    cache_to: list[str],
) -> None:
    s = app_settings(tmp_path, builder=builder, strategy="auto", cache="registry")
    runner = RecordingRunner(
        Script(builders=dict(FIXTURE_BUILDERS), current="default", containerd=containerd),
        dry=True,
    )
    result = publish(s, runner)

    assert result.dry
    assert all(c.probe for c in runner.calls)
    assert ("docker", "info", "--format", "{{json .}}") in [c.argv for c in runner.calls]
    assert list(tmp_path.iterdir()) == [tmp_path / "app"]  # nothing written, not even out/
    printed = runner.printed
    steps = result.plan["steps"]
    assert isinstance(steps, list)
    commands = [tuple(argv) for step in steps for argv in step["commands"]]
    assert commands  # at least the builds
    positions = [printed.index(f"$ {display(argv)}") for argv in commands]
    assert positions == sorted(positions)

    builds = [argv for argv in commands if argv[:3] == ("docker", "buildx", "build")]
    assert result.plan["strategy"] == strategy
    assert f"build: {strategy} (" in printed
    assert len(builds) == (3 if strategy == "per-arch" else 1)
    assert result.plan["push_by_digest"] is by_digest
    pushed = "pushed by digest" if by_digest else "pushed to run-unique staging tags"
    assert pushed in printed
    assert all(("push-by-digest=true" in option(b, "--output")) is by_digest for b in builds)
    assert all(("--tag" in b) is not by_digest for b in builds)
    assert [option(b, "--cache-to") for b in builds] == cache_to
    inline_note = "the docker driver cannot export a registry cache"
    assert (inline_note in printed) is (cache_to == ["type=inline"] * 3)
    per_arch_tag = f"PUT {IMAGE}:1.0-linux-arm64 -> its linux/arm64 push"
    assert (per_arch_tag in printed) is (strategy == "per-arch" and not by_digest)
    name = builder or "default"
    assert all(option(b, "--builder") == name for b in builds)
    assert f"builder {name!r} (" in printed


def test_dry_publish_on_a_local_builder_prints_the_qemu_registration_it_would_run(
    tmp_path: Path,
) -> None:
    s = app_settings(tmp_path, builder="dc", strategy="per-arch")
    runner = RecordingRunner(Script(builders=dict(FIXTURE_BUILDERS)), dry=True)
    result = publish(s, runner)

    assert all(c.probe for c in runner.calls)
    steps = {step["name"]: step for step in result.plan["steps"]}  # type: ignore[attr-defined]
    assert steps["qemu-setup"]["commands"] == [["update-binfmts", "--enable", "qemu-s390x"]]
    assert "$ update-binfmts --enable qemu-s390x" in runner.printed
    assert "linux/s390x  emulated on dc0 by qemu-s390x, registered by qemu-setup" in runner.printed


# --- manifest-create --dry --------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "programs"),
    [("imagetools", [("docker", "buildx", "imagetools")]),
     ("docker", [("docker", "manifest", "create"), ("docker", "manifest", "push")]),
     ("native", [])],
)  # fmt: skip
def test_dry_manifest_create_prints_its_commands_and_starts_none(
    tmp_path: Path, tool: str, programs: list[tuple[str, ...]]
) -> None:
    s = app_settings(tmp_path, manifest_tool=tool, platforms="linux/amd64,linux/arm64")
    runner = recorder()
    runner.dry = True
    result = manifest_create(s, runner)

    assert result.dry
    assert [argv[: len(p)] for argv, p in zip(non_probes(runner), programs, strict=True)] == (
        programs
    )
    started = [a for a in runner.attempts if a in non_probes(runner)]
    assert started == []
    for argv in non_probes(runner):
        assert display(argv) in runner.printed
        if "create" in argv[:4]:  # the per-arch tags stand in as sources
            assert argv[-2:] == (f"{IMAGE}:1.0-linux-amd64", f"{IMAGE}:1.0-linux-arm64")
    if tool == "native":
        assert f"PUT {IMAGE}:1.0 (index over {IMAGE}:1.0-linux-amd64" in runner.printed
    assert not Path(s.output_dir).exists()


# --- publish, run for real against the test bed's registry ------------------------------


def pushing_to(client: RegistryClient) -> Callable[[str, str], str]:
    """What the scripted buildx pushes: a small image per platform, an index over several."""
    layer = gzip.compress(_empty_tar())

    def push(name: str, platforms: str) -> str:
        descs = []
        for text in platforms.split(","):
            p = Platform.parse(text)
            config = {"os": p.os, "architecture": p.architecture, "rootfs": {"type": "layers"}}
            if p.variant:
                config["variant"] = p.variant
            desc, _ = images.push_image(client, ImageRef.parse(name), config, [layer])
            descs.append(oci.Descriptor(desc.media_type, desc.digest, desc.size, p))
        if len(descs) == 1:
            return descs[0].digest
        raw = oci.build_index(descs)
        return client.put_manifest(ImageRef.parse(name).with_digest(oci.sha256_digest(raw)), raw,
                                   oci.OCI_INDEX)  # fmt: skip

    return push


def _empty_tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w"):
        pass
    return out.getvalue()


@pytest.mark.e2e  # the test bed's registry; no engine: buildx is the recording runner
@pytest.mark.parametrize("strategy", ["per-arch", "multi-platform"])
def test_publish_runs_exactly_the_printed_plans_commands_in_order_then_promotes(
    tmp_path: Path, repo: str, strategy: str
) -> None:
    client = RegistryClient.from_settings(settings_from({"image": repo}))
    push = pushing_to(client)
    # A base image with both platforms in the same registry, for preflight to read.
    host, name = repo.split("/", 1)
    base = f"{host}/base/{name}"
    base_digest = push(base, "linux/amd64,linux/arm64")
    ctx = context(tmp_path)
    (ctx / "Dockerfile").write_text(f"FROM {base}@{base_digest}\nRUN echo hi > /hi\n")
    s = settings_from(
        {"image": repo, "tags": "1.0,latest", "platforms": "linux/amd64,linux/arm64",
         "context": str(ctx), "output_dir": str(tmp_path / "out"),
         "builder": "dc", "strategy": strategy, "cache": "registry",
         "jobs": 1}  # one build at a time: the order they ran in is the plan's or a bug
    )  # fmt: skip
    runner = RecordingRunner(Script(builders=dict(FIXTURE_BUILDERS), pusher=push))
    result = publish(s, runner)

    assert result.ok, result.render()
    ran = non_probes(runner)
    assert [argv[:3] for argv in ran] == [("docker", "buildx", "build")] * (
        2 if strategy == "per-arch" else 1
    )
    head, *rest = runner.printed.splitlines()
    assert head.startswith(f"plan: {repo}:1.0, {repo}:latest for 2 platform(s)")
    plan_text = "\n".join([head, *takewhile(lambda line: line.startswith(" "), rest)])
    positions = [plan_text.index(f"$ {display(argv)}") for argv in ran]
    assert positions == sorted(positions)
    assert [name for name, _ in result.steps] == [
        "preflight", "qemu-setup", "builder-create", "build",
        *(["merge"] if strategy == "per-arch" else []), "promote",
    ]  # fmt: skip
    assert result.verify is not None
    assert result.verify.ok
    for tag in ("1.0", "latest"):
        found = client.head_manifest(ImageRef.parse(f"{repo}:{tag}"))
        assert found is not None
        assert found.digest == result.digest
    index = client.get_manifest(ImageRef.parse(repo).with_digest(result.digest))
    assert [str(d.platform) for d in index.images] == ["linux/amd64", "linux/arm64"]
    digests, index_digest = read_digest_map(s.output_dir)
    assert index_digest == result.digest
    assert set(digests) == {AMD64, ARM64}
    assert not [t for t in client.list_tags(ImageRef.parse(repo)) if "staging" in t]
