"""Plain helper modules shared by the tests (no fixtures: those live in the conftest files)."""
