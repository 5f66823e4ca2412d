"""The steps a plan runs.

QEMU setup, builder, build (through a backend), manifest and merge, promotion, mirror,
and publish, which runs them in order. May import every layer below, checks included
(publish verifies before it promotes).

- ``manifest``: manifest-create, manifest-push, merge (several shards into one index).
- ``manifest_sources``: per-arch pushes resolved to the index's children, the merge tool.
- ``manifest_compose``: publish's index pushed by digest, then promoted to the tags.
- ``mirror``: copy every platform of an image: tool choice, skopeo and imagetools paths.
- ``mirror_jobs``: what to copy (lists, DEST tags, index subsets) and the results.
- ``mirror_native``: the copy through the registry API: blobs, manifests, the index.
"""
