"""``verify --run``: start each platform's image with ``verify_run`` and judge how it ended.

An ``exec format error`` means the programs are built for another platform; a command
that does not finish in time under QEMU is most likely a crashed PID 1 (removed by force).
A wrong-architecture program does not always say so: on an x86-64 host the kernel starts
an x86-64 program in the arm64 image natively, finds no x86-64 loader there and the shell
says "not found" (exit 127). So when a run could not start a program (126, 127, "no such
file"), the platform's ELF programs are read (:func:`wrong_arch`) and a foreign one turns
the failure into ``exec format error``.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from multiarch_tasks.engine import commands

if TYPE_CHECKING:
    from collections.abc import Mapping

    from multiarch_tasks.checks.elf.layers import ScanResult
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


# How a program that could not be started shows: the shell's 127 ("not found") or 126
# ("cannot execute"), docker's "exec /x: no such file or directory". A command that ran
# and failed (exit 3) says nothing about its programs' architecture.
_NOT_STARTED = re.compile(
    r"` exited 12[67]\b|no such file or directory|not found|cannot execute", re.IGNORECASE
)


def failed_runs(results: Mapping[Platform, tuple[list[str], str]]) -> list[Platform]:
    """The platforms whose command could not start a program, short of ``exec format error``."""
    return [
        plat
        for plat, (problems, _) in results.items()
        if problems and not _said(problems) and any(_NOT_STARTED.search(p) for p in problems)
    ]


def _said(problems: list[str]) -> bool:
    return any(f": {EXEC_FORMAT_ERROR}" in p for p in problems)


def wrong_arch(
    results: Mapping[Platform, tuple[list[str], str]], scans: Mapping[Platform, ScanResult]
) -> dict[Platform, tuple[list[str], str]]:
    """``results`` with each failed run whose image holds foreign programs named as such.

    ``scans`` are the platforms' ELF programs (``verify --deep``'s, or read for the
    failed runs only). What the command did stays in the line, after the programs.
    """
    out = dict(results)
    for plat in failed_runs(results):
        scan = scans.get(plat)
        foreign = scan.foreign(plat) if scan is not None else []
        if not foreign:
            continue
        problems, note = results[plat]
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        why = "; ".join(p.removeprefix(f"{plat}: ") for p in problems)
        line = (
            f"{plat}: {EXEC_FORMAT_ERROR}: {foreign[0]}{more}: its programs are not built for"
            f" {plat} ({why})"
        )
        out[plat] = ([line], note)
    return out
