"""manifest-create / manifest-push / merge: the multi-arch index over the per-arch pushes.

The package's names are those of :mod:`multiarch_tasks.steps.manifest.lists`, re-exported here.
"""

from multiarch_tasks.steps.manifest.lists import (
    INDEX_FILE,
    PLAN_FILE,
    Composed,
    ManifestResult,
    Source,
    choose_tool,
    compose_index,
    index_children,
    manifest_create,
    manifest_push,
    merge,
    platform_digests,
    promote,
    resolve_sources,
    transient_failure,
)

__all__ = [
    "INDEX_FILE",
    "PLAN_FILE",
    "Composed",
    "ManifestResult",
    "Source",
    "choose_tool",
    "compose_index",
    "index_children",
    "manifest_create",
    "manifest_push",
    "merge",
    "platform_digests",
    "promote",
    "resolve_sources",
    "transient_failure",
]
