"""The web service and dashboard (FastAPI): `create_app(store, inventory, settings, tokens)`."""

from pilotproof.web.app import WebSettings, create_app
from pilotproof.web.tokens import ROLES, Role, TokenInfo, TokenStore

__all__ = ["ROLES", "Role", "TokenInfo", "TokenStore", "WebSettings", "create_app"]
