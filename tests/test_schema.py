"""One schema: settings, job spec, layout, record and scores are each defined once
(recast.pipeline.schema), and the CLI, the service and QC use that definition."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from recast.pipeline.errors import SpecError

REPO = Path(__file__).resolve().parent.parent
# the core; plugin/recast_bridge is an outside reader (stdlib only, Nuke's Python): its knobs map onto the
# settings the service validates, and it can check documents against `recast schema ... --json`
SOURCE_DIRS = ("pipeline", "qc", "models", "review_ui")


def _classes_with_fields(*names: str) -> list[str]:
    """Every class in the source tree whose body annotates all of ``names`` (a hand-written copy of a model)."""
    found = []
    for d in SOURCE_DIRS:
        for path in (REPO / d).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    fields = {t.target.id for t in node.body if isinstance(t, ast.AnnAssign) and isinstance(t.target, ast.Name)}
                    if set(names) <= fields:
                        found.append(f"{path.relative_to(REPO)}:{node.name}")
    return found


def test_settings_and_job_spec_are_defined_once() -> None:
    from recast.pipeline import schema
    from recast.pipeline.composite import settings as old_settings
    from recast.pipeline.jobs import spec as old_spec
    from recast.pipeline.service import app as service_app

    assert _classes_with_fields("mask_blur", "color", "blend") == ["pipeline/schema/settings.py:SwapSettings"]
    assert _classes_with_fields("plate", "out", "priority") == ["pipeline/schema/job.py:JobSpec"]
    # the old import paths are the same objects, and the service's body is the schema's JobSpec
    assert old_settings.SwapSettings is schema.SwapSettings and old_spec.JobSpec is schema.JobSpec
    assert service_app.JobSpecBody is schema.JobSpec


def test_service_openapi_body_is_the_job_schema(tmp_path: Path) -> None:
    from recast.pipeline.schema import JobSpec
    from recast.pipeline.service.app import ServiceConfig, create_app

    app = create_app(ServiceConfig(roots=[tmp_path], store_path=tmp_path / "db" / "recast.db", recover=False))
    api = app.openapi()
    ref = api["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = api["components"]["schemas"][ref.rsplit("/", 1)[1]]
    mine = JobSpec.model_json_schema()
    assert set(body["properties"]) == set(mine["properties"]) and body["properties"]["frames"]["anyOf"] == mine["properties"]["frames"]["anyOf"]
    assert body["properties"]["priority"]["maximum"] == 100 and body["additionalProperties"] is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"crop_scale": 9}, "settings.crop_scale: 9 is outside 1.2..6"),
        ({"seed": True}, "settings.seed: expected a number, got True"),
        ({"backend": ["x"]}, "settings.backend: expected text, got list"),
        ({"full_scan_every": 2.5}, "settings.full_scan_every: "),
        ({"color": "purple"}, "settings.color: 'purple' is not one of 'rct', 'lct', 'none'"),
        ({"mask_erode": float("inf")}, "settings.mask_erode: inf is not a finite number"),
    ],
)
def test_settings_errors_are_one_line_naming_the_field(data: dict, message: str) -> None:
    from recast.pipeline.schema import SwapSettings

    with pytest.raises(SpecError) as err:
        SwapSettings.from_dict(data)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    with pytest.raises(SpecError):  # building one directly validates the same way
        SwapSettings(**data)


def test_settings_are_lenient_only_where_text_is_common() -> None:
    from recast.pipeline.schema import SwapSettings

    s = SwapSettings.from_dict({"grain": "off", "mask_blur": "8", "backend": "", "colorspace": 7})
    assert (s.grain, s.mask_blur, s.backend, s.colorspace) == (False, 8.0, None, "7")
    with pytest.raises(Exception):  # noqa: B017,PT011 - frozen: settings never change under a running engine
        s.grain = True  # type: ignore[misc]
    assert SwapSettings.from_dict(s.to_dict()) == s and hash(s) == hash(SwapSettings.from_dict(s.to_dict()))


def test_job_spec_type_errors_name_the_field() -> None:
    from recast.pipeline.schema import JobSpec

    base = {"plate": "/p/a.####.exr", "actor": "ada", "out": "/o"}
    for patch, message in (({"priority": 500}, "spec.priority: 500 is outside 0..100"),
                           ({"chunk": "5"}, "spec.chunk: input should be a valid integer"),
                           ({"processor": "magic"}, "spec.processor: 'magic' is not one of 'engine', 'passthrough'"),
                           ({"frames": "5-1"}, "spec.frames: ")):
        with pytest.raises(SpecError) as err:
            JobSpec.from_dict({**base, **patch})
        assert str(err.value).startswith(message), str(err.value)
    # null means "not given", as the HTTP body always treated it
    assert JobSpec.from_dict({**base, "priority": None, "settings": None}).priority == 50


OLD_SWAP_FLAGS = {  # every settings flag `recast swap` had before the schema, with a value and what it sets
    "--selection": ("largest", "selection", "largest"), "--backend": ("warp", "backend", "warp"),
    "--analyser": ("insightface", "analyser", "insightface"), "--commercial-only": (None, "allow_noncommercial_models", False),
    "--enhancer-blend": ("0.5", "enhancer_blend", 0.5), "--enhancer-licence": ("MIT", "enhancer_licence", "MIT"),
    "--mask-erode": ("-3", "mask_erode", -3.0), "--mask-blur": ("8", "mask_blur", 8.0),
    "--mask-source": ("hull", "mask_source", "hull"), "--mask-forehead": ("0.3", "mask_forehead", 0.3),
    "--color": ("lct", "color", "lct"), "--color-strength": ("0.5", "color_strength", 0.5),
    "--color-smoothing": ("0", "color_smoothing", 0.0), "--blend": ("poisson", "blend", "poisson"),
    "--no-grain": (None, "grain", False), "--clean-element": (None, "element_grain", False),
    "--no-highlights": (None, "highlights", False), "--colorspace": ("ACEScg", "colorspace", "ACEScg"),
    "--full-scan-every": ("5", "full_scan_every", 5), "--embed-every": ("3", "embed_every", 3),
}


def test_swap_flags_are_generated_from_the_settings_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recast.pipeline.cli import build_parser
    from recast.pipeline.cli.swap import settings_overrides
    from recast.pipeline.schema import SwapSettings

    monkeypatch.chdir(tmp_path)
    parser = build_parser()
    swap = parser._subparsers._group_actions[0].choices["swap"]  # type: ignore[union-attr]
    flags = {o: a for a in swap._actions for o in a.option_strings}
    for name, info in SwapSettings.model_fields.items():  # every setting has its flag, help from the schema
        action = flags["--" + name.replace("_", "-")]
        assert action.dest == name and info.description and info.description in action.help.replace("%%", "%")
    base = ["swap", "p.####.exr", "--actor", "a", "--out", "o"]
    assert settings_overrides(parser.parse_args(base)) == {}  # nothing given: nothing overridden
    for flag, (value, field, expected) in OLD_SWAP_FLAGS.items():  # every old spelling still works
        args = parser.parse_args([*base, flag] + ([] if value is None else [value]))
        assert settings_overrides(args) == {field: expected}, flag
        assert getattr(SwapSettings.from_dict(settings_overrides(args)), field) == expected
    # new generated flags: booleans both ways, paths made absolute
    got = settings_overrides(parser.parse_args([*base, "--grain", "--no-element-grain", "--seed", "7", "--crop-scale", "3",
                                                "--enhancer", "gfpgan", "--enhancer-model", "m.onnx"]))
    assert got == {"grain": True, "element_grain": False, "seed": 7, "crop_scale": 3.0, "enhancer": "gfpgan",
                   "enhancer_model": str(tmp_path / "m.onnx")}


def test_one_sanitise_rule_for_engine_compositing_and_qc() -> None:
    import numpy as np

    from recast.pipeline.composite import compose
    from recast.pipeline.faces import imageprep
    from recast.pipeline.finite import sanitise
    from recast.qc import display

    assert compose.sanitise is sanitise and imageprep.sanitise is sanitise and display.sanitise is sanitise
    plate = np.array([[[np.nan, np.inf, -np.inf], [0.25, 3.5, -0.5]]], np.float32)
    before = plate.copy()
    clean = sanitise(plate)
    # NaN -> 0, +Inf -> the brightest finite value, -Inf -> the darkest; the plate is untouched
    assert clean.tolist() == [[[0.0, 3.5, -0.5], [0.25, 3.5, -0.5]]] and clean.dtype == np.float32
    assert np.array_equal(np.isnan(plate), np.isnan(before)) and np.isposinf(plate).sum() == 1
    assert sanitise(np.full((2, 2), np.inf, np.float32)).tolist() == [[0.0, 0.0], [0.0, 0.0]]


# ------------------------------------------------------------- JSON Schemas against real documents


def _schema_cli(name: str) -> dict:
    import json

    from tests.test_job_support import recast

    res = recast("schema", name, "--json", check=True)
    return json.loads(res.stdout)


def _validator(doc: dict):  # noqa: ANN202
    import jsonschema_rs

    assert jsonschema_rs.meta.is_valid(doc), "not a valid JSON Schema"
    return jsonschema_rs.validator_for(doc)


@pytest.fixture(scope="module")
def engine_take(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real swap (Tom Hanks warp actor on the astronaut plate, two frames) written by the engine."""
    import os

    from _engine_fixtures import astronaut_linear, build_tom_hanks_actor, write_aov_plate
    from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
    from recast.pipeline.sequence import PlateSequence

    root = tmp_path_factory.mktemp("schema_swap")
    saved = os.environ.get("RECAST_MODELS")
    try:
        actor = build_tom_hanks_actor(root / "models", root)
        (root / "plate").mkdir()
        for i in range(2):
            write_aov_plate(root / "plate" / f"shot.{1001 + i:04d}.exr", astronaut_linear(9 * i))
        seq = PlateSequence.open(str(root / "plate" / "shot.####.exr"))
        layout = OutputLayout(root / "out", seq.name, seq.padding)
        records = Engine(seq, {actor.name: actor}, SwapSettings(selection="largest"), layout, job_id="s1").run(seq.frames)
    finally:
        if saved is not None:
            os.environ["RECAST_MODELS"] = saved
    return {"root": root, "layout": layout, "records": records}


def test_recast_schema_json_validates_real_engine_records(engine_take: dict) -> None:
    import json

    from recast.pipeline.schema.record import RECORD_SCHEMA, read_record

    record_schema, settings_schema = _schema_cli("record"), _schema_cli("settings")
    rec_v, set_v = _validator(record_schema), _validator(settings_schema)
    layout = engine_take["layout"]
    for rec in engine_take["records"]:
        on_disk = json.loads(layout.record_path(rec["frame"]).read_text())
        assert on_disk["schema"] == RECORD_SCHEMA and on_disk["status"] == "done", on_disk.get("error")
        errors = [e.message for e in rec_v.iter_errors(on_disk)]
        assert errors == [], errors
        assert set_v.is_valid(on_disk["settings"])  # the record's settings are valid settings
        parsed = read_record(on_disk)
        assert parsed.faces[0].swapped
        assert parsed.colorspace is not None and parsed.colorspace.config  # the engine fills the agreed object
    # the agreed colourspace object validates; a malformed one does not
    good = dict(on_disk, colorspace={"plate": "Linear Rec.709 (sRGB)", "source": "default",
                                      "config": "ocio://cg-config-latest", "working": "sRGB Encoded Rec.709 (sRGB)"})
    assert rec_v.is_valid(good) and read_record(good).colorspace is not None
    bad = dict(on_disk, colorspace={"plate": "ACEScg"})
    assert not rec_v.is_valid(bad)
    with pytest.raises(SpecError, match=r"^record.colorspace.source: required"):
        read_record(bad)
    # a record with a wrong type names the key in one line
    with pytest.raises(SpecError, match=r"^record.frame: "):
        read_record(dict(on_disk, frame="ten"))
    assert not rec_v.is_valid(dict(on_disk, status="maybe"))


def test_schema_1_records_still_read_and_validate(engine_take: dict) -> None:
    import json

    from recast.pipeline.schema.record import read_record, upgrade_record

    rec_v = _validator(_schema_cli("record"))
    layout = engine_take["layout"]
    on_disk = json.loads(layout.record_path(1001).read_text())
    # what the passthrough processor wrote under schema 1 (no actors, licences, coords, tracks, detection)
    old = {k: v for k, v in on_disk.items() if k not in ("actors", "licences", "coords", "tracks", "detection", "colorspace")}
    old["schema"] = 1
    assert rec_v.is_valid(old)
    up = upgrade_record(old)
    assert up["schema"] == 1 and up["actors"] == [] and up["coords"] == "image" and up["colorspace"] is None
    assert up["faces"][0]["box"] == on_disk["faces"][0]["box"]
    with pytest.raises(SpecError, match="newer than this Recast"):
        read_record(dict(on_disk, schema=99))


def test_job_spec_and_settings_schemas_validate_what_recast_writes(tmp_path: Path) -> None:
    import json

    from recast.pipeline.jobs.runner import submit
    from recast.pipeline.jobs.store import Store
    from recast.pipeline.schema import JobSpec
    from tests.test_job_support import make_plate

    job_v, set_v = _validator(_schema_cli("job")), _validator(_schema_cli("settings"))
    pattern = make_plate(tmp_path / "plates", range(1, 3))
    spec = JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(tmp_path / "out"), "processor": "passthrough",
                              "frames": "1-2", "settings": {"mask_blur": 6.0, "color": "lct"}})
    submit(Store(tmp_path / "db" / "recast.db"), spec)
    written = json.loads((tmp_path / "out" / "job.json").read_text())["spec"]
    assert job_v.is_valid(written), [e.message for e in job_v.iter_errors(written)]
    assert not job_v.is_valid({**written, "settings": {"mask_blur": 999}})  # the embedded settings schema applies
    assert not job_v.is_valid({**written, "bogus": 1}) and not job_v.is_valid({**written, "priority": 500})
    assert set_v.is_valid(spec.settings) and not set_v.is_valid({"color": "purple"})


def test_qc_scores_document_validates(engine_take: dict) -> None:
    import json

    from recast.qc.scoring import QCOptions, score_job

    out = engine_take["root"] / "out"
    doc = score_job(out, QCOptions(identity=False, metrics=("ssim_face", "nonfinite"), cache=False))
    scores_v = _validator(_schema_cli("scores"))
    on_disk = json.loads((out / "qc" / "scores.json").read_text())
    assert on_disk == json.loads(json.dumps(doc))
    assert scores_v.is_valid(on_disk), [e.message for e in scores_v.iter_errors(on_disk)]
    assert [f["frame"] for f in on_disk["frames"]] == [1001, 1002]


OLD_RECORD_KEYS = ("schema", "frame", "take", "status", "error", "job", "plate", "comp", "element", "actor", "backend",
                   "model_sha256", "consent_id", "settings", "faces", "stats", "timings", "created")  # schema 1, passthrough


def test_a_schema_1_job_folder_reindexes_scores_and_publishes(tmp_path: Path) -> None:
    import json

    from recast.pipeline.jobs.publish import publish, set_approval
    from recast.pipeline.jobs.reindex import reindex
    from recast.pipeline.jobs.runner import Runner, RunOptions, submit
    from recast.pipeline.jobs.store import Store
    from recast.pipeline.schema import JobSpec
    from recast.pipeline.schema.layout import JobLayout
    from recast.qc.scoring import QCOptions, score_job
    from tests.test_job_support import make_plate

    pattern = make_plate(tmp_path / "plates", range(1, 4))
    out = tmp_path / "out"
    store = Store(tmp_path / "old" / "recast.db")
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(out), "processor": "passthrough", "qc": False}))
    Runner(store, RunOptions(pipelined=False)).run(job)
    layout = JobLayout.discover(out)
    assert (layout.plate_name, layout.padding) == ("shot", 4)
    for f in (1, 2, 3):  # turn the folder into what an older Recast wrote: schema-1 records
        path = layout.record_path(1, f)
        rec = json.loads(path.read_text())
        assert rec["schema"] == 2
        path.write_text(json.dumps({k: rec[k] for k in OLD_RECORD_KEYS} | {"schema": 1}))
    fresh = Store(tmp_path / "fresh" / "recast.db")
    res = reindex(fresh, out)
    assert res["job"] == job and res["frames"]["done"] == 3
    doc = score_job(out, QCOptions(identity=False, metrics=("nonfinite",), cache=False), job_id=job, store=fresh)
    assert [f["record_status"] for f in doc["frames"]] == ["passthrough"] * 3
    set_approval(fresh, job, [1, 3], "kim")
    manifest = publish(fresh, job, "plate", "kim")
    vdir = Path(manifest["path"])
    assert sorted(p.name for p in (vdir / "comp").iterdir()) == ["shot.0001.exr", "shot.0002.exr", "shot.0003.exr"]
    assert (manifest["approved"], manifest["filled"]) == (2, 1)
    assert [(e["frame"], e["source"]) for e in manifest["frames"]] == [(1, "approved"), (2, "plate"), (3, "approved")]


def test_layout_is_one_place_and_padding_comes_from_the_plate(tmp_path: Path) -> None:
    from recast.pipeline import outputs
    from recast.pipeline.jobs import takes
    from recast.pipeline.schema.layout import JobLayout, OutputLayout
    from recast.qc import frame_scoring, scoring

    assert outputs.OutputLayout is OutputLayout and takes.JobLayout is JobLayout
    assert _classes_with_fields("root", "plate_name", "padding") == ["pipeline/schema/layout.py:OutputLayout"]
    assert _classes_with_fields("out", "plate_name", "padding") == ["pipeline/schema/layout.py:JobLayout"]
    lay = JobLayout(tmp_path, "sh", padding=6)
    assert lay.record_path(2, -7) == tmp_path / "takes" / "t002" / "records" / "-000007.json"
    assert lay.comp_path(1, 1001) == tmp_path / "comp" / "sh.001001.exr"
    assert lay.take(3).element_pattern == str(tmp_path / "takes" / "t003" / "element" / "sh_face.######.exr")
    assert scoring.scores_path(tmp_path, 2) == lay.scores_path(2) == tmp_path / "qc" / "scores_t002.json"
    assert frame_scoring.take_dir(tmp_path, 2) == lay.take_root(2)
    # QC finds a 6-digit padded record (no job.json: the padding is read off the files)
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "001001.json").write_text("{}")
    scorer = frame_scoring.FrameScorer(tmp_path, frame_scoring.QCOptions(identity=False, metrics=()))
    assert scorer.layout.padding == 6 and scorer.layout.record_path(1, 1001).is_file()


def test_engine_and_passthrough_records_start_from_the_same_blank(tmp_path: Path) -> None:
    from recast.pipeline import outputs
    from recast.pipeline.jobs import processors
    from recast.pipeline.schema import JobSpec
    from recast.pipeline.schema.layout import JobLayout
    from recast.pipeline.schema.record import FrameRecord, check_record

    spec = JobSpec.from_dict({"plate": "/p/a.####.exr", "actors": {"l": "ada", "r": "bo"}, "out": str(tmp_path)})
    fjob = processors.FrameJob("j1", spec, JobLayout(tmp_path, "a"), take=2)
    passthrough = processors.base_record(fjob, 7, tmp_path / "a.0007.exr")
    engine = outputs.base_record(7, 2, "j1", tmp_path / "a.0007.exr", tmp_path / "c.exr")
    keys = {f.alias or n for n, f in FrameRecord.model_fields.items()}
    assert set(passthrough) == set(engine) == keys
    assert passthrough["actors"] == ["ada", "bo"] and check_record(passthrough) is passthrough
    with pytest.raises(SpecError, match=r"^record.status: 'maybe' is not one of"):
        outputs.write_record(tmp_path / "r.json", dict(engine, status="maybe"))
    assert not (tmp_path / "r.json").exists()  # an invalid record is never written


def test_service_serves_the_schemas_and_upgraded_records(tmp_path: Path) -> None:
    import json

    from fastapi.testclient import TestClient

    from recast.pipeline.jobs.runner import Runner, RunOptions, submit
    from recast.pipeline.schema import JobSpec
    from recast.pipeline.schema.export import json_schema
    from recast.pipeline.service.app import ServiceConfig, create_app
    from tests.test_job_support import make_plate

    config = ServiceConfig(roots=[tmp_path], store_path=tmp_path / "db" / "recast.db", recover=False, token="t0k")
    app = create_app(config)
    pattern = make_plate(tmp_path / "plates", range(1, 3))
    job = submit(app.state.store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(tmp_path / "out"),
                                                     "processor": "passthrough", "qc": False}))
    Runner(app.state.store, RunOptions(pipelined=False)).run(job)
    path = tmp_path / "out" / "records" / "0001.json"
    rec = json.loads(path.read_text())
    path.write_text(json.dumps({k: rec[k] for k in OLD_RECORD_KEYS} | {"schema": 1}))  # as an older Recast wrote it
    with TestClient(app) as c:
        auth = {"Authorization": "Bearer t0k"}
        assert c.get("/schema/record").status_code == 401
        for name in ("settings", "job", "record", "scores"):
            assert c.get(f"/schema/{name}", headers=auth).json() == json.loads(json.dumps(json_schema(name)))
        assert c.get("/schema/nonsense", headers=auth).status_code == 422
        got = c.get(f"/jobs/{job}/frames/1/record", headers=auth).json()
        assert got["schema"] == 1 and got["actors"] == [] and got["coords"] == "image" and got["colorspace"] is None
        assert got["status"] == "passthrough" and got["comp"] == rec["comp"]


def test_recast_schema_without_json_lists_every_field() -> None:
    from recast.pipeline.schema import SwapSettings
    from tests.test_job_support import recast

    res = recast("schema", "settings", check=True)
    lines = res.stdout.splitlines()
    assert lines[0].startswith("RecastSwapSettings (schema 1")
    fields = [ln.split(":")[0].strip() for ln in lines[1:] if ln.startswith("  ") and not ln.startswith("      ")]
    assert fields == list(SwapSettings.model_fields)
    assert "  mask_blur: number 0.0..128.0 = 12.0" in lines
    bad = recast("schema", "nonsense")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
