"""Pass/warn/fail rules from a TOML file: absolute thresholds + rolling-median rules.

See ``qc/thresholds.toml`` for the documented defaults and the file format.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recast.pipeline.errors import QCError
from recast.qc.metrics import Direction

Status = Literal["pass", "warn", "fail", "na"]
ORDER: dict[str, int] = {"na": 0, "pass": 1, "warn": 2, "fail": 3}
MAD_SCALE = 1.4826  # MAD -> standard deviation for normal data


def worst(statuses: list[str]) -> Status:
    top: str = max(statuses, key=lambda s: ORDER[s], default="pass")
    return top  # type: ignore[return-value]


@dataclass(frozen=True)
class RelativeRule:
    window: int = 4
    k: float = 6.0
    min_dev: float = 0.0
    status: Status = "fail"


@dataclass(frozen=True)
class MetricRule:
    name: str
    warn: float | None = None
    fail: float | None = None
    relative: RelativeRule | None = None


@dataclass(frozen=True)
class Rules:
    metrics: dict[str, MetricRule]
    source: str

    @staticmethod
    def default_path() -> Path:
        # this package's own file, wherever it is installed (``recast.qc`` in the wheel and an
        # editable install; the bare name "qc" resolved only with the checkout on sys.path)
        return Path(str(resources.files(__package__ or "recast.qc") / "thresholds.toml"))

    @classmethod
    def load(cls, path: str | Path | None = None) -> Rules:
        p = Path(path) if path else cls.default_path()
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise QCError(f"{p}: thresholds file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise QCError(f"{p}: not valid TOML ({exc})") from None
        return cls.from_dict(data, str(p))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> Rules:
        unknown = set(data) - {"metrics"}
        if unknown:
            raise QCError(f"{source}: unknown top-level key {min(unknown)!r} (expected [metrics.<name>] tables)")
        metrics: dict[str, MetricRule] = {}
        for name, tbl in (data.get("metrics") or {}).items():
            where = f"{source}: metrics.{name}"
            if not isinstance(tbl, dict):
                raise QCError(f"{where}: must be a table")
            bad = set(tbl) - {"warn", "fail", "relative"}
            if bad:
                raise QCError(f"{where}: unknown key {min(bad)!r} (allowed: warn, fail, relative)")
            rel = None
            if "relative" in tbl:
                r = tbl["relative"]
                if not isinstance(r, dict) or set(r) - {"window", "k", "min_dev", "status"}:
                    raise QCError(f"{where}.relative: expected a table of window, k, min_dev, status")
                rel = RelativeRule(
                    window=_num(r.get("window", 4), f"{where}.relative.window", integer=True, positive=True),
                    k=_num(r.get("k", 6.0), f"{where}.relative.k", positive=True),
                    min_dev=_num(r.get("min_dev", 0.0), f"{where}.relative.min_dev"),
                    status=_status(r.get("status", "fail"), f"{where}.relative.status"),
                )
            metrics[name] = MetricRule(
                name=name,
                warn=None if "warn" not in tbl else _num(tbl["warn"], f"{where}.warn"),
                fail=None if "fail" not in tbl else _num(tbl["fail"], f"{where}.fail"),
                relative=rel,
            )
        return cls(metrics=metrics, source=source)


def _num(v: Any, where: str, integer: bool = False, positive: bool = False) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        raise QCError(f"{where}: expected {'an integer' if integer else 'a number'}, got {v!r}")
    if positive and v <= 0:
        raise QCError(f"{where}: must be > 0, got {v!r}")
    return int(v) if integer else float(v)


def _status(v: Any, where: str) -> Status:
    if v not in ("warn", "fail"):
        raise QCError(f"{where}: expected 'warn' or 'fail', got {v!r}")
    return v  # type: ignore[no-any-return]


@dataclass
class Verdict:
    status: Status
    reason: str | None = None
    threshold: dict[str, float] = field(default_factory=dict)


def absolute(rule: MetricRule, direction: Direction, value: float) -> Verdict:
    worse = (lambda v, t: v < t) if direction == "higher" else (lambda v, t: v > t)
    word = "<" if direction == "higher" else ">"
    for level, thr in (("fail", rule.fail), ("warn", rule.warn)):
        if thr is not None and worse(value, thr):
            return Verdict(level, f"{rule.name} {value:.4g} {word} {level} threshold {thr:g}")  # type: ignore[arg-type]
    return Verdict("pass")


def relative(rule: MetricRule, direction: Direction, series: list[tuple[int, float | None]]) -> dict[int, Verdict]:
    """Rolling-median rule over a (frame, value) series in frame order."""
    rel = rule.relative
    out: dict[int, Verdict] = {}
    if rel is None:
        return out
    for i, (frame, value) in enumerate(series):
        if value is None:
            continue
        lo, hi = max(0, i - rel.window), min(len(series), i + rel.window + 1)
        nb = np.array([v for j, (_, v) in enumerate(series[lo:hi], lo) if j != i and v is not None], np.float64)
        if nb.size < 3:
            continue
        med = float(np.median(nb))
        dev = max(MAD_SCALE * float(np.median(np.abs(nb - med))), rel.min_dev, 1e-12)
        z = (med - value) / dev if direction == "higher" else (value - med) / dev
        if z > rel.k:
            out[frame] = Verdict(
                rel.status,
                f"{rule.name} {value:.4g} departs from its neighbours' median {med:.4g} by {z:.1f} robust deviations (k={rel.k:g})",
                {"median": med, "dev": dev},
            )
    return out


def evaluate(
    rules: Rules, directions: dict[str, Direction], values: dict[int, dict[str, float | None]]
) -> dict[int, dict[str, Verdict]]:
    """frame -> metric -> verdict (``na`` where the value is missing)."""
    frames = sorted(values)
    out: dict[int, dict[str, Verdict]] = {f: {} for f in frames}
    names = sorted({m for f in frames for m in values[f]})
    for name in names:
        direction = directions.get(name, "higher")
        rule = rules.metrics.get(name)
        series = [(f, values[f].get(name)) for f in frames]
        rel = relative(rule, direction, series) if rule else {}
        for f, v in series:
            if v is None:
                out[f][name] = Verdict("na")
                continue
            verdict = absolute(rule, direction, v) if rule else Verdict("pass")
            r = rel.get(f)
            if r is not None and ORDER[r.status] > ORDER[verdict.status]:
                verdict = r
            out[f][name] = verdict
    return out
