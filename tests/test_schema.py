"""One schema: settings, job spec, layout, record and scores are each defined once
(recast.pipeline.schema), and the CLI, the service and QC use that definition."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from recast.pipeline.errors import SpecError

REPO = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("pipeline", "qc", "models", "review_ui", "plugin")


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
