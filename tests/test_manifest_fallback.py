"""Which imagetools failures send the merge down the native path (issue 9, Why 3)."""

from __future__ import annotations

import pytest

from multiarch_tasks.model.errors import CommandError
from multiarch_tasks.steps.manifest.lists import transient_failure


@pytest.mark.parametrize(
    ("stderr", "transient"),
    [
        (("ERROR: unexpected status from HEAD request to http://r/v2/a/manifests/x:"
         " 500 Internal Server Error"), True),
        ("ERROR: failed commit on ref: unexpected status: 503 Service Unavailable", True),
        ("ERROR: unexpected status: 429 Too Many Requests", True),
        (('ERROR: Head "http://r/v2/": read tcp 127.0.0.1:1->127.0.0.1:2: read: connection'
         " reset by peer"), True),
        ('ERROR: Put "http://r/v2/a/manifests/t": EOF', True),
        ("ERROR: i/o timeout", True),
        ("ERROR: unexpected status: 401 Unauthorized", False),
        ("ERROR: unexpected status from HEAD request: 403 Forbidden", False),
        ("ERROR: r/a@sha256:00: not found", False),
        ("ERROR: failed to parse reference", False),
    ],
)  # fmt: skip
def test_transient_failure_of_imagetools(stderr: str, transient: bool) -> None:
    err = CommandError(["docker", "buildx", "imagetools", "create"], 1, stderr)
    assert transient_failure(err) is transient
