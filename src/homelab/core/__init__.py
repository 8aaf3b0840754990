"""The pure core: spec, validation, rendering and planning.

Nothing under this package does I/O: no network, no files, no clock, no randomness
except what callers pass in. import-linter enforces it (see pyproject.toml).
"""
