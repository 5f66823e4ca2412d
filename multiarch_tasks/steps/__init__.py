"""The steps a plan runs.

QEMU setup, builder, build (through a backend), manifest and merge, promotion, mirror,
and publish, which runs them in order. May import every layer below, checks included
(publish verifies before it promotes).
"""
