"""Placeholder: being written (see the issue)."""

from typing import Any

from multiarch_tasks.errors import MultiarchError


def ci_template(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("ci_template is not implemented yet")
