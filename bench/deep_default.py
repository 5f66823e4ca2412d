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

A whole publish varies by seconds on a busy machine, more than the check costs; so the
verify step alone is also timed in-process, ``--verify-rounds`` times each, on the index
the publishes made: as publish runs it by default (the base's layer lists read, then the
build's layers) and with ``--no-deep``. Their difference over the warm ``no_deep``
publish is ``added_by_default/warm_publish``.

    .venv/bin/python bench/deep_default.py [--rounds 5]

Prints the medians and merges ``{"deep_default": {...}}`` into bench/results.json, with the
ratios default/no_deep (the issue's target: < 1.10) and deep_all/no_deep. No figure is
asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
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


def time_verify(image: str, base: str, rounds: int) -> dict[str, float]:
    """Median seconds of publish's verify step on ``image:warm``: default and --no-deep."""
    from multiarch_tasks.checks.verify.base_layers import base_layers  # noqa: PLC0415
    from multiarch_tasks.checks.verify.check import verify  # noqa: PLC0415
    from multiarch_tasks.config.settings import Settings  # noqa: PLC0415
    from multiarch_tasks.engine.runner import Runner  # noqa: PLC0415
    from multiarch_tasks.model.platforms import parse_platforms  # noqa: PLC0415
    from multiarch_tasks.model.reference import ImageRef  # noqa: PLC0415
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415

    settings = Settings(
        platforms=parse_platforms(PLATFORMS), context=str(EXAMPLE), build_args={"BASE": base}
    )
    client = RegistryClient.from_settings(settings)
    ref = ImageRef.parse(f"{image}:warm")
    ref = ref.with_digest(client.get_manifest(ref).digest)  # publish verifies by digest
    runner = Runner(out=open(os.devnull, "w"))  # noqa: PTH123, SIM115 - lives for the bench

    def once(deep: bool) -> None:
        base_of = base_layers(settings, client, settings.platforms) if deep else None
        report = verify(
            settings, ref, runner=runner, client=client, deep=deep, check_tags=False,
            base=base_of,
        )  # fmt: skip
        assert report.ok, report.render()

    samples: dict[str, list[float]] = {"default": [], "no_deep": []}
    for _ in range(rounds):
        for name, deep in (("default", True), ("no_deep", False)):
            start = time.monotonic()
            once(deep)
            samples[name].append(time.monotonic() - start)
    return {n: statistics.median(v) for n, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--verify-rounds", type=int, default=20)
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
            # A passing publish, so the index under :warm is the clean one.
            publish(image, base, root / "out", "--no-deep")
            step = time_verify(image, base, args.verify_rounds)
        finally:
            registry.stop()
    med = {n: clean_median(times[n], faults[n]) for n in FLOWS}
    ratios = {
        "default/no_deep": med["default"] / med["no_deep"],
        "deep_all/no_deep": med["deep_all"] / med["no_deep"],
        "added_by_default/warm_publish": (step["default"] - step["no_deep"]) / med["no_deep"],
    }
    for name, value in med.items():
        print(f"{name:<9} {value:6.2f}s (median, warm)")
    for name, value in step.items():
        print(f"verify step, {name:<8} {value * 1000:7.1f} ms (median)")
    for key, value in ratios.items():
        print(f"{key:<17} {value:.3f}")
    merge_results(
        "deep_default",
        {"platforms": PLATFORMS.split(","), "rounds": args.rounds, "warm_medians_s": med,
         "verify_step_medians_s": step, "verify_rounds": args.verify_rounds,
         "samples_s": times, "faulted": faults, "ratios": ratios, "versions": versions(),
         "retried_after_registry_fault": RETRIES, "target": "default/no_deep < 1.10",
         "medians_leave_out": "samples that met a registry fault (of all, if every one did)"},
    )  # fmt: skip


if __name__ == "__main__":
    main()
