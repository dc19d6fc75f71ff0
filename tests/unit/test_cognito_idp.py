"""The Cognito endpoint's core (auth/cognito_idp.py) against real clients' math, without sockets.

pycognito's `AWSSRP` (the Python client of Cognito's SRP variant, what Home Assistant and many
scripts sign in with) talks to the core through a stand-in for its boto3 client, so the SRP
server is checked against an implementation that is not ours.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from appsync_emu.auth.cognito_idp import (
    ALL_AUTH_FLOWS,
    DEFAULT_AUTH_FLOWS,
    AppClient,
    CognitoError,
    CognitoIdp,
    N,
    Pool,
    UserSpec,
    auth_flows,
    pad_hex,
    password_problem,
)
from appsync_emu.auth.cognito_users import (
    DEFAULT_PASSWORD,
    UsersError,
    build_idp,
    parse_user_arg,
    read_users_file,
)
from appsync_emu.auth.issuers import Issuers, LocalIssuer

aws_srp = pytest.importorskip("pycognito.aws_srp", reason="pycognito (test extra) is the reference SRP client")

POOL_ID = "us-east-1_AbCdEf123"
CLIENT = "client0000000000000000000a"
PASSWORD_CLIENT = "client0000000000000000000b"
SRP_ONLY = "client0000000000000000000c"
KEY = RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"}, auto_kid=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def issuer() -> LocalIssuer:
    return LocalIssuer(
        "UserPool",
        f"http://127.0.0.1:4000/{POOL_ID}",
        pool_id=POOL_ID,
        client_ids=[CLIENT, PASSWORD_CLIENT, SRP_ONLY],
        key=KEY,
        logical_id="UserPool",
    )


@pytest.fixture
def idp(clock: Clock) -> CognitoIdp:
    pool = Pool(
        issuer(),
        {
            CLIENT: AppClient(CLIENT),
            PASSWORD_CLIENT: AppClient(PASSWORD_CLIENT, frozenset({"ALLOW_USER_PASSWORD_AUTH"})),
            SRP_ONLY: AppClient(SRP_ONLY, DEFAULT_AUTH_FLOWS, hide_unknown_users=True),
        },
    )
    pool.add(UserSpec("alice", "Passw0rd!", ("admin",), {"email": "alice@example.com", "email_verified": "true"}))
    pool.add(UserSpec("carol", "Temp0rary!", temporary=True))
    pool.add(UserSpec("dave", "Passw0rd!", enabled=False))
    return CognitoIdp([pool], b"k" * 32, clock=clock)


class Boto:
    """Just enough of a boto3 cognito-idp client for pycognito: calls go to the core, errors as boto3's."""

    def __init__(self, idp: CognitoIdp) -> None:
        self.idp = idp
        self.calls: list[str] = []

    def initiate_auth(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("InitiateAuth")
        return self.idp.call("InitiateAuth", kwargs)

    def respond_to_auth_challenge(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("RespondToAuthChallenge")
        return self.idp.call("RespondToAuthChallenge", kwargs)


def srp_sign_in(idp: CognitoIdp, username: str, password: str, client: str = CLIENT) -> dict[str, Any]:
    srp = aws_srp.AWSSRP(username, password, POOL_ID, client, client=Boto(idp))
    result: dict[str, Any] = srp.authenticate_user()
    return result


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, issuer().keyset(), algorithms=["RS256"]).claims)


def test_srp_sign_in_with_pycognito_yields_tokens_of_the_pools_issuer(idp: CognitoIdp) -> None:
    result = srp_sign_in(idp, "alice", "Passw0rd!")["AuthenticationResult"]
    assert set(result) == {"AccessToken", "ExpiresIn", "TokenType", "IdToken", "RefreshToken"}
    assert result["TokenType"] == "Bearer" and result["ExpiresIn"] == 3600
    id_claims = claims(result["IdToken"])
    assert id_claims["iss"] == f"http://127.0.0.1:4000/{POOL_ID}"
    assert id_claims["token_use"] == "id" and id_claims["aud"] == CLIENT
    assert id_claims["cognito:username"] == "alice" and id_claims["cognito:groups"] == ["admin"]
    assert id_claims["email"] == "alice@example.com" and id_claims["email_verified"] is True
    assert id_claims["sub"] == issuer().sub("alice")
    access = claims(result["AccessToken"])
    assert access["token_use"] == "access" and access["client_id"] == CLIENT and access["username"] == "alice"
    assert access["origin_jti"] == id_claims["origin_jti"]
    header = json.loads(base64.urlsafe_b64decode(result["IdToken"].split(".")[0] + "=="))
    assert header == {"kid": KEY.kid, "alg": "RS256"}


def test_srp_with_a_wrong_password_is_refused_in_cognitos_words(idp: CognitoIdp) -> None:
    with pytest.raises(CognitoError) as err:
        srp_sign_in(idp, "alice", "Passw0rd?")
    assert (err.value.code, err.value.message, err.value.status) == (
        "NotAuthorizedException",
        "Incorrect username or password.",
        400,
    )


def test_a_signature_is_good_for_one_answer_only(idp: CognitoIdp) -> None:
    boto = Boto(idp)
    srp = aws_srp.AWSSRP("alice", "Passw0rd!", POOL_ID, CLIENT, client=boto)
    params = srp.get_auth_params()
    challenge = idp.call("InitiateAuth", {"AuthFlow": "USER_SRP_AUTH", "AuthParameters": params, "ClientId": CLIENT})
    assert challenge["ChallengeName"] == "PASSWORD_VERIFIER"
    assert set(challenge["ChallengeParameters"]) == {"SALT", "SRP_B", "SECRET_BLOCK", "USERNAME", "USER_ID_FOR_SRP"}
    answers = srp.process_challenge(challenge["ChallengeParameters"], params)
    body = {"ClientId": CLIENT, "ChallengeName": "PASSWORD_VERIFIER", "ChallengeResponses": answers}
    assert "AuthenticationResult" in idp.call("RespondToAuthChallenge", body)
    with pytest.raises(CognitoError, match="Invalid session"):
        idp.call("RespondToAuthChallenge", body)


def test_a_signature_for_another_timestamp_is_refused(idp: CognitoIdp) -> None:
    srp = aws_srp.AWSSRP("alice", "Passw0rd!", POOL_ID, CLIENT, client=Boto(idp))
    params = srp.get_auth_params()
    challenge = idp.call("InitiateAuth", {"AuthFlow": "USER_SRP_AUTH", "AuthParameters": params, "ClientId": CLIENT})
    answers = srp.process_challenge(challenge["ChallengeParameters"], params)
    answers["TIMESTAMP"] = aws_srp.AWSSRP.get_cognito_formatted_timestamp(datetime.datetime(2020, 1, 1))
    body = {"ClientId": CLIENT, "ChallengeName": "PASSWORD_VERIFIER", "ChallengeResponses": answers}
    with pytest.raises(CognitoError, match="Incorrect username or password"):
        idp.call("RespondToAuthChallenge", body)


def test_srp_a_of_zero_mod_n_is_refused(idp: CognitoIdp) -> None:
    params = {"USERNAME": "alice", "SRP_A": format(N * 2, "x")}
    with pytest.raises(CognitoError) as err:
        idp.call("InitiateAuth", {"AuthFlow": "USER_SRP_AUTH", "AuthParameters": params, "ClientId": CLIENT})
    assert err.value.code == "InvalidParameterException"


def test_a_challenge_expires_after_three_minutes(idp: CognitoIdp, clock: Clock) -> None:
    srp = aws_srp.AWSSRP("alice", "Passw0rd!", POOL_ID, CLIENT, client=Boto(idp))
    params = srp.get_auth_params()
    challenge = idp.call("InitiateAuth", {"AuthFlow": "USER_SRP_AUTH", "AuthParameters": params, "ClientId": CLIENT})
    clock.now += 181
    answers = srp.process_challenge(challenge["ChallengeParameters"], params)
    with pytest.raises(CognitoError, match="session is expired"):
        idp.call(
            "RespondToAuthChallenge",
            {"ClientId": CLIENT, "ChallengeName": "PASSWORD_VERIFIER", "ChallengeResponses": answers},
        )


def password_auth(idp: CognitoIdp, username: str, password: str, client: str = CLIENT) -> dict[str, Any]:
    params = {"USERNAME": username, "PASSWORD": password}
    return idp.call("InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": params, "ClientId": client})


def test_user_password_auth(idp: CognitoIdp) -> None:
    result = password_auth(idp, "alice", "Passw0rd!", PASSWORD_CLIENT)["AuthenticationResult"]
    assert claims(result["IdToken"])["aud"] == PASSWORD_CLIENT
    with pytest.raises(CognitoError, match=r"^Incorrect username or password\.$"):
        password_auth(idp, "alice", "passw0rd!")


@pytest.mark.parametrize(
    ("username", "client", "code", "message"),
    [
        ("nobody", CLIENT, "UserNotFoundException", "User does not exist."),
        ("nobody", SRP_ONLY, "NotAuthorizedException", "Incorrect username or password."),  # existence hidden
        ("dave", CLIENT, "NotAuthorizedException", "User is disabled."),
        ("Alice", CLIENT, "UserNotFoundException", "User does not exist."),  # usernames are case-sensitive
    ],
)
def test_unknown_and_disabled_users(idp: CognitoIdp, username: str, client: str, code: str, message: str) -> None:
    for flow, params in (
        ("USER_SRP_AUTH", {"USERNAME": username, "SRP_A": "abc"}),
        ("USER_PASSWORD_AUTH", {"USERNAME": username, "PASSWORD": "Passw0rd!"}),
    ):
        if client == SRP_ONLY and flow == "USER_PASSWORD_AUTH":
            continue
        with pytest.raises(CognitoError) as err:
            idp.call("InitiateAuth", {"AuthFlow": flow, "AuthParameters": params, "ClientId": client})
        assert (err.value.code, err.value.message) == (code, message)


def test_flows_a_client_does_not_allow(idp: CognitoIdp) -> None:
    with pytest.raises(CognitoError) as err:
        password_auth(idp, "alice", "Passw0rd!", SRP_ONLY)
    assert (err.value.code, err.value.message) == (
        "InvalidParameterException",
        "USER_PASSWORD_AUTH flow not enabled for this client",
    )
    with pytest.raises(CognitoError, match=r"^USER_SRP_AUTH is not enabled for the client\.$"):
        srp_sign_in(idp, "alice", "Passw0rd!", PASSWORD_CLIENT)


def test_auth_flows_from_the_template() -> None:
    assert auth_flows(None) == DEFAULT_AUTH_FLOWS
    assert auth_flows(["ALLOW_USER_PASSWORD_AUTH"]) == {"ALLOW_USER_PASSWORD_AUTH"}
    assert auth_flows(["USER_PASSWORD_AUTH"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert "ALLOW_USER_SRP_AUTH" in ALL_AUTH_FLOWS


def test_unknown_client_admin_flow_and_unknown_flow(idp: CognitoIdp) -> None:
    with pytest.raises(CognitoError) as err:
        password_auth(idp, "alice", "Passw0rd!", "nosuchclient")
    assert (err.value.code, err.value.message) == (
        "ResourceNotFoundException",
        "User pool client nosuchclient does not exist.",
    )
    body = {"AuthFlow": "ADMIN_USER_PASSWORD_AUTH", "AuthParameters": {}, "ClientId": CLIENT}
    with pytest.raises(CognitoError, match=r"^Initiate Auth method not supported\.$"):
        idp.call("InitiateAuth", body)
    with pytest.raises(CognitoError, match="failed to satisfy constraint") as err:
        idp.call("InitiateAuth", {**body, "AuthFlow": "MAGIC"})
    assert err.value.code == "InvalidParameterException"
    with pytest.raises(CognitoError, match="Missing required parameter PASSWORD"):
        idp.call("InitiateAuth", {**body, "AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": {"USERNAME": "alice"}})


def test_what_is_not_emulated_says_so(idp: CognitoIdp) -> None:
    with pytest.raises(CognitoError) as err:
        idp.call("SignUp", {"ClientId": CLIENT, "Username": "x", "Password": "y"})
    assert (err.value.code, err.value.status) == ("NotEmulated", 501)
    assert "SignUp" in err.value.message and "InitiateAuth" in err.value.message
    with pytest.raises(CognitoError, match="CUSTOM_AUTH") as err:
        idp.call("InitiateAuth", {"AuthFlow": "CUSTOM_AUTH", "AuthParameters": {}, "ClientId": CLIENT})
    assert err.value.code == "NotEmulated"


def test_temporary_password_needs_a_new_one_first(idp: CognitoIdp) -> None:
    answer = srp_sign_in_challenge(idp, "carol", "Temp0rary!")
    assert answer["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    assert answer["ChallengeParameters"]["USER_ID_FOR_SRP"] == "carol"
    respond = {
        "ClientId": CLIENT,
        "ChallengeName": "NEW_PASSWORD_REQUIRED",
        "Session": answer["Session"],
        "ChallengeResponses": {"USERNAME": "carol", "NEW_PASSWORD": "short"},
    }
    with pytest.raises(CognitoError) as err:
        idp.call("RespondToAuthChallenge", respond)
    assert (err.value.code, err.value.message) == (
        "InvalidPasswordException",
        "Password does not conform to policy: Password not long enough",
    )
    # A refused answer uses the session up, as Cognito's do: sign in again.
    answer = srp_sign_in_challenge(idp, "carol", "Temp0rary!")
    respond["Session"] = answer["Session"]
    respond["ChallengeResponses"] = {"USERNAME": "carol", "NEW_PASSWORD": "N3w-Password", "userAttributes.name": "C"}
    result = idp.call("RespondToAuthChallenge", respond)["AuthenticationResult"]
    assert claims(result["IdToken"])["name"] == "C"
    assert "AuthenticationResult" in srp_sign_in(idp, "carol", "N3w-Password")
    with pytest.raises(CognitoError, match="Incorrect"):
        srp_sign_in(idp, "carol", "Temp0rary!")


def srp_sign_in_challenge(idp: CognitoIdp, username: str, password: str) -> dict[str, Any]:
    """The answer to PASSWORD_VERIFIER (pycognito raises on NEW_PASSWORD_REQUIRED, so drive it by hand)."""
    srp = aws_srp.AWSSRP(username, password, POOL_ID, CLIENT, client=Boto(idp))
    params = srp.get_auth_params()
    challenge = idp.call("InitiateAuth", {"AuthFlow": "USER_SRP_AUTH", "AuthParameters": params, "ClientId": CLIENT})
    answers = srp.process_challenge(challenge["ChallengeParameters"], params)
    body = {"ClientId": CLIENT, "ChallengeName": "PASSWORD_VERIFIER", "ChallengeResponses": answers}
    return idp.call("RespondToAuthChallenge", body)


def test_password_policy() -> None:
    assert password_problem("Passw0rd!") is None
    assert password_problem("passw0rd!") == "Password must have uppercase characters"
    assert password_problem("Password!") == "Password must have numeric characters"
    assert password_problem("Passw0rdd") == "Password must have symbol characters"


@pytest.fixture
def signed_in(idp: CognitoIdp) -> Iterator[dict[str, Any]]:
    yield srp_sign_in(idp, "alice", "Passw0rd!")["AuthenticationResult"]


def test_refresh_both_ways(idp: CognitoIdp, clock: Clock, signed_in: dict[str, Any]) -> None:
    clock.now += 60
    for flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
        params = {"REFRESH_TOKEN": signed_in["RefreshToken"]}
        result = idp.call("InitiateAuth", {"AuthFlow": flow, "AuthParameters": params, "ClientId": CLIENT})
        tokens = result["AuthenticationResult"]
        assert "RefreshToken" not in tokens
        assert claims(tokens["IdToken"])["iat"] == int(clock.now)
    amplify = idp.call("GetTokensFromRefreshToken", {"ClientId": CLIENT, "RefreshToken": signed_in["RefreshToken"]})
    assert claims(amplify["AuthenticationResult"]["AccessToken"])["username"] == "alice"


def test_refresh_tokens_are_checked(idp: CognitoIdp, clock: Clock, signed_in: dict[str, Any]) -> None:
    token = signed_in["RefreshToken"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad, client in ((forged, CLIENT), (token, SRP_ONLY), ("garbage", CLIENT)):
        with pytest.raises(CognitoError, match=r"^Invalid Refresh Token$"):
            idp.call("GetTokensFromRefreshToken", {"ClientId": client, "RefreshToken": bad})
    # Another server with another machine key does not take it either.
    other = CognitoIdp(list(idp.pools.values()), b"o" * 32, clock=clock)
    with pytest.raises(CognitoError, match="Invalid Refresh Token"):
        other.call("GetTokensFromRefreshToken", {"ClientId": CLIENT, "RefreshToken": token})
    clock.now += 31 * 24 * 3600
    with pytest.raises(CognitoError, match="Refresh Token has expired"):
        idp.call("GetTokensFromRefreshToken", {"ClientId": CLIENT, "RefreshToken": token})


def test_get_user_sign_out_and_revoke(idp: CognitoIdp, clock: Clock, signed_in: dict[str, Any]) -> None:
    user = idp.call("GetUser", {"AccessToken": signed_in["AccessToken"]})
    assert user["Username"] == "alice"
    assert user["UserAttributes"][0] == {"Name": "sub", "Value": issuer().sub("alice")}
    assert {"Name": "email", "Value": "alice@example.com"} in user["UserAttributes"]
    with pytest.raises(CognitoError, match=r"^Invalid Access Token$"):
        idp.call("GetUser", {"AccessToken": signed_in["IdToken"]})  # an id token is not an access token
    with pytest.raises(CognitoError, match=r"^Invalid Access Token$"):
        idp.call("GetUser", {"AccessToken": "a.b.c"})

    idp.call("RevokeToken", {"ClientId": CLIENT, "Token": signed_in["RefreshToken"]})
    with pytest.raises(CognitoError, match="Refresh Token has been revoked"):
        idp.call("GetTokensFromRefreshToken", {"ClientId": CLIENT, "RefreshToken": signed_in["RefreshToken"]})
    with pytest.raises(CognitoError, match="Access Token has been revoked"):
        idp.call("GetUser", {"AccessToken": signed_in["AccessToken"]})

    clock.now += 1
    fresh = srp_sign_in(idp, "alice", "Passw0rd!")["AuthenticationResult"]
    clock.now += 1
    assert idp.call("GlobalSignOut", {"AccessToken": fresh["AccessToken"]}) == {}
    with pytest.raises(CognitoError, match="Access Token has been revoked"):
        idp.call("GetUser", {"AccessToken": fresh["AccessToken"]})
    with pytest.raises(CognitoError, match="Refresh Token has been revoked"):
        idp.call("GetTokensFromRefreshToken", {"ClientId": CLIENT, "RefreshToken": fresh["RefreshToken"]})
    clock.now += 1
    assert "AuthenticationResult" in srp_sign_in(idp, "alice", "Passw0rd!")


def test_salts_are_canonical_hex_for_every_client() -> None:
    # pycognito hashes SALT as sent, Amplify as a number: both agree only on pad_hex's form.
    for value in (1, 0x7F, 0x80, 0xFF00, 0x0ABC):
        text = pad_hex(value)
        assert aws_srp.pad_hex(text) == text == aws_srp.pad_hex(value)


# --- Users: file, --user, defaults -----------------------------------------------------------


def issuers() -> Issuers:
    return Issuers([issuer()])


def test_default_users_sign_in() -> None:
    idp = build_idp(issuers(), b"k" * 32)
    pool = idp.pools[POOL_ID]
    assert sorted(pool.users) == ["alice", "bob"]
    assert pool.users["alice"].groups == ("admin",)
    assert "AuthenticationResult" in srp_sign_in(idp, "bob", DEFAULT_PASSWORD)


def test_users_file_and_cli_users(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(
        "UserPool:\n"
        "  - username: erin\n"
        "    password: Er1n-pass\n"
        "    groups: [editors]\n"
        "    attributes: {email: erin@example.com, email_verified: true}\n"
        "'*':\n"
        "  - {username: frank, password: 12345678, temporary: true}\n"
    )
    idp = build_idp(issuers(), b"k" * 32, users_file=path, users=["gina:pa:ss:admin,editor", "hal:Hal-pass1"])
    users = idp.pools[POOL_ID].users
    assert sorted(users) == ["erin", "frank", "gina", "hal"]
    assert users["erin"].attributes == {"email": "erin@example.com", "email_verified": "true"}
    assert users["frank"].status == "FORCE_CHANGE_PASSWORD"
    assert users["gina"].groups == ("admin", "editor")
    assert "AuthenticationResult" in srp_sign_in(idp, "gina", "pa:ss")
    assert "AuthenticationResult" in srp_sign_in(idp, "hal", "Hal-pass1")


def test_parse_user_arg() -> None:
    assert parse_user_arg("alice:Passw0rd!").groups == ()
    assert parse_user_arg("alice:Passw0rd!:admin, editor").groups == ("admin", "editor")
    assert parse_user_arg("alice:pa:ss:").password == "pa:ss"
    for bad in ("alice", "alice:", ":pw", "alice::admin"):
        with pytest.raises(UsersError):
            parse_user_arg(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n", "expected a mapping of pool"),
        ("UserPool: {}\n", "UserPool: expected a list of users"),
        ("UserPool:\n  - {username: a}\n", r"UserPool\[0\] \(a\): password must be"),
        ("UserPool:\n  - {username: a, password: b, group: [x]}\n", "unknown key"),
        ("Nope:\n  - {username: a, password: b}\n", "no user pool 'Nope'; the template's pools are: UserPool"),
        ("UserPool: [\n", "not YAML"),
    ],
)
def test_users_file_errors_say_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(UsersError, match=message):
        build_idp(issuers(), b"k" * 32, users_file=path)
    with pytest.raises(UsersError, match="No such file"):
        read_users_file(tmp_path / "missing.yaml")


def test_template_client_settings() -> None:
    settings = {CLIENT: {"ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH"], "PreventUserExistenceErrors": "ENABLED"}}
    idp = build_idp(issuers(), b"k" * 32, client_settings=settings)
    client = idp.pools[POOL_ID].clients[CLIENT]
    assert client.flows == {"ALLOW_USER_SRP_AUTH"} and client.hide_unknown_users
    assert idp.pools[POOL_ID].clients[PASSWORD_CLIENT].flows == ALL_AUTH_FLOWS  # no template entry: all flows


def test_cognito_endpoints_route_to_the_emulator() -> None:
    from appsync_emu.config.model import LocalEndpoints
    from appsync_emu.endpoints import EndpointRouter, served_endpoints

    router = EndpointRouter(served_endpoints(LocalEndpoints("127.0.0.1", 4000)))
    target = router.route("https://cognito-idp.eu-west-1.amazonaws.com/")
    assert (target.url, target.local) == ("http://127.0.0.1:4000", True)


def test_sign_in_with_an_email_alias_and_case_insensitive_usernames() -> None:
    pools = {POOL_ID: {"UsernameAttributes": ["email"], "UsernameConfiguration": {"CaseSensitive": False}}}
    idp = build_idp(issuers(), b"k" * 32, pool_settings=pools)
    result = srp_sign_in(idp, "Alice@Example.com", DEFAULT_PASSWORD)["AuthenticationResult"]
    assert claims(result["IdToken"])["cognito:username"] == "alice"
    assert "AuthenticationResult" in srp_sign_in(idp, "ALICE", DEFAULT_PASSWORD)
    assert "AuthenticationResult" in password_auth(idp, "bob@example.com", DEFAULT_PASSWORD)
    # Cognito's default: case-sensitive usernames, no aliases
    strict = build_idp(issuers(), b"k" * 32)
    for name in ("ALICE", "alice@example.com"):
        with pytest.raises(CognitoError, match="User does not exist"):
            password_auth(strict, name, DEFAULT_PASSWORD)
    exact = build_idp(issuers(), b"k" * 32, pool_settings={POOL_ID: {"AliasAttributes": ["email"]}})
    assert "AuthenticationResult" in password_auth(exact, "alice@example.com", DEFAULT_PASSWORD)
    with pytest.raises(CognitoError, match="User does not exist"):
        password_auth(exact, "ALICE@example.com", DEFAULT_PASSWORD)


def test_a_client_secret_is_named_as_not_checked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="appsync_emu.auth"):
        build_idp(issuers(), b"k" * 32, client_settings={CLIENT: {"GenerateSecret": True}})
    assert f"Cognito app client {CLIENT} has GenerateSecret: true" in caplog.text
    assert "SECRET_HASH" in caplog.text
