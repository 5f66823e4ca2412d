"""Time multiarch's registry commands against skopeo and buildx, as ratios of one run.

Starts two throwaway Distribution registries on loopback (testbed), pushes the test bed's
5-platform busybox base (built with buildx) to the first, and a 2-platform image with one
300 MB layer per platform (synthetic, streamed up), then measures, interleaved, medians
of ``--rounds``:

- ``multiarch inspect`` vs a loop of ``skopeo inspect --raw`` (the index, then each
  platform's manifest) vs ``docker buildx imagetools inspect``;
- ``multiarch verify`` (index + configs) vs a loop of ``skopeo inspect --raw`` (the
  index) + ``skopeo inspect --config --raw`` per platform;
- ``multiarch --version`` vs ``inv --version`` (no registry: measured once);
- ``multiarch mirror --tool native`` on a terminal (a pty: the live view) vs piped, the
  300 MB image (issue 18: the view adds < 2 %);
- ``multiarch mirror --tool skopeo`` (the default where skopeo is installed) vs ``skopeo
  copy`` alone, the base to a fresh repository: what the wrapper adds;
- ``multiarch mirror --tool native`` vs ``skopeo copy --multi-arch=all`` to the other
  registry: the base to a fresh repository ("first") and again to the same tag ("again"),
  and the 300 MB image to a fresh repository, with each process's peak RSS (wait4; it
  starts at this process's own, which the bench keeps small: the big push runs in a child
  and the latency proxies in processes of their own).

Every registry figure is measured at each ``--latency`` (milliseconds, repeatable or a
comma list; default ``0,20``). At 0 the tools talk to the registries directly (bare
loopback); above 0 every registry, the fresh ones of the "first" copies included, sits
behind a testbed/latency_proxy.py that waits that long before forwarding each request,
as a remote registry's round trip would (plain HTTP on ``127.0.0.1:PORT`` like the
registries, so both tools treat it as an insecure loopback registry). Every ratio is
taken against the baseline measured at the same latency in the same run.

    .venv/bin/python bench/registry_vs_skopeo.py [--rounds 9] [--big-mb 300] [--big-rounds 3]
        [--latency 0,20] [--no-write]

Prints a table (rows labelled with their latency) and writes bench/results.json (every
sample, median and ratio, the versions of docker/buildx/skopeo/python and the core count)
under the key ``registry_vs_skopeo``, leaving other benches' keys alone. Its flat
``figures``/``ratios``/``cpu_ratios``/``targets`` keep their old names for bare loopback
(0 ms) and the ``--version`` pair; figures at added latency are named ``... @20ms``;
``by_latency_ms`` holds the same ratios and targets per latency under the plain names.
Ratios below 1: multiarch is faster. The machine is noisy: only ratios within one run
mean anything.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing
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
from testbed.latency_proxy import latency_proxy_process
from testbed.registry import Registry, RegistryConfig
from testbed.terminal import timed_on_pty

BIN = Path(sys.executable).parent
MULTIARCH = str(BIN / "multiarch")
INV = str(BIN / "inv")
RESULTS = Path(__file__).resolve().parent / "results.json"
KEY = "registry_vs_skopeo"
CHUNK = 1 << 20
# The most each ratio may be: (on bare loopback, at added latency).
TARGETS = {
    "inspect / skopeo loop": (1.6, 0.5),
    "verify / skopeo loop": (1.6, 0.5),
    "--version / inv --version": (0.5, 0.5),
    "mirror first / skopeo": (1.0, 1.0),
    "mirror again / skopeo": (1.0, 1.0),
    "mirror 300MB / skopeo": (1.0, 1.0),
    # issue 18: the live view (the same copy on a terminal) adds less than 2 %.
    "mirror 300MB tty / piped": (1.02, 1.02),
}
PAIRS = {
    "inspect / skopeo loop": ("multiarch inspect", "skopeo inspect loop"),
    "inspect / imagetools inspect": ("multiarch inspect", "imagetools inspect"),
    "verify / skopeo loop": ("multiarch verify", "skopeo verify loop"),
    "mirror first / skopeo": ("multiarch mirror first", "skopeo copy first"),
    "mirror again / skopeo": ("multiarch mirror again", "skopeo copy again"),
    "mirror 300MB / skopeo": ("multiarch mirror 300MB", "skopeo copy 300MB"),
    "mirror 300MB tty / piped": ("multiarch mirror 300MB tty", "multiarch mirror 300MB"),
    # What `multiarch mirror` adds around skopeo (its default copier where installed): the
    # start, the reads for each platform's row, the read-back of DEST.
    "mirror by skopeo first / skopeo": ("multiarch mirror by skopeo first", "skopeo copy first"),
}
VERSION_PAIR = {"--version / inv --version": ("multiarch --version", "inv --version")}
DEFAULT_LATENCIES = "0,20"


def at(name: str, ms: int) -> str:
    """A figure's name at a latency: the old plain name on bare loopback."""
    return name if ms == 0 else f"{name} @{ms}ms"


def target(name: str, ms: int) -> float | None:
    """The most the ratio ``name`` may be at ``ms`` of added latency (None: no target)."""
    bare, remote = TARGETS.get(name, (None, None))
    return bare if ms == 0 else remote


def latencies(values: list[str] | None) -> list[int]:
    """``--latency`` values (repeatable, comma lists) as sorted distinct milliseconds."""
    found = set()
    for value in values or [DEFAULT_LATENCIES]:
        for part in value.split(","):
            if part.strip():
                ms = int(part)
                if ms < 0:
                    raise argparse.ArgumentTypeError(f"--latency {ms}: must be >= 0")
                found.add(ms)
    return sorted(found)


def behind(stack: contextlib.ExitStack, host: str, ms: int) -> str:
    """``host`` itself at 0 ms, else the host of a latency proxy in front of it."""
    if ms == 0:
        return host
    return stack.enter_context(latency_proxy_process(host, ms))


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


def timed_tty(argv: list[str]) -> Sample:
    """``timed`` on a terminal: a pty as the command's stdin, stdout and stderr (live view)."""
    code, out, wall, cpu, rss = timed_on_pty(argv)
    if code != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{out[-2000:].decode(errors='replace')}")
    return wall, rss, cpu


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


def push_big(ref: str, megabytes: int) -> None:
    big_image(RegistryClient(), ImageRef.parse(ref), megabytes)


class Bench:
    """Samples per named figure, and the peak RSS seen per figure."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self.rss: dict[str, list[int]] = {}
        self.cpu: dict[str, list[float]] = {}
        self.latency: dict[str, int | None] = {}  # None: no registry involved

    def measure(self, name: str, run: Callable[[], Sample], ms: int | None = None) -> None:
        self.latency.setdefault(name, ms)
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


def interleaved(
    bench: Bench,
    rounds: int,
    flows: dict[str, Callable[[int], Sample]],
    latency: dict[str, int | None],
) -> None:
    """Each round runs every flow once, the order rotating so none always goes first."""
    names = list(flows)
    for n in range(rounds):
        order = names[n % len(names) :] + names[: n % len(names)]
        for name in order:
            bench.measure(name, lambda name=name, n=n: flows[name](n), latency[name])


def first_copies(
    bench: Bench, rounds: int, root: Path, flows: dict[str, Callable[[str], Sample]], ms: int
) -> None:
    """First copies: each flow, every round, into a registry of its own, started for it.

    skopeo remembers where it has seen each blob (its blob-info cache) and mounts it from
    there: into a registry that already holds another copy (an earlier round's, or another
    flow's that ran skopeo), its "first" copy would be a mount, not a copy. A fresh
    registry per flow and round (behind a fresh latency proxy when ``ms`` is above 0)
    keeps every tool honest.
    """
    names = list(flows)
    for n in range(rounds):
        for number, name in enumerate(names[n % len(names) :] + names[: n % len(names)]):
            path = root / f"first-{ms}-{n}-{number}"
            reg = Registry(RegistryConfig(root=path))
            try:
                with contextlib.ExitStack() as stack:
                    host = behind(stack, reg.host, ms)
                    bench.measure(name, lambda name=name, host=host: flows[name](host), ms)
            finally:
                reg.stop()
                shutil.rmtree(path, ignore_errors=True)


def registry_figures(
    bench: Bench,
    args: argparse.Namespace,
    root: Path,
    ms: int,
    src: str,
    dst: str,
    *,
    with_version: bool,
) -> None:
    """Every registry figure at ``ms`` of added latency; ``src``/``dst``: the hosts to use."""
    base = f"{src}/bench/busybox:full"
    big = f"{src}/bench/big:v1"
    children = [d.digest for d in RegistryClient().get_manifest(ImageRef.parse(base)).images]
    repo = base.rsplit(":", 1)[0]
    plats = ",".join(FULL_PLATFORMS)
    tls = "--tls-verify=false"
    inspect_loop = [skopeo("inspect", "--raw", tls, f"docker://{base}")] + [
        skopeo("inspect", "--raw", tls, f"docker://{repo}@{d}") for d in children
    ]
    verify_loop = [skopeo("inspect", "--raw", tls, f"docker://{base}")] + [
        skopeo("inspect", "--config", "--raw", tls, f"docker://{repo}@{d}") for d in children
    ]
    print(f"[+{ms} ms] timing inspect, verify{', --version' if with_version else ''} ...",
          flush=True)  # fmt: skip
    flows: dict[str, Callable[[int], Sample]] = {
        at("multiarch inspect", ms): lambda _: timed([MULTIARCH, "inspect", base]),
        at("skopeo inspect loop", ms): lambda _: timed_all(inspect_loop),
        at("imagetools inspect", ms): lambda _: timed(
            ["docker", "buildx", "imagetools", "inspect", base]
        ),
        at("multiarch verify", ms): lambda _: timed(
            [MULTIARCH, "verify", base, "--platforms", plats]
        ),
        at("skopeo verify loop", ms): lambda _: timed_all(verify_loop),
    }
    latency: dict[str, int | None] = dict.fromkeys(flows, ms)
    if with_version:
        flows["multiarch --version"] = lambda _: timed([MULTIARCH, "--version"])
        flows["inv --version"] = lambda _: timed([INV, "--version"])
        latency |= {"multiarch --version": None, "inv --version": None}
    interleaved(bench, args.rounds, flows, latency)
    print(f"[+{ms} ms] timing mirror of the base ...", flush=True)
    skopeo_copy = ["skopeo", "copy", "--multi-arch=all", "--preserve-digests",
                   "--src-tls-verify=false", "--dest-tls-verify=false"]  # fmt: skip
    first_copies(
        bench,
        args.rounds,
        root,
        {
            at("multiarch mirror first", ms): lambda reg: timed(
                [MULTIARCH, "mirror", base, f"{reg}/m/busybox:full", "--tool", "native"]
            ),
            at("skopeo copy first", ms): lambda reg: timed(
                [*skopeo_copy, f"docker://{base}", f"docker://{reg}/s/busybox:full"]
            ),
            at("multiarch mirror by skopeo first", ms): lambda reg: timed(
                [MULTIARCH, "mirror", base, f"{reg}/k/busybox:full", "--tool", "skopeo"]
            ),
        },
        ms,
    )
    # "again": both copied to B once, then again to the same tags, every blob there.
    mine, theirs = f"{dst}/m{ms}/busybox:full", f"{dst}/s{ms}/busybox:full"
    timed([MULTIARCH, "mirror", base, mine, "--tool", "native"])
    timed([*skopeo_copy, f"docker://{base}", f"docker://{theirs}"])
    again: dict[str, Callable[[int], Sample]] = {
        at("multiarch mirror again", ms): lambda _: timed(
            [MULTIARCH, "mirror", base, mine, "--tool", "native"]
        ),
        at("skopeo copy again", ms): lambda _: timed(
            [*skopeo_copy, f"docker://{base}", f"docker://{theirs}"]
        ),
    }
    interleaved(bench, args.rounds, again, dict.fromkeys(again, ms))
    print(f"[+{ms} ms] timing mirror of the big image ...", flush=True)
    first_copies(
        bench,
        args.big_rounds,
        root,
        {
            at("multiarch mirror 300MB", ms): lambda reg: timed(
                [MULTIARCH, "mirror", big, f"{reg}/m/big:v1", "--tool", "native"]
            ),
            at("multiarch mirror 300MB tty", ms): lambda reg: timed_tty(
                [MULTIARCH, "mirror", big, f"{reg}/t/big:v1", "--tool", "native"]
            ),
            at("skopeo copy 300MB", ms): lambda reg: timed(
                [*skopeo_copy, f"docker://{big}", f"docker://{reg}/s/big:v1"]
            ),
        },
        ms,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--big-rounds", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=300)
    parser.add_argument(
        "--latency",
        action="append",
        metavar="MS",
        help="milliseconds a proxy adds to every registry request; repeatable or a comma"
        f" list, 0 = the registries directly (default {DEFAULT_LATENCIES})",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args()
    try:
        args.latencies = latencies(args.latency)
    except (ValueError, argparse.ArgumentTypeError) as err:
        parser.error(f"--latency: {err}")
    bench = Bench()
    # Installing a wheel writes .pyc files; an editable checkout under
    # PYTHONDONTWRITEBYTECODE would compile every module on every run instead.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(oci.__file__).parent.parent)],
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
            big = f"{src_reg.host}/bench/big:v1"
            print(f"pushing the 2 x {args.big_mb} MB image {big} ...", flush=True)
            # In a child: this process's peak RSS is where every timed child's starts.
            pusher = multiprocessing.get_context("fork").Process(
                target=push_big, args=(big, args.big_mb)
            )
            pusher.start()
            pusher.join()
            if pusher.exitcode != 0:
                sys.exit(f"pushing {big} failed")
            for n, ms in enumerate(args.latencies):
                with contextlib.ExitStack() as stack:
                    src = behind(stack, src_reg.host, ms)
                    dst = behind(stack, dst_reg.host, ms)
                    registry_figures(bench, args, root, ms, src, dst, with_version=n == 0)
        finally:
            src_reg.stop()
            dst_reg.stop()
    report(bench, args)


def report(bench: Bench, args: argparse.Namespace) -> None:
    # (ratio label, plain ratio name, latency or None, mine, theirs)
    rows = [(name, name, None, *pair) for name, pair in VERSION_PAIR.items()]
    rows += [
        (at(name, ms), name, ms, at(mine, ms), at(theirs, ms))
        for ms in args.latencies
        for name, (mine, theirs) in PAIRS.items()
    ]
    ratios = {label: bench.ratio(mine, theirs) for label, _, _, mine, theirs in rows}
    cpu_ratios = {label: bench.cpu_ratio(mine, theirs) for label, _, _, mine, theirs in rows}
    targets = {
        label: t
        for label, name, ms, *_ in rows
        if (t := target(name, 0 if ms is None else ms)) is not None
    }
    peak_mb = {name: max(v) / 1024 for name, v in bench.rss.items()}

    def lat(ms: int | None) -> str:
        return "-" if ms is None else f"+{ms}ms"

    print()
    print(f"{'latency':>7}  {'figure':<26} {'median':>9} {'CPU':>8} {'peak RSS':>9}  samples (s)")
    for label, samples in bench.samples.items():
        ms = bench.latency[label]
        name = label if ms in {None, 0} else label.rsplit(" @", 1)[0]
        print(
            f"{lat(ms):>7}  {name:<26} {bench.median(label):>8.3f}s"
            f" {statistics.median(bench.cpu[label]):>7.3f}s"
            f" {peak_mb[label]:>7.0f}MB  " + " ".join(f"{s:.3f}" for s in samples)
        )
    print()
    print(f"{'latency':>7}  {'ratio (medians)':<30} {'wall':>6} {'CPU':>6} {'target':>7}")
    for label, name, ms, *_ in rows:
        value, limit = ratios[label], targets.get(label)
        mark = "" if limit is None else (" ok" if value <= limit else " MISSED")
        print(
            f"{lat(ms):>7}  {name:<30} {value:>6.2f} {cpu_ratios[label]:>6.2f}"
            f" {'' if limit is None else f'<= {limit}':>7}{mark}"
        )
    rss = {ms: peak_mb[at("multiarch mirror 300MB", ms)] for ms in args.latencies}
    rss_ok = {ms: mb < 100 for ms, mb in rss.items()}
    for ms, mb in rss.items():
        print(f"peak RSS of multiarch mirror 300MB at {lat(ms)}: {mb:.0f} MB"
              f" (target < 100 MB){'' if rss_ok[ms] else ' MISSED'}")  # fmt: skip
        # On a terminal: the same copy with rich and the live view loaded (issue 18).
        tty_mb = peak_mb[at("multiarch mirror 300MB tty", ms)]
        print(f"peak RSS of multiarch mirror 300MB on a terminal at {lat(ms)}: {tty_mb:.0f} MB")
    if args.no_write:
        return
    rss_targets = {
        at("mirror 300MB peak RSS MB", ms): {"max": 100, "met": ok} for ms, ok in rss_ok.items()
    }
    data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[KEY] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "bench/registry_vs_skopeo.py " + " ".join(sys.argv[1:]),
        "commit": version(["git", "-C", str(RESULTS.parent), "rev-parse", "--short", "HEAD"]),
        "rounds": args.rounds,
        "big_rounds": args.big_rounds,
        "big_layer_mb": args.big_mb,
        "latencies_ms": args.latencies,
        "latency": "0: the registries directly; N: a loopback proxy waits N ms before"
        " forwarding each request (testbed/latency_proxy.py), both tools through it",
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
                "latency_ms": bench.latency[name],
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
            **{name: {"max": t, "met": ratios[name] <= t} for name, t in targets.items()},
            **rss_targets,
        },
        "by_latency_ms": {
            str(ms): {
                "ratios": {n: round(ratios[lbl], 3) for lbl, n, m, *_ in rows if m == ms},
                "cpu_ratios": {n: round(cpu_ratios[lbl], 3) for lbl, n, m, *_ in rows if m == ms},
                "targets": {
                    **{
                        n: {"max": targets[lbl], "met": ratios[lbl] <= targets[lbl]}
                        for lbl, n, m, *_ in rows
                        if m == ms and lbl in targets
                    },
                    "mirror 300MB peak RSS MB": {"max": 100, "met": rss_ok[ms]},
                },
            }
            for ms in args.latencies
        },
    }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
