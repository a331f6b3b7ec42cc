"""A fake ``nuke`` module for the bridge tests: nodes, knobs, a node graph, ``execute``
rendering real EXRs with OpenImageIO, ``ProgressTask`` and ``executeInMainThread``.

Only what the bridge uses is modelled, with Nuke's rules where they matter:
knobs may only change on the main thread (a poller must go through
``executeInMainThread``, whose calls run when the test pumps the main loop), a
Write renders only exr/16 bit half/Zip settings it knows, and ``Recast`` nodes get
exactly the knobs that ``nuke_gizmo/Recast.gizmo`` defines (parsed from the file).
"""

from __future__ import annotations

import queue
import re
import threading
import types
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio

REPO = Path(__file__).resolve().parents[1]
GIZMO = REPO / "nuke_gizmo" / "Recast.gizmo"


# -- the gizmo file (a small TCL reader) ----------------------------------------------

_TOKEN = re.compile(r'\s*(?:(\{)|(\})|"((?:[^"\\]|\\.)*)"|([^\s{}"]+))', re.S)


def tokens(text: str) -> list[tuple[str, str]]:
    """('{'|'}'|'str'|'word', value) tokens; comment lines (#...) skipped."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(body):
        m = _TOKEN.match(body, pos)
        if not m or m.end() == pos:
            if body[pos:].strip():
                raise ValueError(f"gizmo: cannot read at offset {pos}: {body[pos:pos + 30]!r}")
            break
        pos = m.end()
        if m.group(1):
            out.append(("{", "{"))
        elif m.group(2):
            out.append(("}", "}"))
        elif m.group(3) is not None:
            out.append(("str", re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), m.group(3))))
        elif m.group(4):
            out.append(("word", m.group(4)))
    return out


def _group(toks: list[tuple[str, str]], i: int) -> tuple[list[Any], int]:
    """Tokens from toks[i] == '{' to its matching '}', nested as lists."""
    assert toks[i][0] == "{"
    items: list[Any] = []
    i += 1
    while i < len(toks):
        kind, value = toks[i]
        if kind == "{":
            sub, i = _group(toks, i)
            items.append(sub)
            continue
        if kind == "}":
            return items, i + 1
        items.append(value)
        i += 1
    raise ValueError("gizmo: unbalanced braces")


def parse_gizmo(text: str) -> dict[str, Any]:
    """{'knobs': {name: {'type', 'label', 'script', 'values', 'default'}}, 'nodes': [(class, {knob: value})]}."""
    toks = tokens(text)
    depth = 0
    for kind, _ in toks:
        depth += kind == "{"
        depth -= kind == "}"
        if depth < 0:
            raise ValueError("gizmo: '}' before its '{'")
    if depth:
        raise ValueError(f"gizmo: {depth} unclosed brace(s)")
    nodes: list[tuple[str, list[Any]]] = []
    i = 0
    while i < len(toks):
        kind, value = toks[i]
        if kind == "word" and i + 1 < len(toks) and toks[i + 1][0] == "{":
            body, i = _group(toks, i + 1)
            nodes.append((value, body))
        else:
            i += 1
    gizmo = next(body for cls, body in nodes if cls == "Gizmo")
    knobs: dict[str, dict[str, Any]] = {}
    plain: dict[str, Any] = {}
    j = 0
    while j < len(gizmo):
        item = gizmo[j]
        if item == "addUserKnob":
            spec = gizmo[j + 1]
            ktype, name, rest = int(spec[0]), spec[1], spec[2:]
            k: dict[str, Any] = {"type": ktype, "label": None, "script": None, "values": None, "default": None}
            r = 0
            while r < len(rest):
                opt = rest[r]
                if opt in ("l", "t", "T", "M", "R"):
                    val = rest[r + 1] if opt != "R" else rest[r + 1 : r + 3]
                    key = {"l": "label", "t": "tooltip", "T": "script", "M": "values", "R": "range"}[opt]
                    k[key] = val
                    r += 2 if opt != "R" else 3
                else:
                    r += 1
            if name:
                knobs[name] = k
            j += 2
        elif isinstance(item, str) and j + 1 < len(gizmo) and not isinstance(gizmo[j + 1], list) and gizmo[j + 1] != "addUserKnob":
            plain[item] = gizmo[j + 1]
            j += 2
        else:
            j += 1
    for name, value in plain.items():
        if name in knobs:
            knobs[name]["default"] = value
    return {"knobs": knobs, "plain": plain, "nodes": [(cls, body) for cls, body in nodes if cls != "Gizmo"]}


# -- knobs and nodes ------------------------------------------------------------------


class Knob:
    def __init__(self, fake: FakeNuke, name: str, value: Any = "", values: list[str] | None = None, script: str | None = None) -> None:
        self._fake, self._name, self._value, self._values, self.script = fake, name, value, values, script
        self.executed = 0
        self.owner: Node | None = None

    def name(self) -> str:
        return self._name

    def value(self) -> Any:
        return self._value

    getValue = value

    def setValue(self, value: Any) -> bool:
        self._fake.assert_main_thread(f"knob {self._name}.setValue")
        if self._values is not None and value not in self._values:
            raise ValueError(f"{value!r} is not a value of {self._name}")
        self._value = value
        return True

    def values(self) -> list[str]:
        return list(self._values or [])

    def setValues(self, values: list[str]) -> None:
        self._fake.assert_main_thread(f"knob {self._name}.setValues")
        self._values = list(values)

    def execute(self) -> None:
        self.executed += 1
        if self.script:
            # as in Nuke, a gizmo's button runs with the gizmo's group as the current context
            self._fake.context.append(self.owner)
            try:
                exec(self.script, {"nuke": self._fake.module})  # noqa: S102 - the gizmo's own button script
            finally:
                self._fake.context.pop()


_COMMON = {"disable": False, "label": ""}
_CLASS_KNOBS: dict[str, dict[str, Any]] = {
    "Read": {"file": "", "first": 1, "last": 1, "origfirst": 1, "origlast": 1, "colorspace": "default", "raw": False, "reload": None},
    "Write": {"file": "", "file_type": "", "datatype": "8 bit", "compression": "none", "channels": "rgb"},
    "Grade": {"white": 1.0},
    "Dot": {},
    "NoOp": {},
    "Root": {"name": "", "first_frame": 1, "last_frame": 1},
}


class Node:
    def __init__(self, fake: FakeNuke, cls: str, name: str) -> None:
        self._fake, self._cls, self._name = fake, cls, name
        self._inputs: list[Node | None] = []
        self._knobs: dict[str, Knob] = {}
        self._xy = (0, 0)
        self.parent_name = fake.context[-1].name() if getattr(fake, "context", None) else ""
        if cls == "Recast":
            for kname, k in parse_gizmo(GIZMO.read_text())["knobs"].items():
                default = k["default"]
                if k["type"] in (3,):
                    default = int(default or 0)
                elif k["type"] == 7:
                    default = float(default or 0.0)
                elif k["type"] == 4:
                    default = k["values"][0]
                elif k["type"] == 26:
                    default = k.get("script") or ""
                self._knobs[kname] = Knob(fake, kname, default if default is not None else "",
                                          list(k["values"]) if k["type"] == 4 else None,
                                          k["script"] if k["type"] == 22 else None)
            self._max_inputs = 2
        else:
            for kname, default in {**_COMMON, **_CLASS_KNOBS.get(cls, {})}.items():
                self._knobs[kname] = Knob(fake, kname, default)
            self._max_inputs = 0 if cls in ("Read", "Root") else 1
        for knob in self._knobs.values():
            knob.owner = self

    def Class(self) -> str:  # noqa: N802 - Nuke's name
        return self._cls

    def name(self) -> str:
        return self._name

    fullName = name  # noqa: N815

    def setName(self, name: str) -> None:  # noqa: N802
        self._fake.assert_main_thread("setName")
        del self._fake.nodes_by_name[self._name]
        self._name = name
        self._fake.nodes_by_name[name] = self

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def __getitem__(self, name: str) -> Knob:
        return self._knobs[name]

    def input(self, i: int) -> Node | None:
        return self._inputs[i] if i < len(self._inputs) else None

    def inputs(self) -> int:
        connected = [i for i, n in enumerate(self._inputs) if n is not None]
        return connected[-1] + 1 if connected else 0

    def setInput(self, i: int, node: Node | None) -> bool:  # noqa: N802
        self._fake.assert_main_thread("setInput")
        while len(self._inputs) <= i:
            self._inputs.append(None)
        if node is not None and node.parent_name != self.parent_name:
            raise ValueError(f"cannot connect {node.name()} ({node.parent_name}) to {self._name} ({self.parent_name}): different groups")
        self._inputs[i] = node
        return True

    def __enter__(self) -> Node:
        self._fake.context.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fake.context.pop()

    def firstFrame(self) -> int:  # noqa: N802
        if self._cls == "Read":
            return int(self["first"].value())
        up = self.input(0)
        return up.firstFrame() if up is not None else int(self._fake.root_node["first_frame"].value())

    def lastFrame(self) -> int:  # noqa: N802
        if self._cls == "Read":
            return int(self["last"].value())
        up = self.input(0)
        return up.lastFrame() if up is not None else int(self._fake.root_node["last_frame"].value())

    def xpos(self) -> int:
        return self._xy[0]

    def ypos(self) -> int:
        return self._xy[1]

    def setXYpos(self, x: int, y: int) -> None:  # noqa: N802
        self._xy = (x, y)


def _frame_file(pattern: str, frame: int) -> str:
    m = re.search(r"%0?(\d*)d", pattern)
    if m:
        return pattern[: m.start()] + f"{frame:0{int(m.group(1) or 1)}d}" + pattern[m.end() :]
    m = re.search(r"#+", pattern)
    if m:
        return pattern[: m.start()] + f"{frame:0{len(m.group(0))}d}" + pattern[m.end() :]
    return pattern


class ProgressTask:
    cancel_after: int | None = None  # tests: report cancelled after this many isCancelled() calls
    instances: list[ProgressTask] = []

    def __init__(self, title: str) -> None:
        self.title, self.messages, self.progress, self._asked = title, [], [], 0
        ProgressTask.instances.append(self)

    def setMessage(self, text: str) -> None:  # noqa: N802
        self.messages.append(text)

    def setProgress(self, value: int) -> None:  # noqa: N802
        self.progress.append(int(value))

    def isCancelled(self) -> bool:  # noqa: N802
        self._asked += 1
        return ProgressTask.cancel_after is not None and self._asked > ProgressTask.cancel_after


class Menu:
    def __init__(self, name: str) -> None:
        self.name, self.items = name, {}

    def addMenu(self, name: str) -> Menu:  # noqa: N802
        return self.items.setdefault(name, Menu(name))

    def addCommand(self, name: str, command: str, *args: Any, **kwargs: Any) -> None:  # noqa: N802
        self.items[name] = command


class FakeNuke:
    """The fake; ``module`` is what ``import nuke`` returns."""

    def __init__(self) -> None:
        self.nodes_by_name: dict[str, Node] = {}
        self.main_thread = threading.current_thread()
        self.main_queue: queue.Queue = queue.Queue()
        self.current_frame = 1
        self.this_node: Node | None = None
        self.executed: list[tuple[str, int, int]] = []
        self.context: list[Node] = []
        self.root_node = Node(self, "Root", "Root")
        self.context.append(self.root_node)
        ProgressTask.instances = []
        ProgressTask.cancel_after = None
        m = types.ModuleType("nuke")
        m.ProgressTask = ProgressTask  # type: ignore[attr-defined]
        m.createNode = self.createNode  # type: ignore[attr-defined]
        m.toNode = self.toNode  # type: ignore[attr-defined]
        m.allNodes = self.allNodes  # type: ignore[attr-defined]
        m.delete = self.delete  # type: ignore[attr-defined]
        m.thisNode = lambda: self.this_node  # type: ignore[attr-defined]
        m.frame = lambda: self.current_frame  # type: ignore[attr-defined]
        m.root = lambda: self.root_node  # type: ignore[attr-defined]
        m.execute = self.execute  # type: ignore[attr-defined]
        m.executeInMainThread = self.executeInMainThread  # type: ignore[attr-defined]
        self.plugin_paths: list[str] = []
        self.menus: dict[str, Menu] = {}
        m.pluginAddPath = self.plugin_paths.append  # type: ignore[attr-defined]
        m.menu = lambda name: self.menus.setdefault(name, Menu(name))  # type: ignore[attr-defined]
        m.selectedNode = lambda: self.this_node  # type: ignore[attr-defined]
        m.tprint = print  # type: ignore[attr-defined]
        m.nodes = types.SimpleNamespace(**{c: (lambda c=c: self.createNode(c)) for c in ("Read", "Write", "Grade", "Dot", "NoOp")})  # type: ignore[attr-defined]
        self.module = m

    # -- threads -------------------------------------------------------------------
    def assert_main_thread(self, what: str) -> None:
        if threading.current_thread() is not self.main_thread:
            raise RuntimeError(f"{what} called off Nuke's main thread ({threading.current_thread().name})")

    def executeInMainThread(self, fn: Any, args: tuple = (), kwargs: dict | None = None) -> None:  # noqa: N802
        self.main_queue.put((fn, tuple(args), dict(kwargs or {})))

    def pump(self, timeout: float = 0.1) -> int:
        """Run what was queued for the main thread (the test is Nuke's event loop)."""
        n = 0
        try:
            while True:
                fn, args, kwargs = self.main_queue.get(timeout=timeout if n == 0 else 0.0)
                fn(*args, **kwargs)
                n += 1
        except queue.Empty:
            return n

    # -- nodes ---------------------------------------------------------------------
    def createNode(self, cls: str) -> Node:  # noqa: N802
        self.assert_main_thread("createNode")
        n = 1
        while f"{cls}{n}" in self.nodes_by_name:
            n += 1
        node = Node(self, cls, f"{cls}{n}")
        self.nodes_by_name[node.name()] = node
        return node

    def toNode(self, name: str) -> Node | None:  # noqa: N802
        return self.nodes_by_name.get(name)

    def allNodes(self, cls: str | None = None) -> list[Node]:  # noqa: N802
        return [n for n in self.nodes_by_name.values() if cls is None or n.Class() == cls]

    def delete(self, node: Node) -> None:
        self.assert_main_thread("delete")
        self.nodes_by_name.pop(node.name(), None)

    # -- rendering -----------------------------------------------------------------
    def pixels(self, node: Node | None, frame: int) -> tuple[np.ndarray, list[str]]:
        if node is None:
            raise RuntimeError("execute: a Write with nothing connected")
        cls = node.Class()
        if cls == "Read":
            path = _frame_file(str(node["file"].value()), frame)
            buf = oiio.ImageBuf(path)
            if buf.has_error:
                raise RuntimeError(f"Read {node.name()}: {path}: {buf.geterror()}")
            return buf.get_pixels(oiio.FLOAT), list(buf.spec().channelnames)
        px, names = self.pixels(node.input(0), frame)
        if cls == "Grade" and not node["disable"].value():
            px = px.copy()
            n = min(3, px.shape[2])
            px[..., :n] *= float(node["white"].value())
        return px, names

    def execute(self, node: Node, first: int, last: int, incr: int = 1) -> None:
        self.assert_main_thread("execute")
        if node.Class() != "Write":
            raise RuntimeError(f"execute: {node.name()} is not a Write")
        known = {("file_type", "exr"), ("datatype", "16 bit half"), ("compression", "Zip (1 scanline)")}
        for key, value in known:
            if node[key].value() != value:
                raise RuntimeError(f"fake execute: Write {key}={node[key].value()!r} not modelled")
        channels = node["channels"].value()
        for f in range(first, last + 1, incr):
            px, names = self.pixels(node.input(0), f)
            if channels == "rgba":
                keep = [i for i, n in enumerate(names) if n in ("R", "G", "B", "A")]
                px, names = px[..., keep], [names[i] for i in keep]
            elif channels != "all":
                raise RuntimeError(f"fake execute: channels {channels!r} not modelled")
            path = _frame_file(str(node["file"].value()), f)
            spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], oiio.HALF)
            spec.channelnames = tuple(names)
            spec.attribute("compression", "zip")
            out = oiio.ImageOutput.create(path)
            if out is None or not out.open(path, spec):
                raise RuntimeError(f"Write {node.name()}: cannot open {path}")
            ok = out.write_image(np.ascontiguousarray(px, dtype=np.float32))
            out.close()
            if not ok:
                raise RuntimeError(f"Write {node.name()}: {path}: {out.geterror()}")
            self.executed.append((node.name(), f, f))
