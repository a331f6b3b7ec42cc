"""``recast schema settings|job|record|scores [--json]``: the JSON Schemas outside tools validate against."""

from __future__ import annotations

import argparse
import json
from typing import Any

from recast.pipeline.cli.context import CliContext


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from recast.pipeline.schema.export import MODELS

    p = sub.add_parser(
        "schema",
        help="print the schema of settings, job specs, frame records or QC scores",
        parents=[common],
        description="Print the typed schema Recast reads and writes. With --json: the JSON Schema "
        "(draft 2020-12) that outside tools (the bridge, studio scripts) validate documents against; "
        "without: one line per field.",
    )
    p.add_argument("name", choices=tuple(MODELS), help="which schema")
    p.set_defaults(func=run_schema)


def run_schema(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.schema.export import describe, json_schema

    doc = json_schema(args.name)
    if ctx.json:
        print(json.dumps(doc, indent=2))
        return 0
    lines = [f"{doc.get('title', args.name)} (schema {doc.get('x-recast-schema')}; {doc['$id']})"]
    for row in describe(args.name):
        default = f" = {json.dumps(row['default'])}" if row["has_default"] else ""
        lines.append(f"  {row['field']}: {row['type']}{' (required)' if row['required'] else default}")
        if row["description"]:
            lines.append(f"      {row['description']}")
    print("\n".join(lines))
    return 0
