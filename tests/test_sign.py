"""Signing at the argv level: the plan's sign step, keyless vs key vs KMS, verify's argv.

There is no Fulcio or Rekor on the test bed, so keyless signing and verifying are proven
here by the commands they start; tests/e2e/test_sign.py signs and verifies for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multiarch_tasks.checks.verify.report import SignatureCheck, VerifyReport
from multiarch_tasks.checks.verify.signatures import signer, verify_commands
from multiarch_tasks.config.signing import check_sign_inputs, oidc_source, signing_secrets
from multiarch_tasks.engine import commands
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.planning.plan.make import make_plan
from multiarch_tasks.planning.plan.sign import sign_commands
from multiarch_tasks.steps.sign import platform_digests
from tests.test_plan import facts, settings

GHCR = "ghcr.io/team/app"
D = "sha256:" + "a" * 64


def test_plan_signs_after_verify_and_before_promote_with_the_key() -> None:
    plan = make_plan(settings(sign=True, sign_key="cosign.key"), facts(), run_id="r1")
    names = [s.name for s in plan.steps]
    assert names.index("verify") < names.index("sign") < names.index("promote")
    step = plan.step("sign")
    assert step is not None
    assert step.commands == (
        ("cosign", "sign", "--yes", "--key", "cosign.key", "--allow-http-registry",
         "--allow-insecure-registry", "127.0.0.1:5000/team/app@<index>"),
    )  # fmt: skip
    assert "sign" in [s["name"] for s in plan.to_json()["steps"]]  # type: ignore[index]
    assert "$ cosign sign --yes --key cosign.key" in plan.render()


def test_plan_without_sign_has_no_sign_step() -> None:
    assert make_plan(settings(), facts(), run_id="r1").step("sign") is None


def test_sign_platforms_signs_the_index_then_each_platform() -> None:
    s = settings(sign=True, sign_key="cosign.key", sign_platforms=True, sign_tlog=False)
    step = make_plan(s, facts(), run_id="r1").step("sign")
    assert step is not None
    refs = [argv[-1] for argv in step.commands]
    assert refs == [f"127.0.0.1:5000/team/app@<{p}>" for p in
                    ("index", "linux/amd64", "linux/arm64", "linux/s390x")]  # fmt: skip
    assert all("--tlog-upload=false" in argv for argv in step.commands)


@pytest.mark.parametrize(
    "key",
    ["awskms://alias/release", "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
     "hashivault://release", "azurekms://vault.vault.azure.net/release", "k8s://ns/cosign"],
)  # fmt: skip
def test_a_kms_uri_is_passed_to_cosign_as_the_key(key: str) -> None:
    s = settings(image=GHCR, sign=True, sign_key=key)
    check_sign_inputs(s, {})  # a URI is not a file here, and needs none
    assert sign_commands(s, D) == [("cosign", "sign", "--yes", "--key", key, f"{GHCR}@{D}")]


def test_keyless_signs_without_a_key_and_keeps_the_token_off_the_command_line() -> None:
    s = settings(image=GHCR, sign=True)
    [argv] = sign_commands(s, D)
    assert argv == ("cosign", "sign", "--yes", f"{GHCR}@{D}")
    check_sign_inputs(s, {"SIGSTORE_ID_TOKEN": "eyJhbGciOi.token"})
    check_sign_inputs(s, {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x",
                          "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t0k"})  # fmt: skip


@pytest.mark.parametrize(
    ("environ", "source"),
    [
        ({}, ""),
        ({"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x"}, ""),
        ({"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"},
         "GitHub Actions OIDC token"),
        ({"SIGSTORE_ID_TOKEN": "eyJ"}, "SIGSTORE_ID_TOKEN"),
    ],
)  # fmt: skip
def test_oidc_source(environ: dict[str, str], source: str) -> None:
    assert oidc_source(environ) == source


def test_sign_without_key_or_token_is_refused_naming_both_ways() -> None:
    with pytest.raises(InvalidValueError, match=r"--sign-key .* SIGSTORE_ID_TOKEN"):
        check_sign_inputs(settings(sign=True), {})


def test_sign_key_that_is_no_file_is_refused_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.key")
    with pytest.raises(InvalidValueError, match=f"sign_key '{missing}' is not a file"):
        check_sign_inputs(settings(sign=True, sign_key=missing), {})


def test_sign_with_no_verify_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="signs only a verified index"):
        check_sign_inputs(settings(sign=True, sign_key="awskms://k", verify=False), {})


def test_signing_secrets_are_the_password_and_the_tokens() -> None:
    env = {"COSIGN_PASSWORD": "pw", "SIGSTORE_ID_TOKEN": "tok", "HOME": "/root"}
    assert signing_secrets(env) == ("pw", "tok")


def test_verify_argv_with_a_key_and_without_transparency_log() -> None:
    s = settings(signed_by="cosign.pub", sign_tlog=False)
    [(what, digest, argv)] = verify_commands(s, ImageRef.parse(f"{GHCR}:1"), {"index": D})
    assert (what, digest) == ("index", D)
    assert argv == ("cosign", "verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true",
                    f"{GHCR}@{D}")  # fmt: skip


def test_verify_argv_keyless_names_identity_and_issuer() -> None:
    s = settings(
        certificate_identity="https://github.com/o/r/.github/workflows/ci.yml@refs/heads/main",
        certificate_oidc_issuer="https://token.actions.githubusercontent.com",
    )
    [(_, _, argv)] = verify_commands(s, ImageRef.parse(f"{GHCR}:1"), {"index": D})
    assert argv == (
        "cosign", "verify",
        "--certificate-identity", "https://github.com/o/r/.github/workflows/ci.yml@refs/heads/main",
        "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com",
        f"{GHCR}@{D}",
    )  # fmt: skip
    assert signer(s).endswith("(issuer https://token.actions.githubusercontent.com)")


def test_keyless_verify_needs_both_identity_and_issuer() -> None:
    with pytest.raises(InvalidValueError, match="--certificate-oidc-issuer"):
        signer(settings(certificate_identity="me@example.com"))


def test_cosign_verify_on_a_plain_http_registry_allows_it() -> None:
    argv = commands.cosign_verify("127.0.0.1:5000/a@" + D, key="k.pub", insecure=True)
    assert "--allow-http-registry" in argv


def test_a_failed_signature_row_fails_the_report_and_its_json_names_the_digest() -> None:
    bad = SignatureCheck("index", D, "cosign.pub", (f"index {D}: no valid signature by k",))
    report = VerifyReport("r", D, signatures=(bad,))
    assert not report.ok
    doc = report.to_json()
    assert doc["signatures"] == [
        {"what": "index", "digest": D, "signer": "cosign.pub", "ok": False,
         "problems": [f"index {D}: no valid signature by k"]},
    ]  # fmt: skip
    assert f"index {D}: no valid signature by k" in report.render()
    assert "signatures" not in VerifyReport("r", D).to_json(), "the shape is unchanged without"


def test_platform_digests_leave_attestation_manifests_out() -> None:
    raw = json.dumps({"manifests": [
        {"digest": "sha256:1", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"digest": "sha256:2", "platform": {"os": "unknown", "architecture": "unknown"}},
    ]}).encode()  # fmt: skip
    assert platform_digests(raw) == {"linux/arm/v7": "sha256:1"}
