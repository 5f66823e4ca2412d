"""lint: each hazard found with its line, rule, reason and fix; clean Dockerfiles pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from multiarch_tasks.checks.lint import checker as lint
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.dockerfile import parser as dockerfile
from multiarch_tasks.model.platforms import Platform, parse_platforms

TWO = parse_platforms("linux/amd64,linux/arm64")
AMD64 = Platform("linux", "amd64")


def _lint(text: str, platforms: tuple[Platform, ...] = TWO, **kwargs: object) -> lint.LintResult:
    return lint.check(dockerfile.parse(text), platforms, host=AMD64, **kwargs)  # type: ignore[arg-type]


def _rules(result: lint.LintResult) -> list[tuple[int, str, str]]:
    return [(f.line, f.rule, f.severity) for f in result.findings]


CLEAN = """\
# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY . .
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app .

FROM alpine:3.20 AS tools
ARG TARGETARCH
RUN case "${TARGETARCH}" in amd64) A=x86_64;; arm64) A=aarch64;; esac \\
 && wget https://example.com/tool-linux-$A.tar.gz
ADD https://example.com/tini-${TARGETARCH} /tini

FROM alpine:3.20
COPY --from=build /out/app /app
COPY --from=tools /tini /tini
ENTRYPOINT ["/tini", "--", "/app"]
"""


def test_clean_multiarch_dockerfile_has_no_findings() -> None:
    result = _lint(CLEAN)
    assert result.findings == ()
    assert result.ok
    assert "no hazards found" in result.render()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "FROM alpine\nARG TARGETARCH=amd64\nRUN echo $TARGETARCH\n",
            [(2, "target-arg-default", "error")],
            id="stage ARG TARGETARCH=amd64",
        ),
        pytest.param(
            "FROM alpine AS a\nFROM alpine\nARG FOO=1 TARGETOS=windows\n",
            [(3, "target-arg-default", "error")],
            id="TARGETOS among other ARGs",
        ),
        pytest.param(
            "FROM alpine\nARG TARGETOS=linux\n",
            [(2, "target-arg-default", "warning")],
            id="TARGETOS=linux for linux platforms is a warning",
        ),
        pytest.param(
            "ARG TARGETPLATFORM=linux/amd64\nFROM alpine\n",
            [(1, "target-arg-default", "error")],
            id="global TARGETPLATFORM default",
        ),
        pytest.param(
            'FROM alpine\nARG TARGETVARIANT="v7"\n',
            [(2, "target-arg-default", "error")],
            id="quoted TARGETVARIANT default",
        ),
        pytest.param(
            "FROM alpine\nRUN wget https://x/y/app-linux-amd64.tar.gz\n",
            [(2, "arch-literal", "warning")],
            id="amd64 in a RUN download",
        ),
        pytest.param(
            "FROM alpine\nRUN cp /usr/lib/x86_64-linux-gnu/libz.so /lib/\n",
            [(2, "arch-literal", "warning")],
            id="x86_64 path in RUN",
        ),
        pytest.param(
            "FROM alpine\nADD https://x/tool-aarch64 /tool\n",
            [(2, "arch-literal", "warning")],
            id="aarch64 in an ADD URL",
        ),
        pytest.param(
            "FROM alpine\nENV GOARCH=arm64\n",
            [(2, "arch-literal", "warning")],
            id="GOARCH in ENV",
        ),
        pytest.param(
            "FROM alpine\nARG ARCH=amd64\nRUN wget https://x/tool-${ARCH}\n",
            [(3, "arch-literal", "warning")],
            id="literal through a plain ARG",
        ),
        pytest.param(
            "FROM alpine\nRUN <<EOF\nwget https://x/tool-arm64\nEOF\n",
            [(2, "arch-literal", "warning")],
            id="literal in a heredoc body",
        ),
        pytest.param(
            "FROM --platform=$BUILDPLATFORM golang AS b\nRUN GOARCH=amd64 go build -o /a .\n"
            "FROM alpine\nCOPY --from=b /a /a\n",
            [(2, "arch-literal", "warning")],
            id="GOARCH literal in a BUILDPLATFORM stage",
        ),
        pytest.param(
            "FROM --platform=linux/amd64 alpine\nRUN true\n",
            [(1, "pinned-platform", "error")],
            id="final stage pinned",
        ),
        pytest.param(
            "FROM --platform=linux/amd64 alpine AS base\nFROM base\nRUN true\n",
            [(1, "pinned-platform", "error")],
            id="final built FROM a pinned stage",
        ),
        pytest.param(
            "FROM --platform=$BUILDPLATFORM alpine\nCOPY a /a\n",
            [(1, "buildplatform-final", "error")],
            id="final on BUILDPLATFORM",
        ),
        pytest.param(
            "FROM --platform=$BUILDPLATFORM golang AS build\nRUN go build -o /app .\n"
            "FROM alpine\nCOPY --from=build /app /app\n",
            [(4, "copy-from-buildplatform", "warning")],
            id="COPY --from a BUILDPLATFORM compile without cross hint",
        ),
        pytest.param(
            "FROM --platform=$BUILDPLATFORM rust AS build\nRUN cargo build --release\n"
            "FROM build AS more\nRUN true\nFROM alpine\nCOPY --from=more /t /t\n",
            [(6, "copy-from-buildplatform", "warning")],
            id="COPY --from a stage inheriting BUILDPLATFORM",
        ),
    ],
)
def test_each_hazard_is_found_on_its_line(text: str, expected: list[tuple[int, str, str]]) -> None:
    assert _rules(_lint(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("FROM alpine\nARG TARGETARCH\nRUN echo $TARGETARCH\n", id="ARG without value"),
        pytest.param("FROM alpine\nRUN wget https://x/tool-$(uname -m)\n", id="uname -m mapping"),
        pytest.param(
            'FROM debian\nRUN A="$(dpkg --print-architecture)"; [ "$A" = amd64 ] && echo x\n',
            id="dpkg mapping",
        ),
        pytest.param(
            "FROM --platform=$BUILDPLATFORM golang AS tools\n"
            "RUN wget https://go.dev/dl/go1.22.linux-amd64.tar.gz\n"
            "FROM alpine\nCOPY --from=tools /etc/ssl /etc/ssl\n",
            id="download for the build host in a BUILDPLATFORM stage",
        ),
        pytest.param(
            "FROM --platform=$BUILDPLATFORM node AS web\nRUN npm run build\n"
            "FROM alpine\nCOPY --from=web /dist /dist\n",
            id="COPY from a BUILDPLATFORM stage that compiles nothing",
        ),
        pytest.param(
            "FROM --platform=$BUILDPLATFORM tonistiigi/xx AS xx\n"
            "FROM --platform=$BUILDPLATFORM golang AS build\nCOPY --from=xx / /\n"
            "ARG TARGETPLATFORM\nRUN xx-go build -o /app .\n"
            "FROM alpine\nCOPY --from=build /app /app\n",
            id="xx cross compile",
        ),
        pytest.param(
            "FROM --platform=linux/amd64 alpine AS unused\nRUN wget x-arm64\nFROM alpine\n",
            id="pinned stage the final does not need",
        ),
        pytest.param("FROM alpine\nCOPY amd64.txt /x\n", id="COPY of a local file"),
        pytest.param(
            "ARG ARCH=amd64\nFROM alpine\nRUN wget x-${ARCH}\n",
            id="global ARG not brought into the stage is empty there",
        ),
        pytest.param("FROM alpine\nLABEL arch=amd64\n", id="LABEL is not checked"),
    ],
)
def test_not_a_hazard(text: str) -> None:
    assert _lint(text).findings == ()


def test_target_arg_matching_every_platform_is_a_warning_saying_why() -> None:
    result = _lint("FROM alpine\nARG TARGETARCH=amd64\n", (AMD64,))
    [finding] = result.findings
    assert finding.severity == "warning"
    assert "every requested platform has TARGETARCH=amd64 so it does no harm yet" in (
        finding.message
    )
    arm = _lint('FROM alpine\nARG TARGETVARIANT=""\n', parse_platforms("linux/arm/v7"))
    assert [f.severity for f in arm.findings] == ["error"]


def test_pinned_final_is_fine_when_only_that_platform_is_built() -> None:
    text = "FROM --platform=linux/amd64 alpine\nRUN true\n"
    assert _lint(text, (AMD64,)).findings == ()


def test_build_arg_targetarch_is_an_error_naming_build_args() -> None:
    result = _lint("FROM alpine\n", build_args={"TARGETARCH": "amd64"})
    [finding] = result.errors
    assert finding.rule == "target-arg-default"
    assert "build_args sets TARGETARCH=amd64" in finding.message
    assert finding.arch == "amd64"


def test_target_arg_finding_says_why_and_fix_and_the_arch() -> None:
    [finding] = _lint("FROM alpine\nARG TARGETARCH=amd64\n").findings
    assert "wins over the one BuildKit sets for each platform" in finding.message
    assert finding.fix.startswith("write `ARG TARGETARCH` with no value")
    assert finding.arch == "amd64"
    expected = "Dockerfile:2: error [target-arg-default] `ARG TARGETARCH=amd64`"
    assert finding.text().startswith(expected)


def test_allowed_buildplatform_final_is_a_warning() -> None:
    text = "FROM --platform=$BUILDPLATFORM alpine\n"
    result = _lint(text, allow_buildplatform_final=True)
    assert _rules(result) == [(1, "buildplatform-final", "warning")]
    assert result.ok


def test_only_stages_the_target_needs_are_linted() -> None:
    text = "FROM alpine AS a\nARG TARGETARCH=amd64\nFROM alpine AS b\nRUN true\n"
    assert _lint(text, target="b").findings == ()
    assert _rules(_lint(text, target="a")) == [(2, "target-arg-default", "error")]


def test_shell_only_substitution_does_not_break_parsing() -> None:
    result = _lint('FROM alpine\nRUN X=a-b; echo "${X//-/_}" amd64\n')
    assert _rules(result) == [(2, "arch-literal", "warning")]


def test_json_lists_every_finding() -> None:
    data = _lint("FROM alpine\nARG TARGETARCH=amd64\nRUN wget x-arm64\n").to_json()
    assert data["ok"] is False
    assert [(f["line"], f["rule"]) for f in data["findings"]] == [
        (2, "target-arg-default"),
        (3, "arch-literal"),
    ]
    assert data["findings"][1]["arch"] == "arm64"


def test_lint_reads_the_settings_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine\nARG TARGETARCH=arm64\n")
    result = lint.lint(Settings(context=str(tmp_path), platforms=TWO), Runner())
    assert not result.ok
    assert result.dockerfile == str(tmp_path / "Dockerfile")
    assert "FAILED (1 error(s), 0 warning(s))" in result.render()


def test_parsed_steps_carry_stage_expanded_text_and_heredoc_body() -> None:
    parsed = dockerfile.parse(
        "ARG V=1.2\nFROM alpine AS a\nARG ARCH=arm64\nRUN <<EOF\nwget x-${ARCH}\nEOF\n"
        "RUN echo $V-${ARCH}\nFROM a\nCOPY --from=a /x /y\n",
        {"V": "2.0"},
    )
    steps = [(s.stage, s.keyword, s.line) for s in parsed.steps]
    assert steps == [(-1, "ARG", 1), (0, "FROM", 2), (0, "ARG", 3), (0, "RUN", 4),
                     (0, "RUN", 7), (1, "FROM", 8), (1, "COPY", 9)]  # fmt: skip
    run_heredoc, run_echo = [s for s in parsed.steps if s.keyword == "RUN"]
    assert run_heredoc.body == "wget x-${ARCH}\nEOF"
    assert run_echo.args == "echo $V-${ARCH}"
    assert run_echo.expanded == "echo -arm64"  # V is global: not in scope without `ARG V`
    assert [s.keyword for s in parsed.steps_of(parsed.stages[1])] == ["COPY"]
    assert [s.index for s in parsed.origin(parsed.stages[1])] == [1, 0]
