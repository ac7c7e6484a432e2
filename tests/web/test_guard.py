"""The guard as a unit: what it answers when the app behind it fails."""

from __future__ import annotations

from typing import Any

import httpx

from pilotproof.web.guard import Guard
from pilotproof.web.tokens import TokenStore


async def test_an_app_that_fails_still_answers_with_the_security_headers() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    guard = Guard(failing, TokenStore(), rules={})
    transport = httpx.ASGITransport(app=guard, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://pp") as c:
        r = await c.get("/api/health")
    assert r.status_code == 500
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in r.headers["content-security-policy"]
