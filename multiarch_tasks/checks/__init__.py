"""What is checked before and after a build.

Preflight (base images x platforms, the host), verify (index, configs, ELF machines),
inspect, Dockerfile lint, doctor and diagnose. May import every layer below: model,
config, engine, registry, planning.
"""
