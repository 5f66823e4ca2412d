"""References to an OCI image layout on disk: ``oci-layout://DIR[:TAG][@DIGEST]``.

The fork pull-request path (issue 20) builds each platform to an OCI layout, merges them
into one and verifies it without a registry. :class:`LayoutRef` is an
:class:`~multiarch_tasks.model.reference.ImageRef` so every check that reads an image
(verify, inspect, merge's sources) takes one unchanged; what reads it is the layout
source (:mod:`multiarch_tasks.registry.layout`), picked by
:func:`multiarch_tasks.registry.reader.reader_for`, never a registry client. Its
``registry`` is :data:`SCHEME_HOST`, a name no registry has (no dot, no port), so a
comparison with a real image never matches.

``TAG`` is optional when the layout's ``index.json`` holds exactly one manifest. The last
``:`` after the last ``/`` starts the tag, as in an image reference: a directory whose
final component holds ``:`` needs a tag (``oci-layout://./a:b:latest``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multiarch_tasks.model.errors import InvalidReferenceError
from multiarch_tasks.model.reference import ImageRef, validate_tag

__all__ = ["PREFIX", "SCHEME_HOST", "LayoutRef", "is_layout", "parse_reference"]

PREFIX = "oci-layout://"
SCHEME_HOST = "oci-layout"
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}")


@dataclass(frozen=True)
class LayoutRef(ImageRef):
    """``oci-layout://DIR[:TAG][@DIGEST]``: a directory holding an OCI image layout."""

    path: str = ""

    @classmethod
    def parse_layout(cls, text: str) -> LayoutRef:
        """Parse ``oci-layout://DIR[:TAG][@DIGEST]``; the tag may be left out."""
        if not text.startswith(PREFIX):
            raise InvalidReferenceError(f"{text!r} is not an oci-layout://DIR[:TAG] reference")
        rest = text.removeprefix(PREFIX)
        rest, at, digest = rest.partition("@")
        if at and not _DIGEST.fullmatch(digest):
            raise InvalidReferenceError(f"invalid digest {digest!r} in {text!r}")
        path, tag = rest, ""
        colon, slash = rest.rfind(":"), rest.rfind("/")
        if colon > slash:
            path, tag = rest[:colon], rest[colon + 1 :]
            validate_tag(tag)
        if not path:
            raise InvalidReferenceError(
                f"{text!r} names no directory: oci-layout://DIR[:TAG], e.g. oci-layout://./out"
            )
        return cls(SCHEME_HOST, "layout", tag, digest, path)

    def __str__(self) -> str:
        return self.name + self.pin

    @property
    def name(self) -> str:
        """``oci-layout://DIR`` without tag or digest (what ``NAME@DIGEST`` is built on)."""
        return f"{PREFIX}{self.path}"


def is_layout(text: str) -> bool:
    """Tell whether ``text`` is an ``oci-layout://`` reference."""
    return text.startswith(PREFIX)


def parse_reference(text: str, *, default_tag: str = "latest") -> ImageRef:
    """An image reference or an ``oci-layout://`` one (verify, inspect, merge sources)."""
    if is_layout(text):
        return LayoutRef.parse_layout(text)
    return ImageRef.parse(text, default_tag=default_tag)
