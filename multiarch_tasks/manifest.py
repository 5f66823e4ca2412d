"""Placeholder: being written (see the issue)."""

from typing import Any

from multiarch_tasks.errors import MultiarchError


def manifest_create(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("manifest_create is not implemented yet")


def manifest_push(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("manifest_push is not implemented yet")


def merge(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("merge is not implemented yet")
