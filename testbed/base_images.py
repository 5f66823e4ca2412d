"""Real multi-arch base images with a shell, from Debian's ``busybox-static``.

No Docker Hub here, so the test bed makes its own base: per architecture the static
busybox from Debian's archive (a separate apt state per foreign architecture so the host's
dpkg is untouched), then ``FROM scratch`` + ``COPY busybox-$TARGETARCH`` + ``busybox
--install``, built and pushed with buildx. The ``.deb`` files are cached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

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


def cache_dir() -> Path:
    """Where downloaded busybox binaries are kept between runs (MULTIARCH_CACHE_DIR)."""
    base = os.environ.get("MULTIARCH_CACHE_DIR") or Path("~/.cache/multiarch-tasks").expanduser()
    path = Path(base) / "busybox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


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
            msg = f"cannot download busybox-static:{debian_arch}: {done.stderr.strip()[-500:]}"
            raise RuntimeError(msg)
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


def build_base(ref: str, platforms: tuple[str, ...], workdir: Path) -> str:
    """Build and push a busybox base for ``platforms`` to ``ref``; return the index digest."""
    context = prepare_context(workdir / ref.replace("/", "_").replace(":", "_"), platforms)
    metadata = context / "metadata.json"
    done = _run(
        [
            "docker",
            "buildx",
            "build",
            "--platform",
            ",".join(platforms),
            "--provenance=false",
            "--sbom=false",
            "--tag",
            ref,
            "--push",
            "--metadata-file",
            str(metadata),
            str(context),
        ]
    )
    if done.returncode != 0:
        msg = f"building base image {ref} failed: {done.stderr[-2000:]}"
        raise RuntimeError(msg)
    import json  # noqa: PLC0415

    return str(json.loads(metadata.read_text())["containerimage.digest"])
