"""build's pure parts: which platform a log names, which failures are worth a retry,
and the source URL that reaches a label."""

from __future__ import annotations

import pytest

from multiarch_tasks.engine.runner import Result
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import scrub_url
from multiarch_tasks.planning.plan.make import BuildStep
from multiarch_tasks.steps.backends.buildx import failed_platforms, transient

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
