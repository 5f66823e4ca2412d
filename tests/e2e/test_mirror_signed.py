"""mirror keeps an image's cosign signatures and attestations with it (issue 19, item 7).

A signed, attested image is published on the test bed (key pair made by the real cosign,
no transparency log: ``--no-tlog``), a cosign attestation is added (``cosign attest``,
its ``.att`` tag), then ``multiarch mirror`` copies it to another repository with each
copier; ``verify --signed-by`` on the copy must pass, the index's BuildKit attestation
manifests must be in the copied index and cosign's signature and attestation tags in the
copy's repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BaseImage, example_args, run_cli, tag_digest, unavailable

pytestmark = pytest.mark.e2e
TWO = "linux/amd64,linux/arm64"
PASSWORD = "e2e-cosign-mirror-51c2"  # noqa: S105 - a throwaway key's password


def _cosign(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["cosign", *args],
        cwd=cwd,
        env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _path(ref: str) -> str:
    return ref.split("/", 1)[1]


def _companions(registry, repo: str) -> list[str]:
    """cosign's tags (``sha256-<hex>.sig`` / ``.att``) in ``repo``, sorted."""
    return sorted(t for t in registry.tags(_path(repo)) if t.endswith((".sig", ".att")))


@pytest.fixture(scope="module")
def signed_attested(tmp_path_factory, base_image: BaseImage, registry, engine, qemu):
    """examples/hello for two platforms: published with --sign, then ``cosign attest``-ed."""
    if shutil.which("cosign") is None:
        unavailable("cosign not on PATH (run scripts/engine-up)")
    keys = tmp_path_factory.mktemp("cosign-mirror")
    made = _cosign("generate-key-pair", cwd=keys)
    assert made.returncode == 0, made.stderr
    repo = registry.repo("signed-src")
    done = run_cli(
        "publish", "--image", repo, "--tag", "1.0", "--platforms", TWO, "--attestations", "on",
        "--sign", "--sign-key", str(keys / "cosign.key"), "--no-tlog",
        *example_args(base_image.ref, str(tmp_path_factory.mktemp("out"))),
        env={"COSIGN_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    digest = tag_digest(registry, f"{repo}:1.0")
    assert digest
    predicate = keys / "predicate.json"
    predicate.write_text(json.dumps({"note": "mirror e2e"}))
    attested = _cosign(
        "attest", "--yes", "--key", str(keys / "cosign.key"), "--predicate", str(predicate),
        "--type", "custom", "--tlog-upload=false", "--allow-http-registry",
        "--allow-insecure-registry", f"{repo}@{digest}",
    )  # fmt: skip
    assert attested.returncode == 0, attested.stderr
    return repo, digest, keys


def _attestation_digests(registry, ref: str) -> list[str]:
    found = registry.manifest(*_path(ref).rsplit(":", 1))
    assert found is not None, f"{ref} is absent"
    index, _ = found
    return sorted(
        m["digest"]
        for m in index["manifests"]  # type: ignore[attr-defined]
        if m.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest"
    )


@pytest.mark.parametrize("tool", ["native", "skopeo"])
def test_mirror_of_a_signed_attested_image_passes_verify_signed_by_and_attestations_on_the_copy(
    tool: str, signed_attested, registry, repo: str
) -> None:
    src_repo, digest, keys = signed_attested
    hex_ = digest.split(":", 1)[1]
    assert _companions(registry, src_repo) == [f"sha256-{hex_}.att", f"sha256-{hex_}.sig"]
    buildkit_attestations = _attestation_digests(registry, f"{src_repo}:1.0")
    assert buildkit_attestations, "the source index carries BuildKit attestation manifests"
    dest = f"{repo}:copy"
    copied = run_cli("mirror", "--tool", tool, f"{src_repo}:1.0", dest, "--json")
    assert copied.returncode == 0, copied.output[-3000:]
    [copy] = json.loads(copied.stdout)["copies"]
    assert copy["digest"] == digest
    checked = run_cli(
        "verify", "--platforms", TWO, "--signed-by", str(keys / "cosign.pub"), "--no-tlog",
        "--attestations", dest,
    )  # fmt: skip
    assert checked.returncode == 0, checked.output[-3000:]
    assert "Traceback" not in checked.output
    # The copy's index holds the same attestation manifests, and they are readable there.
    assert _attestation_digests(registry, dest) == buildkit_attestations
    for att in buildkit_attestations:
        assert registry.manifest(_path(repo), att) is not None, f"{att} missing at DEST"
    assert _companions(registry, repo) == [f"sha256-{hex_}.att", f"sha256-{hex_}.sig"]
    assert sorted(copy["signatures"]) == [f"sha256-{hex_}.att", f"sha256-{hex_}.sig"]
    # cosign agrees about the copy: the signature and the attestation verify at DEST.
    for command in ("verify", "verify-attestation"):
        extra = ["--type", "custom"] if command == "verify-attestation" else []
        seen = _cosign(
            command, "--key", str(keys / "cosign.pub"), "--insecure-ignore-tlog=true",
            "--allow-http-registry", "--allow-insecure-registry", *extra, f"{repo}@{digest}",
        )  # fmt: skip
        assert seen.returncode == 0, seen.stderr


def test_mirror_no_signatures_leaves_the_signature_tags_behind(
    signed_attested, registry, repo: str
) -> None:
    src_repo, digest, keys = signed_attested
    copied = run_cli("mirror", "--no-signatures", f"{src_repo}:1.0", f"{repo}:copy")
    assert copied.returncode == 0, copied.output[-3000:]
    assert tag_digest(registry, f"{repo}:copy") == digest
    assert _companions(registry, repo) == []
    checked = run_cli(
        "verify", "--platforms", TWO, "--signed-by", str(keys / "cosign.pub"), "--no-tlog",
        f"{repo}:copy",
    )  # fmt: skip
    assert checked.returncode == 1, checked.output[-3000:]
    assert f"{digest}: no valid signature by" in checked.stdout
