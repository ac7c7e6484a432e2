"""`admin`: the bearer tokens."""

from fastapi import APIRouter, HTTPException

from pilotproof.web.models import TokenCreate, TokenCreated
from pilotproof.web.state import Admin, Reader, ServiceDep
from pilotproof.web.tokens import TokenInfo

router = APIRouter(tags=["admin"])


@router.get("/api/me")
async def me(who: Reader) -> TokenInfo:
    """The token's own name and role (any role): what the dashboard shows and offers."""
    return who


@router.get("/api/tokens")
async def list_tokens(svc: ServiceDep, _: Admin) -> list[TokenInfo]:
    """Every token's name, role and creation time (never the token)."""
    return svc.tokens.list()


@router.post("/api/tokens", status_code=201)
async def create_token(body: TokenCreate, svc: ServiceDep, _: Admin) -> TokenCreated:
    """Create a token; the response is the only time it is shown."""
    try:
        token = svc.tokens.create(body.name, body.role)
    except ValueError as e:
        raise HTTPException(409, str(e)) from None
    info = svc.tokens.check(token)
    assert info is not None
    return TokenCreated(**info.model_dump(), token=token)


@router.delete("/api/tokens/{name}", status_code=204)
async def revoke_token(name: str, svc: ServiceDep, _: Admin) -> None:
    """Revoke a token by name."""
    if not svc.tokens.revoke(name):
        raise HTTPException(404, f"no token named {name!r}")
