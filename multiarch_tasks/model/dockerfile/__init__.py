"""Read a Dockerfile far enough to know which images a build pulls, and for which platform.

The package's names are those of :mod:`multiarch_tasks.model.dockerfile.parser`, re-exported here.
"""

from multiarch_tasks.model.dockerfile.parser import (
    BUILD,
    FIXED,
    SCRATCH,
    TARGET,
    Dockerfile,
    ImageUse,
    Instruction,
    Stage,
    Step,
    arg_assignments,
    expand,
    instructions,
    parse,
    parse_file,
)

__all__ = [
    "BUILD",
    "FIXED",
    "SCRATCH",
    "TARGET",
    "Dockerfile",
    "ImageUse",
    "Instruction",
    "Stage",
    "Step",
    "arg_assignments",
    "expand",
    "instructions",
    "parse",
    "parse_file",
]
