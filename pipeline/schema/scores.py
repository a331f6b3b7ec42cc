"""QC scores: the one definition of ``<out>/qc/scores.json`` (``scores_tNNN.json`` for take N).

Written by :func:`recast.qc.scoring.score_job` (validated against :class:`QCScores`
before it is written), read by the report, the review app and the service.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recast.pipeline.schema._errors import spec_error

SCORES_SCHEMA = 1
Verdict = Literal["pass", "warn", "fail"]
MetricStatus = Literal["pass", "warn", "fail", "na"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class MetricScore(_Open):
    value: float | None = Field(description="the metric's value; null when unavailable")
    reason: str | None = Field(None, description="why the value is unavailable (or a note)")
    status: MetricStatus = Field("na", description="the threshold rule's verdict")
    rule: str | None = Field(None, description="the rule that warned or failed")


class MetricInfo(_Open):
    direction: str
    label: str
    kind: str


class FrameScores(_Open):
    frame: int
    take: int = Field(ge=1)
    status: Verdict
    reasons: list[str] = Field(default_factory=list)
    record_status: str = Field(description="the frame record's status, or 'missing'")
    plate: str | None = None
    comp: str | None = None
    element: str | None = None
    metrics: dict[str, MetricScore] = Field(default_factory=dict)
    faces: list[dict[str, Any]] = Field(default_factory=list, description="per-face metric results")


class Summary(_Open):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    frames: int
    passed: int = Field(alias="pass")
    warn: int
    fail: int
    flagged: list[int] = Field(default_factory=list)


class QCScores(_Open):
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, title="RecastQCScores",
        json_schema_extra={"x-recast-schema": SCORES_SCHEMA},
    )
    SCHEMA: ClassVar[int] = SCORES_SCHEMA

    schema_version: int = Field(SCORES_SCHEMA, alias="schema", ge=1, le=SCORES_SCHEMA)
    job: str | None = None
    out: str
    shot: str | None = None
    take: int = Field(1, ge=1)
    created: str
    thresholds: str | None = None
    metrics: dict[str, MetricInfo] = Field(default_factory=dict)
    job_info: dict[str, Any] = Field(default_factory=dict)
    summary: Summary
    qc_seconds: float | None = None
    frames_scored: int | None = None
    frames: list[FrameScores] = Field(default_factory=list)


def check_scores(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` if it is a valid scores document, else a one-line SpecError (``scores.<key>: ...``)."""
    try:
        QCScores.model_validate(doc)
    except ValidationError as exc:
        raise spec_error(exc, "scores", QCScores) from None
    return doc
