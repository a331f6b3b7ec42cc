"""The first thing every request meets (pure ASGI, before any route or body parsing).

1. The token: when the service has one, every path but ``/health`` needs it, the
   API docs and ``/openapi.json`` included; a request without it is answered 401
   before a byte of its body is read (a malformed body without a token is a 401,
   not a 422).
2. The body size: a ``Content-Length`` over the limit is answered 413 at once; a
   body without one (chunked) is counted while it streams in and refused with 413
   as soon as it passes the limit, so the server never holds more than the limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

from recast.pipeline.service.security import bearer, token_ok

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {limit} bytes (the service's max_body)")


class RequestGuard:
    def __init__(self, app: ASGIApp, token: str | None, max_body: int) -> None:
        self.app = app
        self.token = token
        self.max_body = int(max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token and scope.get("path") not in OPEN_PATHS:
            presented = bearer(headers.get("authorization")) or headers.get("x-recast-token")
            if not token_ok(self.token, presented):
                await _reply(send, 401, "missing or wrong token (Authorization: Bearer <RECAST_TOKEN>)")
                return
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await _reply(send, 400, "Content-Length is not a number")
                return
            if int(length) > self.max_body:
                await _reply(send, 413, BodyTooLarge(self.max_body).detail)
                return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:
            if not started:
                await _reply(send, 413, str(exc.detail))


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
