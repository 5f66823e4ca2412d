"""The OCI Distribution client, the only code that speaks HTTP to registries.

``client`` (manifests, tags, blobs) on ``calls`` (scheme, retries, errors), ``auth`` and
``credentials``, ``blobs`` (digests, streams), ``retry``; ``transport`` sends each
request through urllib3, with ``proxies``, ``tls``, ``deadlines`` and ``faults``.
``entries`` reads each platform's manifest and config; ``bases`` the platforms a base image
offers (for preflight and inference).
``reader`` is what verify, inspect and merge read an image through; ``layout`` offers the
same for an OCI image layout on disk (``oci-layout://DIR[:TAG]``) and writes one.

May import :mod:`~multiarch_tasks.model`, :mod:`~multiarch_tasks.config` and
:mod:`~multiarch_tasks.engine` (credential helpers run through the runner).
"""
