"""What is checked before and after a build: preflight (base images x platforms, host),
verify (index, configs, ELF machines), inspect, Dockerfile lint, doctor and diagnose.

May import every layer below: model, config, engine, registry, planning.
"""
