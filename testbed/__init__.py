"""The real test bed: a Distribution registry on loopback and multi-arch base images.

Used by ``tests/conftest.py`` and by this repo's own ``tasks/`` (the README's demo). Not
shipped in the wheel. Everything here drives the real programs that ``scripts/engine-up``
installs; nothing is simulated.
"""
