"""The test bed's one by-hand retry for its own docker/buildx calls (issue 17).

The loopback Distribution 2.8 answers 500 now and then while a tag's link file is read
and written at once (several platforms pushing to one tag, dockerd pushing again after
BuildKit). ``multiarch`` retries that itself; the builds the tests, the base images and
the bench make by hand get the same second chance here, and only here. The whole output
is read, as the product does: the 500 can be far above the error buildx ends on.
Stdlib only, like the rest of the bed.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Mapping

# What docker, buildx and BuildKit print when the registry failed for a moment.
FAULT = re.compile(
    r"\b5\d\d (?:Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)\b"
    r"|: 5\d\d |HTTP status: 5\d\d|connection reset",
)


def registry_fault(output: str) -> bool:
    """True when ``output`` (the whole of it) shows a passing registry fault."""
    return bool(FAULT.search(output))


def run_retrying(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    attempts: int = 3,
    timeout: float | None = 1200,
    on_retry: Callable[[subprocess.CompletedProcess[str]], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (output captured); again, up to ``attempts`` in all, after a registry fault.

    ``on_retry`` sees each failed attempt that is run again (the bench marks its sample).
    The last attempt's result is returned, whatever it was.
    """
    for attempt in range(1, attempts + 1):
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, check=False, timeout=timeout
        )
        if done.returncode == 0 or attempt == attempts:
            return done
        if not registry_fault(done.stdout + done.stderr):
            return done
        if on_retry is not None:
            on_retry(done)
        time.sleep(attempt)
    return done
