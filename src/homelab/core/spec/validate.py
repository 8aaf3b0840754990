"""Validation of a spec's text: load with positions, pydantic models, then every semantic check.

``validate_text`` never raises on bad input: whatever the text holds, it returns findings with
positions, sorted by where they are in the file. The spec is returned only when there is no error.
Top-level keys starting with ``x-`` are ignored (a place for YAML anchors, as in Compose files).
Pure: the caller reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from homelab.core.spec import checks, model_errors
from homelab.core.spec.findings import Finding, Problem
from homelab.core.spec.load import PositionIndex, load_text
from homelab.core.spec.models import LabSpec


@dataclass(frozen=True)
class ValidationResult:
    """The findings about one spec, and the spec itself when it has no error."""

    spec: LabSpec | None
    findings: list[Finding]
    source: str = "spec"

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.is_error]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        """Every finding as ``SOURCE:LINE:COL: severity: path: message``."""
        return [finding.format(self.source) for finding in self.findings]

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "ok": self.ok,
            "lab": self.spec.name if self.spec is not None else None,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [finding.to_json() for finding in self.findings],
        }


def place(problem: Problem, index: PositionIndex) -> Finding:
    """Give a problem the position of its path (or of its nearest ancestor)."""
    where = index.locate(problem.path, on_key=problem.on_key)
    return problem.at(where.line, where.col)


EXTENSION_PREFIX = "x-"


def _without_extensions(data: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in data.items() if not key.startswith(EXTENSION_PREFIX)}


def _validate_model(data: object, index: PositionIndex) -> tuple[LabSpec | None, list[Problem]]:
    try:
        return LabSpec.model_validate(data), []
    except ValidationError as exc:
        return None, list(model_errors.problems_from(exc, data, index.raw))


def validate_text(content: str | bytes, source: str) -> ValidationResult:
    """Load, validate and check a spec's text; report every problem found, never raise."""
    loaded = load_text(content, source)
    findings = list(loaded.findings)
    if loaded.data is None:
        return ValidationResult(None, sorted(findings, key=Finding.sort_key), source)
    spec, problems = _validate_model(_without_extensions(loaded.data), loaded.index)
    # a value the loader refused (and replaced by null) is reported once, by the loader
    refused = {finding.path for finding in loaded.findings if finding.is_error}
    problems = [problem for problem in problems if problem.path not in refused]
    if spec is not None:
        problems.extend(checks.run_checks(spec))
    findings.extend(place(problem, loaded.index) for problem in problems)
    findings.sort(key=Finding.sort_key)
    has_error = any(finding.is_error for finding in findings)
    return ValidationResult(None if has_error else spec, findings, source)
