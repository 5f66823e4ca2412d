"""The pure parts of progress (issue 18): prefixes, platform attribution, event lines."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest

from multiarch_tasks.engine.buildkit_json import BuildProgress, RawJson
from multiarch_tasks.engine.live import LiveView
from multiarch_tasks.engine.progress import (
    Event,
    Outline,
    PlatformLines,
    Transfer,
    plain_lines,
    platform_list,
    resolve_mode,
    transfer_events,
)
from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.steps.mirror.skopeo import Sizes, SkopeoLines


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


@pytest.mark.parametrize(
    ("mode", "tty", "environ", "resolved"),
    [
        ("auto", True, {}, "tty"),
        ("auto", True, {"CI": "true"}, "plain"),
        ("auto", False, {}, "plain"),
        ("auto", True, {"TERM": "dumb"}, "plain"),
        ("tty", False, {}, "tty"),  # asked for: drawn anyway
        ("tty", True, {"TERM": "dumb"}, "plain"),  # a dumb terminal cannot move the cursor
        ("json", True, {}, "json"),
        ("plain", True, {}, "plain"),
    ],
)
def test_resolve_mode_picks_the_live_view_only_on_a_capable_terminal_outside_ci(
    mode: str, tty: bool, environ: dict[str, str], resolved: str
) -> None:
    assert resolve_mode(mode, tty=tty, environ=environ) == resolved


def test_resolve_mode_keeps_plain_lines_when_dry_or_echo_asked_for_the_commands() -> None:
    assert resolve_mode("auto", tty=True, environ={}, commands=True) == "plain"
    assert resolve_mode("tty", tty=True, environ={}, commands=True) == "tty"  # asked for


def _status(**parts: object) -> list[str]:
    # buildx prints each status as indented JSON, `{` and `}` alone on their lines.
    return json.dumps(parts, indent=2).splitlines()


def test_rawjson_gives_plain_lines_and_each_platforms_progress() -> None:
    reader = RawJson()
    t0, t1 = "2026-01-01T00:00:00.000000001Z", "2026-01-01T00:00:01.500000001Z"
    stream = [
        *_status(vertexes=[
            {"digest": "a", "name": "[linux/arm64 1/2] FROM base", "started": t0,
             "completed": t0, "cached": True},
            {"digest": "b", "name": "[linux/arm64 2/2] RUN make", "started": t0},
        ]),
        *_status(logs=[{"vertex": "b", "stream": 1,
                        "data": base64.b64encode(b"compiling\n").decode()}]),
        *_status(vertexes=[{"digest": "b", "name": "[linux/arm64 2/2] RUN make",
                            "started": t0, "completed": t1, "error": "exit code: 2"}]),
        "ERROR: failed to solve: exit code: 2",
    ]  # fmt: skip
    lines: list[str] = []
    moved = {}
    for line in stream:
        out, progress = reader.feed(line)
        lines += out
        moved.update(progress)
    assert lines == [
        "#1 [linux/arm64 1/2] FROM base",
        "#1 CACHED",
        "#2 [linux/arm64 2/2] RUN make",
        "#2 compiling",
        "#2 ERROR: exit code: 2",
        "ERROR: failed to solve: exit code: 2",
    ]
    assert moved["linux/arm64"] == BuildProgress("[2/2] RUN make", 1, 1, 2, failed=True)


def test_live_view_draws_the_checklist_the_rows_and_a_failed_platforms_last_lines() -> None:
    out = io.StringIO()
    view = LiveView(out, force=True)
    view.console.width = 100
    outline = Outline(
        "plan: app:1 for 2 platform(s)",
        (("build", "multi-platform"), ("verify", "platforms"), ("promote", "move the tags")),
        (("linux/amd64", "native", "default"), ("linux/arm64", "emulated", "default")),
    )
    view.emit(Event("", "plan", detail="plan: (text)", outline=outline))
    view.emit(Event("build", "start"))
    view.emit(Event("build", "start", "linux/amd64"))
    view.emit(Event("build", "start", "linux/arm64"))
    view.emit(Event("build", "progress", "linux/arm64",
                    progress=BuildProgress("[2/2] RUN make", 1, 1, 2)))  # fmt: skip
    view.emit(Event("build", "log", "linux/arm64", "#2 boom on arm64"))
    view.emit(Event("build", "done", "linux/amd64", elapsed=3.0))
    view.emit(Event("build", "failed", "linux/arm64", "/out/logs/build-linux-arm64.log", 9.0))
    view.emit(Event("build", "failed", elapsed=9.0))
    view.close()
    raw = out.getvalue()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    last = text[text.rindex("plan: app:1") :]
    assert "✓ amd64   native" in last
    assert "✗ arm64   emulated" in last
    assert "│ #2 boom on arm64" in last
    assert "full log: /out/logs/build-linux-arm64.log" in last
    assert "· verify" in last
    assert "plan: (text)" not in text  # the checklist stands for it; the text is in plan.log
    assert raw.rstrip("\n").endswith("\x1b[?25h")  # the cursor shown again, last


def test_transfer_events_start_once_progress_each_time_and_done_once() -> None:
    events: list[Event] = []
    report = transfer_events(events.append, "mirror")
    report("linux/arm64", Transfer(0, 300, 0, 2))
    report("linux/arm64", Transfer(100, 300, 1, 2))
    report("linux/arm64", Transfer(300, 300, 2, 2))
    report("linux/arm64", Transfer(300, 300, 2, 2))  # a late duplicate: no second done
    states = [(e.state, e.platform) for e in events]
    assert states == [
        ("start", "linux/arm64"),
        *[("progress", "linux/arm64")] * 3,
        ("done", "linux/arm64"),
        ("progress", "linux/arm64"),
    ]
    done = next(e for e in events if e.state == "done")
    assert done.detail == "0.0 MB in 2 blobs"
    assert plain_lines(done)[0].startswith("  arm64 │ mirror done in ")


def test_live_view_draws_a_row_per_platform_under_each_step_that_reports_on_it() -> None:
    out = io.StringIO()
    view = LiveView(out, force=True)
    view.console.width = 100
    outline = Outline(
        "plan: app:1", (("build", "one build"), ("verify", "deep")),
        (("linux/arm64", "emulated", "default"),),
    )  # fmt: skip
    view.emit(Event("", "plan", outline=outline))
    view.emit(Event("build", "done", "linux/arm64", elapsed=2.0))
    view.emit(Event("verify", "start", "linux/arm64"))
    view.emit(Event("verify", "progress", "linux/arm64",
                    transfer=Transfer(5_000_000, 10_000_000, 1, 2, "layers")))  # fmt: skip
    view.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    last = text[text.rindex("plan: app:1") :].splitlines()
    build = next(i for i, line in enumerate(last) if "build" in line and "one build" in line)
    verify = next(i for i, line in enumerate(last) if "verify" in line and "deep" in line)
    assert "✓ arm64   emulated" in last[build + 1]
    assert re.search(r"▸ arm64\s+5\.0/10\.0 MB\s+[\d.]+ [kM]B/s\s+1/2 layers", last[verify + 1])


def test_rawjson_of_a_one_platform_build_gives_its_steps_to_that_platform() -> None:
    reader = RawJson("linux/s390x")  # a per-arch build: BuildKit names no platform
    t0 = "2026-01-01T00:00:00Z"
    moved: dict[str, BuildProgress] = {}
    for line in _status(vertexes=[{"digest": "a", "name": "[2/3] RUN make", "started": t0}]):
        moved.update(reader.feed(line)[1])
    assert moved == {"linux/s390x": BuildProgress("[2/3] RUN make", 0, 0, 3)}


def test_skopeo_lines_give_each_platform_blobs_begun_then_its_bytes_once_written() -> None:
    lines = SKOPEO_COPY.splitlines()
    amd64 = "sha256:d27ef93ffd0a28da849ab8c95456c0037f3e9c7d6e31b71fc65ec3e5f940010e"
    arm64 = "sha256:b9486c4c56f9552f5b2b4af3e286d720371661feed7cea251fdd9f3efb1713f1"
    images = {amd64: Sizes("linux/amd64", 20_000_100, 2), arm64: Sizes("linux/arm64", 900, 2)}
    events: list[Event] = []
    watch = SkopeoLines(images, transfer_events(events.append, "mirror"))
    for line in lines:
        watch(line)
    seen = [
        (e.state, e.platform, e.transfer.started if e.transfer else None, e.detail) for e in events
    ]
    assert seen == [
        ("start", "linux/amd64", None, ""),
        ("progress", "linux/amd64", 0, ""),
        ("progress", "linux/amd64", 1, ""),  # the blob begun
        ("progress", "linux/amd64", 2, ""),  # the config begun
        ("progress", "linux/amd64", 0, ""),  # its manifest written: whole, counted
        ("done", "linux/amd64", None, "20.0 MB in 2 blobs"),
        ("start", "linux/arm64", None, ""),
        ("progress", "linux/arm64", 0, ""),
        ("progress", "linux/arm64", 1, ""),
        ("progress", "linux/arm64", 2, ""),
        ("progress", "linux/arm64", 0, ""),
        ("done", "linux/arm64", None, "0.0 MB in 2 blobs"),
    ]
    during = [e.transfer for e in events if e.transfer and not e.transfer.counted]
    assert {(t.done, t.blobs_done) for t in during} == {(0, 0)}  # no bytes claimed mid-copy
    out = io.StringIO()
    view = LiveView(out, force=True)
    view.console.width = 100
    for event in events[:4]:
        view.emit(event)
    view.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    row = text.splitlines()[-1]
    assert re.search(r"amd64\s+\?/20\.0 MB\s+2/2 blobs begun", row), row
    assert "MB/s" not in row


def test_skopeo_lines_wait_for_sizes_read_later_and_draw_no_rows_if_they_failed() -> None:
    amd64 = "sha256:d27ef93ffd0a28da849ab8c95456c0037f3e9c7d6e31b71fc65ec3e5f940010e"
    calls: list[str] = []

    def later() -> dict[str, Sizes]:
        calls.append("read")
        return {amd64: Sizes("linux/amd64", 10, 2)}

    events: list[Event] = []
    watch = SkopeoLines(later, transfer_events(events.append, "mirror"))
    assert calls == []  # nothing waited for before skopeo's first line
    for line in SKOPEO_COPY.splitlines():
        watch(line)
    assert calls == ["read"]  # once
    assert [(e.state, e.platform) for e in events if e.state != "progress"] == [
        ("start", "linux/amd64"),
        ("done", "linux/amd64"),
    ]

    def failed() -> dict[str, Sizes]:
        raise RegistryError("registry unreachable")

    events.clear()
    watch = SkopeoLines(failed, transfer_events(events.append, "mirror"))
    for line in SKOPEO_COPY.splitlines():
        watch(line)
    assert events == []  # no rows; the copy and its read-back decide the outcome


# skopeo 1.9.3's own lines, piped, copying a 2-platform index (captured on this test bed).
SKOPEO_COPY = """\
Getting image list signatures
Copying 2 of 2 images in list
Copying image sha256:d27ef93ffd0a28da849ab8c95456c0037f3e9c7d6e31b71fc65ec3e5f940010e (1/2)
Getting image source signatures
Copying blob sha256:3bd617785177d16a69afadbea23c4228abfe08d24ef1eeb7e9323be8ccfca803
Copying config sha256:12235943e853156253de662d2d96ad4e56f69ed42e358da90d926314741f9625
Writing manifest to image destination
Storing signatures
Copying image sha256:b9486c4c56f9552f5b2b4af3e286d720371661feed7cea251fdd9f3efb1713f1 (2/2)
Getting image source signatures
Copying blob sha256:f6db3bba59cb61d1d7aa3e49a46844159c494094adda9c110528a1affe7eaa17
Copying config sha256:48c3823c8fc7c9afd7d6e62d315cb3613e1d3554c7cadddf2a850e0f71fd797c
Writing manifest to image destination
Storing signatures
Writing manifest list to image destination
Storing list signatures
"""
