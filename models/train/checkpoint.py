"""Training checkpoints in safetensors: weights, optimizer, iteration, RNG and loss curve.

One file per checkpoint, ``checkpoints/iter_NNNNNNNN.safetensors`` (written atomically),
next to its preview ``iter_NNNNNNNN.png``. Tensors: ``model.*`` (the state dict),
``optim.state.<i>.<key>`` (AdamW moments and step), ``rng.torch`` / ``rng.cuda``
(generator states) and ``history`` (float32 [iterations, 2]: src and dst loss of every
iteration so far). Metadata (strings): ``format``, ``iteration``, ``config`` (the run's
settings, JSON), ``optim.groups`` / ``optim.scalars`` (JSON), ``rng.numpy`` (the sample
Generator's state, JSON), ``scaler`` (mixed-precision scaler state, JSON).
Loading restores all of it, so a resumed run continues exactly where the file left off.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

from recast.pipeline.atomic import atomic_write_bytes
from recast.pipeline.errors import TrainError

FORMAT = "recast-train-1"
_NAME = re.compile(r"^iter_(\d{8})\.safetensors$")


@dataclass
class TrainState:
    iteration: int
    history: np.ndarray  # float32 (iteration, 2): src, dst loss per iteration
    numpy_rng: dict[str, Any]


def checkpoint_name(iteration: int) -> str:
    return f"iter_{iteration:08d}.safetensors"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def save_checkpoint(path: Path, model: torch.nn.Module, optim: torch.optim.Optimizer, scaler: Any, state: TrainState, config: dict[str, Any]) -> None:
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    osd = optim.state_dict()
    scalars: dict[str, Any] = {}
    for idx, entry in osd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim.state.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    tensors["history"] = torch.from_numpy(np.ascontiguousarray(state.history, np.float32).reshape(-1, 2))
    meta = {
        "format": FORMAT,
        "iteration": str(state.iteration),
        "config": json.dumps(config, sort_keys=True),
        "optim.groups": json.dumps(osd["param_groups"]),
        "optim.scalars": json.dumps(scalars),
        "rng.numpy": json.dumps(state.numpy_rng),
        "scaler": json.dumps(scaler.state_dict() if scaler is not None else None),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(tensors, metadata=meta))


def read_meta(path: Path) -> dict[str, Any]:
    """The checkpoint's ``iteration`` and ``config`` without loading its tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise TrainError(f"{path}: not a readable training checkpoint ({type(exc).__name__})") from None
    if meta.get("format") != FORMAT:
        raise TrainError(f"{path}: not a recast training checkpoint (format {meta.get('format')!r}, expected {FORMAT})")
    return {"iteration": int(meta["iteration"]), "config": json.loads(meta["config"]), "meta": meta}


def load_checkpoint(path: Path, model: torch.nn.Module, optim: torch.optim.Optimizer, scaler: Any, device: torch.device) -> TrainState:
    info = read_meta(path)
    meta = info["meta"]
    tensors = load_file(str(path), device="cpu")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim.state."):
            idx, name = key[len("optim.state.") :].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    for key, value in json.loads(meta["optim.scalars"]).items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optim.load_state_dict({"state": state, "param_groups": json.loads(meta["optim.groups"])})
    for group_state in optim.state.values():  # moments onto the training device (step stays on CPU)
        for name, value in group_state.items():
            if torch.is_tensor(value) and name != "step":
                group_state[name] = value.to(device)
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    scaler_state = json.loads(meta["scaler"])
    if scaler is not None and scaler_state:
        scaler.load_state_dict(scaler_state)
    history = tensors["history"].numpy().astype(np.float32).reshape(-1, 2)
    return TrainState(info["iteration"], history, json.loads(meta["rng.numpy"]))


def prune(folder: Path, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints (each with its preview); older ones go."""
    found = list_checkpoints(folder)
    for _, path in found[: max(0, len(found) - keep)]:
        path.unlink(missing_ok=True)
        path.with_suffix(".png").unlink(missing_ok=True)
