"""Time `multiarch publish` against the article's Makefile flow, as a ratio in one run.

Baseline (the Makefile it replaces): for each platform in turn
``docker buildx build --platform linux/$ARCH -t IMAGE:TAG-linux-$ARCH --push`` (with
``--provenance=false``, or its ``docker manifest create`` would fail on attestations),
then ``docker manifest create --insecure --amend`` + ``docker manifest push --purge``.
Candidate: ``multiarch publish`` for the same platforms (per-arch builds concurrently,
preflight and verify included). Both build a Dockerfile whose RUN step does CPU work under
QEMU, with a fresh cache-busting build arg each round so neither reuses the other's cache.

    .venv/bin/python bench/publish_vs_makefile.py [--rounds 3] [--platforms ...]

Prints each round's seconds and the median ratio candidate/baseline (below 1 = faster).
The machine is noisy: only the ratio within one run means anything.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testbed.base_images import FULL_PLATFORMS, build_base
from testbed.registry import Registry, RegistryConfig

DOCKERFILE = """\
FROM {base}
ARG BUST
# CPU work that runs under QEMU for every foreign platform.
RUN echo "$BUST" > /bust && i=0; while [ $i -lt {loops} ]; do i=$((i+1)); done; uname -m > /arch
"""
MULTIARCH = Path(sys.executable).parent / "multiarch"


def run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stderr[-2000:]}{done.stdout[-2000:]}")


def makefile_flow(image: str, tag: str, platforms: list[str], context: Path) -> float:
    start = time.monotonic()
    per_arch = []
    for platform in platforms:
        ref = f"{image}:{tag}-{platform.replace('/', '-')}"
        run(["docker", "buildx", "build", "--platform", platform, "--provenance=false",
             "--build-arg", f"BUST={uuid.uuid4()}", "-t", ref, "--push", str(context)])  # fmt: skip
        per_arch.append(ref)
    run(["docker", "manifest", "create", "--insecure", "--amend", f"{image}:{tag}", *per_arch])
    run(["docker", "manifest", "push", "--insecure", "--purge", f"{image}:{tag}"])
    return time.monotonic() - start


def multiarch_flow(image: str, tag: str, platforms: list[str], context: Path, out: Path) -> float:
    start = time.monotonic()
    run([str(MULTIARCH), "publish", "--image", image, "--tag", tag,
         "--platforms", ",".join(platforms), "--context", str(context),
         "--build-arg", f"BUST={uuid.uuid4()}", "--output-dir", str(out)])  # fmt: skip
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--platforms", default="linux/amd64,linux/arm64,linux/s390x")
    parser.add_argument("--loops", type=int, default=300000, help="RUN loop iterations")
    args = parser.parse_args()
    platforms = args.platforms.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        registry = Registry(RegistryConfig(root=root / "registry"))
        try:
            base = f"{registry.host}/bench/busybox:base"
            build_base(base, FULL_PLATFORMS, root / "base")
            context = root / "ctx"
            context.mkdir()
            (context / "Dockerfile").write_text(DOCKERFILE.format(base=base, loops=args.loops))
            image = f"{registry.host}/bench/app"
            ratios = []
            print(f"platforms: {', '.join(platforms)}; RUN loop {args.loops} iterations")
            print("round  makefile  multiarch  ratio")
            for n in range(args.rounds):
                # Alternate the order so neither flow always runs on a warmer machine.
                if n % 2:
                    mine = multiarch_flow(image, f"m{n}", platforms, context, root / f"o{n}")
                    base_s = makefile_flow(image, f"b{n}", platforms, context)
                else:
                    base_s = makefile_flow(image, f"b{n}", platforms, context)
                    mine = multiarch_flow(image, f"m{n}", platforms, context, root / f"o{n}")
                ratios.append(mine / base_s)
                print(f"{n:>5}  {base_s:7.1f}s  {mine:8.1f}s  {ratios[-1]:5.2f}")
            print(f"median ratio multiarch/makefile: {statistics.median(ratios):.2f}")
        finally:
            registry.stop()


if __name__ == "__main__":
    main()
