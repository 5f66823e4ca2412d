"""The package's version: one constant, kept equal to pyproject's ``version`` (a test checks).

A plain string, so ``multiarch --version`` answers without reading distribution metadata
or importing invoke.
"""

__version__ = "0.1.0"
