"""Placeholder: being written (see the issue)."""

from typing import Any

from multiarch_tasks.errors import MultiarchError


def build(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("build is not implemented yet")
