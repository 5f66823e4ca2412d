"""The table of known failures: a pattern over a failed command's output, its cause, its fix.

Each :class:`Signature` row of :data:`SIGNATURES` pairs a regular expression with a
function that words the cause and the fix, naming what the :class:`Context` knows (the
image, the platform). Table order matters: specific signatures come before generic ones.
Matching is done by :mod:`.diagnose`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Context:
    """What the failing step was doing: image, platform(s), the base image if known."""

    image: str = ""
    platform: str = ""
    platforms: tuple[str, ...] = ()
    step: str = ""


@dataclass(frozen=True)
class Signature:
    """One known failure: ``id``, the pattern over the output, how to explain it."""

    id: str
    pattern: re.Pattern[str]
    explain: Callable[[re.Match[str], Context], tuple[str, str]]


def _arg(ctx: Context) -> str:
    """The platform as a command argument (``PLATFORM`` when unknown)."""
    return _platform(ctx, "PLATFORM")


def _platform(ctx: Context, default: str = "the target platform") -> str:
    if ctx.platform:
        return ctx.platform
    if len(ctx.platforms) == 1:
        return ctx.platforms[0]
    return default


def _manifest_list(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        (
            f"{m.group('ref')} is an index, not a single image (buildx >= 0.10 adds a provenance"
            " attestation to each per-arch push), and `docker manifest create` only takes images"
        ),
        (
            "merge with `multiarch merge` (manifest_tool = imagetools or native read through"
            " indexes), or build the per-arch tags with attestations = off"
        ),
    )


def _no_match(m: re.Match[str], ctx: Context) -> tuple[str, str]:
    # buildx prints the bare error first and the image on a later line.
    named = _NO_MATCH_REF.search(m.string)
    base = named.group("ref") if named else "a base image"
    plat = _platform(ctx)
    return (
        f"base image {base} has no {plat}",
        (
            f"run `multiarch mirror SRC {base}` from a source that has {plat} (a `docker"
            f" pull/tag/push` copy keeps one platform), or drop {plat} from --platforms;"
            " `multiarch preflight` lists what each base image offers"
        ),
    )


def _exec_format(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    plat = _platform(ctx)
    return (
        (
            f"a program was started that is not built for {plat}: either no QEMU handler for"
            f" {plat} is registered, or the image holds another architecture's binaries"
        ),
        (
            "run `multiarch doctor` (binfmt row) and"
            f" `multiarch qemu-setup --platforms {_arg(ctx)}`;"
            " if emulation is fine, `multiarch verify --deep IMAGE` names the foreign program"
            " and `multiarch lint` the Dockerfile line that put it there"
        ),
    )


def _invalid_elf(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    plat = _platform(ctx)
    return (
        (
            f"QEMU for {plat} was handed a program of another architecture: a base image or"
            " artefact for the wrong platform (a single-arch mirror, or a hard-coded download)"
        ),
        (
            "run `multiarch preflight` (base images x platforms) and `multiarch lint` (arch"
            " literals, ARG TARGETARCH=...); re-mirror a partial base with `multiarch mirror`"
        ),
    )


def _qemu_segv(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    plat = _platform(ctx)
    return (
        (
            f"a program crashed under QEMU user emulation of {plat} (old QEMU versions crash"
            " on Go, Node.js and JIT runtimes)"
        ),
        (
            f"update the emulator (`multiarch qemu-setup --platforms {_arg(ctx)}` with a newer"
            " binfmt_image), cross-compile in a --platform=$BUILDPLATFORM stage, or build"
            f" {plat} on a native node (nodes setting)"
        ),
    )


def _rate_limit(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        "the registry rate-limits this client (Docker Hub: anonymous and free pulls per 6h)",
        (
            "`docker login` to raise the limit, or copy the images once with `multiarch mirror"
            " SRC DEST` into your own registry and use registry_mirrors"
        ),
    )


def _http_https(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    host = m.group("host") or "the registry"
    return (
        f"{host} serves plain HTTP but was contacted over HTTPS",
        (
            f"add {host} to insecure_registries (`--insecure-registry {host}`); for BuildKit"
            f' builders also set `[registry."{host}"] http = true` in buildkitd_config, and for'
            ' dockerd "insecure-registries" in daemon.json'
        ),
    )


def _push_by_digest(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        "the `docker` buildx driver cannot push by digest",
        (
            "use strategy = per-arch with per-arch tags, or a docker-container builder:"
            " `multiarch builder-create --driver docker-container`"
        ),
    )


def _exporter_lists(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        "a multi-platform image cannot be loaded into the classic docker image store",
        (
            "push it instead (push = true), load one platform at a time, or turn on the"
            ' containerd image store (daemon.json {"features": {"containerd-snapshotter": true}})'
        ),
    )


def _attest_driver(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        "the `docker` driver on the classic image store cannot attach attestations",
        (
            "set attestations = off, or use a docker-container builder (`multiarch"
            " builder-create --driver docker-container`), or the containerd image store"
        ),
    )


def _multi_platform_driver(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        "the `docker` driver on the classic image store builds one platform per build",
        (
            "set strategy = per-arch (one build per platform, then merge), or create a"
            " docker-container builder (`multiarch builder-create --driver docker-container`),"
            " or turn on the containerd image store"
        ),
    )


def _blob_unknown(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        (
            "a manifest points at a blob this repository does not have: a filtered copy"
            " (one platform, or skopeo without --multi-arch=all) left the index naming"
            " platforms whose layers were never copied"
        ),
        (
            "copy the whole index with `multiarch mirror SRC DEST` (all platforms, blobs"
            " mounted or copied before the index)"
        ),
    )


def _duplicate_endpoint(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    endpoint = m.group("endpoint") or "that endpoint"
    return (
        f"the builder already has a node at {endpoint} (`buildx create --append` twice)",
        (
            "give each entry of nodes its own endpoint, or remove the builder (`docker buildx"
            " rm NAME`) and recreate it with `multiarch builder-create`"
        ),
    )


def _no_remote_endpoint(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        "a `remote` buildx driver needs the address of a running buildkitd",
        (
            "set the node's endpoint (tcp://HOST:1234 or unix:///path/buildkitd.sock) in"
            " nodes, or use driver = docker-container"
        ),
    )


def _binfmt_mount(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        (
            "the binfmt installer could not mount binfmt_misc (the container is not privileged,"
            " or the kernel lacks binfmt_misc)"
        ),
        (
            "as root: `mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc`, then"
            " `multiarch qemu-setup` (qemu_mode = host uses update-binfmts instead of a container)"
        ),
    )


def _unknown_unknown(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    return (
        (
            "a build was started for platform unknown/unknown: an attestation entry of a"
            " buildx index was taken for an image platform (buildah --all-platforms)"
        ),
        (
            "list the platforms explicitly (--platforms), or push the base without"
            " attestations (attestations = off)"
        ),
    )


def _illegal_instruction(m: re.Match[str], ctx: Context) -> tuple[str, str]:  # noqa: ARG001
    plat = _platform(ctx)
    return (
        (
            f"the program uses CPU instructions the CPU running {plat} lacks (ARMv7 code on an"
            " ARMv6 board such as a Raspberry Pi Zero/1, or x86-64-v2/v3 code on an older CPU)"
        ),
        (
            "build linux/arm/v6 from a real v6 base (Debian armel, Alpine armhf), and check with"
            " `multiarch verify --deep IMAGE`, which tells arm/v6 from arm/v7 programs"
        ),
    )


def _sig(
    name: str, pattern: str, rule: Callable[[re.Match[str], Context], tuple[str, str]]
) -> Signature:
    return Signature(name, re.compile(pattern, re.IGNORECASE), rule)


_REF = r"(?P<ref>[\w.\-/:@]+)"
_NO_MATCH_REF = re.compile(r" for " + _REF + r": no match for platform in manifest")
SIGNATURES: tuple[Signature, ...] = (
    _sig("manifest-list", _REF + r" is a manifest list", _manifest_list),
    _sig("no-match-platform", r"no match for platform in manifest", _no_match),
    _sig("invalid-elf", r"Invalid ELF image for this architecture", _invalid_elf),
    _sig("exec-format-error", r"exec format error", _exec_format),
    _sig("qemu-segfault", r"qemu: uncaught target signal 11", _qemu_segv),
    _sig("rate-limited", r"429 Too Many Requests|toomanyrequests", _rate_limit),
    _sig(
        "http-to-https",
        r"(?:\"https://(?P<host>[^/\"]+)/[^\"]*\": )?http: server gave HTTP response to HTTPS"
        r" client",
        _http_https,
    ),
    _sig(
        "push-by-digest-docker-driver",
        r"push-by-digest is currently not implemented for docker driver",
        _push_by_digest,
    ),
    _sig(
        "docker-exporter-manifest-list",
        r"docker exporter does not (?:currently )?support exporting manifest lists",
        _exporter_lists,
    ),
    _sig(
        "attestation-docker-driver",
        r"Attestation is not supported for the docker driver",
        _attest_driver,
    ),
    _sig(
        "multi-platform-docker-driver",
        r"Multi-platform build is not supported for the docker driver",
        _multi_platform_driver,
    ),
    _sig("blob-unknown", r"blob unknown to registry|BLOB_UNKNOWN", _blob_unknown),
    _sig(
        "duplicate-endpoint",
        r"invalid duplicate endpoint(?: (?P<endpoint>\S+))?",
        _duplicate_endpoint,
    ),
    _sig("no-remote-endpoint", r"no remote endpoint provided", _no_remote_endpoint),
    _sig("binfmt-mount", r"cannot mount binfmt_misc filesystem", _binfmt_mount),
    _sig(
        "unknown-platform-build",
        r"\[unknown/unknown\]: creating build container",
        _unknown_unknown,
    ),
    _sig("illegal-instruction", r"Illegal instruction", _illegal_instruction),
)
