"""The values everything else talks in.

Errors, platforms, image references, OCI types, digest maps, the Dockerfile as parsed,
and the redaction of secrets from text. Pure data and pure functions; imports nothing
else of this package.

- ``errors``: the one error tree (``MultiarchError`` and its data-carrying subclasses).
- ``platforms``, ``reference``: ``Platform`` and ``ImageRef``, parsed and printed;
  ``layoutref``: ``LayoutRef``, an OCI layout on disk (``oci-layout://DIR[:TAG]``).
- ``oci``: manifests, indexes and descriptors; ``digests``: the per-arch digest maps.
- ``dockerfile``: parse a Dockerfile into stages (ARG scopes, ``FROM``, ``--from``).
- ``dockerfile_syntax``: its lexing: continuations, heredocs, directives, ``$VAR``.
- ``dockerfile_stages``: the parsed ``Dockerfile``, its stages and their queries.
- ``redaction``: secrets taken out of text before it is shown.
"""
