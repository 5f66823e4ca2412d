"""Decisions made once, from facts.

Where each platform builds, which strategy and tool, the plan of a publish as typed steps
with their argv, tags from git, zero-config inference. Pure where it can be; may import
the model, config, engine and registry layers.
"""
