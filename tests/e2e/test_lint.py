"""lint on the test bed: `ARG TARGETARCH=amd64` fails preflight, and verify --deep confirms it.

The hazard of issue 12: a stage's `ARG TARGETARCH=amd64` overrides the value buildx sets,
so every platform copies the amd64 artefact. Preflight (and `multiarch preflight`) refuse
it naming the line; built anyway, verify --deep finds the amd64 program in the arm64 image
and says which lint finding that confirms.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from multiarch_tasks.checks.lint import checker as lint
from multiarch_tasks.checks.preflight.check import preflight
from multiarch_tasks.checks.verify.check import verify
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.platforms import parse_platforms
from multiarch_tasks.model.reference import ImageRef
from testbed.base_images import busybox_binary
from tests.conftest import EXAMPLE, BaseImage, buildx_push, run_cli

pytestmark = pytest.mark.e2e
PLATFORMS = "linux/amd64,linux/arm64"


def _hazard_context(tmp_path: Path, base: str) -> Path:
    """A context whose Dockerfile copies busybox-${TARGETARCH} with TARGETARCH pinned to amd64."""
    for arch in ("amd64", "arm64"):
        shutil.copy2(busybox_binary(arch), tmp_path / f"busybox-{arch}")
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base} AS fetch\n"
        "ARG TARGETARCH=amd64\n"
        "COPY busybox-${TARGETARCH} /tool\n"
        "\n"
        f"FROM {base}\n"
        "COPY --from=fetch /tool /usr/local/bin/tool\n"
    )
    return tmp_path


def _settings(context: Path) -> Settings:
    return Settings(platforms=parse_platforms(PLATFORMS), context=str(context))


def test_target_arg_default_fails_preflight_naming_the_line(
    base_image: BaseImage, tmp_path: Path
) -> None:
    context = _hazard_context(tmp_path, base_image.ref)
    report = preflight(_settings(context), Runner())
    assert not report.ok
    [problem] = report.errors
    assert problem.kind == "target-arg-default"
    assert problem.line == 2
    assert f"{context / 'Dockerfile'}:2: `ARG TARGETARCH=amd64`" in problem.message
    assert "write `ARG TARGETARCH` with no value" in problem.message


def test_multiarch_preflight_exits_1_on_the_hazard(base_image: BaseImage, tmp_path: Path) -> None:
    context = _hazard_context(tmp_path, base_image.ref)
    done = run_cli("preflight", "--context", str(context), "--platforms", PLATFORMS, "--json")
    assert done.returncode == 1, done.output
    data = json.loads(done.stdout)
    [problem] = [p for p in data["problems"] if p["severity"] == "error"]
    assert (problem["kind"], problem["line"]) == ("target-arg-default", 2)


def test_forced_build_is_confirmed_by_verify_deep(
    base_image: BaseImage, repo: str, tmp_path: Path
) -> None:
    context = _hazard_context(tmp_path, base_image.ref)
    settings = _settings(context)
    found = lint.lint(settings, Runner())
    assert [(f.rule, f.line) for f in found.findings] == [("target-arg-default", 2)]
    ref = f"{repo}:forced"
    # Forced: straight through buildx, no preflight; every platform builds fine.
    done = buildx_push(
        ["docker", "buildx", "build", "--builder", "default", "--platform", PLATFORMS,
         "--provenance=false", "--tag", ref, "--push", str(context)],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]

    report = verify(
        settings, ImageRef.parse(ref), runner=Runner(), deep=True, findings=found.findings
    )
    assert not report.ok
    problems = {c.platform: c.problems for c in report.platforms}
    assert problems["linux/amd64"] == ()
    assert problems["linux/arm64"] == (
        "linux/arm64: /usr/local/bin/tool: x86-64 (expected aarch64)",
    )
    # Why: the very layer of the amd64 image (verify notes it beside the problem).
    [arm64] = [c for c in report.platforms if c.platform == "linux/arm64"]
    [shared] = [n for n in arm64.notes if n.startswith("layer sha256:")]
    assert shared.endswith(
        "is also a layer of linux/amd64 and adds programs (/usr/local/bin/tool):"
        " one build output shipped to 2 architectures"
    )
    assert report.lint == (
        (
            f"{context / 'Dockerfile'}:2 [target-arg-default] confirmed by --deep:"
            " linux/arm64: /usr/local/bin/tool is x86-64"
        ),
    )
    assert "lint findings:" in report.render()
    assert report.to_json()["lint"] == list(report.lint)


def test_clean_build_clears_the_lint_warning(
    base_image: BaseImage, repo: str, tmp_path: Path
) -> None:
    for arch in ("amd64", "arm64"):
        shutil.copy2(busybox_binary(arch), tmp_path / f"busybox-{arch}")
    # The ARG maps every platform to itself, but lint cannot tell: it warns on the literal.
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image.ref}\n"
        "ARG TARGETARCH\n"
        "ENV TOOL=busybox-arm64\n"
        "COPY busybox-${TARGETARCH} /usr/local/bin/tool\n"
    )
    settings = _settings(tmp_path)
    found = lint.lint(settings, Runner())
    assert [(f.rule, f.severity, f.line) for f in found.findings] == [
        ("arch-literal", "warning", 3)
    ]
    assert found.ok
    ref = f"{repo}:clean"
    done = buildx_push(
        ["docker", "buildx", "build", "--builder", "default", "--platform", PLATFORMS,
         "--provenance=false", "--tag", ref, "--push", str(tmp_path)],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = verify(
        settings, ImageRef.parse(ref), runner=Runner(), deep=True, findings=found.findings
    )
    assert report.ok, report.render()
    assert report.lint == (
        (
            f"{tmp_path / 'Dockerfile'}:3 [arch-literal] not confirmed: --deep found every"
            " platform's programs built for it"
        ),
    )


def test_lint_of_the_example_in_process_is_clean() -> None:
    # `multiarch lint` is not a task yet: the api function with a real Runner.
    result = lint.lint(Settings(context=str(EXAMPLE)), Runner())
    assert result.ok
    assert result.findings == ()
    assert result.render().endswith("lint: ok (no hazards found)")
    assert result.to_json()["ok"] is True
