"""Real multi-arch base images with a shell, from Debian's ``busybox-static``.

No Docker Hub here, so the test bed makes its own base: per architecture the static
busybox from Debian's archive (a separate apt state per foreign architecture so the host's
dpkg is untouched), then ``FROM scratch`` + ``COPY busybox-$TARGETARCH`` + ``busybox
--install``, built and pushed with buildx. The ``.deb`` files are cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from testbed.retry import run_retrying

# Debian architecture -> docker TARGETARCH (+ variant) and OCI platform
DEBIAN_ARCHES = {
    "amd64": ("amd64", "linux/amd64"),
    "arm64": ("arm64", "linux/arm64"),
    "armhf": ("arm", "linux/arm/v7"),
    "s390x": ("s390x", "linux/s390x"),
    "ppc64el": ("ppc64le", "linux/ppc64le"),
}
FULL_PLATFORMS = tuple(p for _, p in DEBIAN_ARCHES.values())
PARTIAL_PLATFORMS = ("linux/amd64", "linux/arm64")

DOCKERFILE = """\
FROM scratch
ARG TARGETARCH
ARG TARGETVARIANT
COPY busybox-${TARGETARCH}${TARGETVARIANT} /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh"]
"""


class BaseImageError(RuntimeError):
    """Building a base image failed; the message is one line naming what and why."""


def cache_dir() -> Path:
    """Where downloaded busybox binaries are kept between runs (MULTIARCH_CACHE_DIR)."""
    base = os.environ.get("MULTIARCH_CACHE_DIR") or Path("~/.cache/multiarch-tasks").expanduser()
    path = Path(base) / "busybox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def _docker(
    argv: list[str], docker_host: str | None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a docker CLI command against ``docker_host`` (None: whatever the environment says)."""
    env = {**os.environ, "DOCKER_HOST": docker_host} if docker_host else None
    return _run(argv, env=env, timeout=timeout)


def _reason(stderr: str) -> str:
    """The line of a docker/buildx error output that says what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no error output"])[-1][-500:]


def _where(docker_host: str | None) -> str:
    host = docker_host or os.environ.get("DOCKER_HOST")
    return f"DOCKER_HOST={host}" if host else "the default docker context"


def image_store(docker_host: str | None = None) -> str:
    """``"containerd"`` or ``"classic"``: the image store of the engine ``docker_host`` names.

    ``docker info --format '{{.DriverStatus}}'`` reads ``[[driver-type
    io.containerd.snapshotter.v1]]`` on the containerd store; on the classic one it is the
    graph driver's status (``[[Backing Filesystem extfs] [Supports d_type true] ...]``).
    """
    try:
        done = _docker(["docker", "info", "--format", "{{.DriverStatus}}"], docker_host, 30)
    except subprocess.TimeoutExpired as err:
        msg = f"docker info did not answer within {err.timeout} s ({_where(docker_host)})"
        raise BaseImageError(msg) from err
    except FileNotFoundError as err:
        msg = "docker CLI not on PATH (run scripts/engine-up)"
        raise BaseImageError(msg) from err
    if done.returncode != 0:
        msg = f"docker info failed ({_where(docker_host)}): {_reason(done.stderr)}"
        raise BaseImageError(msg)
    return "containerd" if "containerd.snapshotter" in done.stdout else "classic"


def busybox_binary(debian_arch: str) -> Path:
    """Path of the static busybox for ``debian_arch``, downloading the .deb once."""
    cache = cache_dir()
    binary = cache / f"busybox-{debian_arch}"
    if binary.exists():
        return binary
    state = cache / f"apt-{debian_arch}"
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    opts = [
        f"-oAPT::Architecture={debian_arch}",
        f"-oAPT::Architectures={debian_arch}",
        f"-oDir::State::Lists={state / 'lists'}",
        f"-oDir::Cache={state / 'cache'}",
        "-oDebug::NoLocking=1",
        "-qq",
    ]
    # `update` may exit 100 over a mirror-sync hiccup in one list; judge by `download`.
    _run(["apt-get", *opts, "update"])
    with tempfile.TemporaryDirectory() as tmp:
        done = _run(["apt-get", *opts, "download", f"busybox-static:{debian_arch}"], cwd=tmp)
        debs = list(Path(tmp).glob("busybox-static_*.deb"))
        if done.returncode != 0 or not debs:
            msg = f"cannot download busybox-static:{debian_arch}: {_reason(done.stderr)}"
            raise BaseImageError(msg)
        extract = Path(tmp) / "x"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(extract)], check=True)
        shutil.copy2(extract / "bin" / "busybox", binary)
    return binary


def prepare_context(context: Path, platforms: tuple[str, ...]) -> Path:
    """Write the base image's Dockerfile and busybox binaries into ``context``."""
    context.mkdir(parents=True, exist_ok=True)
    wanted = set(platforms)
    for debian_arch, (target_arch, platform) in DEBIAN_ARCHES.items():
        if platform not in wanted:
            continue
        variant = platform.split("/")[2] if platform.count("/") == 2 else ""  # noqa: PLR2004
        shutil.copy2(busybox_binary(debian_arch), context / f"busybox-{target_arch}{variant}")
    (context / "Dockerfile").write_text(DOCKERFILE)
    return context


def per_arch_ref(ref: str, platform: str) -> str:
    """``HOST/REPO:TAG-os-arch[-variant]``: where the classic store's build of ``platform`` goes."""
    return f"{ref}-{platform.replace('/', '-')}"


def _buildx_build(
    platforms: tuple[str, ...], ref: str, context: Path, docker_host: str | None
) -> Path:
    metadata = context / f"metadata-{ref.rpartition(':')[2]}.json"
    argv = [
        "docker", "buildx", "build",
        "--platform", ",".join(platforms),
        "--provenance=false", "--sbom=false",
        "--tag", ref,
        "--push",
        "--metadata-file", str(metadata),
        str(context),
    ]  # fmt: skip
    # Distribution 2.8 on loopback sometimes answers a HEAD with 500 while several
    # platforms push at once (seen here): the bed retries what the product retries.
    env = {**os.environ, "DOCKER_HOST": docker_host} if docker_host else None
    done = run_retrying(argv, env=env, timeout=None)
    if done.returncode != 0:
        msg = f"building base image {ref} for {','.join(platforms)} failed: {_reason(done.stderr)}"
        raise BaseImageError(msg)
    return metadata


def build_base(
    ref: str, platforms: tuple[str, ...], workdir: Path, docker_host: str | None = None
) -> str:
    """Build and push a busybox base for ``platforms`` to ``ref``; return the index digest.

    ``docker_host`` selects the engine (None: the environment's); its image store decides
    between one multi-platform build and per-platform builds merged by imagetools.
    """
    context = prepare_context(workdir / ref.replace("/", "_").replace(":", "_"), platforms)
    if image_store(docker_host) == "containerd":
        metadata = _buildx_build(platforms, ref, context, docker_host)
        return str(json.loads(metadata.read_text())["containerimage.digest"])
    sources = []
    for platform in platforms:
        sources.append(per_arch_ref(ref, platform))
        _buildx_build((platform,), sources[-1], context, docker_host)
    merged = _docker(
        ["docker", "buildx", "imagetools", "create", "--tag", ref, *sources], docker_host
    )
    if merged.returncode != 0:
        msg = f"merging {', '.join(sources)} into {ref} failed: {_reason(merged.stderr)}"
        raise BaseImageError(msg)
    raw = _docker(["docker", "buildx", "imagetools", "inspect", "--raw", ref], docker_host)
    if raw.returncode != 0:
        msg = f"reading back {ref} failed: {_reason(raw.stderr)}"
        raise BaseImageError(msg)
    return "sha256:" + hashlib.sha256(raw.stdout.encode()).hexdigest()
