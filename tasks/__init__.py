"""This repository's own tasks (never shipped): the README's demo.

``inv demo`` starts a registry on 127.0.0.1:5000 (kept running for you to poke at), builds
a multi-arch busybox base into it, then publishes examples/hello with
``inv multiarch.publish`` from that directory's tasks.py + invoke.yaml, as a user would.
"""

from __future__ import annotations

import os
import shlex
import sys
import urllib.request
from pathlib import Path

from invoke import Collection, task

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("MULTIARCH_STATE_DIR", "/var/lib/multiarch-tasks"))
DEMO_REGISTRY = "127.0.0.1:5000"
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
    from testbed.base_images import FULL_PLATFORMS, build_base  # noqa: PLC0415

    ref = f"{DEMO_REGISTRY}/demo/busybox:base"
    digest = build_base(ref, FULL_PLATFORMS, STATE / "demo-base")
    print(f"base: {ref}@{digest}")


@task(pre=[base])
def demo(c):
    """Publish examples/hello for amd64, arm64 and s390x, then verify it (the README's job)."""
    with c.cd(str(ROOT / "examples" / "hello")):
        c.run(shlex.join([sys.executable, "-m", "invoke", "multiarch.publish"]))
        multiarch = str(Path(sys.executable).parent / "multiarch")
        ref = f"{DEMO_REGISTRY}/examples/hello:demo"
        platforms = ("linux/amd64", "linux/arm64", "linux/s390x")
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
