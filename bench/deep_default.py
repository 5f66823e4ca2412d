"""What publish's default deep check adds to a warm publish of examples/hello (issue 19).

Three flows of ``multiarch publish`` over examples/hello (its three platforms, a busybox
base built here), each warm (the build is cached; the index is built, pushed, verified
and promoted again):

- ``default``: no flag, ``verify_deep = auto``: the ELF headers of the layers the build
  added (the RUN and COPY layers), not those of busybox's layers;
- ``no_deep``: ``--no-deep``, the publish of before issue 19;
- ``deep_all``: ``--deep``, every layer, the base image's too.

Rounds interleave the flows (the order rotates each round); a sample that met a registry
fault is left out of the medians (as bench/publish_vs_buildx.py does).

    .venv/bin/python bench/deep_default.py [--rounds 5]

Prints the medians and merges ``{"deep_default": {...}}`` into bench/results.json, with the
ratios default/no_deep (the issue's target: < 1.10) and deep_all/no_deep. No figure is
asserted anywhere.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.publish_vs_buildx import (
    MULTIARCH,
    RETRIES,
    clean_median,
    merge_results,
    run,
    timed,
    versions,
)
from testbed.base_images import FULL_PLATFORMS, build_base
from testbed.registry import Registry, RegistryConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello"
PLATFORMS = "linux/amd64,linux/arm64,linux/s390x"  # examples/hello/invoke.yaml's
FLOWS = {"default": (), "no_deep": ("--no-deep",), "deep_all": ("--deep",)}


def publish(image: str, base: str, out: Path, *extra: str) -> None:
    run([str(MULTIARCH), "publish", "--image", image, "--tag", "warm",
         "--platforms", PLATFORMS, "--context", str(EXAMPLE),
         "--build-arg", f"BASE={base}", "--output-dir", str(out), *extra])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {n: [] for n in FLOWS}
    faults: dict[str, list[bool]] = {n: [] for n in FLOWS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        registry = Registry(RegistryConfig(root=root / "registry"))
        try:
            base = f"{registry.host}/bench/busybox:base"
            build_base(base, FULL_PLATFORMS, root / "base")
            image = f"{registry.host}/bench/hello"
            publish(image, base, root / "out", "--no-deep")  # the cold one: not timed
            names = list(FLOWS)
            for n in range(args.rounds):
                for name in names[n % len(names) :] + names[: n % len(names)]:
                    took, faulted = timed(
                        lambda x=FLOWS[name]: publish(image, base, root / "out", *x)
                    )
                    times[name].append(took)
                    faults[name].append(faulted)
                    print(f"round {n} {name:<8} {took:6.2f}s{' (fault)' if faulted else ''}")
        finally:
            registry.stop()
    med = {n: clean_median(times[n], faults[n]) for n in FLOWS}
    ratios = {
        "default/no_deep": med["default"] / med["no_deep"],
        "deep_all/no_deep": med["deep_all"] / med["no_deep"],
    }
    for name, value in med.items():
        print(f"{name:<9} {value:6.2f}s (median, warm)")
    for key, value in ratios.items():
        print(f"{key:<17} {value:.3f}")
    merge_results(
        "deep_default",
        {"platforms": PLATFORMS.split(","), "rounds": args.rounds, "warm_medians_s": med,
         "samples_s": times, "faulted": faults, "ratios": ratios, "versions": versions(),
         "retried_after_registry_fault": RETRIES, "target": "default/no_deep < 1.10",
         "medians_leave_out": "samples that met a registry fault (of all, if every one did)"},
    )  # fmt: skip


if __name__ == "__main__":
    main()
