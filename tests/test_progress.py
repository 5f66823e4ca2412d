"""The pure parts of progress (issue 18): prefixes, platform attribution, event lines."""

from __future__ import annotations

import pytest

from multiarch_tasks.engine.progress import Event, PlatformLines, plain_lines, platform_list


@pytest.mark.parametrize(
    ("prefix", "platforms"),
    [
        ("linux/amd64", ("linux/amd64",)),
        ("linux/amd64,linux/arm/v7", ("linux/amd64", "linux/arm/v7")),
        # A CI job's name holds a comma but is one label (a rehearsed GitLab matrix job).
        ("build: [linux/s390x, my-s390x-runner]", ("build: [linux/s390x, my-s390x-runner]",)),
        ("build-linux-amd64", ("build-linux-amd64",)),
    ],
)
def test_platform_list_splits_only_a_comma_list_of_platforms(
    prefix: str, platforms: tuple[str, ...]
) -> None:
    assert platform_list(prefix) == platforms


def test_platform_lines_follow_a_vertex_number_to_its_platform() -> None:
    lines = PlatformLines(("linux/amd64", "linux/arm64"))
    assert lines.platform("#8 [linux/arm64 2/3] RUN make") == "linux/arm64"
    assert lines.platform("#8 0.4 building") == "linux/arm64"
    assert lines.platform("#9 exporting to image") == ""
    assert lines.platform(" > [linux/amd64 2/3] RUN make:") == "linux/amd64"
    assert lines.platform("0.1 boom") == "linux/amd64"
    assert lines.platform("------") == ""


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (Event("build", "log", "linux/amd64", "#8 DONE 0.1s"), "  amd64 │ #8 DONE 0.1s"),
        (Event("build", "log", "linux/arm/v7", "#8 x"), " arm/v7 │ #8 x"),
        (Event("build", "log", "", "#9 pushing"), "  build │ #9 pushing"),
        (Event("verify", "start"), "== verify started"),
        (Event("build", "done", "linux/s390x", elapsed=2.04), "  s390x │ build done in 2.0s"),
        (Event("build", "failed", elapsed=1.0), "== build FAILED in 1.0s"),
        (Event("", "info", detail="plan: x"), "plan: x"),
    ],
)
def test_plain_lines_carry_the_short_platform_or_the_step(event: Event, line: str) -> None:
    assert plain_lines(event) == [line]
