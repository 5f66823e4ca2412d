"""What is checked before and after a build.

May import every layer below: model, config, engine, registry, planning. The modules:

- preflight: the preflight check (base images x platforms, lint, the host), run in turn
- preflight_report: what preflight found (matrix, host, problems), as text and JSON
- base_images: which images the Dockerfile pulls for which platforms; what the registry has
- build_host: how the host builds each platform (native, emulated, impossible) and why
- lint: the Dockerfile lint (runs the rules) and what verify --deep made of the findings
- lint_rules: one function per Dockerfile hazard, with the words and patterns they look for
- lint_findings: the rule names, a finding, the lint result, as text and JSON
- verify: the verify check of a published index, assembling the report
- verify_report: what verify found per platform and attestation, as a table and JSON
- verify_index: the index's platforms, configs, shared manifests, attestations, tags
- verify_deep: verify --deep, foreign ELF programs in each platform's layers
- verify_run: verify --run, each platform's image started with verify_run
- elf: the ELF scan's names in one place (re-exports elf_header and layers)
- elf_header: ELF header parsing (class, endianness, machine, ARM's Tag_CPU_arch)
- layers: an image's layers read from tar streams, whiteouts applied, programs found
- inspect: an index as a table, or one platform's config summary
- doctor: is this machine ready to publish; asks every group of rows in turn
- doctor_report: a doctor row and the result, as a table and JSON
- doctor_engine: rows for docker, buildx and the image store
- doctor_builder: rows for the builder and each emulated platform's binfmt handler
- doctor_registry: the row for the image's registry (reachable, credentials)
- doctor_publish: the row for what the next publish would push
- diagnose: a failure's output matched to its cause and fix
- signatures: the table of known failure signatures (pattern, cause, fix)
"""
