"""The OCI Distribution client: the only code that speaks HTTP to registries (transport,
auth, credentials, retries, limits), and the reads built on it (each platform's
manifest and config, a base image's platforms).

May import :mod:`~multiarch_tasks.model`, :mod:`~multiarch_tasks.config` and
:mod:`~multiarch_tasks.engine` (credential helpers run through the runner).
"""
