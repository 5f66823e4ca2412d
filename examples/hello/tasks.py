"""A user's tasks.py: import the collection, configure it in invoke.yaml."""

from invoke import Collection

from multiarch_tasks import multiarch

ns = Collection(multiarch)
