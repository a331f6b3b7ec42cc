"""Nuke adapter: the only module of the bridge that calls ``nuke``.

The ``Recast`` gizmo's buttons call :func:`submit`, :func:`preview`, :func:`refresh`,
:func:`open_review` and :func:`load_approved` with the gizmo node. Each builds a
:class:`NukeContext` (the ``nuke`` module, the node, a service client) for that one
call; nothing is kept in module globals. Button functions never raise: the
outcome goes on the node's ``status`` line (and the ``do_*`` functions, which
raise :class:`~recast_bridge.errors.BridgeError`, are there for scripts and tests).

Submit renders with ``nuke.execute`` under a ``nuke.ProgressTask`` on the main
thread (as Nuke wants), then polls the job on a background thread; every change
to a node from that thread goes through ``nuke.executeInMainThread``.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from .client import BridgeConfig, Client, ensure_service
from .errors import BridgeError, HostError
from .flow import (
    ACTOR_BACKEND,
    BLEND_METHODS,
    COLOUR_METHODS,
    SELECTION_MODES,
    ExportPlan,
    PlateSource,
    Poller,
    SwapKnobs,
    build_spec,
    frame_path,
    job_folders,
    plan_export,
    status_line,
    version_label,
)
from .flow import open_review as open_report

# Knobs of Recast.gizmo this module reads or writes (tests check the gizmo defines each).
KNOBS = (
    "actor", "selection", "reference_frame", "face_index", "backend", "mask_erode", "mask_blur", "color",
    "blend", "work_dir", "server", "shot", "status", "job_id",
)  # fmt: skip
BUTTONS = ("submit", "preview", "refresh", "open_review", "load_approved")
PASS_THROUGH = ("Dot", "NoOp", "Input")  # node classes that never change pixels
EXR_WRITE = {"file_type": "exr", "datatype": "16 bit half", "compression": "Zip (1 scanline)", "channels": "all"}
MATTE_WRITE = {**EXR_WRITE, "channels": "rgba"}


def _nuke() -> Any:
    import nuke  # noqa: PLC0415 - only inside Nuke (or a test's fake)

    return nuke


@dataclass
class NukeContext:
    nuke: Any
    node: Any
    config: BridgeConfig

    @classmethod
    def for_node(cls, node: Any = None) -> "NukeContext":
        nuke = _nuke()
        node = node if node is not None else nuke.thisNode()
        server = _value(node, "server") or None
        return cls(nuke, node, BridgeConfig.from_env(server=server))

    # -- knobs -------------------------------------------------------------------
    def knob(self, name: str) -> Any:
        knobs = self.node.knobs()
        if name not in knobs:
            raise HostError(f"{self.node.name()}: knob {name!r} is missing (is this a Recast node?)")
        return knobs[name]

    def set_status(self, text: str) -> None:
        self.knob("status").setValue(text)

    def client(self) -> Client:
        ensure_service(self.config)  # starts `recast serve` when RECAST_SERVE says how and it is down
        return Client(self.config)

    def swap_knobs(self) -> SwapKnobs:
        backend = str(self.knob("backend").value())
        return SwapKnobs(
            actor=str(self.knob("actor").value()),
            selection=str(self.knob("selection").value()),
            reference_frame=int(self.knob("reference_frame").value()),
            face_index=int(self.knob("face_index").value()),
            backend=None if backend == ACTOR_BACKEND else backend,
            mask_erode=float(self.knob("mask_erode").value()),
            mask_blur=float(self.knob("mask_blur").value()),
            color=str(self.knob("color").value()),
            blend=str(self.knob("blend").value()),
            auto_holdout=_checked(self.node.knobs().get("auto_holdout")),
        )

    def work_dir(self) -> str:
        value = str(self.knob("work_dir").value() or "")
        if value:
            return value
        script = str(self.nuke.root().name() or "")
        if script and script != "Root":
            return os.path.join(os.path.dirname(os.path.abspath(script)), "recast")
        raise HostError("set work dir on the Recast node (a folder inside the service's --root)")

    def shot(self) -> str:
        value = str(self.knob("shot").value() or "")
        if value:
            return value
        script = str(self.nuke.root().name() or "")
        return os.path.splitext(os.path.basename(script))[0] if script and script != "Root" else self.node.name()

    # -- the graph ---------------------------------------------------------------
    def plate_source(self) -> PlateSource:
        """Walk up input 0 to the Read; nodes on the way that are not Dot/NoOp/disabled change pixels."""
        src = self.node.input(0)
        if src is None:
            raise HostError(f"{self.node.name()}: connect a plate to the 'plate' input")
        first, last = int(src.firstFrame()), int(src.lastFrame())
        changed: List[str] = []
        while src is not None and src.Class() != "Read":
            disabled = "disable" in src.knobs() and bool(src["disable"].value())
            if src.Class() not in PASS_THROUGH and not disabled:
                changed.append(src.name())
            src = src.input(0)
        if src is None:  # no Read up there (a generator, a roto...): rendered
            return PlateSource(first, last, None, [])
        space = str(src["colorspace"].value()) if "colorspace" in src.knobs() else ""
        raw = "raw" in src.knobs() and bool(src["raw"].value())
        colorspace = None if raw or not space or space.startswith("default") else space
        return PlateSource(first, last, str(src["file"].value()), changed, colorspace)

    def render(self, input_index: int, pattern: str, frames: List[int], knobs: Dict[str, str], title: str) -> str:
        """Render ``frames`` of input ``input_index`` to ``pattern`` with a temporary Write."""
        nuke = self.nuke
        src = self.node.input(input_index)
        os.makedirs(os.path.dirname(pattern), exist_ok=True)
        with self.parent():  # next to the node (a button runs inside the gizmo's group)
            write = nuke.nodes.Write()
        task = nuke.ProgressTask(title)
        try:
            write.setInput(0, src)
            write["file"].setValue(pattern)
            for key, value in knobs.items():
                write[key].setValue(value)
            for i, f in enumerate(frames):
                if task.isCancelled():
                    raise HostError(f"{title}: cancelled at frame {f}")
                task.setMessage(f"frame {f}")
                task.setProgress(int(100 * i / max(1, len(frames))))
                nuke.execute(write, f, f)
            task.setProgress(100)
        except RuntimeError as exc:
            raise HostError(f"{title}: {' '.join(str(exc).split())}") from None
        finally:
            del task
            with self.parent():
                nuke.delete(write)
        missing = [f for f in frames if not os.path.isfile(frame_path(pattern, f))]
        if missing:
            raise HostError(f"{title}: frame {missing[0]} was not written to {pattern}")
        return pattern

    def ensure_read(self, name: str, pattern: str, first: int, last: int, colorspace: Optional[str], label: str) -> Any:
        """Create (or update) the Read ``name`` on ``pattern`` with range, colourspace and label."""
        nuke = self.nuke
        with self.parent():  # next to the node (a button runs inside the gizmo's group)
            read = nuke.toNode(name)
            if read is None or read.Class() != "Read":
                read = nuke.nodes.Read()
                read.setName(name)
                read.setXYpos(int(self.node.xpos()) + 150, int(self.node.ypos()))
        read["file"].setValue(pattern)
        for key, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
            read[key].setValue(int(value))
        if colorspace:
            try:
                read["colorspace"].setValue(colorspace)
            except (ValueError, RuntimeError):
                label += f"\n(colourspace {colorspace} not in this OCIO config)"
        read["label"].setValue(label)
        if "reload" in read.knobs():
            read["reload"].execute()
        return read

    def parent(self) -> Any:
        """The group holding the node (Root at the top level), usable as ``with ctx.parent():``."""
        full = str(self.node.fullName())
        if "." in full:
            with self.nuke.root():
                group = self.nuke.toNode(full.rsplit(".", 1)[0])
            if group is not None:
                return group
        return self.nuke.root()

    def dispatch(self, fn: Callable[..., None], *args: Any) -> None:
        self.nuke.executeInMainThread(fn, args=args)


def _value(node: Any, name: str) -> Any:
    knobs = node.knobs()
    return knobs[name].value() if name in knobs else None


# -- the buttons ----------------------------------------------------------------------


def _guarded(action: Callable[[NukeContext], Any], node: Any) -> Any:
    ctx = NukeContext.for_node(node)
    try:
        return action(ctx)
    except BridgeError as exc:
        ctx.set_status(f"error: {exc}")
        return None


def submit(node: Any = None) -> Optional[str]:
    """Submit button: export the plate (or use the Read's files), submit, poll in the background."""
    return _guarded(lambda ctx: do_submit(ctx).job_id, node)


def preview(node: Any = None) -> Optional[Any]:
    """Preview frame button: swap only the current frame through the service into a Read."""
    return _guarded(do_preview, node)


def refresh(node: Any = None) -> Optional[Dict[str, Any]]:
    """Refresh button: actors and vocabularies from the service, and the job's status."""
    return _guarded(do_refresh, node)


def open_review(node: Any = None) -> Optional[str]:
    return _guarded(do_open_review, node)


def load_approved(node: Any = None) -> Optional[Any]:
    """Load approved button: a Read on the latest published version."""
    return _guarded(do_load_approved, node)


# -- what the buttons do --------------------------------------------------------------


@dataclass
class Submitted:
    job_id: str
    plan: ExportPlan
    spec: Dict[str, Any]
    poller: Optional[Poller]


def do_submit(ctx: NukeContext, poll: bool = True, interval: float = 1.0) -> Submitted:
    client = ctx.client()
    info = client.info()
    knobs = ctx.swap_knobs()
    shot = ctx.shot()
    folders = job_folders(ctx.work_dir(), shot)
    plan = plan_export(ctx.plate_source(), folders.plate)
    frames = list(range(plan.first, plan.last + 1))
    ctx.set_status(f"plate: {plan.reason}")
    if not plan.direct:
        ctx.render(0, plan.pattern, frames, EXR_WRITE, f"Recast: plate for {shot}")
    holdout = None
    if ctx.node.inputs() > 1 and ctx.node.input(1) is not None:
        holdout = ctx.render(1, folders.holdout, frames, MATTE_WRITE, f"Recast: holdout for {shot}")
    result = build_spec(plan, knobs, folders.out, shot, info, holdout, owner=getpass.getuser())
    job_id = client.submit(result.spec)
    ctx.knob("job_id").setValue(job_id)
    ctx.set_status("; ".join([f"job {job_id}: submitted ({plan.reason})"] + result.notes))
    poller = None
    if poll:
        poller = Poller(
            client, job_id,
            on_update=lambda job: _show_job(ctx.nuke, ctx.node.fullName(), job, result.notes),
            on_error=lambda text: _show_text(ctx.nuke, ctx.node.fullName(), f"error: {text}"),
            dispatch=ctx.dispatch, interval=interval,
        ).start()  # fmt: skip
    return Submitted(job_id, plan, result.spec, poller)


def _show_job(nuke: Any, node_name: str, job: Dict[str, Any], notes: List[str]) -> None:
    """Runs on Nuke's main thread (dispatched by the poller)."""
    _show_text(nuke, node_name, "; ".join([status_line(job)] + notes))


def _show_text(nuke: Any, node_name: str, text: str) -> None:
    node = nuke.toNode(node_name)
    if node is not None and "status" in node.knobs():  # the node may have been deleted meanwhile
        node["status"].setValue(text)


def do_preview(ctx: NukeContext) -> Any:
    client = ctx.client()
    frame = int(ctx.nuke.frame())
    knobs = ctx.swap_knobs()
    name = ctx.node.name()
    folders = job_folders(ctx.work_dir(), ctx.shot(), stamp="preview")
    source = ctx.plate_source()
    source.first = source.last = frame
    plan = plan_export(source, os.path.join(folders.preview, name, "plate", f"{name}.####.exr"))
    if not plan.direct:
        frames = [frame]
        if knobs.selection == "reference" and knobs.reference_frame is not None and knobs.reference_frame != frame:
            frames.append(int(knobs.reference_frame))
        ctx.render(0, plan.pattern, sorted(frames), EXR_WRITE, "Recast: preview frame")
    settings = knobs.settings()
    if plan.colorspace:
        settings["colorspace"] = plan.colorspace
    ctx.set_status(f"preview: swapping frame {frame}...")
    res = client.preview(plan.pattern, frame, knobs.actor, os.path.join(folders.preview, name), settings)
    if res.get("status") == "failed" or not res.get("path"):
        raise BridgeError(f"preview frame {frame}: {res.get('error') or 'no output'}")
    read = ctx.ensure_read(f"{name}_preview", str(res["path"]), frame, frame, plan.colorspace,
                           f"preview {knobs.actor}\nframe {frame}")
    ctx.set_status(f"preview frame {frame}: {res.get('swapped', 0)}/{res.get('faces', 0)} faces swapped in {res.get('seconds')}s")
    return read


def do_refresh(ctx: NukeContext) -> Dict[str, Any]:
    client = ctx.client()
    info = client.info()
    actors = sorted(a["name"] for a in client.actors())
    _fill(ctx.knob("actor"), actors or ["(no actors: recast actor build)"])
    _fill(ctx.knob("backend"), [ACTOR_BACKEND] + list(info.get("backends", [])))
    _fill(ctx.knob("selection"), list(info.get("selection_modes", SELECTION_MODES)))
    _fill(ctx.knob("color"), list(info.get("colour_methods", COLOUR_METHODS)))
    _fill(ctx.knob("blend"), list(info.get("blend_methods", BLEND_METHODS)))
    job_id = str(ctx.knob("job_id").value() or "")
    text = f"{len(actors)} actor(s) from {client.server}"
    if job_id:
        text = status_line(client.job(job_id))
    if not info.get("holdout"):
        text += "; holdout input not used by this service yet"
    ctx.set_status(text)
    return info


def _fill(knob: Any, values: List[str]) -> None:
    current = str(knob.value())
    knob.setValues(values)
    knob.setValue(current if current in values else values[0])


def do_open_review(ctx: NukeContext) -> str:
    job_id = str(ctx.knob("job_id").value() or "")
    if not job_id:
        raise BridgeError("no job on this node yet: Submit first")
    client = ctx.client()
    opened = open_report(client.job(job_id), ctx.config.serve_command, client.server)
    ctx.set_status(f"job {job_id}: opened {opened}")
    return opened


def do_load_approved(ctx: NukeContext) -> Any:
    job_id = str(ctx.knob("job_id").value() or "")
    if not job_id:
        raise BridgeError("no job on this node yet: Submit first")
    version = ctx.client().version(job_id, "latest")
    read = ctx.ensure_read(
        f"{ctx.node.name()}_approved", str(version["pattern"]), int(version["first"]), int(version["last"]),
        version.get("colorspace"), version_label(version),
    )  # fmt: skip
    ctx.set_status(f"job {job_id}: loaded {version['version']} ({version['first']}-{version['last']})")
    return read


def create_node() -> Any:
    """Menu entry: a Recast node on the selected node, its pulldowns filled when the service is up."""
    nuke = _nuke()
    node = nuke.createNode("Recast")
    try:
        do_refresh(NukeContext.for_node(node))
    except BridgeError as exc:
        node["status"].setValue(f"service not reached ({exc}); press Refresh when it runs")
    return node


def _checked(knob: Any) -> bool:
    """A checkbox knob's state (False when the node predates the knob)."""
    if knob is None:
        return False
    value = knob.value()
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
