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
    cache_flag,
    cache_mode,
    given_flags,
    install_spec,
    login_line,
    pip_cache_files,
    registry_for,
    sh_word,
    shards,
    sign_flags,
    uses_token,
)
from multiarch_tasks.config.settings import Settings

# A pull request from a fork gets no secrets: its jobs build OCI layouts, log in nowhere.
# On a push ``github.event.pull_request`` is null, so ``!FORK`` holds there too.
FORK = "github.event.pull_request.head.repo.fork"
NOT_FORK = f"!{FORK}"
IS_PR = "github.event_name == 'pull_request'"
NOT_PR = "github.event_name != 'pull_request'"
BUILDER = "multiarch"
GITHUB_RUNTIME = "crazy-max/ghaction-github-runtime@v3"


def _github_setup(
    settings: Settings, options: CiOptions, registry: str, token: bool
) -> list[dict[str, Any]]:
    python: dict[str, Any] = {"python-version": options.python}
    files = pip_cache_files(options)
    if files:  # setup-python's pip cache fails the job when none of its key files exists
        python |= {"cache": "pip", "cache-dependency-path": "\n".join(files)}
    steps: list[dict[str, Any]] = [
        # Full history and tags: tag rules read `git describe` and the version tags.
        {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}},
        {"uses": "actions/setup-python@v5", "with": python},
        {"id": "install", "run": f"pip install {sh_word(install_spec(settings, options))}"},
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
                "if": NOT_FORK,
                "env": {"REGISTRY_USERNAME": user, "REGISTRY_PASSWORD": password},
                "run": login_line(registry, "$REGISTRY_USERNAME", "$REGISTRY_PASSWORD"),
            }
        )
    return steps


def _cache_steps(settings: Settings, shard_env: dict[str, str]) -> list[dict[str, Any]]:
    """The builder step, and the runtime token a run step needs for the gha cache.

    The runner's docker driver (classic image store) exports no cache: a docker-container
    builder does.
    """
    steps: list[dict[str, Any]] = []
    if cache_mode(settings) in {"auto", "gha"}:
        steps.append({"name": "GitHub cache service for buildx", "uses": GITHUB_RUNTIME})
    steps.append(
        {
            "name": "builder (docker-container: exports the build cache)",
            "id": "builder",
            "env": shard_env,
            "run": (
                f"multiarch builder-create --builder {BUILDER} --driver docker-container --use"
                ' --platforms "$PLATFORM"'
            ),
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
    build = (
        f"multiarch build{given_flags(settings, 'image', 'tags', 'file', 'context')}"
        f' --platforms "$PLATFORM" --output-dir "{OUT}/$SHARD"{cache_flag(settings)}'
    )
    build_steps = [
        *_github_setup(settings, options, registry, token),
        {
            "name": "QEMU for an emulated platform",
            "if": "matrix.emulate",
            "env": shard_env,
            "run": 'multiarch qemu-setup --platforms "$PLATFORM"',
        },
        *_cache_steps(settings, shard_env),
        {
            "name": "build",
            "if": NOT_FORK,
            "env": shard_env,
            # A release re-pulls its base images instead of trusting the cache.
            "run": f'pull=\ncase "$GITHUB_REF" in refs/tags/*) pull=--pull ;; esac\n{build} $pull',
        },
        {
            "name": "build to an OCI layout (fork: no registry credentials)",
            "if": FORK,
            "env": shard_env,
            "run": f"{build} --layout",
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
    merge = f"multiarch merge --from {dirs}{given_flags(settings, 'image', 'platforms')}"
    tags = given_flags(settings, "tags")
    merge_steps = [
        *_github_setup(settings, options, registry, token),
        {
            "uses": "actions/download-artifact@v4",
            "with": {"pattern": "digests-*", "path": "digests"},
        },
        *_cosign_steps(options),
        {
            "name": "merge",
            "if": NOT_PR,
            **_sign_env(options),
            "run": (
                f"{merge}{tags} --output-dir {OUT}/merge{sign_flags(options)} --json > {MERGE_JSON}"
            ),
        },
        {
            "name": "merge to a staging tag (pull request: nothing is promoted)",
            "if": f"{IS_PR} && {NOT_FORK}",
            "env": {"PR": "${{ github.event.pull_request.number }}"},
            "run": (
                f'{merge} --tag "pr-$PR-$GITHUB_SHA" --output-dir {OUT}/merge --json > {MERGE_JSON}'
            ),
        },
        {
            "name": "merge the layouts (fork: no registry write)",
            "if": FORK,
            "run": f"{merge}{tags} --output-dir {OUT}/merge --layout --json > {MERGE_JSON}",
        },
        {
            "name": "verify",
            "run": VERIFY.format(python="python", file=MERGE_JSON)
            + given_flags(settings, "platforms"),
        },
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
            "pull_request": {"branches": list(options.branches)},
            "workflow_dispatch": None,
        },
        # One run per ref: a newer push to a pull request cancels the run it supersedes; a
        # branch or tag run always finishes (a cancelled release would leave no index).
        "concurrency": {
            "group": "multiarch-${{ github.ref }}",
            "cancel-in-progress": f"${{{{ {IS_PR} }}}}",
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
            "if": NOT_PR,
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
