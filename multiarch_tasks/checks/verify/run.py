"""``verify --run``: start each platform's image with ``verify_run`` and judge how it ended.

An ``exec format error`` means the programs are built for another platform; a command
that does not finish in time under QEMU is most likely a crashed PID 1 (removed by force).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from multiarch_tasks.engine import commands

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Result, Runner
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.model.reference import ImageRef

EXEC_FORMAT_ERROR = "exec format error"

RUN_TIMEOUT = 120.0  # seconds a verify --run command may take (the timeout setting wins)


def run_problems(
    settings: Settings, runner: Runner, ref: ImageRef, digest: str, plats: list[Platform]
) -> dict[Platform, tuple[list[str], str]]:
    """Run each platform's image with ``settings.verify_run``; (problems, note) each."""
    pinned = f"{ref.name}@{digest}"
    timeout = settings.timeout or RUN_TIMEOUT

    def run(plat: Platform) -> Result:
        name = f"multiarch-verify-{os.urandom(6).hex()}"
        argv = commands.docker_run(pinned, plat, settings.verify_run, name=name)
        result = runner.run(argv, check=False, label=f"verify --run {plat}", timeout=timeout)
        if result.returncode == -1 and not result.dry:
            # A program that dies of a signal under QEMU as the container's PID 1 never
            # exits (the kernel ignores default-action signals sent to init): remove it.
            runner.run(commands.docker_rm_force(name), check=False, timeout=60)
        return result

    results = runner.map_parallel(run, plats)
    out: dict[Platform, tuple[list[str], str]] = {}
    for plat, result in zip(plats, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        command = runner.display(settings.verify_run)
        if result.dry:
            out[plat] = ([], "not run (--dry)")
        elif result.ok:
            out[plat] = ([], f"`{command}` ran")
        elif result.returncode == -1:
            hung = (
                f"{plat}: `{command}` did not finish in {timeout:g}s (a program killed by a"
                " signal as the container's PID 1 under QEMU hangs: look for a crash)"
            )
            out[plat] = ([hung], "")
        elif EXEC_FORMAT_ERROR in f"{result.stdout}\n{result.stderr}".lower():
            out[plat] = (
                [f"{plat}: exec format error: its programs are not built for {plat}"],
                "",
            )
        else:
            last = (result.stderr or result.stdout).strip().splitlines()
            tail = f": {last[-1]}" if last else ""
            out[plat] = ([f"{plat}: `{command}` exited {result.returncode}{tail}"], "")
    return out
