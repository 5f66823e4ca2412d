"""mirror: copy a multi-arch image, every platform of it, to another registry or repository.

The package's names are those of :mod:`multiarch_tasks.steps.mirror.copy`, re-exported here.
"""

from multiarch_tasks.steps.mirror.copy import (
    BLOB_WORKERS,
    COPIED,
    MOUNTED,
    SKIPPED,
    TOOLS,
    Copy,
    Job,
    MirrorResult,
    choose_tool,
    dest_ref,
    filtered_index,
    jobs_for,
    mirror,
    parse_mirror_file,
    select_children,
)

__all__ = [
    "BLOB_WORKERS",
    "COPIED",
    "MOUNTED",
    "SKIPPED",
    "TOOLS",
    "Copy",
    "Job",
    "MirrorResult",
    "choose_tool",
    "dest_ref",
    "filtered_index",
    "jobs_for",
    "mirror",
    "parse_mirror_file",
    "select_children",
]
