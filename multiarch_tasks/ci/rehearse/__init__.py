"""ci-rehearse: run a pipeline written by ``ci-template`` on this machine before pushing it.

The package's names are those of :mod:`multiarch_tasks.ci.rehearse.run`, re-exported here.
"""

from multiarch_tasks.ci.rehearse.run import (
    DEFAULT_SECRETS,
    WORK_DIR,
    GitHead,
    JobRun,
    RehearsalError,
    RehearsalResult,
    github_jobs,
    gitlab_jobs,
    rehearse,
)

__all__ = [
    "DEFAULT_SECRETS",
    "WORK_DIR",
    "GitHead",
    "JobRun",
    "RehearsalError",
    "RehearsalResult",
    "github_jobs",
    "gitlab_jobs",
    "rehearse",
]
