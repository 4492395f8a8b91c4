"""What the probes of one assessment produced: results, skipped probes, failures, caveats."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from advisor.probes.common.base import ProbeResult


class SkippedProbe(BaseModel):
    probe: str
    reason: str
    command: str = ""
    #: why: ``inputs`` (not selected, or its files not given) or ``budget`` (it ran out of time)
    kind: str = "inputs"


class ProbeFailure(BaseModel):
    probe: str
    error: str
    #: the user can fix it (bad input, an endpoint refusing or failing): the command exits 2 after the report
    fixable: bool = False


class EvidenceSet(BaseModel):
    """The probe results gathered for an assessment (see :mod:`advisor.evidence.orchestrate`)."""

    results: list[ProbeResult] = Field(default_factory=list)
    skipped: list[SkippedProbe] = Field(default_factory=list)
    failures: list[ProbeFailure] = Field(default_factory=list)
    thin: list[str] = Field(default_factory=list)

    def facts(self) -> dict[str, dict[str, Any]]:
        """Each probe's evidence facts, by probe name."""
        return {r.probe: dict(r.evidence) for r in self.results}

    def by_probe(self) -> dict[str, ProbeResult]:
        return {r.probe: r for r in self.results}
