"""The decisions, one decider per question, each a pure function of (settings, facts).

Where and how each platform builds (:func:`assign`: buildx's node rule, native / emulated
by which handler / cannot build), the strategy, push-by-digest, the cache mode and the
merge tool. :mod:`multiarch_tasks.planning.plan` turns them into steps; nothing else decides
these.
"""

from __future__ import annotations

from dataclasses import dataclass

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.facts import Builder, Facts, Node
from multiarch_tasks.model.errors import PlanError
from multiarch_tasks.model.platforms import Platform

NATIVE = "native"
EMULATED = "emulated"
IMPOSSIBLE = "impossible"
LOCAL_NODE = "(this machine)"


# --- where each platform builds -------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """Where one platform builds: natively on a node, emulated there, or not at all."""

    platform: Platform
    mode: str  # NATIVE, EMULATED or IMPOSSIBLE
    node: str = ""
    handler: str = ""  # the host's binfmt handler (qemu-aarch64); "" on a remote node
    register: bool = False  # qemu-setup registers or enables ``handler`` first
    why: str = ""

    @property
    def buildable(self) -> bool:
        """False when nothing can build this platform."""
        return self.mode != IMPOSSIBLE

    def render(self) -> str:
        """``native on farm2-n2 (declared)``, ``emulated on default by qemu-s390x``, ..."""
        why = f" ({self.why})" if self.why else ""
        if self.mode == NATIVE:
            return f"native on {self.node}{why}"
        if self.mode == EMULATED:
            by = self.handler or "the node's own QEMU"
            then = ", registered by qemu-setup" if self.register else ""
            return f"emulated on {self.node} by {by}{then}{why}"
        return f"cannot build: {self.why}"

    def to_json(self) -> dict[str, object]:
        """The assignment as JSON."""
        return {
            "platform": str(self.platform),
            "mode": self.mode,
            "node": self.node,
            "handler": self.handler,
            "register": self.register,
            "why": self.why,
        }


def _same_arch(a: Platform, b: Platform) -> bool:
    return a.os == b.os and a.architecture == b.architecture


def _emulated(platform: Platform, node: str, settings: Settings, facts: Facts) -> Assignment:
    """On a node of this machine: the host's binfmt handler decides."""
    name = f"qemu-{platform.qemu_name}"
    handler = facts.handler(platform)
    if handler is not None and handler.usable:
        return Assignment(platform, EMULATED, node, name)
    if settings.qemu_mode == "off":
        state = "not registered" if handler is None else "not usable (disabled or no F flag)"
        return Assignment(platform, IMPOSSIBLE, node, name, why=f"{name} {state}, qemu_mode off")
    return Assignment(platform, EMULATED, node, name, register=True)


def _on_node(
    platform: Platform, node: Node, how: str, builder: Builder, settings: Settings, facts: Facts
) -> Assignment:
    if how == "declared":
        return Assignment(platform, NATIVE, node.name, why="declared")
    if not node.is_remote:
        if _same_arch(platform, facts.host):
            return Assignment(platform, NATIVE, node.name)
        return _emulated(platform, node.name, settings, facts)
    if node.supported[:1] == (platform,):
        return Assignment(platform, NATIVE, node.name, why="its own platform")
    if how == "supported":
        why = "no node declares it; buildx sends it to the first node that supports it"
    else:
        why = f"no node of {builder.name!r} supports it; buildx falls back to the first node"
    return Assignment(platform, EMULATED, node.name, why=why)


def assign(platform: Platform, settings: Settings, facts: Facts) -> Assignment:
    """Where ``platform`` builds, by buildx's own rule (declared, supported, first node)."""
    if platform.os != "linux":
        return Assignment(
            platform, IMPOSSIBLE, why=f"a Linux builder cannot build {platform} images"
        )
    if settings.backend == "buildah":
        if _same_arch(platform, facts.host):
            return Assignment(platform, NATIVE, LOCAL_NODE)
        return _emulated(platform, LOCAL_NODE, settings, facts)
    builder = facts.builder
    if builder is None:
        return _on_new_builder(platform, settings, facts)
    found = builder.node_for(platform)
    if found is None:
        return Assignment(platform, IMPOSSIBLE, why=f"builder {builder.name!r} has no nodes")
    node, how = found
    return _on_node(platform, node, how, builder, settings, facts)


def _on_new_builder(platform: Platform, settings: Settings, facts: Facts) -> Assignment:
    """Where ``platform`` goes on a builder that is yet to be created.

    Its configured nodes declare their platforms; the rest go to the first node (a remote
    endpoint) or run on this machine.
    """
    declaring = next((n for n in settings.nodes if platform in n.platforms), None)
    if declaring is not None:
        return Assignment(platform, NATIVE, _node_name(settings, declaring), why="declared")
    if settings.nodes:
        first = _node_name(settings, settings.nodes[0])
        why = "no node declares it; buildx sends it to the first node that supports it"
        return Assignment(platform, EMULATED, first, why=why)
    if _same_arch(platform, facts.host):
        return Assignment(platform, NATIVE, facts.builder_name)
    return _emulated(platform, facts.builder_name, settings, facts)


def _node_name(settings: Settings, node: object) -> str:
    index = list(settings.nodes).index(node)  # type: ignore[arg-type]
    given = settings.nodes[index].name
    return given or f"{settings.builder or 'multiarch'}-node{index + 1}"


# --- the other decisions --------------------------------------------------------------


def builder_driver(settings: Settings, facts: Facts) -> str:
    """The driver of the builder in use: what it really is, or what will be created."""
    if facts.builder is not None:
        return facts.builder.driver
    return settings.driver or "docker"


def exports_multi_platform(settings: Settings, facts: Facts) -> bool:
    """True when one build can push a multi-platform image."""
    driver = builder_driver(settings, facts)
    if driver != "docker":
        return True
    return facts.engine is None or facts.engine.containerd_store


def _classic_refusal(facts: Facts) -> str:
    where = facts.engine.describe() if facts.engine else "the engine"
    return (
        f"--strategy multi-platform cannot run on builder {facts.builder_name!r}: the docker"
        f" driver on an engine with the classic image store ({where}) builds one platform at"
        " a time; use --strategy per-arch, or turn on the containerd image store"
        ' (daemon.json {"features": {"containerd-snapshotter": true}}) or use a'
        " docker-container builder"
    )


def decide_strategy(settings: Settings, facts: Facts) -> tuple[str, str]:
    """(strategy, why): ``per-arch``, ``multi-platform`` or ``buildah``."""
    if settings.backend == "buildah":
        return "buildah", "the buildah backend builds each platform into one manifest list"
    can_multi = exports_multi_platform(settings, facts)
    if settings.strategy == "multi-platform":
        if not can_multi:
            raise PlanError(_classic_refusal(facts))
        return "multi-platform", "asked for"
    why = _per_arch_reason(settings, can_multi)
    return ("per-arch", why) if why else ("multi-platform", _ONE_BUILD)


_ONE_BUILD = "the builder exports multi-platform images: one build"


def _per_arch_reason(settings: Settings, can_multi: bool) -> str:
    """Why ``per-arch`` (asked, or something only a merge does), or "" for one build."""
    if settings.strategy == "per-arch":
        return "asked for"
    if len(settings.platforms) == 1:
        return "one platform"  # a CI shard: its digest map holds that platform's push
    if settings.media_type == "docker":
        return "media_type docker: the merge writes a Docker manifest list"
    if settings.manifest_tool != "auto":
        return f"manifest_tool {settings.manifest_tool} merges per-arch pushes"
    if not can_multi:
        return "the docker driver on the classic image store builds one platform a run"
    return ""


def push_by_digest(settings: Settings, facts: Facts) -> bool:
    """Pushes by digest where the builder can (no tag another run could retag)."""
    return builder_driver(settings, facts) != "docker" and settings.push and not settings.layout


def layout_refusal(settings: Settings, facts: Facts, task: str) -> str:
    """Why ``layout`` cannot be done here ("" when it can): the pull-request path's build."""
    if not settings.layout:
        return ""
    if task == "publish":
        return (
            "layout = true writes OCI layouts and pushes nothing: run `multiarch build"
            " --layout` and `multiarch merge --layout` instead of publish"
        )
    if settings.backend != "buildx":
        return (
            f"--layout needs the buildx backend (buildx --output type=oci), not {settings.backend}"
        )
    if builder_driver(settings, facts) == "docker" and not exports_multi_platform(settings, facts):
        where = facts.engine.describe() if facts.engine else "the engine"
        return (
            f"--layout cannot run on builder {facts.builder_name!r}: the docker driver on an"
            f" engine with the classic image store ({where}) has no OCI exporter; create a"
            " docker-container builder (`multiarch builder-create --driver docker-container"
            " --use`) or turn on the containerd image store"
        )
    return ""


def can_export_cache(settings: Settings, facts: Facts) -> bool:
    """True when the builder can export a build cache (registry, gha).

    The docker driver can only on the containerd image store (Docker 24+); GitHub's
    runners have the classic store before Docker 29, hence the docker-container builder.
    """
    if builder_driver(settings, facts) != "docker":
        return True
    return facts.engine is None or facts.engine.containerd_store


def decide_cache(settings: Settings, facts: Facts) -> tuple[str, str]:
    """(mode, why): the cache this run imports and exports: none, gha, registry or inline.

    ``auto``: GitHub's cache service when the job can reach it, else the registry, when the
    builder can export a cache; a build that pushes nothing writes no registry cache.
    """
    asked = settings.cache
    exports = can_export_cache(settings, facts)
    if asked == "gha" and not facts.gha_cache:
        raise PlanError(
            "cache gha: no GitHub Actions cache service here (GITHUB_ACTIONS=true,"
            " ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL or ACTIONS_RESULTS_URL are needed;"
            " a run step gets them from crazy-max/ghaction-github-runtime); use cache auto"
            " or registry"
        )
    if asked != "auto":
        return asked, "asked for"
    if not exports:
        return "none", (
            f"auto: builder {facts.builder_name or 'default'!r} (the docker driver on the"
            " classic image store) cannot export a cache; use a docker-container builder"
        )
    if facts.gha_cache:
        return "gha", "auto: GitHub Actions cache service"
    if not settings.push or settings.layout:
        return "none", "auto: this build pushes nothing, so it writes no registry cache"
    return "registry", "auto: the builder exports a cache, kept in the image's repository"


def cache_options(
    settings: Settings, platform: Platform | None, driver: str, facts: Facts | None = None
) -> tuple[list[str], list[str], str]:
    """``--cache-from``/``--cache-to`` values and a note saying what is imported/exported.

    One cache per platform: a single shared ref keeps only the platform written last, so
    each platform gets ``IMAGE:buildcache-<suffix>`` (registry) or the gha scope
    ``<repository>-<suffix>``, exported with ``mode=max`` (every stage's layers). A builder
    that cannot export a cache falls back to an inline one.
    """
    cache_from = list(settings.cache_from)
    cache_to = list(settings.cache_to)
    if facts is None:  # no facts: the driver alone says whether a cache can be exported
        exporting = driver != "docker"
        mode, why = settings.cache, "asked for"
        if mode == "auto":
            mode, why = ("registry", "auto") if exporting else ("none", "auto: docker driver")
    else:
        exporting = can_export_cache(settings, facts)
        mode, why = decide_cache(settings, facts)
    suffix = platform.tag_suffix if platform else "multi"
    if mode in {"registry", "gha"} and not exporting:
        cache_to.append("type=inline")
        note = (
            f"cache {suffix}: the {driver} driver cannot export a {mode} cache; inline cache"
            f" instead (use a docker-container builder for cache {mode})"
        )
        if mode == "registry":
            cache_from.append(_registry_cache(settings, suffix))
        return cache_from, cache_to, note
    if mode == "registry":
        ref = _registry_cache(settings, suffix)
        cache_from.append(ref)
        cache_to.append(f"{ref},mode=max")
    elif mode == "gha":
        scope = f"type=gha,scope={settings.image_ref.repository.replace('/', '-')}-{suffix}"
        cache_from.append(scope)
        cache_to.append(f"{scope},mode=max")
    elif mode == "inline":
        cache_to.append("type=inline")
    if not cache_from and not cache_to:
        return cache_from, cache_to, f"cache {suffix}: none ({why})" if why != "asked for" else ""
    imports = ", ".join(cache_from) or "nothing"
    exports = ", ".join(cache_to) or "nothing"
    return cache_from, cache_to, f"cache {suffix}: import {imports}; export {exports} ({why})"


def _registry_cache(settings: Settings, suffix: str) -> str:
    return f"type=registry,ref={settings.image_ref.with_tag(f'buildcache-{suffix}')}"


def merge_tool(settings: Settings) -> str:
    """``auto`` -> native: the index is written through the registry API, no process."""
    return "native" if settings.manifest_tool == "auto" else settings.manifest_tool
