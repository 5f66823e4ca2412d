"""inspect names each platform's error in its row and exits 1 (issue 17, item 5).

A real two-platform image (the busybox base buildx pushed) is copied to a fresh
repository; then one child manifest is made unreadable for real: deleted from the
registry by digest (the registry answers 404 for it), or answered 500 / 401 by the fault
proxy in front of the registry. The other platform's row must still show its data.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from typing import TYPE_CHECKING

import pytest

from testbed.fault_proxy import Rule
from tests.conftest import run_cli

if TYPE_CHECKING:
    from collections.abc import Callable

    from testbed.fault_proxy import FaultProxy
    from testbed.registry import Registry
    from tests.conftest import BaseImage

pytestmark = pytest.mark.e2e


def _copy(registry: Registry, base: BaseImage, repo: str) -> dict[str, str]:
    """Copy ``base`` to ``repo:t`` with skopeo; return {platform: child digest}."""
    subprocess.run(
        ["skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
         "--dest-tls-verify=false", f"docker://{base.ref}", f"docker://{repo}:t"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return registry.platform_digests(repo.split("/", 1)[1], "t")


def _delete_by_digest(repo: str, digest: str) -> None:
    host, repository = repo.split("/", 1)
    req = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{digest}", method="DELETE"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        assert resp.status == 202


def _row(stdout: str, platform: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(platform + " "))


def _check(ref: str, broken: str, fine: str, *needles: str) -> None:
    done = run_cli("inspect", ref, timeout=300)
    assert done.returncode == 1, done.output
    assert "Traceback" not in done.output
    bad = _row(done.stdout, broken)
    assert "manifest unreadable" in bad, done.stdout
    for needle in needles:
        assert needle in bad, done.stdout
    good = _row(done.stdout, fine)
    assert " 0 B " not in good
    assert "unreadable" not in good
    shown = run_cli("inspect", ref, "--json", timeout=300)
    assert shown.returncode == 1, shown.output
    doc = json.loads(shown.stdout)
    rows = {
        "/".join(
            x for x in (m["platform"]["os"], m["platform"]["architecture"],
                        m["platform"].get("variant", "")) if x
        ): m
        for m in doc["manifests"]
        if m.get("platform", {}).get("os") != "unknown"
    }  # fmt: skip
    assert "manifest unreadable" in rows[broken]["error"]
    assert "error" not in rows[fine]


def test_inspect_names_a_deleted_child_manifest_in_its_row_and_exits_1(
    partial_base_image: BaseImage, registry: Registry, repo: str
) -> None:
    children = _copy(registry, partial_base_image, repo)
    _delete_by_digest(repo, children["linux/arm64"])
    _check(f"{repo}:t", "linux/arm64", "linux/amd64", "not found")


@pytest.mark.parametrize(("status", "needle"), [(500, "500"), (401, "401")])
def test_inspect_names_a_child_answered_with_an_error_status_in_its_row_and_exits_1(
    partial_base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    status: int,
    needle: str,
) -> None:
    children = _copy(registry, partial_base_image, repo)
    proxy = fault_proxy(Rule(path=f"/manifests/{children['linux/amd64']}", status=status))
    ref = proxy.host + "/" + repo.split("/", 1)[1] + ":t"
    _check(ref, "linux/amd64", "linux/arm64", needle)
    assert proxy.rules[0].hits >= 2  # the table run and the JSON run both hit it
