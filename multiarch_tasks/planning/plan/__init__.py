"""The plan: a pure function of (settings, facts) -> typed steps with their argv.

The package's names are those of :mod:`multiarch_tasks.planning.plan.make`, re-exported here.
"""

from multiarch_tasks.planning.plan.make import (
    EMULATED,
    IMPOSSIBLE,
    LOCAL_NODE,
    NATIVE,
    Assignment,
    BuildStep,
    Plan,
    Step,
    assign,
    build_env,
    buildah_manifest,
    buildah_push_argv,
    buildkitd_config,
    cache_options,
    decide_strategy,
    make_plan,
    merge_tool,
    plan_builds,
    staging_tag,
)

__all__ = [
    "EMULATED",
    "IMPOSSIBLE",
    "LOCAL_NODE",
    "NATIVE",
    "Assignment",
    "BuildStep",
    "Plan",
    "Step",
    "assign",
    "build_env",
    "buildah_manifest",
    "buildah_push_argv",
    "buildkitd_config",
    "cache_options",
    "decide_strategy",
    "make_plan",
    "merge_tool",
    "plan_builds",
    "staging_tag",
]
