"""Time multiarch's registry commands against skopeo and buildx, as ratios of one run.

Starts two throwaway Distribution registries on loopback (testbed), pushes the test bed's
5-platform busybox base (built with buildx) to the first, and a 2-platform image with one
300 MB layer per platform (synthetic, streamed up), then measures, interleaved, medians
of ``--rounds``:

- ``multiarch inspect`` vs a loop of ``skopeo inspect --raw`` (the index, then each
  platform's manifest) vs ``docker buildx imagetools inspect``;
- ``multiarch verify`` (index + configs) vs a loop of ``skopeo inspect --raw`` (the
  index) + ``skopeo inspect --config --raw`` per platform;
- ``multiarch --version`` vs ``inv --version``;
- ``multiarch mirror --tool native`` vs ``skopeo copy --multi-arch=all`` to the other
  registry: the base to a fresh repository ("first") and again to the same tag ("again"),
  and the 300 MB image to a fresh repository, with each process's peak RSS (wait4).

    .venv/bin/python bench/registry_vs_skopeo.py [--rounds 9] [--big-mb 300] [--big-rounds 3]

Prints a table and writes bench/results.json (every sample, median and ratio, the
versions of docker/buildx/skopeo/python and the core count) under the key
``registry_vs_skopeo``, leaving other benches' keys alone. Ratios below 1: multiarch is
faster. The machine is noisy: only ratios within one run mean anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from multiarch_tasks.model import oci
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from testbed.base_images import FULL_PLATFORMS, build_base
from testbed.registry import Registry, RegistryConfig

BIN = Path(sys.executable).parent
MULTIARCH = str(BIN / "multiarch")
INV = str(BIN / "inv")
RESULTS = Path(__file__).resolve().parent / "results.json"
KEY = "registry_vs_skopeo"
CHUNK = 1 << 20
TARGETS = {
    "inspect / skopeo loop": 1.0,
    "verify / skopeo loop": 1.0,
    "--version / inv --version": 1.3,
    "mirror first / skopeo": 1.0,
    "mirror again / skopeo": 1.0,
    "mirror 300MB / skopeo": 1.2,
}


Sample = tuple[float, int, float]  # wall seconds, peak RSS KiB, CPU seconds (user + sys)


def timed(argv: list[str]) -> Sample:
    """Run ``argv``; return wall seconds, its peak RSS (KiB) and CPU time. Exit on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait4 gives this child's own rusage (getrusage(RUSAGE_CHILDREN) would be the max so far).
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{err[-2000:]}{out[-2000:]}")
    return wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def timed_all(commands: list[list[str]]) -> Sample:
    """Run commands one after another (a shell loop); total seconds, highest peak RSS."""
    total, peak, cpu = 0.0, 0, 0.0
    for argv in commands:
        wall, rss, used = timed(argv)
        total += wall
        peak = max(peak, rss)
        cpu += used
    return total, peak, cpu


def version(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else ""


def skopeo(*args: str) -> list[str]:
    return ["skopeo", *args]


def big_image(client: RegistryClient, ref: ImageRef, megabytes: int) -> str:
    """Push a 2-platform index with one incompressible layer of ``megabytes`` per platform."""
    children = []
    for seed, name in enumerate(("linux/amd64", "linux/arm64")):
        size = megabytes << 20

        def chunks(seed: int = seed, size: int = size) -> Iterator[bytes]:
            rng = random.Random(seed)  # noqa: S311 - filler bytes, not secrets
            left = size
            while left:
                n = min(CHUNK, left)
                yield rng.randbytes(n)
                left -= n

        hasher = hashlib.sha256()
        for chunk in chunks():
            hasher.update(chunk)
        layer = f"sha256:{hasher.hexdigest()}"
        if not client.blob_exists(ref, layer):
            client.upload_blob_stream(ref, layer, chunks(), size)
        plat = Platform.parse(name)
        config = json.dumps(
            {**plat.as_oci(), "rootfs": {"type": "layers", "diff_ids": [layer]}}
        ).encode()
        config_digest = oci.sha256_digest(config)
        client.upload_blob(ref, config_digest, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": oci.OCI_MANIFEST,
                "config": {"mediaType": oci.OCI_CONFIG, "digest": config_digest,
                           "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": layer, "size": size}],
            }
        ).encode()  # fmt: skip
        digest = client.put_manifest(
            ref.with_digest(oci.sha256_digest(manifest)), manifest, oci.OCI_MANIFEST
        )
        children.append(oci.Descriptor(oci.OCI_MANIFEST, digest, len(manifest), plat))
    return client.put_manifest(ref, oci.build_index(children), oci.OCI_INDEX)


class Bench:
    """Samples per named figure, and the peak RSS seen per figure."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self.rss: dict[str, list[int]] = {}
        self.cpu: dict[str, list[float]] = {}

    def measure(self, name: str, run: Callable[[], Sample]) -> None:
        wall, rss, cpu = run()
        self.samples.setdefault(name, []).append(wall)
        self.rss.setdefault(name, []).append(rss)
        self.cpu.setdefault(name, []).append(cpu)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def ratio(self, mine: str, theirs: str) -> float:
        return self.median(mine) / self.median(theirs)

    def cpu_ratio(self, mine: str, theirs: str) -> float:
        return statistics.median(self.cpu[mine]) / statistics.median(self.cpu[theirs])


def interleaved(bench: Bench, rounds: int, flows: dict[str, Callable[[int], Sample]]):
    """Each round runs every flow once, the order rotating so none always goes first."""
    names = list(flows)
    for n in range(rounds):
        order = names[n % len(names) :] + names[: n % len(names)]
        for name in order:
            bench.measure(name, lambda name=name, n=n: flows[name](n))


def first_copies(
    bench: Bench, rounds: int, root: Path, flows: dict[str, Callable[[str], Sample]]
) -> None:
    """First copies: every round into a registry of its own, started for that round.

    skopeo remembers where it has seen each blob (its blob-info cache) and mounts it from
    there: into a registry that already holds an earlier round's copy, its "first" copy
    would be a mount, not a copy. A fresh registry per round keeps both tools honest.
    """
    names = list(flows)
    for n in range(rounds):
        reg = Registry(RegistryConfig(root=root / f"first-{n}"))
        try:
            for name in names[n % len(names) :] + names[: n % len(names)]:
                bench.measure(name, lambda name=name, host=reg.host: flows[name](host))
        finally:
            reg.stop()
            shutil.rmtree(root / f"first-{n}", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--big-rounds", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=300)
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args()
    bench = Bench()
    # Installing a wheel writes .pyc files; an editable checkout under
    # PYTHONDONTWRITEBYTECODE would compile every module on every run instead.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(oci.__file__).parent)],
        check=True,
        capture_output=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src_reg = Registry(RegistryConfig(root=root / "a"))
        dst_reg = Registry(RegistryConfig(root=root / "b"))
        try:
            base = f"{src_reg.host}/bench/busybox:full"
            print(f"building the 5-platform base {base} ...", flush=True)
            build_base(base, FULL_PLATFORMS, root / "base")
            client = RegistryClient()
            index = client.get_manifest(ImageRef.parse(base))
            children = [d.digest for d in index.images]
            repo = base.rsplit(":", 1)[0]
            plats = ",".join(FULL_PLATFORMS)
            tls = "--tls-verify=false"
            inspect_loop = [skopeo("inspect", "--raw", tls, f"docker://{base}")] + [
                skopeo("inspect", "--raw", tls, f"docker://{repo}@{d}") for d in children
            ]
            verify_loop = [skopeo("inspect", "--raw", tls, f"docker://{base}")] + [
                skopeo("inspect", "--config", "--raw", tls, f"docker://{repo}@{d}")
                for d in children
            ]
            print("timing inspect, verify, --version ...", flush=True)
            interleaved(
                bench,
                args.rounds,
                {
                    "multiarch inspect": lambda _: timed([MULTIARCH, "inspect", base]),
                    "skopeo inspect loop": lambda _: timed_all(inspect_loop),
                    "imagetools inspect": lambda _: timed(
                        ["docker", "buildx", "imagetools", "inspect", base]
                    ),
                    "multiarch verify": lambda _: timed(
                        [MULTIARCH, "verify", base, "--platforms", plats]
                    ),
                    "skopeo verify loop": lambda _: timed_all(verify_loop),
                    "multiarch --version": lambda _: timed([MULTIARCH, "--version"]),
                    "inv --version": lambda _: timed([INV, "--version"]),
                },
            )
            print("timing mirror of the base ...", flush=True)
            dst = dst_reg.host
            skopeo_copy = ["skopeo", "copy", "--multi-arch=all", "--preserve-digests",
                           "--src-tls-verify=false", "--dest-tls-verify=false"]  # fmt: skip
            first_copies(
                bench,
                args.rounds,
                root,
                {
                    "multiarch mirror first": lambda reg: timed(
                        [MULTIARCH, "mirror", base, f"{reg}/m/busybox:full", "--tool", "native"]
                    ),
                    "skopeo copy first": lambda reg: timed(
                        [*skopeo_copy, f"docker://{base}", f"docker://{reg}/s/busybox:full"]
                    ),
                },
            )
            # "again": both copied to B once, then again to the same tags, every blob there.
            timed([MULTIARCH, "mirror", base, f"{dst}/m0/busybox:full", "--tool", "native"])
            timed([*skopeo_copy, f"docker://{base}", f"docker://{dst}/s0/busybox:full"])
            interleaved(
                bench,
                args.rounds,
                {
                    "multiarch mirror again": lambda _: timed(
                        [MULTIARCH, "mirror", base, f"{dst}/m0/busybox:full", "--tool", "native"]
                    ),
                    "skopeo copy again": lambda _: timed(
                        [*skopeo_copy, f"docker://{base}", f"docker://{dst}/s0/busybox:full"]
                    ),
                },
            )
            big = f"{src_reg.host}/bench/big:v1"
            print(f"pushing the 2 x {args.big_mb} MB image {big} ...", flush=True)
            big_image(client, ImageRef.parse(big), args.big_mb)
            print("timing mirror of the big image ...", flush=True)
            first_copies(
                bench,
                args.big_rounds,
                root,
                {
                    "multiarch mirror 300MB": lambda reg: timed(
                        [MULTIARCH, "mirror", big, f"{reg}/m/big:v1", "--tool", "native"]
                    ),
                    "skopeo copy 300MB": lambda reg: timed(
                        [*skopeo_copy, f"docker://{big}", f"docker://{reg}/s/big:v1"]
                    ),
                },
            )
        finally:
            src_reg.stop()
            dst_reg.stop()
    report(bench, args)


def report(bench: Bench, args: argparse.Namespace) -> None:
    pairs = {
        "inspect / skopeo loop": ("multiarch inspect", "skopeo inspect loop"),
        "inspect / imagetools inspect": ("multiarch inspect", "imagetools inspect"),
        "verify / skopeo loop": ("multiarch verify", "skopeo verify loop"),
        "--version / inv --version": ("multiarch --version", "inv --version"),
        "mirror first / skopeo": ("multiarch mirror first", "skopeo copy first"),
        "mirror again / skopeo": ("multiarch mirror again", "skopeo copy again"),
        "mirror 300MB / skopeo": ("multiarch mirror 300MB", "skopeo copy 300MB"),
    }
    ratios = {name: bench.ratio(*pair) for name, pair in pairs.items()}
    cpu_ratios = {name: bench.cpu_ratio(*pair) for name, pair in pairs.items()}
    peak_mb = {name: max(v) / 1024 for name, v in bench.rss.items()}
    print()
    print(f"{'figure':<26} {'median':>9} {'CPU':>8} {'peak RSS':>9}  samples (s)")
    for name, samples in bench.samples.items():
        print(
            f"{name:<26} {bench.median(name):>8.3f}s {statistics.median(bench.cpu[name]):>7.3f}s"
            f" {peak_mb[name]:>7.0f}MB  " + " ".join(f"{s:.3f}" for s in samples)
        )
    print()
    print(f"{'ratio (medians)':<30} {'wall':>6} {'CPU':>6} {'target':>7}")
    for name, value in ratios.items():
        target = TARGETS.get(name)
        mark = "" if target is None else (" ok" if value <= target else " MISSED")
        print(
            f"{name:<30} {value:>6.2f} {cpu_ratios[name]:>6.2f}"
            f" {'' if target is None else f'<= {target}':>7}{mark}"
        )
    rss_ok = peak_mb["multiarch mirror 300MB"] < 100
    print(f"peak RSS of multiarch mirror 300MB: {peak_mb['multiarch mirror 300MB']:.0f} MB"
          f" (target < 100 MB){'' if rss_ok else ' MISSED'}")  # fmt: skip
    if args.no_write:
        return
    data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[KEY] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "bench/registry_vs_skopeo.py " + " ".join(sys.argv[1:]),
        "commit": version(["git", "-C", str(RESULTS.parent), "rev-parse", "--short", "HEAD"]),
        "rounds": args.rounds,
        "big_rounds": args.big_rounds,
        "big_layer_mb": args.big_mb,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "docker": version(["docker", "version", "--format", "{{.Server.Version}}"]),
            "docker_cli": version(["docker", "version", "--format", "{{.Client.Version}}"]),
            "buildx": version(["docker", "buildx", "version"]),
            "skopeo": version(["skopeo", "--version"]),
            "kernel": platform.release(),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "figures": {
            name: {
                "median_s": round(bench.median(name), 4),
                "samples_s": [round(s, 4) for s in samples],
                "median_cpu_s": round(statistics.median(bench.cpu[name]), 4),
                "cpu_s": [round(s, 4) for s in bench.cpu[name]],
                "peak_rss_mb": round(peak_mb[name], 1),
            }
            for name, samples in bench.samples.items()
        },
        "ratios": {name: round(value, 3) for name, value in ratios.items()},
        "cpu_ratios": {name: round(value, 3) for name, value in cpu_ratios.items()},
        "targets": {
            **{name: {"max": t, "met": ratios[name] <= t} for name, t in TARGETS.items()},
            "mirror 300MB peak RSS MB": {"max": 100, "met": rss_ok},
        },
    }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
