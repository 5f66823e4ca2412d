"""Compare a 5-platform verify's wall time with a 1-platform verify's, in the same run.

Starts a throwaway Distribution registry (testbed), writes a synthetic 5-platform image
(config + a ~2 MiB gzip layer holding an ELF program per platform) and a 1-platform
index over one of them, then times ``verify`` (shallow and ``--deep``) on each. On
loopback a request costs well under a millisecond, which hides what concurrency buys on
a real network, so ``--latency-ms`` adds a fixed delay to every request (a simulated
round trip); the default runs both 0 and 20 ms.

    .venv/bin/python bench/verify_concurrency.py [--rounds 5] [--latency-ms 0 20]

A serial client would show a ratio near 5; the concurrent one stays well under it.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from multiarch_tasks.checks.verify.check import verify
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model import oci
from multiarch_tasks.model.platforms import Platform, parse_platforms
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from testbed import images
from testbed.registry import Registry, RegistryConfig

PLATFORMS = {
    "linux/amd64": 62,
    "linux/arm64": 183,
    "linux/arm/v7": 40,
    "linux/s390x": 22,
    "linux/ppc64le": 21,
}


def elf(machine: int) -> bytes:
    wide = 1 if machine == 40 else 2
    big = machine == 22
    order = "big" if big else "little"
    return (
        b"\x7fELF"
        + bytes([wide, 2 if big else 1, 1])
        + bytes(9)
        + (2).to_bytes(2, order)
        + machine.to_bytes(2, order)
        + bytes(44)
    )


def layer_for(machine: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("bin/app", elf(machine)), ("data/blob", os.urandom(2 << 20))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), compresslevel=1)


def push(client: RegistryClient, ref: ImageRef) -> dict[str, oci.Descriptor]:
    out = {}
    for name, machine in PLATFORMS.items():
        plat = Platform.parse(name)
        desc, _ = images.push_image(client, ref, plat.as_oci(), [layer_for(machine)])
        out[name] = oci.Descriptor(desc.media_type, desc.digest, desc.size, plat)
    return out


def with_latency(client: RegistryClient, seconds: float) -> RegistryClient:
    if seconds:
        send = client.session.request

        def delayed(*args, **kwargs):
            time.sleep(seconds)
            return send(*args, **kwargs)

        client.session.request = delayed  # type: ignore[method-assign]
    return client


def timed(ref: ImageRef, platforms: str, deep: bool, latency: float, rounds: int) -> float:
    settings = Settings(platforms=parse_platforms(platforms))
    times = []
    for _ in range(rounds):
        client = with_latency(RegistryClient(), latency)
        start = time.perf_counter()
        report = verify(settings, ref, runner=Runner(), client=client, deep=deep)
        times.append(time.perf_counter() - start)
        assert report.ok, report.render()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(RegistryConfig(root=Path(tmp)))
        try:
            client = RegistryClient()
            five = ImageRef.parse(f"{registry.host}/bench/app:five")
            children = push(client, five)
            client.put_manifest(five, oci.build_index(list(children.values())), oci.OCI_INDEX)
            one = five.with_tag("one")
            client.put_manifest(one, oci.build_index([children["linux/amd64"]]), oci.OCI_INDEX)
            print(f"{'mode':<8} {'latency':>8} {'1 platform':>11} {'5 platforms':>12} {'ratio':>6}")
            for latency_ms in args.latency_ms:
                for deep in (False, True):
                    t1 = timed(one, "linux/amd64", deep, latency_ms / 1000, args.rounds)
                    t5 = timed(five, ",".join(PLATFORMS), deep, latency_ms / 1000, args.rounds)
                    mode = "deep" if deep else "shallow"
                    print(
                        f"{mode:<8} {latency_ms:>6.0f}ms {t1 * 1000:>9.1f}ms {t5 * 1000:>10.1f}ms"
                        f" {t5 / t1:>6.2f}"
                    )
        finally:
            registry.stop()


if __name__ == "__main__":
    main()
