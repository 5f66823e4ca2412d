"""What runs on this machine, and the facts probed from it.

process (the only place that starts processes: plumbum commands, each in a process group
of its own), runner (the seam every command goes through: dry, echo, redaction, retries,
streaming, parallel runs), the argv builders of the programs it runs (commands), what
docker and buildx print, parsed (buildx_outputs), and the facts gathered from them (engine,
image store, buildx builder and nodes, binfmt handlers, tools). May import the model and
config layers.
"""
