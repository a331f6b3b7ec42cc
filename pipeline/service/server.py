"""Run the service with uvicorn on a socket we bind ourselves (port 0 works: the OS picks)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from recast.pipeline.errors import JobError
from recast.pipeline.service.app import ServiceConfig, create_app
from recast.pipeline.service.security import check_bind


@dataclass
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread | None
    url: str
    sock: socket.socket

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
        self.sock.close()


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it (Linux): small JSON replies go out at once instead of
    # waiting ~40 ms for the client's delayed ACK (Nagle), the whole idle latency of GET /jobs
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise JobError(f"--host {host} --port {port}: cannot bind ({exc.strerror or exc})") from None
    sock.listen(128)
    return sock


def make_server(config: ServiceConfig, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Check the bind (token off loopback), bind, and build the uvicorn server (not started)."""
    check_bind(host, config.token)
    sock = bind_socket(host, port)
    real_host, real_port = sock.getsockname()[:2]
    app = create_app(config)
    uconf = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(uconf)
    shown = f"[{real_host}]" if ":" in str(real_host) else str(real_host)
    return RunningServer(server=server, thread=None, url=f"http://{shown}:{real_port}", sock=sock)


def serve_forever(running: RunningServer) -> None:
    logging.getLogger("recast.service").setLevel(logging.INFO)
    running.server.run(sockets=[running.sock])


def start_in_thread(config: ServiceConfig, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> RunningServer:
    """Start the service in a background thread (tests, embedding); returns once it accepts requests."""
    running = make_server(config, host, port)
    running.thread = threading.Thread(target=running.server.run, kwargs={"sockets": [running.sock]}, daemon=True)
    running.thread.start()
    deadline = time.monotonic() + timeout
    while not running.server.started:
        if time.monotonic() > deadline or not running.thread.is_alive():
            raise JobError(f"service at {running.url} did not start within {timeout:.0f}s")
        time.sleep(0.02)
    return running
