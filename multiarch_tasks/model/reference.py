"""Image references after the Distribution reference grammar.

``ImageRef.parse("busybox")`` is ``docker.io/library/busybox:latest``; the first path
component is a registry host when it contains ``.`` or ``:`` or is ``localhost``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from multiarch_tasks.model.errors import InvalidReferenceError

# One URL scrubber for labels and printed lines; kept importable from here.
from multiarch_tasks.model.redaction import scrub_url

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_API",
    "MAX_TAG",
    "ImageRef",
    "fit_tag",
    "is_loopback_host",
    "scrub_url",
    "source_url",
    "validate_tag",
]

DOCKER_HUB = "docker.io"
MAX_TAG = 128  # the Distribution grammar's limit; buildx and registries refuse a longer tag
_TAG_HASH = 8  # hex digits of sha256(tag) that keep two shortened tags apart
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}")
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?"
)


@dataclass(frozen=True)
class ImageRef:
    """``registry/repository[:tag][@digest]`` with Docker Hub defaults applied."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @classmethod
    def parse(cls, text: str, *, default_tag: str = "latest") -> ImageRef:  # noqa: C901, PLR0912 - the grammar, in order
        """Parse a reference; a missing tag becomes ``default_tag`` unless a digest is given."""
        raw = text.strip()
        if not raw or raw != text or any(c.isspace() for c in raw):
            raise InvalidReferenceError(f"invalid image reference {text!r}: empty or has spaces")
        name, at, digest = raw.partition("@")
        if at and not _DIGEST.fullmatch(digest):
            raise InvalidReferenceError(f"invalid digest {digest!r} in image reference {text!r}")
        tag = ""
        last_slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > last_slash:
            name, tag = name[:colon], name[colon + 1 :]
            if last_slash < 0 and _looks_like_host(name, tag):
                raise InvalidReferenceError(
                    f"{raw!r} is a registry host with no repository: add one, e.g. {raw}/app"
                )
            if not _TAG.fullmatch(tag):
                raise InvalidReferenceError(f"invalid tag {tag!r} in image reference {text!r}")
        first, sep, rest = name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
            if not _HOST.fullmatch(first):
                raise InvalidReferenceError(f"invalid registry host {first!r} in {text!r}")
            registry, repository = first, rest
        else:
            registry, repository = DOCKER_HUB, name
            if "/" not in repository:
                repository = f"library/{repository}"
        if registry in {"index.docker.io", "registry-1.docker.io"}:
            registry = DOCKER_HUB
        if registry == DOCKER_HUB and "/" not in repository:
            repository = f"library/{repository}"  # docker.io/busybox is docker.io/library/busybox
        for component in repository.split("/"):
            if not _COMPONENT.fullmatch(component):
                raise InvalidReferenceError(
                    f"invalid repository name {repository!r} in image reference {text!r}"
                    " (lower case letters, digits and separators . _ __ -)"
                )
        if len(registry) + len(repository) > 255:  # noqa: PLR2004
            raise InvalidReferenceError(f"image reference {text!r} is longer than 255 characters")
        if not tag and not digest:
            tag = default_tag
        return cls(registry, repository, tag, digest)

    def __str__(self) -> str:
        return self.name + self.pin

    @property
    def pin(self) -> str:
        """What follows the name: ``:TAG``, ``@DIGEST``, both, or ""."""
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What the registry API calls the reference: the digest if set, else the tag."""
        return self.digest or self.tag

    @property
    def api_host(self) -> str:
        """The host the Distribution API lives on (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def is_loopback(self) -> bool:
        """True for ``localhost``/``127.x``/``[::1]`` registries, which speak plain HTTP."""
        return is_loopback_host(self.registry)

    def with_tag(self, tag: str) -> ImageRef:
        """The same repository with another tag and no digest."""
        return replace(self, tag=tag, digest="")

    def with_digest(self, digest: str) -> ImageRef:
        """The same repository pinned to ``digest`` (the tag is dropped)."""
        return replace(self, tag="", digest=digest)


def fit_tag(tag: str, suffix: str) -> str:
    """``tag + suffix``, the user's part shortened and hashed when it would pass 128 characters.

    Derived tags (``1.2-staging-<run>``, ``1.2-linux-arm64``) keep ``suffix`` whole; a
    ``tag`` too long for it becomes its first characters, ``-`` and 8 hex digits of its
    sha256, so two long tags that share a prefix still get different derived tags, and the
    same tag always gets the same one (build and merge compute it apart).
    """
    if len(tag) + len(suffix) <= MAX_TAG:
        return tag + suffix
    import hashlib  # noqa: PLC0415 - only for tags near the limit

    mark = hashlib.sha256(tag.encode()).hexdigest()[:_TAG_HASH]
    keep = MAX_TAG - len(suffix) - len(mark) - 1
    return f"{tag[:keep]}-{mark}{suffix}"


def validate_tag(tag: str) -> str:
    """Return ``tag`` when it is a valid tag; else name it and say what a tag may hold."""
    if not _TAG.fullmatch(tag):
        raise InvalidReferenceError(
            f"invalid tag {tag!r}: up to 128 letters, digits, '_', '.' and '-', not starting"
            " with '.' or '-'"
        )
    return tag


def _looks_like_host(name: str, tag: str) -> bool:
    # `127.0.0.1:5000` or `localhost:5000` alone: a port, not a tag (docker would push
    # docker.io/library/127.0.0.1:5000, which nobody means).
    return tag.isdigit() and ("." in name or name == "localhost" or name.startswith("["))


def is_loopback_host(host: str) -> bool:
    """Tell whether ``host[:port]`` is on the loopback interface."""
    bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    bare = bare.strip("[]")
    if bare in ("localhost", "127.0.0.1"):
        return True
    if not (":" in bare or bare[:1].isdigit()):
        return False  # a name (other than localhost) is not an address
    import ipaddress  # noqa: PLC0415 - only for an IP literal other than 127.0.0.1

    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


# scp-like git remotes: `[user@]host:path` (no `//` after the colon, no `/` before it).
_SCP_REMOTE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?!//)(?P<path>\S+)$")
_SSH_SCHEMES = frozenset({"ssh", "git", "git+ssh", "ssh+git"})


def source_url(remote: str) -> str:
    """The web URL of a git remote, for ``org.opencontainers.image.source``; "" for none.

    GHCR links a package to its repository by this label, and only an http(s) URL does
    it: ``git@github.com:Acme/App.git`` and ``ssh://git@host:2222/g/app.git`` become
    ``https://github.com/Acme/App`` and ``https://host/g/app`` (the ssh port is not the web
    server's). http(s) remotes keep their scheme and port, lose credentials, query and
    fragment (CI checkouts put tokens there) and the ``.git`` suffix. A local path or
    ``file://`` remote has no web URL: "".
    """
    from urllib.parse import urlsplit  # noqa: PLC0415 - only when a build reads git facts

    text = remote.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            return ""
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"  # an IPv6 literal: urlsplit's hostname drops the brackets
        if scheme in {"http", "https"}:
            host += f":{port}" if port else ""
        elif scheme in _SSH_SCHEMES:
            scheme = "https"
        else:
            return ""
        path = parts.path
    else:
        found = _SCP_REMOTE.match(text)
        if not found:
            return ""
        scheme, host, path = "https", found["host"], found["path"]
    path = path.strip("/").removesuffix(".git").rstrip("/")
    return f"{scheme}://{host}/{path}" if host and path else ""
