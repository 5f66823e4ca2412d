"""verify --attestations and inspect's attestation kinds on real BuildKit attestations (issue 19).

An honest build: ``publish --provenance mode=max --sbom`` of examples/hello for amd64 and
arm64. The SBOM scanner is a stand-in (the test bed has no Docker Hub, where BuildKit's
``docker/buildkit-syft-scanner`` lives): a busybox image that writes an SPDX document per
scanned root filesystem, as BuildKit's SBOM protocol asks; BuildKit itself wraps it in
the in-toto statement and files it in the attestation manifest. The bad indexes are
crafted from the honest one over the registry API with the project's own client.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from multiarch_tasks.model.oci import OCI_INDEX, OCI_MANIFEST, sha256_digest
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from tests.conftest import BaseImage, buildx_push, example_args, run_cli

pytestmark = pytest.mark.e2e
TWO = "linux/amd64,linux/arm64"

SCAN = """\
#!/bin/sh
# Stand-in for docker/buildkit-syft-scanner: one SPDX document per scanned root fs.
set -eu
name=$(basename "$BUILDKIT_SCAN_SOURCE")
cat > "$BUILDKIT_SCAN_DESTINATION/$name.spdx.json" <<DOC
{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document",
 "predicate": {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
  "name": "$name", "documentNamespace": "https://example.invalid/spdx/$name",
  "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: testbed-scanner"]},
  "packages": []}}
DOC
"""


@pytest.fixture(scope="module")
def scanner(base_image: BaseImage, registry, tmp_path_factory) -> str:
    """The stand-in SBOM scanner image, pushed to the test registry."""
    ctx = tmp_path_factory.mktemp("scanner")
    (ctx / "scan.sh").write_text(SCAN)
    (ctx / "scan.sh").chmod(0o755)
    (ctx / "Dockerfile").write_text(
        f'FROM {base_image.ref}\nCOPY scan.sh /bin/scan\nENTRYPOINT ["/bin/scan"]\n'
    )
    ref = f"{registry.repo('scanner')}:1"
    done = buildx_push(
        ["docker", "buildx", "build", "--platform", "linux/amd64", "--provenance=false",
         "--tag", ref, "--push", str(ctx)]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return ref


@pytest.fixture(scope="module")
def honest(scanner, base_image: BaseImage, registry, tmp_path_factory, engine, qemu):
    """examples/hello published with provenance (mode=max) and an SBOM per platform."""
    repo = registry.repo("attested")
    out = tmp_path_factory.mktemp("attested")
    done = run_cli(
        "publish", "--image", repo, "--tag", "1.0", "--platforms", TWO,
        "--provenance", "mode=max", "--sbom", "--sbom-generator", scanner,
        "--verify-attestations", *example_args(base_image.ref, str(out)),
    )  # fmt: skip
    return repo, done


def _client() -> RegistryClient:
    return RegistryClient()


def _index(ref: str) -> tuple[ImageRef, dict]:
    image = ImageRef.parse(ref)
    doc = _client().get_manifest(image)
    return image, json.loads(doc.raw)


def _put_index(image: ImageRef, index: dict, tag: str) -> str:
    raw = json.dumps(index).encode()
    _client().put_manifest(image.with_tag(tag), raw, OCI_INDEX)
    return sha256_digest(raw)


def _platform_digest(index: dict, arch: str) -> str:
    return next(
        m["digest"] for m in index["manifests"] if m.get("platform", {}).get("architecture") == arch
    )


def _attestation_of(index: dict, digest: str) -> dict:
    return next(
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("vnd.docker.reference.digest") == digest
    )


def test_publish_with_provenance_max_and_sbom_shows_both_in_the_plan_and_passes(honest):
    _, done = honest
    assert done.returncode == 0, done.output[-4000:]
    assert "--provenance=mode=max" in done.stdout
    assert "--sbom=generator=" in done.stdout
    assert "attestations (subjects, provenance platform and source, SBOM)" in done.stdout


def test_verify_attestations_passes_on_an_honest_build(honest):
    repo, done = honest
    assert done.returncode == 0, done.output[-4000:]
    checked = run_cli("verify", "--platforms", TWO, "--attestations", "--sbom", f"{repo}:1.0")
    assert checked.returncode == 0, checked.output[-4000:]
    as_json = run_cli(
        "verify", "--platforms", TWO, "--attestations", "--sbom", "--json", f"{repo}:1.0"
    )
    report = json.loads(as_json.stdout)
    assert report["ok"] is True
    assert sorted(a["platform"] for a in report["attestations"]) == ["linux/amd64", "linux/arm64"]
    assert all(a["kinds"] == ["sbom", "provenance"] for a in report["attestations"])


def test_inspect_lists_provenance_and_sbom_per_platform(honest):
    repo, done = honest
    assert done.returncode == 0, done.output[-4000:]
    shown = run_cli("inspect", f"{repo}:1.0")
    assert shown.returncode == 0, shown.output[-3000:]
    lines = shown.stdout.splitlines()
    assert "ATTESTATIONS" in lines[1]
    for plat in ("linux/amd64", "linux/arm64"):
        [row] = [line for line in lines if line.startswith(plat)]
        assert "sbom, provenance" in row, row


def test_verify_attestations_fails_when_arm64s_attestation_refers_to_the_amd64_digest(honest):
    repo, done = honest
    assert done.returncode == 0, done.output[-4000:]
    image, index = _index(f"{repo}:1.0")
    amd64, arm64 = _platform_digest(index, "amd64"), _platform_digest(index, "arm64")
    _attestation_of(index, arm64)["annotations"]["vnd.docker.reference.digest"] = amd64
    _put_index(image, index, "crossed")
    checked = run_cli("verify", "--platforms", TWO, "--attestations", f"{repo}:crossed")
    print(checked.stdout)
    assert checked.returncode == 1, checked.output[-4000:]
    assert "Traceback" not in checked.output
    assert f"refers to {amd64[:19]} (linux/amd64), but its statements describe" in checked.stdout
    assert f"{arm64[:19]} (linux/arm64)" in checked.stdout
    report = json.loads(
        run_cli("verify", "--platforms", TWO, "--attestations", "--json", f"{repo}:crossed").stdout
    )
    assert report["ok"] is False
    bad = [a for a in report["attestations"] if not a["ok"]]
    assert any(p.startswith("linux/arm64: attestation") for a in bad for p in a["problems"])


def test_verify_attestations_fails_when_the_provenance_claims_another_platform(honest):
    repo, done = honest
    assert done.returncode == 0, done.output[-4000:]
    image, index = _index(f"{repo}:1.0")
    arm64 = _platform_digest(index, "arm64")
    entry = _attestation_of(index, arm64)
    client = _client()
    manifest = json.loads(client.get_manifest(image.with_digest(entry["digest"])).raw)
    layer = next(
        x for x in manifest["layers"]
        if x["annotations"]["in-toto.io/predicate-type"].startswith("https://slsa.dev/provenance")
    )  # fmt: skip
    text = client.get_blob(image, layer["digest"]).decode()
    # The statement now says s390x wherever BuildKit wrote the target platform.
    assert quote("linux/arm64", safe="") in text
    forged = (
        text.replace(quote("linux/arm64", safe=""), quote("linux/s390x", safe=""))
        .replace('"Architecture":"arm64"', '"Architecture":"s390x"')
        .encode()
    )
    client.upload_blob(image, sha256_digest(forged), forged)
    layer["digest"], layer["size"] = sha256_digest(forged), len(forged)
    raw = json.dumps(manifest).encode()
    client.put_manifest(image.with_digest(sha256_digest(raw)), raw, OCI_MANIFEST)
    entry["digest"], entry["size"] = sha256_digest(raw), len(raw)
    _put_index(image, index, "otherplatform")
    checked = run_cli("verify", "--platforms", TWO, "--attestations", f"{repo}:otherplatform")
    print(checked.stdout)
    assert checked.returncode == 1, checked.output[-4000:]
    assert "Traceback" not in checked.output
    assert (
        "linux/arm64: provenance claims platform linux/s390x, found as linux/arm64 in the index"
        in checked.stdout
    )
    assert "linux/arm64: provenance claims build steps for linux/s390x, none for linux/arm64" in (
        checked.stdout
    )


def test_verify_attestations_names_the_platform_without_any_attestation(honest):
    repo, done = honest
    assert done.returncode == 0, done.output[-4000:]
    image, index = _index(f"{repo}:1.0")
    arm64 = _platform_digest(index, "arm64")
    gone = _attestation_of(index, arm64)
    index["manifests"] = [m for m in index["manifests"] if m is not gone]
    _put_index(image, index, "unattested")
    checked = run_cli("verify", "--platforms", TWO, "--attestations", f"{repo}:unattested")
    assert checked.returncode == 1, checked.output[-4000:]
    assert f"linux/arm64: no provenance attestation describes {arm64[:19]}" in checked.stdout
    plain = run_cli("verify", "--platforms", TWO, f"{repo}:unattested")
    assert plain.returncode == 0, "without --attestations the index is verified as before"
