"""The GitHub Actions workflow: a build matrix (one shard per platform), then merge."""

from __future__ import annotations

from typing import Any

from multiarch_tasks.ci.shards import (
    AMD64,
    COSIGN_VERSION,
    GITHUB_RUNNERS,
    MERGE_JSON,
    OUT,
    VERIFY,
    CiOptions,
    install_spec,
    login_line,
    registry_for,
    sh_word,
    shards,
    sign_flags,
    uses_token,
)
from multiarch_tasks.config.settings import Settings


def _github_setup(options: CiOptions, registry: str, token: bool) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [
        # Full history and tags: tag rules read `git describe` and the version tags.
        {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}},
        {
            "uses": "actions/setup-python@v5",
            "with": {
                "python-version": options.python,
                "cache": "pip",
                "cache-dependency-path": "pyproject.toml",
            },
        },
        {"id": "install", "run": f"pip install {sh_word(install_spec(options))}"},
    ]
    if options.login != "none":
        user = "${{ github.actor }}" if token else f"${{{{ secrets.{options.username_secret} }}}}"
        password = (
            "${{ secrets.GITHUB_TOKEN }}"
            if token
            else f"${{{{ secrets.{options.password_secret} }}}}"
        )
        steps.append(
            {
                "name": "registry login",
                "env": {"REGISTRY_USERNAME": user, "REGISTRY_PASSWORD": password},
                "run": login_line(registry, "$REGISTRY_USERNAME", "$REGISTRY_PASSWORD"),
            }
        )
    return steps


def github_workflow(settings: Settings, options: CiOptions) -> dict[str, Any]:
    """The GitHub Actions workflow as data."""
    registry = registry_for(settings, options)
    token = uses_token(registry, options)
    plan = shards(settings, options)
    matrix = [
        {"platform": str(s.platform), "runner": s.runner, "emulate": s.emulate, "shard": s.name}
        for s in plan
    ]
    shard_env = {"PLATFORM": "${{ matrix.platform }}", "SHARD": "${{ matrix.shard }}"}
    build_steps = [
        *_github_setup(options, registry, token),
        {
            "name": "QEMU for an emulated platform",
            "if": "matrix.emulate",
            "env": shard_env,
            "run": 'multiarch qemu-setup --platforms "$PLATFORM"',
        },
        {
            "name": "build",
            "env": shard_env,
            "run": f'multiarch build --platforms "$PLATFORM" --output-dir "{OUT}/$SHARD"',
        },
        {
            "uses": "actions/upload-artifact@v4",
            "with": {
                "name": "digests-${{ matrix.shard }}",
                "path": f"{OUT}/${{{{ matrix.shard }}}}",
                "if-no-files-found": "error",
                "retention-days": 1,
            },
        },
    ]
    dirs = ",".join(f"digests/digests-{s.name}" for s in plan)
    merge_steps = [
        *_github_setup(options, registry, token),
        {
            "uses": "actions/download-artifact@v4",
            "with": {"pattern": "digests-*", "path": "digests"},
        },
        *_cosign_steps(options),
        {
            "name": "merge",
            **_sign_env(options),
            "run": (
                f"multiarch merge --from {dirs} --output-dir {OUT}/merge{sign_flags(options)}"
                f" --json > {MERGE_JSON}"
            ),
        },
        {"name": "verify", "run": VERIFY.format(python="python", file=MERGE_JSON)},
    ]
    permissions = {"contents": "read"}
    if token and options.login != "none":
        permissions["packages"] = "write"
    merge_job: dict[str, Any] = {"needs": "build", "runs-on": GITHUB_RUNNERS[AMD64]}
    if options.sign == "keyless":
        # cosign asks GitHub for the job's OIDC token (Fulcio's certificate names this
        # workflow): only the merge job, the one that signs, may request one.
        merge_job["permissions"] = {**permissions, "id-token": "write"}
    return {
        "name": "multiarch",
        "on": {
            "push": {"branches": list(options.branches), "tags": ["*"]},
            "workflow_dispatch": None,
        },
        "permissions": permissions,
        "jobs": {
            "build": {
                "name": "build ${{ matrix.platform }}",
                "strategy": {"fail-fast": False, "matrix": {"include": matrix}},
                "runs-on": "${{ matrix.runner }}",
                "steps": build_steps,
            },
            "merge": {**merge_job, "steps": merge_steps},
        },
    }


def _cosign_steps(options: CiOptions) -> list[dict[str, Any]]:
    """Install cosign in the merge job with sigstore's own action (it checks the download)."""
    if options.sign == "off":
        return []
    return [
        {
            "uses": "sigstore/cosign-installer@v3",
            "with": {"cosign-release": COSIGN_VERSION},
        }
    ]


def _sign_env(options: CiOptions) -> dict[str, Any]:
    """The key and its password from repository secrets, only for ``sign: key``."""
    if options.sign != "key":
        return {}
    return {
        "env": {
            "COSIGN_KEY": "${{ secrets.COSIGN_KEY }}",
            "COSIGN_PASSWORD": "${{ secrets.COSIGN_PASSWORD }}",
        }
    }
