"""The OCI Distribution client: the only code that speaks HTTP to registries.

Transport, auth, credentials, retries and limits, and the reads built on them (each
platform's manifest and config, the platforms a base image offers). May import the
model, config and engine layers (credential helpers run through the runner).
"""
