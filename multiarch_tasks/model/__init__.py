"""The values everything else talks in.

Errors, platforms, image references, OCI types, digest maps, the Dockerfile as parsed,
and the redaction of secrets from text. Pure data and pure functions; imports nothing
else of this package.
"""
