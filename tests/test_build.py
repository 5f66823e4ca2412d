"""build's pure parts: which platform a log names, which failures are worth a retry,
and the source URL that reaches a label."""

from __future__ import annotations

import pytest

from multiarch_tasks.engine.runner import Result
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import scrub_url
from multiarch_tasks.planning.plan.make import BuildStep
from multiarch_tasks.steps.backends.buildx import (
    failed_platforms,
    registry_fault,
    transient,
    transient_cause,
)

ARM64 = Platform.parse("linux/arm64")
ARMV7 = Platform.parse("linux/arm/v7")


def test_failed_platform_read_from_a_multi_platform_log() -> None:
    step = BuildStep((ARM64, ARMV7), ("r/app:1",), "", ("docker",), "m.json")
    tail = (
        "#8 [linux/arm/v7 2/2] RUN false\n"
        "------\n > [linux/arm/v7 2/2] RUN false:\n------\nERROR: failed to solve"
    )
    assert failed_platforms(step, tail) == ["linux/arm/v7"]
    assert failed_platforms(step, "ERROR: no step named") == ["linux/arm64,linux/arm/v7"]
    single = BuildStep((ARM64,), ("r/app:1",), "", ("docker",), "m.json")
    assert failed_platforms(single, tail) == ["linux/arm64"]


def _failed(text: str) -> Result:
    return Result(("docker", "buildx", "build"), 1, "", text)


@pytest.mark.parametrize(
    "tail",
    [
        (
            "ERROR: failed to push 127.0.0.1:5001/x:1: unexpected status from PUT request to"
            " http://127.0.0.1:5001/v2/x/manifests/1: 500 Internal Server Error"
        ),
        (
            "ERROR: failed to copy: httpReadSeeker: failed open: unexpected status code"
            " http://r/v2/x/blobs/sha256:ab: 429 Too Many Requests - toomanyrequests"
        ),
        'ERROR: failed to do request: Head "http://r/v2/": read tcp: connection reset by peer',
        "ERROR: failed to push r/x:1: i/o timeout",
    ],
)
def test_registry_faults_in_a_build_log_are_transient(tail: str) -> None:
    assert transient(_failed(tail))


@pytest.mark.parametrize(
    "tail",
    [
        "ERROR: failed to push r/x:1: unexpected status from PUT request: 401 Unauthorized",
        "ERROR: failed to push r/x:1: unexpected status: 403 Forbidden",
        (
            " > [linux/arm64 2/2] RUN false:\nERROR: failed to solve: process did not complete"
            " successfully: exit code: 1"
        ),
        "ERROR: failed to solve: 127.0.0.1:5000/base:1: not found",
    ],
)
def test_auth_errors_and_build_errors_are_not_retried(tail: str) -> None:
    assert not transient(_failed(tail))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://x-access-token:ghs_SECRET@github.com/org/app.git", "https://github.com/org/app.git"),
        ("https://gitlab-ci-token:glpat-SECRET@gitlab.example.com/g/app", "https://gitlab.example.com/g/app"),
        ("https://github.com/org/app.git", "https://github.com/org/app.git"),
        ("https://host/org/app.git?token=SECRET&ref=main", "https://host/org/app.git?ref=main"),
        ("https://host/a?X-Amz-Signature=abc&private_token=p", "https://host/a"),
        ("git@github.com:org/app.git", "git@github.com:org/app.git"),
        ("/work/main", "/work/main"),
    ],
)  # fmt: skip
def test_source_label_never_carries_credentials_or_tokens(url: str, shown: str) -> None:
    assert scrub_url(url) == shown


# What a multi-platform publish on the docker driver printed when dockerd's own push failed
# after a registry 500 (issue 17): BuildKit's lines had the 500, the daemon's error came last.
_DAEMON_PUSH_LOG = "\n".join(
    [
        "#12 pushing manifest for 127.0.0.1:5001/app:v1-staging-ab@sha256:cc",
        (
            '#12 0.39 error: failed commit on ref "manifest-sha256:f5": unexpected status from'
            " PUT request to http://127.0.0.1:5001/v2/app/manifests/sha256:f5: 500 Internal"
            " Server Error"
        ),
        "#12 0.39 retrying in 1s",
        "#12 DONE 1.4s",
        "#13 pushing 127.0.0.1:5001/app:v1-staging-ab with docker",
        *[f"#13 pushing layer {n:012x} done" for n in range(20)],
        (
            "#13 ERROR: Error response from daemon: manifest unknown: OCI index found, but accept"
            " header does not support OCI indexes"
        ),
        "------",
        " > pushing 127.0.0.1:5001/app:v1-staging-ab with docker:",
        "------",
        (
            "ERROR: Error response from daemon: manifest unknown: OCI index found, but accept"
            " header does not support OCI indexes"
        ),
    ]
)


def test_daemon_push_failing_after_a_500_far_up_the_log_is_transient_and_names_the_500() -> None:
    cause = transient_cause(_failed(_DAEMON_PUSH_LOG))
    assert cause.startswith('#12 0.39 error: failed commit on ref "manifest-sha256:f5"')
    assert "500 Internal Server Error (then ERROR: Error response from daemon" in cause


def test_a_fault_the_runner_kept_from_beyond_the_tail_counts() -> None:
    tail = "#13 pushing layer 0\nERROR: Error response from daemon: manifest unknown"
    kept = (
        "#12 error: unexpected status from PUT request to http://r/v2/x: 503 Service Unavailable",
    )
    assert not transient(_failed(tail))
    assert transient(Result(("docker",), 1, "", tail, kept=kept))


@pytest.mark.parametrize(
    "final",
    [
        "ERROR: failed to push r/x:1: unexpected status from PUT request: 401 Unauthorized",
        (
            'ERROR: failed to solve: process "/bin/sh -c make" did not complete successfully:'
            " exit code: 2"
        ),
        'ERROR: failed to solve: failed to compute cache key: "/missing": not found',
    ],
)
def test_a_build_or_auth_error_after_a_passing_500_is_not_retried(final: str) -> None:
    log = (
        "#6 error: unexpected status from HEAD request to http://r/v2/base/manifests/1: 500"
        f" Internal Server Error\n#6 retrying in 1s\n#9 DONE\n{final}"
    )
    assert not transient(_failed(log))


def test_registry_fault_picks_the_lines_worth_keeping() -> None:
    assert registry_fault("#12 error: ...: 500 Internal Server Error")
    assert not registry_fault("#12 pushing layers 0.3s done")
