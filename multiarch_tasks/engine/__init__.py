"""What runs on this machine: the runner (the only place that starts processes), the argv
builders of the programs it runs, and the facts probed from them (engine, image store,
buildx builder and nodes, binfmt handlers, tools).

May import :mod:`~multiarch_tasks.model` and :mod:`~multiarch_tasks.config`.
"""
