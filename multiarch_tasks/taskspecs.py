"""The tasks as data: every flag and every task, each declared once.

:class:`Flag` rows give each flag's name, help, short letter and the settings key it sets;
:class:`TaskSpec` rows give each task's docstring, flags and the step it calls (an
``api`` function, through a small adapter where the flags need translating).
:mod:`multiarch_tasks.tasks` makes each row an invoke task, and every task runs the body
in :mod:`multiarch_tasks.taskbody`. The file is long because the two tables are: the code
besides them is the two row types and the adapters.
"""

from __future__ import annotations

import inspect as pyinspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from multiarch_tasks import api
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner, redact_text
from multiarch_tasks.model.layoutref import parse_reference

# --- flags: each declared once ----------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """One task flag: its name, help, the settings key it sets and how.

    ``name`` is the Python parameter name; invoke shows it dashed (``build_arg`` ->
    ``--build-arg``, ``from_`` -> ``--from``). A flag with a ``key`` sets that settings
    key (a switch sets it to ``sets`` when given); one without is an argument of the task
    itself. ``positional`` flags are read in order without their name (``verify REF``).
    """

    name: str
    help: str
    key: str | None = None
    switch: bool = False
    sets: Any = True
    iterable: bool = False
    short: str | None = None
    positional: bool = False
    required: bool = False

    @property
    def default(self) -> Any:
        """What the task sees when the flag is not given."""
        return False if self.switch else None

    def parameter(self) -> pyinspect.Parameter:
        """The parameter invoke's parser reads this flag from."""
        kind = (
            pyinspect.Parameter.POSITIONAL_OR_KEYWORD
            if self.positional
            else pyinspect.Parameter.KEYWORD_ONLY
        )
        default = pyinspect.Parameter.empty if self.required else self.default
        annotation = (
            "bool" if self.switch else "list[str] | None" if self.iterable else "str | None"
        )
        return pyinspect.Parameter(self.name, kind, default=default, annotation=annotation)

    def setting(self, value: Any) -> Any:
        """The value for ``key``, or None when the flag was not given."""
        if self.switch:
            return self.sets if value else None
        if self.iterable and not value:
            return None  # invoke hands an empty list for a repeatable flag not given
        return value


_FLAGS = (
    Flag("image", "Image repository without tag, e.g. registry.example.com/team/app",
         key="image", short="i"),
    Flag("tag", "Tag to publish; repeatable or comma list (default: latest)",
         key="tags", iterable=True, short="t"),
    Flag("platforms", "Target platforms, docker's comma form: linux/amd64,linux/arm64",
         key="platforms", short="p"),
    Flag("context", "Build context directory (default: .)", key="context", short="c"),
    Flag("file", "Dockerfile path (default: CONTEXT/Dockerfile)", key="file", short="f"),
    Flag("build_arg", "Build argument K=V; repeatable", key="build_args", iterable=True,
         short="b"),
    Flag("secret", "buildx secret, id=ID,env=VAR or id=ID,src=FILE; repeatable (the value "
         "never reaches the command line)", key="secrets", iterable=True),
    Flag("output_dir", "Where digests.json is written (default: .multiarch)",
         key="output_dir", short="o"),
    Flag("builder", "buildx builder name (default: the one buildx would use)", key="builder",
         short="u"),
    Flag("strategy", "auto (from the builder and engine), per-arch (one build per platform, "
         "then merge) or multi-platform (one build)", key="strategy", short="s"),
    Flag("backend", "buildx or buildah", key="backend"),
    Flag("manifest_tool", "auto, imagetools, docker or native (this package, over the "
         "registry API)", key="manifest_tool", short="m"),
    Flag("attestations", "auto (buildx's default), on or off", key="attestations"),
    Flag("provenance", "buildx --provenance: mode=min or mode=max (min, max)", key="provenance"),
    Flag("sbom", "buildx --sbom: attach an SPDX SBOM per platform (verify: require one)",
         key="sbom", switch=True),
    Flag("sbom_generator", "The SBOM scanner image (default: BuildKit's "
         "docker/buildkit-syft-scanner)", key="sbom_generator"),
    Flag("cache", "auto (gha in a GitHub job with its cache service, else registry where the "
         "builder exports a cache), gha, registry (both one cache per platform, mode=max), "
         "inline or none (default)", key="cache"),
    Flag("no_cache", "buildx --no-cache: build every step again (buildah: --no-cache)",
         key="no_cache", switch=True),
    Flag("pull", "buildx --pull: fetch the base images again (buildah: --pull=always; CI "
         "templates: on tag builds)", key="pull", switch=True),
    Flag("per_arch_tags", "auto (only where the builder cannot push by digest) or always",
         key="per_arch_tags"),
    Flag("jobs", "How many builds (or rehearsed jobs of a stage) run at once (default: all)",
         key="jobs",
         short="j"),
    Flag("deep", "Read the ELF headers in every layer, the base image's too (publish's "
         "default reads only the layers its build added; verify's reads none)",
         key="verify_deep", switch=True, sets="all", short="d"),
    Flag("no_deep", "Read no ELF header (publish reads those of the layers its build added "
         "by default)", key="verify_deep", switch=True, sets="off"),
    Flag("no_verify", "Skip the verify step", key="verify", switch=True, sets=False),
    Flag("verify_attestations", "Verify each platform's attestations: subjects, provenance "
         "platform and source, SBOM with --sbom", key="verify_attestations", switch=True),
    Flag("sign", "Sign the verified index with cosign before any tag moves", key="sign",
         switch=True),
    Flag("sign_key", "cosign key file or KMS URI (awskms://, gcpkms://, hashivault://, "
         "azurekms://, k8s://); none = keyless with the CI job's OIDC token", key="sign_key"),
    Flag("sign_platforms", "Also sign (verify: require a signature on) each platform manifest",
         key="sign_platforms", switch=True),
    Flag("no_tlog", "No transparency log: sign with --tlog-upload=false, verify with "
         "--insecure-ignore-tlog", key="sign_tlog", switch=True, sets=False),
    Flag("signed_by", "Require a valid cosign signature by this public key (file or KMS URI)",
         key="signed_by"),
    Flag("certificate_identity", "Keyless: require a signature whose certificate names this "
         "identity", key="certificate_identity"),
    Flag("certificate_oidc_issuer", "Keyless: ... issued by this OIDC issuer",
         key="certificate_oidc_issuer"),
    Flag("no_preflight", "Skip the preflight step", key="preflight", switch=True, sets=False),
    Flag("allow_unreachable", "Warn instead of failing on unreachable registries",
         key="allow_unreachable", switch=True),
    Flag("mode", "auto (inspect, add what is missing), docker (binfmt image), host or off",
         key="qemu_mode"),
    Flag("driver", "docker, docker-container or remote", key="driver"),
    Flag("use", "Also make it the current builder", key="use_builder", switch=True),
    Flag("json", "Print the result as JSON (progress goes to stderr)", switch=True),
    Flag("progress", "auto, tty (a live view), plain (one line per event, each platform's "
         "prefixed) or json (one JSON event per line on stderr); auto: tty on a terminal "
         "outside CI, else plain", key="progress"),
    Flag("from_", "Comma list of directories holding digests.json"),
    Flag("ref", "Image reference, or oci-layout://DIR[:TAG] for an OCI layout on disk (the "
         "first argument: verify REF)", positional=True, required=True),
    Flag("layout", "No registry: build writes each platform to an OCI layout in OUTPUT_DIR "
         "(buildx --output type=oci); merge joins the shards' layouts into OUTPUT_DIR/layout",
         key="layout", switch=True),
    Flag("run", "Run each platform's image with verify_run from settings", switch=True),
    Flag("run_cmd", "Run each platform's image with this command (implies --run; sets "
         "verify_run), e.g. --run-cmd '/app --version'", key="verify_run"),
    Flag("allow_single", "Accept a single-platform manifest", switch=True),
    Flag("platform", "Show this platform's config summary"),
    Flag("src", "Source image reference (the first argument)", positional=True),
    Flag("dest", "Destination reference (the second argument)", positional=True),
    Flag("tool", "auto, skopeo, imagetools or native (default: auto)"),
    Flag("from_file", "File of 'SRC DEST' lines to mirror"),
    Flag("no_attestations", "Drop attestation manifests", switch=True),
    Flag("no_signatures", "mirror: leave cosign's signature and attestation tags "
         "(sha256-<hex>.sig/.att/.sbom) behind; copied by default, as cosign copy does",
         switch=True),
    Flag("provider", "github or gitlab (default: github)"),
    Flag("output", "Write to this file (its directory is created) instead of stdout"),
    Flag("runners", "native (a native runner per arch where the provider has one) or qemu"),
    Flag("variant", "docker; on gitlab also kaniko or buildah"),
    Flag("registry", "Registry to publish to: without an image, IMAGE is "
         "REGISTRY/<owner>/<repo> from the git remote (publish also infers the tags from git "
         "and the platforms every base offers); ci-template's jobs log in to it"),
    Flag("local_registry", "ci-template: allow a loopback registry (runners on this machine: "
         "a ci-rehearse, or self-hosted runners on this host)", switch=True),
    Flag("login", "auto, token (GITHUB_TOKEN / CI_REGISTRY_*), secrets or none"),
    Flag("runner_label", "PLATFORM=LABEL: that platform's shard runs natively there; "
         "repeatable", iterable=True),
    Flag("pipeline", "The pipeline file ci-template wrote (the first argument)",
         positional=True, required=True),
    Flag("project", "The project directory (default: .)"),
    Flag("work_dir", "Where job workspaces go (default: PROJECT/.multiarch/rehearsal)"),
)  # fmt: skip
FLAGS: dict[str, Flag] = {f.name: f for f in _FLAGS}

INDEX_FLAGS = ("image", "tag", "platforms", "output_dir", "manifest_tool", "attestations", "json")
BUILD_FLAGS = (
    "image",
    "tag",
    "platforms",
    "context",
    "file",
    "build_arg",
    "secret",
    "output_dir",
    "builder",
    "strategy",
    "backend",
    "attestations",
    "provenance",
    "sbom",
    "sbom_generator",
    "cache",
    "no_cache",
    "pull",
    "per_arch_tags",
    "jobs",
    "json",
    "progress",
)
PUBLISH_FLAGS = (
    *BUILD_FLAGS,
    "manifest_tool",
    "deep",
    "no_deep",
    "no_verify",
    "no_preflight",
    "registry",
    "sign",
    "sign_key",
    "sign_platforms",
    "no_tlog",
    "verify_attestations",
)
SIGNED_BY_FLAGS = (
    "signed_by",
    "certificate_identity",
    "certificate_oidc_issuer",
    "sign_platforms",
    "no_tlog",
)


# --- tasks: each declared once ---------------------------------------------------------


Args = Mapping[str, Any]
Step = Callable[[Settings, Runner, Args], Any]


@dataclass(frozen=True)
class TaskSpec:
    """One task: its name, docstring (first line shown by ``--list``), flags and step.

    ``step`` gets the resolved settings, a runner and every flag's raw value; ``check``
    exits 1 when the step's result is not ok.
    """

    name: str
    doc: str
    flags: tuple[str, ...]
    step: Step
    check: bool = False
    # Flags this task reads differently from the table (verify's --attestations is a
    # switch; build's is a value): same name, this task's row.
    own: tuple[Flag, ...] = ()

    def flag(self, name: str) -> Flag:
        """The row of flag ``name`` for this task."""
        return next((f for f in self.own if f.name == name), None) or FLAGS[name]


def _api(name: str) -> Step:
    """A step that calls ``api.<name>(settings, runner)``, looked up when the task runs."""
    return lambda s, r, _: getattr(api, name)(s, r)


def _merge(s: Settings, r: Runner, a: Args) -> Any:
    return api.merge(s, r, directories=[d for d in (a["from_"] or "").split(",") if d])


def _verify(s: Settings, r: Runner, a: Args) -> Any:
    ref = parse_reference(a["ref"])
    # verify REF knows no base image, so auto (publish's default) reads no layer here.
    # REF is used as given: the project's configured tags are not REF's (a project naming
    # other tags made `verify REF` fail there and pass in another directory; issue 17).
    return api.verify(
        s,
        ref,
        r,
        deep=s.deep_scope == "all",
        run=a["run"] or a["run_cmd"] is not None,
        allow_single=a["allow_single"],
        signatures=bool(s.signed_by or s.certificate_identity or s.certificate_oidc_issuer),
        check_tags=False,
        attestations=s.verify_attestations,
    )


def _inspect(s: Settings, r: Runner, a: Args) -> Any:
    return api.inspect(s, parse_reference(a["ref"]), r, platform=a["platform"])


def _mirror(s: Settings, r: Runner, a: Args) -> Any:
    return api.mirror(
        s,
        r,
        src=a["src"] or None,
        dest=a["dest"] or None,
        tool=a["tool"] or "auto",
        from_file=a["from_file"],
        platforms_given=a["platforms"] is not None,
        attestations=not a["no_attestations"],
        signatures=not a["no_signatures"],
    )


def _publish(s: Settings, r: Runner, a: Args) -> Any:
    if a["registry"]:
        # Zero-config publish: what was inferred is printed before anything runs.
        from multiarch_tasks.planning.infer import infer  # noqa: PLC0415

        inferred = infer(s, r, registry=a["registry"])
        r.say(inferred.render())
        s = inferred.settings
    return api.publish(s, r)


def _ci_template(s: Settings, r: Runner, a: Args) -> str:
    options: dict[str, Any] = {
        k: a[k] for k in ("runners", "variant", "registry", "login") if a[k] is not None
    }
    if a["local_registry"]:
        options["local_registry"] = True
    if a["registry"] and not s.image:
        # --registry means what it means to publish: IMAGE is REGISTRY/<owner>/<repo>.
        from multiarch_tasks.planning.infer import infer_image  # noqa: PLC0415

        image, why = infer_image(s, r, a["registry"])
        r.say(why)
        s = replace(s, image=image)
    if a["runner_label"]:
        options["runner_labels"] = dict(item.split("=", 1) for item in a["runner_label"])
    text = api.ci_template(s, a["provider"] or "github", r, **options)
    # A written pipeline is output too: the known secret values never reach the file.
    text = redact_text(text, r.secrets, urls=False)
    if not a["output"]:
        return text
    from multiarch_tasks.ci.templates import write_template  # noqa: PLC0415

    write_template(a["output"], text)
    return ""


def _ci_rehearse(s: Settings, r: Runner, a: Args) -> Any:
    return api.ci_rehearse(
        s,
        a["pipeline"],
        r,
        project=a["project"] or ".",
        work_dir=a["work_dir"],
        jobs=int(a["jobs"] or 0),
        image=a["image"],
        registry=a["registry"],
        event=a["event"] or "push",
    )


SPECS = (
    TaskSpec(
        "qemu_setup",
        "Register QEMU emulators in binfmt_misc for platforms the builder cannot run natively.",
        ("platforms", "mode", "json"),
        _api("qemu_setup"),
    ),
    TaskSpec(
        "builder_create",
        "Create the buildx builder, or reuse it when it exists and covers the platforms.",
        ("builder", "platforms", "driver", "use", "json"),
        _api("builder_create"),
    ),
    TaskSpec(
        "build",
        "Build and push one image per platform; write digests.json.",
        (*BUILD_FLAGS, "layout"),
        _api("build"),
    ),
    TaskSpec(
        "manifest_create",
        "Assemble the multi-arch index from the per-arch images (does not move the tag yet).",
        INDEX_FLAGS,
        _api("manifest_create"),
    ),
    TaskSpec(
        "manifest_push",
        "Push the index assembled by manifest-create to every tag.",
        INDEX_FLAGS,
        _api("manifest_push"),
    ),
    TaskSpec(
        "merge",
        "Merge digest maps from several runners into one index; verify it, then tag it.",
        ("from_", *INDEX_FLAGS, "sign", "sign_key", "sign_platforms", "no_tlog", "layout"),
        _merge,
        check=True,
    ),
    TaskSpec(
        "publish",
        "Preflight, set up QEMU and the builder, build every platform, merge, push, verify.",
        PUBLISH_FLAGS,
        _publish,
        check=True,
    ),
    TaskSpec(
        "verify",
        "Prove every platform of REF is what it claims: index, configs, binaries.",
        (
            "ref",
            "platforms",
            "deep",
            "no_deep",
            "run",
            "run_cmd",
            "allow_single",
            "attestations",
            "sbom",
            *SIGNED_BY_FLAGS,
            "json",
        ),
        _verify,
        check=True,
        own=(
            Flag(
                "attestations",
                "Check each platform's attestations: they refer to its "
                "manifest, claim its platform, record the build's source",
                key="verify_attestations",
                switch=True,
            ),
            Flag(
                "sbom", "With --attestations: require an SBOM per platform", key="sbom", switch=True
            ),
        ),
    ),
    TaskSpec(
        "inspect",
        "Show REF's index as a table: platform, digest, size, created, attestation.",
        ("ref", "platform", "json"),
        _inspect,
        check=True,  # a platform that could not be read fails the run (its row says why)
    ),
    TaskSpec(
        "preflight",
        "Check every base image has every target platform, and the host can build them.",
        ("platforms", "context", "file", "build_arg", "builder", "allow_unreachable", "json"),
        _api("preflight"),
        check=True,
    ),
    TaskSpec(
        "mirror",
        "Copy a multi-arch image with all its platforms to another registry or repository.",
        (
            "src",
            "dest",
            "platforms",
            "tool",
            "from_file",
            "no_attestations",
            "no_signatures",
            "json",
            "progress",
        ),
        _mirror,
        check=True,
    ),
    TaskSpec(
        "ci_template",
        "Print a CI pipeline that builds per arch on separate runners and merges.\n\n"
        "The flags --image, --tag, --platforms, --file and --context go into the file's"
        " settings comment and into the jobs' commands. Everything else (build args,"
        " tag_rules, cache, attestations...) the jobs read from the project's settings when"
        " they run: [tool.multiarch-tasks] in pyproject.toml, invoke.yaml,"
        " INVOKE_MULTIARCH_* (see docs/ci.md). The install line comes from how"
        " multiarch-tasks is installed here, or the install setting.",
        (
            "image",
            "tag",
            "platforms",
            "file",
            "context",
            "provider",
            "output",
            "runners",
            "variant",
            "registry",
            "login",
            "runner_label",
            "sign",
            "sign_key",
            "local_registry",
        ),
        _ci_template,
    ),
    TaskSpec(
        "lint",
        "Find Dockerfile hazards that ship one architecture to every platform.",
        ("file", "context", "build_arg", "platforms", "json"),
        _api("lint"),
        check=True,
    ),
    TaskSpec(
        "doctor",
        "Check this machine can publish: engine, buildx, store, QEMU, builder, registry.",
        ("image", "platforms", "json"),
        _api("doctor"),
        check=True,
    ),
    TaskSpec(
        "ci_rehearse",
        "Run a generated pipeline here: each shard in its own workspace, then the merge.",
        (
            "pipeline",
            "project",
            "work_dir",
            "jobs",
            "image",
            "registry",
            "event",
            "json",
            "progress",
        ),
        _ci_rehearse,
        check=True,
        # The scratch repository, not the project's image: no settings key.
        own=(
            Flag(
                "image",
                "Scratch repository to publish to (default: the project's image with "
                "-rehearsal appended, on a local registry when one answers)",
                short="i",
            ),
            Flag(
                "registry",
                "Registry for the scratch repository IMAGE-rehearsal "
                "(default: a local one when it answers at 127.0.0.1:5000, else the image's)",
            ),
            Flag(
                "event",
                "What the pipeline runs for: push (default), pull_request (one from the "
                "repository) or fork (a fork's pull request: no secrets; on GitLab, run in "
                "the fork's project)",
            ),
        ),
    ),
)
