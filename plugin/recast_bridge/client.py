"""HTTP client of the local Recast service (urllib only), and an optional ``recast serve`` starter.

Configuration comes from an explicit :class:`BridgeConfig` (``from_env`` reads
``RECAST_SERVER``, ``RECAST_TOKEN``, ``RECAST_SERVE``, ``RECAST_TIMEOUT``). Every
failure is a :class:`~recast_bridge.errors.BridgeError` with one line: a service
that is down says where it was looked for and how to start it.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .errors import BridgeError, ServiceDown, ServiceError

DEFAULT_SERVER = "http://127.0.0.1:8765"
JsonDict = Dict[str, Any]


@dataclass
class BridgeConfig:
    server: str = DEFAULT_SERVER
    token: Optional[str] = None
    timeout: float = 30.0  # seconds per HTTP request
    serve_command: Optional[List[str]] = None  # e.g. ["/opt/recast/.venv/bin/recast"]: started when the service is down
    serve_roots: List[str] = field(default_factory=list)  # --root folders for a started service

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any) -> "BridgeConfig":
        env = os.environ if environ is None else environ
        timeout = env.get("RECAST_TIMEOUT", "")
        cfg = cls(
            server=(env.get("RECAST_SERVER") or DEFAULT_SERVER).rstrip("/"),
            token=env.get("RECAST_TOKEN") or None,
            timeout=float(timeout) if timeout.replace(".", "", 1).isdigit() else 30.0,
            serve_command=shlex.split(env["RECAST_SERVE"]) if env.get("RECAST_SERVE") else None,
            serve_roots=[p for p in env.get("RECAST_ROOTS", "").split(os.pathsep) if p],
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value.rstrip("/") if key == "server" else value)
        return cfg


def _detail(body: bytes) -> str:
    """The service's ``{"detail": ...}`` as one line (validation errors: the first one)."""
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return " ".join(body.decode("utf-8", "replace").split())[:300] or "no detail"
    detail = data.get("detail", data) if isinstance(data, dict) else data
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid"))
    return " ".join(str(detail).split())


class Client:
    """One service; every method returns parsed JSON or raises a one-line BridgeError."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config

    @property
    def server(self) -> str:
        return self.config.server.rstrip("/")

    def request(
        self,
        method: str,
        path: str,
        body: Optional[Any] = None,
        params: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        url = self.server + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.config.token:
            req.add_header("Authorization", "Bearer " + self.config.token)
        wait = self.config.timeout if timeout is None else timeout
        try:
            with urllib.request.urlopen(req, timeout=wait) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise ServiceError(exc.code, f"{method} {path}: {_detail(exc.read())} (HTTP {exc.code})") from None
        except (socket.timeout, TimeoutError):
            raise ServiceDown(f"recast service at {self.server} did not answer {method} {path} within {wait:g}s") from None
        except urllib.error.URLError as exc:
            reason = getattr(exc.reason, "strerror", None) or exc.reason
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                reason = f"no answer within {wait:g}s"
            raise ServiceDown(
                f"recast service not reachable at {self.server} ({reason}); start it with `recast serve` "
                "or point RECAST_SERVER / --server at it"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise ServiceDown(f"recast service at {self.server}: connection failed ({exc.strerror or exc})") from None
        if not raw:
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise ServiceError(200, f"{method} {path}: the answer is not JSON (is {self.server} a recast service?)") from None

    # -- endpoints -----------------------------------------------------------------
    def health(self, timeout: Optional[float] = None) -> JsonDict:
        return self.request("GET", "/health", timeout=timeout)

    def info(self) -> JsonDict:
        """Vocabularies and setting names the service accepts (``/bridge/info``)."""
        return self.request("GET", "/bridge/info")

    def actors(self) -> List[JsonDict]:
        return list(self.request("GET", "/actors").get("actors", []))

    def submit(self, spec: Mapping[str, Any]) -> str:
        return str(self.request("POST", "/jobs", body=dict(spec))["job"])

    def job(self, job_id: str) -> JsonDict:
        return self.request("GET", "/jobs/" + _quote(job_id))

    def versions(self, job_id: str) -> List[JsonDict]:
        return list(self.job(job_id).get("versions", []))

    def version(self, job_id: str, version: str = "latest") -> JsonDict:
        return self.request("GET", f"/jobs/{_quote(job_id)}/versions/{_quote(version)}")

    def approve(self, job_id: str, frames: Union[str, Sequence[int]], by: str, take: Optional[int] = None) -> JsonDict:
        body: JsonDict = {"frames": frames if isinstance(frames, str) else list(frames), "by": by}
        if take is not None:
            body["take"] = take
        return self.request("POST", f"/jobs/{_quote(job_id)}/approve", body=body)

    def publish(self, job_id: str, fill: str = "plate", by: Optional[str] = None) -> JsonDict:
        body: JsonDict = {"fill": fill}
        if by:
            body["by"] = by
        return self.request("POST", f"/jobs/{_quote(job_id)}/publish", body=body)

    def preview(
        self, plate: str, frame: int, actor: str, out: str, settings: Optional[Mapping[str, Any]] = None, timeout: float = 120.0
    ) -> JsonDict:
        body: JsonDict = {"plate": plate, "frame": int(frame), "actor": actor, "out": out}
        if settings:
            body["settings"] = dict(settings)
        return self.request("POST", "/preview", body=body, timeout=timeout)


def _quote(text: str) -> str:
    return urllib.parse.quote(str(text), safe="")


# -- starting the service -------------------------------------------------------------


@dataclass
class ServiceProcess:
    """A ``recast serve`` this bridge started; ``stop()`` ends it (and only it)."""

    process: "subprocess.Popen[str]"
    url: str

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_service(
    command: Sequence[str],
    host: str = "127.0.0.1",
    port: int = 0,
    roots: Sequence[str] = (),
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 60.0,
    log_path: Optional[str] = None,
) -> ServiceProcess:
    """Run ``COMMAND serve --host H --port P --json [--root R ...]`` and wait for its URL."""
    argv = list(command) + ["serve", "--host", host, "--port", str(port), "--json"]
    for root in roots:
        argv += ["--root", str(root)]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(  # noqa: S603 - the configured recast executable
            argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
            env=None if env is None else dict(env), start_new_session=True,
        )
    except OSError as exc:
        raise BridgeError(f"cannot start `{' '.join(argv[:2])}`: {exc.strerror or exc}") from None
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    got: List[str] = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)  # the service prints {"url": ...} once it is bound
    line = got[0] if got else ""
    try:
        url = str(json.loads(line)["url"])
    except (ValueError, KeyError, TypeError):
        code = proc.poll()
        ServiceProcess(proc, "").stop()
        why = f"exited with status {code}" if code is not None else f"printed {line.strip()[:120]!r}"
        raise BridgeError(f"`{' '.join(argv[:2])}` did not start the service ({why})") from None
    service = ServiceProcess(proc, url)
    client = Client(BridgeConfig(server=url, timeout=2.0))
    while True:
        try:
            client.health()
            return service
        except ServiceDown:
            if time.monotonic() > deadline or proc.poll() is not None:
                service.stop()
                raise BridgeError(f"recast service started at {url} but did not answer within {timeout:g}s") from None
            time.sleep(0.1)


def ensure_service(config: BridgeConfig) -> Optional[ServiceProcess]:
    """Check the configured service; when it is down and ``serve_command`` is set, start one.

    Returns the started process (the caller owns it) or None when one was already up.
    Updates ``config.server`` to the started service's URL.
    """
    client = Client(config)
    try:
        client.health(timeout=min(config.timeout, 5.0))
        return None
    except ServiceDown:
        if not config.serve_command:
            raise
    parsed = urllib.parse.urlsplit(config.server)
    service = start_service(
        config.serve_command, parsed.hostname or "127.0.0.1", 8765 if parsed.port is None else parsed.port, config.serve_roots
    )
    config.server = service.url
    return service
