"""CI: pipelines for native runners, rehearsed locally.

Pipeline templates (GitHub, GitLab) and their shards, local rehearsal of a pipeline, and
CI-native output (log groups, annotations, step summaries). May import every layer below
it; only the faces (tasks, cli, api, nox) import it.
"""
