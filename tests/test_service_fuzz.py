"""Schemathesis against the served OpenAPI schema on loopback: no 5xx, nothing written outside the roots.

Bounded: at most 20 generated examples per operation, no deadline per example
(the machine is shared), and the server's roots are a throw-away folder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from recast.pipeline.jobs.runner import Runner, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from recast.pipeline.service.app import ServiceConfig
from recast.pipeline.service.server import RunningServer, start_in_thread
from tests.test_job_support import make_plate


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path, list[str]]]:
    base = tmp_path_factory.mktemp("fuzz")
    root = base / "root"
    outside = base / "outside"
    make_plate(outside / "plates", range(1, 3))
    pattern = make_plate(root / "plates", range(1, 4))
    db = base / "home" / "recast.db"
    store = Store(db)
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(root / "out"), "processor": "passthrough"}), "fuzzjob")
    Runner(store).run(job)
    server = start_in_thread(ServiceConfig(roots=[root.resolve()], store_path=db, workers=1, recover=False))
    yield server, outside, _listing(outside)
    server.stop()


def _fuzz(op: Any, strategy: Any, failures: list[str], seen: Counter[int]) -> None:
    @given(case=strategy)
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def run(case: schemathesis.Case) -> None:
        resp = case.call(timeout=60)
        seen[resp.status_code // 100] += 1
        if resp.status_code >= 500:
            failures.append(f"{op.method.upper()} {op.path} -> {resp.status_code}: {resp.text[:200]}")

    try:
        run()
    except Unsatisfiable:
        pass  # e.g. no negative variant exists for an operation without parameters


def test_no_server_errors(fuzz_env: tuple[RunningServer, Path, list[str]]) -> None:
    server = fuzz_env[0]
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    seen: Counter[int] = Counter()
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 15  # every endpoint is in the served schema
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(op, op.as_strategy(mode), failures, seen)
            if "{job_id}" in op.path:  # also aim at a real job so the handlers' own checks run
                _fuzz(op, op.as_strategy(mode, path_parameters={"job_id": "fuzzjob"}), failures, seen)
    assert failures == []
    assert seen[2] > 20 and seen[4] > 100, seen  # both accepted and refused requests were exercised


def test_nothing_written_outside_roots(fuzz_env: tuple[RunningServer, Path, list[str]]) -> None:
    _server, outside, before = fuzz_env
    assert _listing(outside) == before
