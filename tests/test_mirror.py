"""mirror's pure parts: argv builders, the list file, DEST tags, index selection, tool choice."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.commands import imagetools_create, skopeo_copy
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.oci import (
    ATTESTATION,
    OCI_MANIFEST,
    REF_DIGEST,
    REF_TYPE,
    Descriptor,
    Document,
)
from multiarch_tasks.model.platforms import Platform, parse_platforms
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.steps.mirror import copy as mirror_module
from multiarch_tasks.steps.mirror.copy import (
    Copy,
    MirrorResult,
    choose_tool,
    dest_ref,
    filtered_index,
    jobs_for,
    parse_mirror_file,
    select_children,
)

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {},
            ["skopeo", "copy", "--multi-arch=all", "--preserve-digests", "docker://a/b:1",
             "docker://c/d:1"],
        ),
        (
            {"src_insecure": True, "dest_insecure": True, "retries": 3},
            ["skopeo", "copy", "--multi-arch=all", "--preserve-digests", "--retry-times", "3",
             "--src-tls-verify=false", "--dest-tls-verify=false", "docker://a/b:1",
             "docker://c/d:1"],
        ),
        (
            {"multi_arch": "index-only", "preserve_digests": False, "dest_insecure": True},
            ["skopeo", "copy", "--multi-arch=index-only", "--dest-tls-verify=false",
             "docker://a/b:1", "docker://c/d:1"],
        ),
    ],
)  # fmt: skip
def test_skopeo_copy(kwargs: dict[str, object], expected: list[str]) -> None:
    assert skopeo_copy("a/b:1", "c/d:1", **kwargs) == expected  # type: ignore[arg-type]


def test_skopeo_copy_refuses_unknown_multi_arch_mode() -> None:
    with pytest.raises(InvalidValueError, match="all, index-only or system"):
        skopeo_copy("a", "b", multi_arch="some")


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        ("", ["docker", "buildx", "imagetools", "create", "--tag", "c/d:1", "a/b:1"]),
        ("mb", ["docker", "buildx", "imagetools", "create", "--builder", "mb", "--tag", "c/d:1",
                "a/b:1"]),
    ],
)  # fmt: skip
def test_imagetools_create(builder: str, expected: list[str]) -> None:
    assert imagetools_create(["c/d:1"], ["a/b:1"], builder=builder) == expected


def test_parse_mirror_file_skips_comments_and_blanks() -> None:
    text = (
        "# base images and sidecars\n"
        "\n"
        "golang:1.22 reg.local/mirror/golang:1.22\n"
        "   # indented comment\n"
        "busybox reg.local/busybox   # trailing comment\n"
    )
    assert parse_mirror_file(text) == [
        ("golang:1.22", "reg.local/mirror/golang:1.22", 3),
        ("busybox", "reg.local/busybox", 5),
    ]


@pytest.mark.parametrize("line", ["only-one", "a b c"])
def test_parse_mirror_file_names_bad_lines(line: str) -> None:
    with pytest.raises(InvalidValueError, match=r"images.txt:2: expected 'SRC DEST'"):
        parse_mirror_file(f"a b\n{line}\n", "images.txt")


@pytest.mark.parametrize(
    ("src", "dest", "expected"),
    [
        ("golang:1.22", "reg.local/golang", "reg.local/golang:1.22"),
        ("golang:1.22", "reg.local/golang:go", "reg.local/golang:go"),
        ("busybox", "reg.local/bb", "reg.local/bb:latest"),
        ("busybox@sha256:" + "a" * 64, "reg.local/bb:pinned", "reg.local/bb:pinned"),
    ],
)
def test_dest_ref_takes_the_source_tag_when_missing(src: str, dest: str, expected: str) -> None:
    assert str(dest_ref(ImageRef.parse(src), dest)) == expected


@pytest.mark.parametrize(
    ("src", "dest", "message"),
    [
        ("busybox@sha256:" + "a" * 64, "reg.local/bb", "needs a tag"),
        ("busybox", "reg.local/bb@sha256:" + "b" * 64, "names a digest"),
    ],
)
def test_dest_ref_errors(src: str, dest: str, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        dest_ref(ImageRef.parse(src), dest)


def test_jobs_for_combines_arguments_and_file(tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("golang:1.22 reg.local/golang\n")
    jobs = jobs_for("busybox", "reg.local/bb", str(listing))
    assert [(str(j.src), str(j.dest), j.where) for j in jobs] == [
        ("docker.io/library/busybox:latest", "reg.local/bb:latest", ""),
        ("docker.io/library/golang:1.22", "reg.local/golang:1.22", f"{listing}:1"),
    ]


@pytest.mark.parametrize(
    ("src", "dest", "from_file", "message"),
    [
        (None, None, None, "needs SRC and DEST, or --from-file"),
        ("busybox", None, None, "needs both SRC and DEST"),
        (None, None, "/nonexistent/images.txt", "cannot read mirror list /nonexistent/images.txt"),
    ],
)
def test_jobs_for_errors(
    src: str | None, dest: str | None, from_file: str | None, message: str
) -> None:
    with pytest.raises(InvalidValueError, match=message):
        jobs_for(src, dest, from_file)


def test_jobs_for_names_the_file_line_of_a_bad_reference(tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("# x\nbusybox reg.local/Bad\n")
    with pytest.raises(InvalidValueError, match=r"images.txt:2: invalid repository name"):
        jobs_for(None, None, str(listing))


def _digest(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def _index_with_attestations() -> Document:
    manifests = []
    for n, platform in enumerate(parse_platforms("linux/amd64,linux/arm64,linux/s390x"), 1):
        manifests.append(
            {"mediaType": OCI_MANIFEST, "digest": _digest(n), "size": 10,
             "platform": platform.as_oci()}
        )  # fmt: skip
        manifests.append(
            {"mediaType": OCI_MANIFEST, "digest": _digest(100 + n), "size": 10,
             "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {REF_TYPE: ATTESTATION, REF_DIGEST: _digest(n)}}
        )  # fmt: skip
    data = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests, "annotations": {"org.example": "kept"}}  # fmt: skip
    return Document.parse(json.dumps(data).encode())


def test_select_children_everything() -> None:
    index = _index_with_attestations()
    assert select_children(index, None, attestations=True) == index.descriptors


def test_select_children_subset_keeps_their_attestations() -> None:
    index = _index_with_attestations()
    kept = select_children(index, parse_platforms("linux/s390x,linux/amd64"), attestations=True)
    assert [d.digest for d in kept] == [_digest(1), _digest(101), _digest(3), _digest(103)]


def test_select_children_drops_attestations() -> None:
    kept = select_children(_index_with_attestations(), None, attestations=False)
    assert [str(d.platform) for d in kept] == ["linux/amd64", "linux/arm64", "linux/s390x"]


def test_select_children_missing_platform_is_an_error() -> None:
    with pytest.raises(InvalidValueError, match=r"no linux/ppc64le \(it has linux/amd64"):
        select_children(_index_with_attestations(), parse_platforms("ppc64le"), attestations=True)


def test_filtered_index_keeps_other_fields() -> None:
    index = _index_with_attestations()
    kept = [Descriptor(OCI_MANIFEST, _digest(2), 10, Platform("linux", "arm64"))]
    data = json.loads(filtered_index(index, kept))
    assert data["annotations"] == {"org.example": "kept"}
    assert [m["digest"] for m in data["manifests"]] == [_digest(2)]
    assert data["manifests"][0]["platform"] == {"architecture": "arm64", "os": "linux"}


def test_choose_tool_refuses_subsets_for_whole_index_copiers() -> None:
    with pytest.raises(InvalidValueError, match="use --tool native"):
        choose_tool("skopeo", Runner(), subset=True)
    with pytest.raises(InvalidValueError, match="unknown mirror tool 'rsync'"):
        choose_tool("rsync", Runner(), subset=False)
    assert choose_tool("auto", Runner(), subset=True) == "native"
    assert choose_tool("imagetools", Runner(), subset=False) == "imagetools"


def test_choose_tool_auto_falls_back_to_native_without_programs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert choose_tool("auto", Runner(), subset=False) == "native"


def test_choose_tool_auto_prefers_skopeo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "skopeo"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert choose_tool("auto", Runner(), subset=False) == "skopeo"


def test_result_rendering_and_json() -> None:
    good = Copy(
        "a:1",
        "b:1",
        "native",
        _digest(1),
        _digest(1),
        ("linux/amd64",),
        {"copied": 1, "mounted": 2, "skipped": 3},
        "same index digest as the source",
    )
    bad = Copy("c:1", "d:1", "skopeo", error="source c:1 not found")
    result = MirrorResult((good, bad))
    assert not result.ok
    assert result.render().splitlines() == [
        (
            f"mirror: a:1 -> b:1 via native: {_digest(1)} (1 platform(s): linux/amd64;"
            " blobs: 1 copied, 2 mounted, 3 already there; same index digest as the source)"
        ),
        "mirror: FAILED c:1 -> d:1 (skopeo): source c:1 not found",
    ]
    data = result.to_json()
    assert data["ok"] is False
    assert data["copies"][0]["digest"] == _digest(1)
    assert data["copies"][1]["error"] == "source c:1 not found"
    assert not MirrorResult(()).ok


def test_dry_run_native_copies_nothing() -> None:
    class NoClient:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"dry run touched the registry: {name}")

    runner = Runner(dry=True)
    result = mirror_module.mirror(
        Settings(),
        runner,
        src="127.0.0.1:1/a:1",
        dest="127.0.0.1:1/b:1",
        tool="native",
        client=NoClient(),  # type: ignore[arg-type]
    )
    assert result.ok
    assert result.copies[0].note == "dry run"


class _AlwaysRateLimited(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(429)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self.do_GET()

    def log_message(self, *args: object) -> None:
        pass


def test_exhausted_429_retries_fail_the_copy_suggesting_mirror_elsewhere() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysRateLimited)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        result = mirror_module.mirror(
            Settings(retries=1), Runner(), src=f"{host}/library/golang:1.22",
            dest=f"{host}/mirror/golang", tool="native",
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert not result.ok
    [copy] = result.copies
    assert "429 Too Many Requests" in copy.error
    assert "after 2 attempts" in copy.error
    assert "multiarch mirror" in copy.error


@pytest.mark.parametrize(
    ("attestations", "expected"),
    [
        (True, ["sha256-ab12.sig", "sha256-ab12.att", "sha256-ab12.sbom", "sha256-ab12"]),
        (False, ["sha256-ab12.sig", "sha256-ab12.sbom", "sha256-ab12"]),
    ],
)
def test_companion_tags_are_cosigns_tags_of_the_digest(
    attestations: bool, expected: list[str]
) -> None:
    assert mirror_module.companion_tags("sha256:ab12", attestations=attestations) == expected


def test_result_names_the_cosign_tags_copied_in_text_and_json() -> None:
    tags = ("sha256-ab12.sig", "sha256-ab12.att")
    copy = Copy("a:1", "b:1", "skopeo", _digest(1), _digest(1), signatures=tags)
    assert copy.render().endswith("(2 cosign signature/attestation tag(s))")
    assert copy.to_json()["signatures"] == list(tags)


def test_dry_run_says_it_would_copy_the_cosign_tags_and_reads_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class NoClient:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"dry run touched the registry: {name}")

    result = mirror_module.mirror(
        Settings(),
        Runner(dry=True),
        src="127.0.0.1:1/a:1",
        dest="127.0.0.1:1/b:1",
        tool="native",
        client=NoClient(),  # type: ignore[arg-type]
    )
    assert result.ok
    assert result.copies[0].signatures == ()
    assert "would copy cosign's tags of 127.0.0.1:1/a:1's digests" in capsys.readouterr().out
