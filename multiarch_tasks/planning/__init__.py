"""Decisions made once, from facts.

Where each platform builds, which strategy and tool, the plan of a publish as typed steps
with their argv, tags from git, zero-config inference. Pure where it can be; may import
the model, config, engine and registry layers.

- ``decide``: one decider per question (platform assignment, strategy, cache, merge tool).
- ``plan``: ``make_plan``, the planner: which steps a task runs; merge, verify, promote.
- ``plan_types``: the ``Plan``, ``Step`` and ``BuildStep`` values, their text and JSON.
- ``plan_build``: the build step's argv (buildx per platform group, or buildah).
- ``plan_setup``: the qemu-setup and builder-create steps, the generated buildkitd.toml.
- ``gittags``: image tags from git and the CI's variables, by the configured rules.
- ``infer``: zero-config publish: the image, tags and platforms a checkout implies.
"""
