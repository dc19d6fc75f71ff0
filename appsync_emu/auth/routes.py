"""The local issuers over HTTP: OpenID discovery and JWKS at each issuer URL, and `POST /_emu/token`.

`POST /_emu/token` mints tokens for browser apps and scripts. Its body is JSON
``{"user": "alice", "groups": ["admin"], "pool": null, "claims": {}, "expiresIn": 3600}`` (only
`user` is required; `pool` names a pool by logical id or pool id, or an OIDC provider by name;
`clientId` picks the app client). It answers ``{"idToken", "accessToken", "expiresIn", "tokenType":
"Bearer", "issuer", "poolId", "clientId"}``. Like every `/_emu/*` route it answers only requests
without an `Origin` or from the emulator's own origin (transport/origins.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from .issuers import Issuers, LocalIssuer

#: The longest a minted token may live (Cognito's ID and access tokens: 5 minutes to 1 day).
MAX_EXPIRES_IN_S = 86_400
_MAX_BODY = 64 * 1024


class TokenRequestError(ValueError):
    """A token request the issuers cannot serve (bad fields, unknown pool)."""


def mint_pair(issuers: Issuers, request: Mapping[str, Any]) -> dict[str, Any]:
    """Mint an ID and an access token from a token request body (see the module docstring)."""
    user = request.get("user")
    if not isinstance(user, str) or not user:
        raise TokenRequestError('"user" (a non-empty string) is required')
    groups = request.get("groups")
    groups = [] if groups is None else groups
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise TokenRequestError('"groups" must be a list of strings')
    claims = request.get("claims")
    claims = {} if claims is None else claims
    if not isinstance(claims, dict):
        raise TokenRequestError('"claims" must be an object')
    expires_in = request.get("expiresIn", 3600)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or not 1 <= expires_in <= MAX_EXPIRES_IN_S:
        raise TokenRequestError(f'"expiresIn" must be a whole number of seconds from 1 to {MAX_EXPIRES_IN_S}')
    pool = request.get("pool")
    client_id = request.get("clientId")
    if pool is not None and not isinstance(pool, str):
        raise TokenRequestError('"pool" must be a string')
    if client_id is not None and not isinstance(client_id, str):
        raise TokenRequestError('"clientId" must be a string')
    try:
        issuer = issuers.get(pool)
    except ValueError as err:
        raise TokenRequestError(str(err)) from None
    common: dict[str, Any] = {
        "username": user,
        "groups": groups,
        "claims": claims,
        "expires_in": expires_in,
        "client_id": client_id,
    }
    id_token = issuer.mint(token_use="id", **common)
    access_token = issuer.mint(token_use="access", **common)
    return {
        "idToken": id_token,
        "accessToken": access_token,
        "expiresIn": expires_in,
        "tokenType": "Bearer",
        "issuer": issuer.url,
        "poolId": issuer.pool_id,
        "clientId": client_id or (issuer.client_ids[0] if issuer.client_ids else None),
    }


def issuer_routes(issuers: Issuers) -> list[BaseRoute]:
    """Discovery and JWKS for each issuer (at its URL's path), and `POST /_emu/token`; none without issuers."""
    if not len(issuers):
        return []
    routes: list[BaseRoute] = []
    for issuer in issuers:
        base = urlsplit(issuer.url).path.rstrip("/")
        routes.append(Route(f"{base}/.well-known/openid-configuration", _json(issuer.discovery), methods=["GET"]))
        routes.append(Route(f"{base}/.well-known/jwks.json", _json(issuer.jwks), methods=["GET"]))

    async def token(request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return JSONResponse({"message": "request body too large"}, status_code=413)
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise TokenRequestError("the body must be a JSON object")
            return JSONResponse(mint_pair(issuers, body))
        except json.JSONDecodeError:
            return JSONResponse({"message": "the body must be JSON"}, status_code=400)
        except TokenRequestError as err:
            return JSONResponse({"message": str(err)}, status_code=400)

    routes.append(Route("/_emu/token", token, methods=["POST"]))
    return routes


def _json(document: Any) -> Any:
    async def answer(_request: Request) -> JSONResponse:
        return JSONResponse(document())

    return answer


def describe_pools(issuers: Issuers) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`/_emu/config`'s `userPools` and `oidcProviders` lists."""
    pools = [_pool(i) for i in issuers if i.kind == "cognito"]
    oidc = [{"name": i.name, "issuer": i.url, "clientIds": list(i.client_ids)} for i in issuers if i.kind == "oidc"]
    return pools, oidc


def _pool(issuer: LocalIssuer) -> dict[str, Any]:
    return {
        "name": issuer.name,
        "poolId": issuer.pool_id,
        "region": issuer.region,
        "clientIds": list(issuer.client_ids),
        "issuer": issuer.url,
        "jwksUri": f"{issuer.url}/.well-known/jwks.json",
        "cognitoEndpoint": None,  # the local Cognito Identity Provider endpoint, where one is served
    }
