"""The Dockerfile reader: which images a build pulls, on which line, for which platform."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from multiarch_tasks.model.dockerfile.parser import BUILD, FIXED, TARGET, expand, parse, parse_file
from multiarch_tasks.model.errors import DockerfileError, InvalidValueError

if TYPE_CHECKING:
    from pathlib import Path

# (id, Dockerfile text, build args, [(line, image or None, platform mode, name, is_final)])
STAGE_CASES = [
    ("plain", "FROM busybox:1.36\nRUN true\n", {}, [(1, "busybox:1.36", TARGET, "", True)]),
    (
        "global arg default",
        "ARG BASE=alpine:3.19\nFROM $BASE\n",
        {},
        [(2, "alpine:3.19", TARGET, "", True)],
    ),
    (
        "build arg overrides default",
        "ARG BASE=alpine:3.19\nFROM ${BASE}\n",
        {"BASE": "reg.example/alpine:3.20"},
        [(2, "reg.example/alpine:3.20", TARGET, "", True)],
    ),
    (
        "default operator when unset",
        "ARG REG\nFROM ${REG:-docker.io}/library/golang:1.22\n",
        {},
        [(2, "docker.io/library/golang:1.22", TARGET, "", True)],
    ),
    (
        "default operator when set",
        "ARG REG\nFROM ${REG:-docker.io}/library/golang:1.22\n",
        {"REG": "mirror.local:5000"},
        [(2, "mirror.local:5000/library/golang:1.22", TARGET, "", True)],
    ),
    (
        "colon-less default keeps an empty value",
        "ARG SUFFIX=\nFROM busybox${SUFFIX-:musl}\n",
        {},
        [(2, "busybox", TARGET, "", True)],
    ),
    (
        "alternate value operator",
        "ARG DEBUG=1\nFROM busybox${DEBUG:+:debug}\n",
        {},
        [(2, "busybox:debug", TARGET, "", True)],
    ),
    (
        "arg defaults refer to earlier args",
        "ARG V=3.19\nARG IMG=alpine:${V}\nFROM $IMG\n",
        {},
        [(3, "alpine:3.19", TARGET, "", True)],
    ),
    (
        "stage names are not images",
        "FROM golang:1.22 AS build\nRUN go build\nFROM build AS test\nFROM build\n",
        {},
        [
            (1, "golang:1.22", TARGET, "build", False),
            (3, None, TARGET, "test", False),
            (4, None, TARGET, "", True),
        ],
    ),
    (
        "stage names are case-insensitive",
        "FROM golang:1.22 as Build\nFROM BUILD\n",
        {},
        [(1, "golang:1.22", TARGET, "build", False), (2, None, TARGET, "", True)],
    ),
    ("scratch", "FROM scratch\nCOPY app /\n", {}, [(1, None, TARGET, "", True)]),
    (
        "buildplatform stage, target final",
        (
            "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
            "RUN go build\n"
            "FROM --platform=$TARGETPLATFORM alpine:3.19\n"
        ),
        {},
        [(1, "golang:1.22", BUILD, "build", False), (3, "alpine:3.19", TARGET, "", True)],
    ),
    (
        "braced buildplatform",
        "FROM --platform=${BUILDPLATFORM} golang:1.22\n",
        {},
        [(1, "golang:1.22", BUILD, "", True)],
    ),
    (
        "stage inherits its base stage's platform",
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM build\n",
        {},
        [(1, "golang:1.22", BUILD, "build", False), (2, None, BUILD, "", True)],
    ),
    (
        "fixed platform",
        "FROM --platform=linux/amd64 tool:1 AS tool\nFROM busybox\n",
        {},
        [(1, "tool:1", FIXED, "tool", False), (2, "busybox", TARGET, "", True)],
    ),
    (
        "line numbers count continuations and comments",
        (
            "# syntax=docker/dockerfile:1\n\n# a comment\nFROM \\\n  busybox:1 \\\n  AS one\n"
            "RUN echo a \\\n# inside\n  b\nFROM busybox:2\n"
        ),
        {},
        [(4, "busybox:1", TARGET, "one", False), (10, "busybox:2", TARGET, "", True)],
    ),
    (
        "heredoc bodies are not instructions",
        "FROM busybox:1\nRUN <<EOF\nFROM notanimage\necho hi\nEOF\nFROM busybox:2\n",
        {},
        [(1, "busybox:1", TARGET, "", False), (6, "busybox:2", TARGET, "", True)],
    ),
    (
        "dash heredoc with quoted word",
        "FROM busybox:1\nCOPY <<-'END' /x\n\tFROM nope\n\tEND\nFROM busybox:2\n",
        {},
        [(1, "busybox:1", TARGET, "", False), (5, "busybox:2", TARGET, "", True)],
    ),
    (
        "backtick escape directive",
        "# escape=`\nFROM `\n  busybox:1\nRUN dir c:\\\nFROM busybox:2\n",
        {},
        [(2, "busybox:1", TARGET, "", False), (5, "busybox:2", TARGET, "", True)],
    ),
    (
        "lower-case keywords",
        "from busybox:1 as base\nfrom base\n",
        {},
        [(1, "busybox:1", TARGET, "base", False), (2, None, TARGET, "", True)],
    ),
    (
        "digest pinned",
        "FROM busybox@sha256:" + "a" * 64 + "\n",
        {},
        [(1, "busybox@sha256:" + "a" * 64, TARGET, "", True)],
    ),
]


@pytest.mark.parametrize(
    ("text", "build_args", "expected"),
    [pytest.param(t, a, e, id=i) for i, t, a, e in STAGE_CASES],
)
def test_stages(text: str, build_args: dict[str, str], expected: list[tuple[object, ...]]) -> None:
    parsed = parse(text, build_args)
    got = [(s.line, s.image, s.platform_mode, s.name, s.is_final) for s in parsed.stages]
    assert got == expected


# (id, Dockerfile text, [(line, image, stage index, via)])
USE_CASES = [
    (
        "copy from image",
        "FROM busybox\nCOPY --from=nginx:1.25 /etc/nginx /etc/nginx\n",
        [(2, "nginx:1.25", 0, "COPY --from")],
    ),
    ("copy from stage name", "FROM golang AS build\nFROM busybox\nCOPY --from=build /a /a\n", []),
    ("copy from stage number", "FROM golang\nFROM busybox\nCOPY --from=0 /a /a\n", []),
    (
        "copy from a later stage name",
        "FROM busybox AS a\nCOPY --from=b /x /x\nFROM golang AS b\n",
        [],
    ),
    (
        "copy from out-of-range number is an image name",
        "FROM busybox\nCOPY --from=7 /a /a\n",
        [(2, "7", 0, "COPY --from")],
    ),
    (
        "copy from with stage-scoped arg",
        "ARG TOOL=tool:1\nFROM busybox\nARG TOOL\nCOPY --chown=1:1 --from=$TOOL /t /t\n",
        [(4, "tool:1", 0, "COPY --from")],
    ),
    (
        "run mount from image",
        "FROM busybox\nRUN --mount=type=bind,from=cache:1,target=/c true\n",
        [(2, "cache:1", 0, "RUN --mount")],
    ),
    (
        "run mount from stage",
        "FROM golang AS deps\nFROM busybox\nRUN --mount=type=cache,from=deps,target=/c true\n",
        [],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in USE_CASES])
def test_image_uses(text: str, expected: list[tuple[object, ...]]) -> None:
    parsed = parse(text)
    assert [(u.line, u.image, u.stage, u.via) for u in parsed.uses] == expected


def test_unset_arg_in_from_is_reported() -> None:
    parsed = parse("ARG REG\nFROM ${REG}/busybox:1\n")
    assert parsed.stages[0].image == "/busybox:1"
    assert parsed.stages[0].unresolved == ("REG",)


def test_platform_args_never_count_as_unset() -> None:
    assert expand("--platform=$BUILDPLATFORM", {}) == ("--platform=", ())


def test_escaped_dollar_is_literal() -> None:
    assert expand("a\\$B", {"B": "x"}) == ("a$B", ())


def test_empty_from_names_the_missing_build_arg() -> None:
    with pytest.raises(DockerfileError, match=r"Dockerfile:2: .*--build-arg BASE=IMAGE"):
        parse("ARG BASE\nFROM $BASE\n")


def test_runs_flag_marks_stages_with_run() -> None:
    parsed = parse("FROM a AS one\nRUN x\nFROM b\nCOPY --from=one /x /x\n")
    assert [s.runs for s in parsed.stages] == [True, False]


def test_reachable_skips_stages_the_target_does_not_need() -> None:
    parsed = parse(
        "FROM golang AS build\nFROM python AS docs\nFROM alpine AS test\n"
        "COPY --from=build /a /a\nFROM busybox\nCOPY --from=build /a /a\n"
    )
    assert [s.name for s in parsed.reachable()] == ["build", ""]
    assert [s.name for s in parsed.reachable("test")] == ["build", "test"]
    with pytest.raises(DockerfileError, match="no stage named 'nope'"):
        parsed.reachable("nope")


def test_build_platform_ancestor_follows_stage_bases() -> None:
    parsed = parse("FROM --platform=$BUILDPLATFORM golang AS build\nFROM build AS mid\nFROM mid\n")
    assert parsed.build_platform_ancestor(parsed.final) == parsed.stages[0]
    target = parse(
        "FROM --platform=$BUILDPLATFORM golang AS b\nFROM --platform=$TARGETPLATFORM b\n"
    )
    assert target.build_platform_ancestor(target.final) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RUN true\nFROM busybox\n", "Dockerfile:1: RUN before the first FROM"),
        ("# only a comment\n", "Dockerfile: no FROM instruction"),
        ("FROM a b c d\n", "Dockerfile:1: cannot read"),
        ("ARG X\nFROM ${X\n", "missing '}'"),
    ],
)
def test_malformed_dockerfiles(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        parse(text)


def test_missing_file_is_a_value_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "Dockerfile"
    with pytest.raises(InvalidValueError, match=f"Dockerfile not found: {path}"):
        parse_file(path)


def test_parse_file_reads_and_records_the_path(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM busybox\n")
    parsed = parse_file(path)
    assert parsed.path == str(path)
    assert parsed.final.image == "busybox"
