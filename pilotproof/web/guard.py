"""The service's front door, in front of every route (plain ASGI, before FastAPI reads a byte).

For each request it decides, from the method, the path and the headers alone:

1. **who** — a route that needs a token gets a 401 for a missing, unknown or revoked one,
   and a route with a body gets a 403 for a token whose role may not use it, before the
   body is read (an anonymous client cannot make the service spool or parse anything);
2. **how much** — a body declared (`Content-Length`) larger than the route's limit gets a
   413 at once; a body streamed (chunked, or lying about its length) is counted as it
   arrives and cut off with a 413 the moment it passes the limit;
3. **headers** — every response carries the security headers below.

The routes' own dependencies check the token again: this is the cheap first wall, not the
only one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from pilotproof.web.tokens import Role, TokenStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the dashboard and the API reference load nothing from outside this service
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

#: paths anyone may read (besides `/` itself): the dashboard's files, the API reference,
#: liveness
PUBLIC = ("/static/", "/docs", "/openapi.json", "/api/health")


@dataclass(frozen=True)
class BodyRule:
    """A route that takes a body: the roles that may send one, and its largest size."""

    roles: tuple[Role, ...]
    max_bytes: int


def _public(path: str) -> bool:
    return path == "/" or path.startswith(PUBLIC)


class Guard:
    """ASGI middleware: authentication and body limits before any body is read.

    Args:
        app: the application behind the guard.
        tokens: the token store the routes use.
        rules: `(method, path) → BodyRule` for each route that takes a body; any other
            request may carry no body at all.
        counted: called with `(path, status)` for each request the guard answers itself.
    """

    def __init__(
        self,
        app: ASGIApp,
        tokens: TokenStore,
        rules: dict[tuple[str, str], BodyRule],
        counted: Callable[[str, int], None] = lambda path, status: None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.rules = rules
        self.counted = counted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the service has none: nothing may reach the router
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        method, path = scope["method"], scope["path"]
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        rule = self.rules.get((method, path))
        if not _public(path):
            given = [v for k, v in scope.get("headers", []) if k.lower() == b"authorization"]
            if len(given) > 1:  # the guard and the route must judge the same token
                await self._answer(send, path, 400, "more than one Authorization header")
                return
            refusal = self._refusal(given[0] if given else b"", rule)
            if refusal is not None:
                await self._answer(send, path, *refusal)
                return
        limit = rule.max_bytes if rule else 0
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await self._answer(send, path, 400, "Content-Length is not a number")
                return
            if length > limit:
                await self._answer(send, path, 413, _too_large(limit))
                return
        elif limit == 0 and b"transfer-encoding" in headers:
            await self._answer(send, path, 413, _too_large(0))
            return

        seen = 0
        started = answered = False

        async def counting_receive() -> Message:
            nonlocal seen, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # answered here, at the byte that passed the limit; the route sees a
                    # client gone away and whatever it answers is dropped
                    if not started:
                        await self._answer(send, path, 413, _too_large(limit))
                    answered = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception:
            if answered:
                return
            if not started:
                # answered here, with the security headers; the server logs the traceback
                await self._answer(send, path, 500, "internal error; the server log has it")
            raise

    def _refusal(self, authorization: bytes, rule: BodyRule | None) -> tuple[int, str] | None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return 401, "a bearer token is required (Authorization: Bearer <token>)"
        info = self.tokens.check(token.strip())
        if info is None:
            return 401, "unknown or revoked token"
        if rule is not None and info.role != "admin" and info.role not in rule.roles:
            return 403, f"role {info.role} may not do this ({', '.join(rule.roles)} may)"
        return None

    async def _answer(self, send: Send, path: str, status: int, detail: str) -> None:
        self.counted(path, status)
        body = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # the body was not read: the connection cannot carry another request
            (b"connection", b"close"),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    if limit == 0:
        return "this route takes no request body"
    return f"the request body is larger than this route's limit of {limit:,} bytes"


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            have = {k.lower() for k, _ in message.get("headers", [])}
            message["headers"] = [
                *message.get("headers", []),
                *((k, v) for k, v in SECURITY_HEADERS if k not in have),
            ]
        await send(message)

    return wrapped
