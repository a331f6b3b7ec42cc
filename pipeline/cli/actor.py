"""``recast actor``: build, list, show and verify actor models; attach consent."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import ConsentError, IntegrityError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("actor", help="actor models: build, train, list, show, verify", parents=[common])
    asub = p.add_subparsers(dest="actor_command", metavar="ACTION", required=True)

    b = asub.add_parser("build", help="build an actor model from images + a consent record", parents=[common])
    b.add_argument("name")
    b.add_argument("--images", nargs="+", type=Path, required=True, metavar="FILE|DIR", help="actor images or a folder of them")
    b.add_argument("--consent", type=Path, metavar="FILE", help="signed consent record (required; JSON may hold who/scope/when)")
    b.add_argument("--consent-who", metavar="WHO", help="who consented (else read from a JSON consent file)")
    b.add_argument("--consent-scope", metavar="TEXT", help="what the consent covers (else from the JSON file)")
    b.add_argument("--consent-when", metavar="DATE", help="when consent was given (else from the JSON file, else now)")
    b.add_argument("--backend", default="warp", help="swapper backend: warp (default), inswapper, dfm")
    b.add_argument("--model", type=Path, metavar="FILE", help="model file (inswapper .onnx, DeepFaceLab .dfm)")
    b.add_argument("--licence", metavar="TEXT", help="licence of --model (recorded in the manifest)")
    b.add_argument("--arcface", type=Path, metavar="FILE", help="inswapper: ArcFace ONNX for the source embedding")
    b.add_argument("--models", type=Path, metavar="DIR", help="inswapper: insightface model pack holding an ArcFace ONNX")
    b.add_argument("--analyser", metavar="NAME", help="inswapper/dfm: face analyser for the actor images (dlib default, insightface uses --models)")
    b.add_argument("--face-type", metavar="TYPE", help="dfm: DeepFaceLab face type the model was trained on (wf, f, mf, h, head)")
    b.add_argument("--morph", type=float, metavar="0..1", help="dfm AMP models: default morph value")
    b.add_argument("--link-models", action="store_true", help="hard-link --model into the actor instead of copying it (same filesystem only)")
    b.add_argument("--force", action="store_true", help="replace an existing actor of that name")
    b.set_defaults(func=_build)

    ls = asub.add_parser("list", help="list actor models", parents=[common])
    ls.set_defaults(func=_list)

    sh = asub.add_parser("show", help="show an actor's manifest summary", parents=[common])
    sh.add_argument("name")
    sh.set_defaults(func=_show)

    v = asub.add_parser("verify", help="check consent record and every file hash", parents=[common])
    v.add_argument("name")
    v.set_defaults(func=_verify)

    c = asub.add_parser("consent", help="attach or replace the consent record of an actor", parents=[common])
    c.add_argument("name")
    c.add_argument("--consent", type=Path, required=True, metavar="FILE")
    c.add_argument("--consent-who", metavar="WHO")
    c.add_argument("--consent-scope", metavar="TEXT")
    c.add_argument("--consent-when", metavar="DATE")
    c.set_defaults(func=_consent)

    from recast.pipeline.cli import actor_train

    actor_train.register(asub, common)

    e = asub.add_parser("enhancer", help="install a face-restoration ONNX (gfpgan/codeformer class)", parents=[common])
    e.add_argument("kind", help="enhancer name to install it as (gfpgan, codeformer)")
    e.add_argument("--model", type=Path, required=True, metavar="FILE", help="ONNX taking/returning [1,3,512,512] RGB in [-1,1]")
    e.add_argument("--licence", required=True, metavar="TEXT", help="licence of the model (recorded with its sha256)")
    e.add_argument("--force", action="store_true", help="replace an installed enhancer of that name")
    e.set_defaults(func=_enhancer)


def _build(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.models.actor import build_actor
    from recast.models.consent import HOW_TO_ADD

    if args.consent is None:
        raise ConsentError(f"actor {args.name!r}: no consent record given; {HOW_TO_ADD}")
    options: dict[str, Any] = {
        "force": args.force,
        "consent_who": args.consent_who,
        "consent_scope": args.consent_scope,
        "consent_when": args.consent_when,
        "link_models": args.link_models,
    }
    for key in ("licence", "arcface", "models", "analyser", "face_type", "morph"):
        value = getattr(args, key)
        if value is not None:
            options["models_dir" if key == "models" else key] = value
    ctx.info(f"building actor {args.name!r} with the {args.backend} backend ...")
    actor = build_actor(args.name, args.images, args.consent, backend=args.backend, model_file=args.model, options=options)
    summary = _summary(actor)
    ctx.emit(summary, f"built actor {actor.name!r} ({actor.backend}) at {actor.root}; consent {actor.consent_id}")
    return 0


def _list(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.models.actor import models_root, scan_actors

    rows: list[dict[str, Any]] = []
    for item in scan_actors():
        if item.actor is not None:
            rows.append({**_summary(item.actor), "error": None})
        else:
            rows.append({"name": item.name, "root": str(item.root), "error": item.error})
    lines = [f"{r['name']:<24} {r.get('backend', '-'):<10} {r.get('consent_id') or 'NO CONSENT':<26} {r['error'] or r.get('created', '')}" for r in rows]
    ctx.emit({"root": str(models_root()), "actors": rows}, "\n".join(lines) if lines else f"no actors under {models_root()}")
    return 0


def _show(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.models.actor import load_actor

    actor = load_actor(args.name, verify=False)
    summary = _summary(actor)
    lines = [f"{k}: {v}" for k, v in summary.items() if k != "licences"]
    lines += ["licences:"] + [f"  - {lic}" for lic in summary["licences"]]
    text = "\n".join(lines)
    ctx.emit({**summary, "manifest": actor.manifest}, text)
    return 0


def _verify(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.models.actor import verify_actor

    problems = verify_actor(args.name)
    ctx.emit({"name": args.name, "ok": not problems, "problems": problems}, "\n".join(problems) if problems else f"actor {args.name!r}: consent record and all hashes OK")
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise IntegrityError(f"actor {args.name!r} failed verification: {problems[0]}{more}")
    return 0


def _consent(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.models.actor import attach_consent

    actor = attach_consent(args.name, args.consent, args.consent_who, args.consent_scope, args.consent_when)
    ctx.emit(_summary(actor), f"actor {actor.name!r}: consent {actor.consent_id} attached")
    return 0


def _enhancer(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.models.swappers.enhancer import install_enhancer

    info = install_enhancer(args.kind, args.model, args.licence, force=args.force)
    ctx.emit(info, f"enhancer {args.kind!r} installed at {info['root']} (sha256 {info['sha256'][:12]}...)")
    return 0


def _summary(actor: Any) -> dict[str, Any]:
    m = actor.manifest
    consent = m.get("consent") or {}
    return {
        "name": actor.name,
        "backend": m.get("backend"),
        "root": str(actor.root),
        "created": m.get("created"),
        "consent_id": consent.get("id"),
        "consent_who": consent.get("who"),
        "consent_scope": consent.get("scope"),
        "sources": len(m.get("source_files", [])),
        "model_sha256": actor.model_sha256,
        "licences": [f"{x.get('model')}: {x.get('licence')}" for x in m.get("licences", [])],
    }
