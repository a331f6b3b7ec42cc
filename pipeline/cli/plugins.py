"""``recast plugins [--json] [--check]``: the installed plugins of every contract and where they come from."""

from __future__ import annotations

import argparse
from typing import Any

from recast.pipeline.cli.context import CliContext


def cmd_plugins(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.registry import GROUPS, PluginLoadError, installed, load

    found = installed()
    out: dict[str, Any] = {"groups": dict(GROUPS), "plugins": {}, "duplicates": []}
    lines: list[str] = []
    bad = 0
    for contract, providers in found.items():
        rows = []
        lines.append(f"{contract} ({GROUPS[contract]}):")
        names = [p.name for p in providers]
        for p in providers:
            row = p.to_json()
            if names.count(p.name) > 1:
                row["duplicate"] = True
                bad += 1
            if args.check:
                try:
                    load(p)
                    row["loads"], row["error"] = True, None
                except PluginLoadError as exc:
                    row["loads"], row["error"] = False, str(exc)
                    bad += 1
            rows.append(row)
            flag = "  DUPLICATE" if row.get("duplicate") else ""
            err = f"  CANNOT LOAD: {row['error']}" if args.check and not row["loads"] else ""
            ver = f" {p.version}" if p.version else ""
            lines.append(f"  {p.name:<14} {p.value}  [{p.dist}{ver}: {p.origin}]{flag}{err}")
        out["plugins"][contract] = rows
        dups = sorted({n for n in names if names.count(n) > 1})
        out["duplicates"] += [f"{contract}:{n}" for n in dups]
    ctx.emit(out, "\n".join(lines))
    return 1 if bad else 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("plugins", parents=[common], help="list installed plugins (analysers, swappers, enhancers, metrics, farm exporters)")
    p.add_argument("--check", action="store_true", help="also import each plugin and report any that cannot load")
    p.set_defaults(func=cmd_plugins)
