"""Cognito Identity Provider's sign-in API on the emulator, so Amplify's `signIn` works offline.

The sans-I/O core (`CognitoIdp.call(operation, body)`: a JSON request in, a JSON answer out or a
`CognitoError` in Cognito's shape) holds each user pool's users and app clients and runs
Cognito's auth flows: `USER_PASSWORD_AUTH`, `USER_SRP_AUTH` (Cognito's SRP-6a variant, the
server side of what Amplify and pycognito compute: 3072-bit group, `k = H(N | g)`,
`x = H(salt | H(poolName | username ":" password))`, an HKDF-derived key and an HMAC over
`poolName | username | SECRET_BLOCK | TIMESTAMP`), `NEW_PASSWORD_REQUIRED` for users created
with a temporary password, refresh (`REFRESH_TOKEN_AUTH` and `GetTokensFromRefreshToken`),
`GetUser`, `GlobalSignOut` and `RevokeToken`. Every other operation answers `NotEmulated`
naming it. Tokens are minted by the pool's `LocalIssuer` (auth/issuers.py), so the API's
Cognito verification accepts them.

Passwords are never kept: each user keeps an SRP salt and verifier computed at load, and
`USER_PASSWORD_AUTH` recomputes the verifier from the password it is given. Refresh tokens are
stateless (HMAC-signed with a key derived from the machine secret), so a signed-in app stays
signed in across restarts; sign-outs and revocations are remembered while the server runs.

`cognito_idp_app` is the thin ASGI handler: `POST /` with `X-Amz-Target:
AWSCognitoIdentityProviderService.<Operation>`, as Cognito's own endpoint is addressed, so the
emulator's base URL is the `userPoolEndpoint` of an Amplify config (docs/COGNITO.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import json_input

if TYPE_CHECKING:
    from starlette.routing import BaseRoute
    from starlette.types import Receive, Scope, Send

    from ..transport.origins import OriginPolicy
    from .issuers import LocalIssuer

log = logging.getLogger("appsync_emu.auth")

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
CONTENT_TYPE = "application/x-amz-json-1.1"

# --- Cognito's SRP-6a variant ---------------------------------------------------------------

#: The 3072-bit group of RFC 5054 appendix A, generator 2: what Cognito and every client of it use.
N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N = int(N_HEX, 16)
G = 2


def pad_hex(value: int) -> str:
    """Java's `BigInteger.toByteArray()` of a non-negative integer, in hex: even length, a `00` before a set top bit."""
    text = format(value, "x")
    if len(text) % 2:
        text = "0" + text
    if text[0] in "89abcdef":
        text = "00" + text
    return text


def _hash_hex(hex_text: str) -> int:
    return int.from_bytes(hashlib.sha256(bytes.fromhex(hex_text)).digest(), "big")


K = _hash_hex(pad_hex(N) + pad_hex(G))


def srp_x(pool_name: str, username: str, password: str, salt: int) -> int:
    """The private value `x` of a user's password (`pool_name` is the part of the pool id after `_`)."""
    inner = hashlib.sha256(f"{pool_name}{username}:{password}".encode()).hexdigest()
    return _hash_hex(pad_hex(salt) + inner)


def srp_verifier(pool_name: str, username: str, password: str, salt: int) -> int:
    """`v = g^x mod N`: what the server keeps instead of the password."""
    return pow(G, srp_x(pool_name, username, password, salt), N)


def hkdf_key(shared: int, u: int) -> bytes:
    """Cognito's 16-byte key: HKDF-SHA256 of `S` with `u` as salt and "Caldera Derived Key" as info."""
    prk = hmac.new(bytes.fromhex(pad_hex(u)), bytes.fromhex(pad_hex(shared)), hashlib.sha256).digest()
    return hmac.new(prk, b"Caldera Derived Key\x01", hashlib.sha256).digest()[:16]


def password_claim(key: bytes, pool_name: str, username: str, secret_block: str, timestamp: str) -> str:
    """The `PASSWORD_CLAIM_SIGNATURE` a client holding the right password sends."""
    message = pool_name.encode() + username.encode() + base64.b64decode(secret_block) + timestamp.encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


class SrpServer:
    """The server's half of one SRP exchange: `B` for the challenge, then the key from the client's `A`.

    The secret exponent `b` has 256 bits (each modular power then costs about 4 ms, not 17 ms for
    1024 bits, on the event loop; a 256-bit exponent is what RFC 5054's security rests on).
    """

    def __init__(self, verifier: int, b: int | None = None) -> None:
        self.verifier = verifier
        self.b = b if b is not None else secrets.randbits(256) | 1
        self.big_b = (K * verifier + pow(G, self.b, N)) % N

    def key(self, big_a: int) -> bytes | None:
        """The shared key, or None for an `A` no honest client sends (`A mod N == 0`)."""
        if big_a % N == 0:
            return None
        u = _hash_hex(pad_hex(big_a) + pad_hex(self.big_b))
        if u == 0:
            return None
        shared = pow(big_a * pow(self.verifier, u, N), self.b, N)
        return hkdf_key(shared, u)


# --- Errors ---------------------------------------------------------------------------------


class CognitoError(Exception):
    """An error answered in Cognito's JSON shape: `{"__type": code, "message": ...}`."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


def _bad(message: str) -> CognitoError:
    return CognitoError("InvalidParameterException", message)


INCORRECT = "Incorrect username or password."
NOT_EMULATED = "NotEmulated"

# --- Users and clients ----------------------------------------------------------------------

CONFIRMED = "CONFIRMED"
FORCE_CHANGE_PASSWORD = "FORCE_CHANGE_PASSWORD"

#: What Cognito allows a client that does not set `ExplicitAuthFlows`.
DEFAULT_AUTH_FLOWS = frozenset({"ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"})
ALL_AUTH_FLOWS = frozenset(
    {
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_CUSTOM_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_USER_AUTH",
    }
)
#: The legacy `ExplicitAuthFlows` values, in their `ALLOW_` names.
_LEGACY_FLOWS = {
    "USER_PASSWORD_AUTH": "ALLOW_USER_PASSWORD_AUTH",
    "ADMIN_NO_SRP_AUTH": "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "CUSTOM_AUTH_FLOW_ONLY": "ALLOW_CUSTOM_AUTH",
}


def auth_flows(explicit: Iterable[str] | None) -> frozenset[str]:
    """A client's allowed flows from its template `ExplicitAuthFlows` (None: not set, Cognito's default)."""
    if explicit is None:
        return DEFAULT_AUTH_FLOWS
    flows = {_LEGACY_FLOWS.get(f, f) for f in explicit}
    if not any(f in explicit for f in _LEGACY_FLOWS) or any(f.startswith("ALLOW_") for f in explicit):
        return frozenset(flows)
    # Only legacy values: SRP and refresh were always allowed for such clients.
    return frozenset(flows | {"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"})


@dataclass(frozen=True)
class AppClient:
    """One app client of a pool: its id and the auth flows it allows."""

    client_id: str
    flows: frozenset[str] = ALL_AUTH_FLOWS
    #: `PreventUserExistenceErrors: ENABLED`: an unknown user gets "Incorrect username or password."
    hide_unknown_users: bool = False


@dataclass
class UserSpec:
    """A user as the users file or the command line gives it (the password is dropped after load)."""

    username: str
    password: str
    groups: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    temporary: bool = False  # FORCE_CHANGE_PASSWORD: the first sign-in must set a new password
    enabled: bool = True


@dataclass
class User:
    """A user of one pool as the emulator keeps it: no password, an SRP salt and verifier."""

    username: str
    sub: str
    groups: tuple[str, ...]
    attributes: dict[str, str]
    salt: int
    verifier: int
    status: str = CONFIRMED
    enabled: bool = True
    #: Tokens (refresh and access) issued before this instant are revoked (GlobalSignOut).
    signed_out_at: float = 0.0

    def attribute_list(self) -> list[dict[str, str]]:
        """`UserAttributes` as GetUser answers them, `sub` first."""
        attributes = {"sub": self.sub, **self.attributes}
        return [{"Name": k, "Value": v} for k, v in attributes.items()]


@dataclass
class Pool:
    """One user pool: its issuer, app clients and users."""

    issuer: LocalIssuer
    clients: dict[str, AppClient]
    users: dict[str, User] = field(default_factory=dict)
    #: Attributes a user may also sign in with (the template's `UsernameAttributes` or `AliasAttributes`).
    aliases: tuple[str, ...] = ()
    #: `UsernameConfiguration.CaseSensitive` (Cognito's default: true).
    case_sensitive: bool = True

    @property
    def pool_id(self) -> str:
        assert self.issuer.pool_id is not None
        return self.issuer.pool_id

    @property
    def srp_name(self) -> str:
        """The pool id's part after `_`, which Cognito's SRP hashes with the username."""
        return self.pool_id.split("_", 1)[-1]

    def find(self, name: str) -> User | None:
        """The user `name` signs in as: its username, or an alias attribute's value (email, phone number)."""
        user = self.users.get(name)
        if user is not None:
            return user
        wanted = name if self.case_sensitive else name.casefold()

        def same(value: str | None) -> bool:
            return value is not None and (value if self.case_sensitive else value.casefold()) == wanted

        if not self.case_sensitive:
            user = next((u for u in self.users.values() if same(u.username)), None)
        for attribute in self.aliases:
            if user is None:
                user = next((u for u in self.users.values() if same(u.attributes.get(attribute))), None)
        return user

    def add(self, spec: UserSpec) -> User:
        """Add (or replace) a user; its password becomes a salt and a verifier."""
        salt = int.from_bytes(secrets.token_bytes(16), "big")
        attributes = {k: str(v) for k, v in spec.attributes.items() if k != "sub"}
        user = User(
            spec.username,
            self.issuer.sub(spec.username),
            tuple(spec.groups),
            attributes,
            salt,
            srp_verifier(self.srp_name, spec.username, spec.password, salt),
            FORCE_CHANGE_PASSWORD if spec.temporary else CONFIRMED,
            spec.enabled,
        )
        self.users[spec.username] = user
        return user

    def set_password(self, user: User, password: str) -> None:
        user.salt = int.from_bytes(secrets.token_bytes(16), "big")
        user.verifier = srp_verifier(self.srp_name, user.username, password, user.salt)
        user.status = CONFIRMED

    def password_matches(self, user: User, password: str) -> bool:
        return hmac.compare_digest(
            pad_hex(srp_verifier(self.srp_name, user.username, password, user.salt)), pad_hex(user.verifier)
        )


# --- Password policy (Cognito's default) ----------------------------------------------------

_SYMBOLS = set("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")


def password_problem(password: str) -> str | None:
    """Why a new password breaks Cognito's default policy, in Cognito's words (None: it does not)."""
    if len(password) < 8:
        return "Password not long enough"
    if not any(c.islower() for c in password):
        return "Password must have lowercase characters"
    if not any(c.isupper() for c in password):
        return "Password must have uppercase characters"
    if not any(c.isdigit() for c in password):
        return "Password must have numeric characters"
    if not any(c in _SYMBOLS for c in password):
        return "Password must have symbol characters"
    return None


# --- Refresh tokens -------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RefreshTokens:
    """Stateless refresh tokens: `<payload>.<HMAC>` under a key derived from the machine secret."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def issue(self, pool_id: str, client_id: str, username: str, now: float, lifetime_s: int) -> tuple[str, str]:
        """A new refresh token and its id (`jti`, also the `origin_jti` of the tokens it yields)."""
        jti = str(uuid.uuid4())
        payload = {"pool": pool_id, "client": client_id, "username": username, "jti": jti, "iat": round(now, 3)}
        payload["exp"] = int(now) + lifetime_s
        body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}", jti

    def read(self, token: str) -> dict[str, Any] | None:
        """The payload of a token this machine issued, else None (expiry is the caller's)."""
        body, _, mac = token.partition(".")
        if not mac or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            payload = json.loads(_unb64url(body))
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def _mac(self, body: str) -> str:
        return _b64url(hmac.new(self.key, body.encode(), hashlib.sha256).digest())


# --- The operations -------------------------------------------------------------------------

#: What the endpoint answers; anything else is `NotEmulated`, naming the operation.
OPERATIONS = (
    "InitiateAuth",
    "RespondToAuthChallenge",
    "GetTokensFromRefreshToken",
    "GetUser",
    "GlobalSignOut",
    "RevokeToken",
)
#: Cognito's limit on the time between a challenge and its answer (its `AuthSessionValidity` default, 3 min).
SESSION_TTL_S = 180
MAX_PENDING = 10_000  # pending SRP exchanges and challenges kept at once (the oldest go first)
ID_TOKEN_TTL_S = 3600
REFRESH_TOKEN_TTL_S = 30 * 24 * 3600


@dataclass
class _Pending:
    """A challenge waiting for its answer: an SRP exchange or NEW_PASSWORD_REQUIRED."""

    pool: Pool
    client_id: str
    username: str
    expires: float
    srp: SrpServer | None = None
    big_a: int = 0


class CognitoIdp:
    """The user pools' users and auth flows; `call` answers one JSON request or raises `CognitoError`."""

    def __init__(
        self,
        pools: Sequence[Pool],
        refresh_key: bytes,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pools = {p.pool_id: p for p in pools}
        self.clients = {c: p for p in pools for c in p.clients}
        self.refresh = RefreshTokens(refresh_key)
        self.clock = clock
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._revoked: set[str] = set()  # refresh token ids (RevokeToken), while the server runs

    def call(self, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one operation of Cognito's JSON API."""
        handler = {
            "InitiateAuth": self.initiate_auth,
            "RespondToAuthChallenge": self.respond_to_auth_challenge,
            "GetTokensFromRefreshToken": self.get_tokens_from_refresh_token,
            "GetUser": self.get_user,
            "GlobalSignOut": self.global_sign_out,
            "RevokeToken": self.revoke_token,
        }.get(operation)
        if handler is None:
            raise CognitoError(
                NOT_EMULATED,
                f"appsync-emu's Cognito endpoint does not emulate {operation}; it answers {', '.join(OPERATIONS)}",
                501,
            )
        return handler(body)

    # InitiateAuth -----------------------------------------------------------------------

    def initiate_auth(self, body: Mapping[str, Any]) -> dict[str, Any]:
        client_id = _text(body, "ClientId")
        flow = _text(body, "AuthFlow")
        params = body.get("AuthParameters") or {}
        if not isinstance(params, dict):
            raise _bad("AuthParameters must be a map of strings")
        pool, client = self._client(client_id)
        if flow.startswith("ADMIN_"):
            raise _bad("Initiate Auth method not supported.")
        if flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
            self._allow(client, "ALLOW_REFRESH_TOKEN_AUTH", flow)
            return self._refresh(pool, client, _param(params, "REFRESH_TOKEN"))
        if flow == "USER_PASSWORD_AUTH":
            self._allow(client, "ALLOW_USER_PASSWORD_AUTH", flow)
            user = self._user(pool, client, _param(params, "USERNAME"))
            if not pool.password_matches(user, _param(params, "PASSWORD")):
                raise CognitoError("NotAuthorizedException", INCORRECT)
            return self._signed_in(pool, client, user)
        if flow == "USER_SRP_AUTH":
            self._allow(client, "ALLOW_USER_SRP_AUTH", flow)
            user = self._user(pool, client, _param(params, "USERNAME"))
            try:
                big_a = int(_param(params, "SRP_A"), 16)
            except ValueError:
                raise _bad("SRP_A is not a hexadecimal number") from None
            if big_a % N == 0:
                raise _bad("SRP_A is not valid")
            srp = SrpServer(user.verifier)
            secret_block = base64.b64encode(secrets.token_bytes(64)).decode()
            self._hold(secret_block, _Pending(pool, client.client_id, user.username, 0.0, srp, big_a))
            return {
                "ChallengeName": "PASSWORD_VERIFIER",
                "ChallengeParameters": {
                    "SALT": pad_hex(user.salt),
                    "SRP_B": format(srp.big_b, "x"),
                    "SECRET_BLOCK": secret_block,
                    "USERNAME": user.username,
                    "USER_ID_FOR_SRP": user.username,
                },
            }
        if flow in ("CUSTOM_AUTH", "USER_AUTH"):
            raise CognitoError(
                NOT_EMULATED,
                f"appsync-emu's Cognito endpoint does not emulate the {flow} flow; "
                "use USER_SRP_AUTH or USER_PASSWORD_AUTH",
                501,
            )
        raise _bad(
            f"1 validation error detected: Value '{flow}' at 'authFlow' failed to satisfy constraint: "
            "Member must satisfy enum value set: [USER_SRP_AUTH, REFRESH_TOKEN_AUTH, REFRESH_TOKEN, "
            "CUSTOM_AUTH, ADMIN_NO_SRP_AUTH, USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH, USER_AUTH]"
        )

    # RespondToAuthChallenge --------------------------------------------------------------

    def respond_to_auth_challenge(self, body: Mapping[str, Any]) -> dict[str, Any]:
        client_id = _text(body, "ClientId")
        challenge = _text(body, "ChallengeName")
        answers = body.get("ChallengeResponses") or {}
        if not isinstance(answers, dict):
            raise _bad("ChallengeResponses must be a map of strings")
        pool, client = self._client(client_id)
        if challenge == "PASSWORD_VERIFIER":
            secret_block = _param(answers, "PASSWORD_CLAIM_SECRET_BLOCK")
            signature = _param(answers, "PASSWORD_CLAIM_SIGNATURE")
            timestamp = _param(answers, "TIMESTAMP")
            username = _param(answers, "USERNAME")
            pending = self._take(secret_block, client.client_id)
            if pending.srp is None or pending.username != username:
                raise CognitoError("NotAuthorizedException", INCORRECT)
            user = pool.users.get(pending.username)
            key = pending.srp.key(pending.big_a)
            if user is None or key is None:
                raise CognitoError("NotAuthorizedException", INCORRECT)
            expected = password_claim(key, pool.srp_name, username, secret_block, timestamp)
            if not hmac.compare_digest(expected.encode(), signature.encode()):
                raise CognitoError("NotAuthorizedException", INCORRECT)
            return self._signed_in(pool, client, user)
        if challenge == "NEW_PASSWORD_REQUIRED":
            pending = self._take(_text(body, "Session"), client.client_id)
            user = pool.find(_param(answers, "USERNAME"))
            if user is None or pending.srp is not None or user.username != pending.username:
                raise CognitoError("NotAuthorizedException", "Invalid session for the user.")
            password = _param(answers, "NEW_PASSWORD")
            problem = password_problem(password)
            if problem:
                raise CognitoError("InvalidPasswordException", f"Password does not conform to policy: {problem}")
            pool.set_password(user, password)
            for name, value in answers.items():
                if name.startswith("userAttributes.") and isinstance(value, str):
                    user.attributes[name.removeprefix("userAttributes.")] = value
            return self._signed_in(pool, client, user)
        raise CognitoError(
            NOT_EMULATED,
            f"appsync-emu's Cognito endpoint does not emulate the {challenge} challenge "
            "(it answers PASSWORD_VERIFIER and NEW_PASSWORD_REQUIRED)",
            501,
        )

    # Refresh ----------------------------------------------------------------------------

    def get_tokens_from_refresh_token(self, body: Mapping[str, Any]) -> dict[str, Any]:
        pool, client = self._client(_text(body, "ClientId"))
        self._allow(client, "ALLOW_REFRESH_TOKEN_AUTH", "REFRESH_TOKEN_AUTH")
        return self._refresh(pool, client, _text(body, "RefreshToken"))

    def _refresh(self, pool: Pool, client: AppClient, token: str) -> dict[str, Any]:
        payload = self.refresh.read(token)
        now = self.clock()
        if payload is None or payload.get("pool") != pool.pool_id or payload.get("client") != client.client_id:
            raise CognitoError("NotAuthorizedException", "Invalid Refresh Token")
        if payload.get("jti") in self._revoked:
            raise CognitoError("NotAuthorizedException", "Refresh Token has been revoked")
        if float(payload.get("exp", 0)) <= now:
            raise CognitoError("NotAuthorizedException", "Refresh Token has expired")
        user = pool.users.get(str(payload.get("username")))
        if user is None or not user.enabled:
            raise CognitoError("NotAuthorizedException", "Invalid Refresh Token")
        if float(payload.get("iat", 0)) < user.signed_out_at:
            raise CognitoError("NotAuthorizedException", "Refresh Token has been revoked")
        tokens = self._tokens(pool, client, user, str(payload["jti"]), now)
        return {"ChallengeParameters": {}, "AuthenticationResult": tokens}

    # The signed-in user's operations ----------------------------------------------------------

    def get_user(self, body: Mapping[str, Any]) -> dict[str, Any]:
        _pool, user, _claims = self._access(_text(body, "AccessToken"))
        return {"Username": user.username, "UserAttributes": user.attribute_list()}

    def global_sign_out(self, body: Mapping[str, Any]) -> dict[str, Any]:
        _pool, user, claims = self._access(_text(body, "AccessToken"))
        user.signed_out_at = self.clock()
        self._revoked.add(str(claims.get("origin_jti")))
        return {}

    def revoke_token(self, body: Mapping[str, Any]) -> dict[str, Any]:
        pool, client = self._client(_text(body, "ClientId"))
        payload = self.refresh.read(_text(body, "Token"))
        if payload is None or payload.get("pool") != pool.pool_id:
            raise CognitoError("UnsupportedTokenTypeException", "Unsupported token type")
        if payload.get("client") != client.client_id:
            raise CognitoError("InvalidParameterException", "Token is not issued to this client")
        self._revoked.add(str(payload.get("jti")))
        return {}

    def _access(self, token: str) -> tuple[Pool, User, dict[str, Any]]:
        """The pool, user and claims of a valid access token minted here (Cognito's errors otherwise)."""
        from joserfc import jwt
        from joserfc.errors import JoseError

        invalid = CognitoError("NotAuthorizedException", "Invalid Access Token")
        try:
            unverified = json.loads(_unb64url(token.split(".")[1]))
            pool = next(p for p in self.pools.values() if p.issuer.url == unverified.get("iss"))
            claims = dict(jwt.decode(token, pool.issuer.keyset(), algorithms=["RS256"]).claims)
        except (ValueError, IndexError, StopIteration, JoseError):
            raise invalid from None
        if claims.get("token_use") != "access":
            raise invalid
        if float(claims.get("exp", 0)) <= self.clock():
            raise CognitoError("NotAuthorizedException", "Access Token has expired")
        user = pool.users.get(str(claims.get("username")))
        if user is None:
            raise CognitoError("UserNotFoundException", "User does not exist.")
        # `iat` has whole seconds: tokens of the second of a sign-out other than the one signed out with stay valid.
        if claims.get("origin_jti") in self._revoked or int(claims.get("iat", 0)) < int(user.signed_out_at):
            raise CognitoError("NotAuthorizedException", "Access Token has been revoked")
        return pool, user, claims

    # Helpers ----------------------------------------------------------------------------

    def _client(self, client_id: str) -> tuple[Pool, AppClient]:
        pool = self.clients.get(client_id)
        if pool is None:
            raise CognitoError("ResourceNotFoundException", f"User pool client {client_id} does not exist.")
        return pool, pool.clients[client_id]

    @staticmethod
    def _allow(client: AppClient, flow: str, name: str) -> None:
        if flow in client.flows:
            return
        if name == "USER_SRP_AUTH":
            raise _bad("USER_SRP_AUTH is not enabled for the client.")
        raise _bad(f"{name} flow not enabled for this client")

    @staticmethod
    def _user(pool: Pool, client: AppClient, username: str) -> User:
        user = pool.find(username)
        if user is None:
            if client.hide_unknown_users:
                raise CognitoError("NotAuthorizedException", INCORRECT)
            raise CognitoError("UserNotFoundException", "User does not exist.")
        if not user.enabled:
            raise CognitoError("NotAuthorizedException", "User is disabled.")
        return user

    def _signed_in(self, pool: Pool, client: AppClient, user: User) -> dict[str, Any]:
        """Tokens for a user who proved the password; a challenge first for a temporary one."""
        now = self.clock()
        if user.status == FORCE_CHANGE_PASSWORD:
            session = _b64url(secrets.token_bytes(48))
            self._hold(session, _Pending(pool, client.client_id, user.username, 0.0))
            attributes = {k: v for k, v in user.attributes.items() if k not in ("sub", "email_verified")}
            return {
                "ChallengeName": "NEW_PASSWORD_REQUIRED",
                "Session": session,
                "ChallengeParameters": {
                    "USER_ID_FOR_SRP": user.username,
                    "requiredAttributes": "[]",
                    "userAttributes": json.dumps(attributes),
                },
            }
        refresh, jti = self.refresh.issue(pool.pool_id, client.client_id, user.username, now, REFRESH_TOKEN_TTL_S)
        tokens = self._tokens(pool, client, user, jti, now)
        tokens["RefreshToken"] = refresh
        return {"ChallengeParameters": {}, "AuthenticationResult": tokens}

    def _tokens(self, pool: Pool, client: AppClient, user: User, origin_jti: str, now: float) -> dict[str, Any]:
        common: dict[str, Any] = {"origin_jti": origin_jti, "auth_time": int(now)}
        attributes = {k: _claim(v) for k, v in user.attributes.items()}
        mint = pool.issuer.mint
        id_token = mint(
            username=user.username,
            groups=user.groups,
            claims={**common, **attributes},
            expires_in=ID_TOKEN_TTL_S,
            token_use="id",
            client_id=client.client_id,
            now=now,
        )
        access_token = mint(
            username=user.username,
            groups=user.groups,
            claims=common,
            expires_in=ID_TOKEN_TTL_S,
            token_use="access",
            client_id=client.client_id,
            now=now,
        )
        return {
            "AccessToken": access_token,
            "ExpiresIn": ID_TOKEN_TTL_S,
            "TokenType": "Bearer",
            "IdToken": id_token,
        }

    def _hold(self, key: str, pending: _Pending) -> None:
        pending.expires = self.clock() + SESSION_TTL_S
        self._pending[key] = pending
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    def _take(self, key: str, client_id: str) -> _Pending:
        """The pending challenge `key` names, once (a second answer to the same challenge fails)."""
        pending = self._pending.pop(key, None)
        if pending is None or pending.client_id != client_id:
            raise CognitoError("NotAuthorizedException", "Invalid session for the user.")
        if pending.expires <= self.clock():
            raise CognitoError("NotAuthorizedException", "Invalid session for the user, session is expired.")
        return pending


def _claim(value: str) -> Any:
    """An attribute as a token claim: Cognito writes `*_verified` as booleans."""
    if value in ("true", "false"):
        return value == "true"
    return value


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(f"Missing required parameter {name}" if value is None else f"{name} must be a non-empty string")
    return value


def _param(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(f"Missing required parameter {name}")
    return value


# --- The HTTP endpoint ----------------------------------------------------------------------

_MAX_BODY = 256 * 1024


def is_cognito_call(scope: Scope) -> bool:
    """A request for Cognito's JSON API: `X-Amz-Target: AWSCognitoIdentityProviderService.*`, or its preflight."""
    for key, value in scope.get("headers", ()):
        name = key.lower()
        if name == b"x-amz-target" and value.startswith(TARGET_PREFIX.encode()):
            return True
        if name == b"access-control-request-headers" and b"x-amz-target" in value.lower():
            return True
    return False


def cognito_route(app: CognitoIdpApp) -> BaseRoute:
    """A Starlette route for `app`: `POST /` (and its CORS preflight) carrying a Cognito `X-Amz-Target`."""
    from starlette.routing import BaseRoute, Match, NoMatchFound

    class CognitoRoute(BaseRoute):
        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            if scope["type"] == "http" and scope["path"] == "/" and is_cognito_call(scope):
                return Match.FULL, {}
            return Match.NONE, {}

        def url_path_for(self, name: str, /, **path_params: Any) -> Any:
            raise NoMatchFound(name, path_params)

        async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)

    return CognitoRoute()


class CognitoIdpApp:
    """ASGI handler of Cognito's endpoint: `POST /`, JSON 1.1, CORS for the pages the emulator trusts."""

    def __init__(self, idp: CognitoIdp, origins: OriginPolicy) -> None:
        self.idp = idp
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = str(uuid.uuid4())
        origin = headers.get("origin")
        cors: list[tuple[str, str]] = []
        if not self.origins.trusted_host(headers.get("host")) or (origin and not self._page_allowed(scope)):
            await _reply(send, 403, _error_body("AccessDeniedException", _FOREIGN), request_id, cors)
            return
        if origin:
            cors = [
                ("access-control-allow-origin", origin),
                ("vary", "Origin"),
                ("access-control-expose-headers", "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"),
            ]
        if scope["method"] == "OPTIONS":
            asked = headers.get("access-control-request-headers", "content-type,x-amz-target")
            cors += [
                ("access-control-allow-methods", "POST, OPTIONS"),
                ("access-control-allow-headers", asked),
                ("access-control-max-age", "600"),
            ]
            await _reply(send, 200, b"", request_id, cors, content_type=None)
            return
        if scope["method"] != "POST":
            error = CognitoError("UnknownOperationException", "Cognito's API answers POST only")
            await _reply(send, 400, json.dumps(error.body()).encode(), request_id, cors, error.code)
            return
        operation = headers.get("x-amz-target", "").removeprefix(TARGET_PREFIX)
        raw = await _read(receive)
        try:
            if raw is None:
                raise CognitoError("InvalidParameterException", "Request body is too large", 413)
            try:
                body = json_input.loads((raw or b"{}").decode("utf-8"))
            except UnicodeDecodeError:
                raise CognitoError("SerializationException", "Request body is not UTF-8") from None
            except json_input.BadJson as err:
                raise CognitoError("SerializationException", f"Request body: {err}") from None
            if not isinstance(body, dict):
                raise CognitoError("SerializationException", "Request body must be a JSON object")
            answer = self.idp.call(operation, body)
        except CognitoError as err:
            level = logging.WARNING if err.code == NOT_EMULATED else logging.INFO
            log.log(level, "cognito-idp %s: %s %s", operation, err.code, err.message)
            await _reply(send, err.status, json.dumps(err.body()).encode(), request_id, cors, err.code)
            return
        await _reply(send, 200, json.dumps(answer).encode(), request_id, cors)

    def _page_allowed(self, scope: Scope) -> bool:
        """A page may call: the emulator's own, a loopback origin, or one named with `--allow-origin`."""
        return self.origins.websocket(scope)


_FOREIGN = (
    "The emulator's Cognito endpoint answers pages from loopback origins, its own, and those named with "
    "--allow-origin only."
)


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"__type": code, "message": message}).encode()


async def _read(receive: Receive) -> bytes | None:
    """The body, or None past `_MAX_BODY` (Cognito's requests are a few KB)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(
    send: Send,
    status: int,
    body: bytes,
    request_id: str,
    extra: list[tuple[str, str]],
    error_type: str | None = None,
    content_type: str | None = CONTENT_TYPE,
) -> None:
    headers = [("x-amzn-requestid", request_id), ("content-length", str(len(body))), *extra]
    if content_type:
        headers.append(("content-type", content_type))
    if error_type:
        headers.append(("x-amzn-errortype", f"{error_type}:"))
    raw = [(k.encode(), v.encode("latin-1")) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
