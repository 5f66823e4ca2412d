"""CI-native output, pure parts: detection, groups, error annotations, the summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from multiarch_tasks.ci.output import GITHUB, GITLAB, detect, error_lines, group, summary_markdown


@pytest.mark.parametrize(
    ("env", "ci"),
    [
        ({"GITHUB_ACTIONS": "true"}, GITHUB),
        ({"GITLAB_CI": "true"}, GITLAB),
        ({"CI": "true"}, ""),
        ({}, ""),
    ],
)
def test_detect_reads_the_providers_own_variables(env: dict[str, str], ci: str) -> None:
    assert detect(env) == ci


def test_github_group_wraps_the_lines() -> None:
    assert group(GITHUB, "linux/arm64: ok", ["a", "b"]) == [
        "::group::linux/arm64: ok", "a", "b", "::endgroup::"
    ]  # fmt: skip


def test_gitlab_group_is_a_collapsed_section_with_a_safe_name() -> None:
    start, body, end = group(GITLAB, "linux/arm/v7: ok", ["x"])
    assert "section_start:" in start
    assert ":linux_arm_v7_ok[collapsed=true]" in start
    assert start.endswith("linux/arm/v7: ok")
    assert body == "x"
    assert ":linux_arm_v7_ok\r" in end


def test_plain_output_has_no_markers() -> None:
    assert group("", "t", ["a"]) == ["a"]
    assert error_lines("", "boom", {"linux/s390x": "x"}) == []


def test_error_annotation_per_failed_platform_with_escaped_message() -> None:
    lines = error_lines(GITHUB, "build failed", {"linux/s390x": "50% done\nthen died"})
    assert lines == ["::error title=multiarch: linux/s390x failed::50%25 done%0Athen died"]


@dataclass
class _Result:
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.data


def test_summary_table_lists_each_platform_digest_and_verify_verdict() -> None:
    text = summary_markdown(
        _Result(
            {
                "ok": False, "tags": ["r/app:1"], "digest": "sha256:aa",
                "platforms": ["linux/amd64", "linux/arm64"],
                "verify": {"platforms": [
                    {"platform": "linux/amd64", "digest": "sha256:11", "ok": True, "problems": []},
                    {"platform": "linux/arm64", "digest": "sha256:22", "ok": False,
                     "problems": ["/bin/tool: x86-64 (expected aarch64)"]},
                ]},
                "error": "verify failed: nothing promoted",
            }
        )
    )  # fmt: skip
    assert "| linux/amd64 | `sha256:11` | ok |" in text
    assert "| linux/arm64 | `sha256:22` | /bin/tool: x86-64 (expected aarch64) |" in text
    assert "**verify failed: nothing promoted**" in text
    assert text.startswith("### ❌ multiarch publish r/app:1")


def test_summary_of_verifys_own_result_lists_its_rows_instead_of_crashing() -> None:
    """The merge job's last step is `multiarch verify`, whose platforms are rows (dicts): the
    summary raised TypeError (unhashable type: 'dict') under GitHub Actions."""
    text = summary_markdown(
        _Result(
            {
                "ok": True, "tags": [],
                "platforms": [
                    {"platform": "linux/amd64", "digest": "sha256:11", "ok": True, "problems": []},
                ],
            }
        )
    )  # fmt: skip
    assert "| linux/amd64 | `sha256:11` | ok |" in text
