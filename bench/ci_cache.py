"""The push workflow rehearsed twice: cold, then from the registry cache (issue 20 item 9).

Each round makes a new project (testbed/ci_cache.py: its first RUN also hashes --work-mb MiB,
256 by default, which QEMU makes slow for arm64 and s390x, and carries a new nonce, so no
engine has it cached), generates its GitHub workflow (shards for linux/amd64,
linux/arm64, linux/s390x, ``--cache auto``: one registry cache per platform in the
scratch repository) and times two ``multiarch ci-rehearse`` runs of it:

- ``first``: on the main engine (engine A): every step runs, the cache is exported;
- ``second``: on a throwaway second dockerd with the containerd store and an empty data
  root (engine B, testbed/classic_engine.py ``fresh_engine``, removed after the round),
  so every cache hit comes from the registry cache, none from A's local BuildKit cache.

Both include what every rehearsal does besides building (each job's fresh venv and the
install line, the logins, the merge and its verify). Rounds interleave nothing (the
second needs the first); a failed rehearsal stops the bench.

    .venv/bin/python bench/ci_cache.py [--rounds 3] [--work-mb 256]

Prints each round and the medians, and merges ``{"ci_cache": {...}}`` into
bench/results.json with the ratio second/first (the issue's expectation: a fraction).
No figure is asserted anywhere; tests/e2e/test_ci_rehearse_cache.py checks the hits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.publish_vs_buildx import merge_results, versions
from testbed import ci_cache
from testbed.base_images import FULL_PLATFORMS, build_base
from testbed.classic_engine import fresh_engine, remove_engine
from testbed.registry import Registry, RegistryConfig
from tests.conftest import pinned_requirement

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/s390x"]
# What the first RUN does: hash N MiB, slow under QEMU, the part of a real build a cache saves.
WORK = "head -c {size} /dev/zero | sha256sum > /hash"


def rehearse(project: Path, docker_host: str | None, what: str) -> float:
    took, code, output = ci_cache.rehearse(project, docker_host)
    if code != 0:
        sys.exit(f"{what} rehearsal failed:\n{output[-3000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work-mb", type=int, default=256, help="MiB the first RUN hashes")
    args = parser.parse_args()
    work = WORK.format(size=args.work_mb * 1024 * 1024)
    samples: dict[str, list[float]] = {"first": [], "second": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        registry = Registry(RegistryConfig(root=root / "registry"))
        try:
            base = f"{registry.host}/bench/busybox:base"
            build_base(base, FULL_PLATFORMS, root / "base")
            install, _ = pinned_requirement(root)
            for n in range(args.rounds):
                image = f"{registry.host}/bench/cache-{n}"
                project = ci_cache.make_project(
                    root / f"round-{n}", image, base, PLATFORMS, install, work
                )
                first = rehearse(project, None, "first")
                engine = fresh_engine("benchb")
                try:
                    second = rehearse(project, engine.docker_host, "second")
                finally:
                    remove_engine(engine)
                samples["first"].append(first)
                samples["second"].append(second)
                print(f"round {n} first {first:6.1f}s  second {second:6.1f}s")
        finally:
            registry.stop()
    med = {name: statistics.median(values) for name, values in samples.items()}
    ratio = med["second"] / med["first"]
    print(f"first  {med['first']:6.1f}s (median, engine A, cold)")
    print(f"second {med['second']:6.1f}s (median, empty engine B, registry cache)")
    print(f"second/first {ratio:.3f}")
    merge_results(
        "ci_cache",
        {"platforms": PLATFORMS, "rounds": args.rounds, "dockerfile_work": work,
         "samples_s": samples, "medians_s": med, "ratios": {"second/first": ratio},
         "versions": versions(),
         "what": "ci-rehearse of the generated GitHub push workflow: first on the main "
                 "engine (cold), second on a fresh containerd-store dockerd (registry cache)"},
    )  # fmt: skip


if __name__ == "__main__":
    main()
