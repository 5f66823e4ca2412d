"""What runs on this machine, and the facts probed from it.

The runner (the only place that starts processes), the argv builders of the programs it
runs, and the facts read from them (engine, image store, buildx builder and nodes,
binfmt handlers, tools). May import the model and config layers.
"""
