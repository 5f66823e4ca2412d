"""This repository's own tasks (never shipped): the README's demo.

``inv demo`` starts a registry on 127.0.0.1:5000 (kept running for you to poke at), builds
a multi-arch busybox base into it, then publishes examples/hello with
``inv multiarch.publish`` from that directory's tasks.py + invoke.yaml, as a user would.

It runs on the engine ``DOCKER_HOST`` (or the docker context) names, containerd or classic
image store. ``MULTIARCH_DEMO_TAG=NAME`` publishes ``examples/hello:NAME`` on the base
``demo/busybox:base-NAME`` instead of ``:demo`` and ``:base`` (and not ``:latest``), so a
second demo (say on another engine) leaves the first one's tags alone.
"""

from __future__ import annotations

import os
import shlex
import sys
import urllib.request
from pathlib import Path

from invoke import Collection, task
from invoke.exceptions import Exit

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("MULTIARCH_STATE_DIR", "/var/lib/multiarch-tasks"))
DEMO_REGISTRY = "127.0.0.1:5000"
DEMO_TAG = os.environ.get("MULTIARCH_DEMO_TAG") or "demo"
BASE_REF = f"{DEMO_REGISTRY}/demo/busybox:" + ("base" if DEMO_TAG == "demo" else f"base-{DEMO_TAG}")
# invoke puts this package's parent on sys.path only when loading it as a module.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _registry_up(host: str) -> bool:
    try:
        urllib.request.urlopen(f"http://{host}/v2/", timeout=2)
    except OSError:
        return False
    return True


@task
def registry(c):
    """Start the demo registry on 127.0.0.1:5000 unless one answers there."""
    from testbed.registry import Registry, RegistryConfig  # noqa: PLC0415

    if _registry_up(DEMO_REGISTRY):
        print(f"registry: {DEMO_REGISTRY} is up")
        return
    reg = Registry(RegistryConfig(root=STATE / "demo-registry", port=5000))
    print(f"registry: started on {reg.host} (pid {reg.proc.pid}, data in {reg.config.root})")


@task(pre=[registry])
def base(c):
    """Build the busybox base (amd64, arm64, arm/v7, s390x, ppc64le) into the demo registry."""
    from testbed.base_images import FULL_PLATFORMS, BaseImageError, build_base  # noqa: PLC0415

    try:
        digest = build_base(BASE_REF, FULL_PLATFORMS, STATE / "demo-base")
    except BaseImageError as err:
        raise Exit(f"base: error: {err}", code=1) from err
    print(f"base: {BASE_REF}@{digest}")


@task(pre=[base])
def demo(c):
    """Publish examples/hello for amd64, arm64 and s390x, then verify it (the README's job)."""
    # invoke.yaml's tags and BASE, unless MULTIARCH_DEMO_TAG asks for others: then flags
    # (invoke's env layer cannot replace a list from invoke.yaml), and verify runs outside
    # examples/hello so it checks that tag, not invoke.yaml's.
    ref = f"{DEMO_REGISTRY}/examples/hello:{DEMO_TAG}"
    platforms = ("linux/amd64", "linux/arm64", "linux/s390x")
    flags = [] if DEMO_TAG == "demo" else ["--tag", DEMO_TAG, "--build-arg", f"BASE={BASE_REF}"]
    example = ROOT / "examples" / "hello"
    with c.cd(str(example)):
        c.run(shlex.join([sys.executable, "-m", "invoke", "multiarch.publish", *flags]))
    multiarch = str(Path(sys.executable).parent / "multiarch")
    with c.cd(str(example if DEMO_TAG == "demo" else ROOT)):
        c.run(shlex.join([multiarch, "verify", ref, "--platforms", ",".join(platforms)]))
    for platform in platforms:
        # Each image runs (natively or under QEMU) and says what machine it is on.
        print(f"--- docker run --platform {platform} {ref}")
        c.run(
            shlex.join(
                ["docker", "run", "--rm", "--pull=always", "-q", "--platform", platform, ref]
            )
        )


ns = Collection(registry, base, demo)
