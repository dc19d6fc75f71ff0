"""Which Cognito Identity Provider should answer Amplify's `signIn` on the emulator (issue 12)?

Compares moto's `cognitoidp` backend with the emulator's own `auth/cognito_idp.py`, each in a
fresh Python process per round (rounds interleave them, A B, A B, ...):

- import: wall time to import what answers the calls (moto: `moto.cognitoidp.models` and
  `.responses`; ours: `appsync_emu.auth.cognito_idp`, `.cognito_users`, `.issuers`), and the
  process's RSS after it (psutil);
- first sign-in: from nothing to the first `InitiateAuth` USER_PASSWORD_AUTH answered with tokens
  (a pool, an app client and one user created first; the JWT library's first import included);
- a warm `USER_PASSWORD_AUTH` and a warm SRP sign-in (pycognito's `AWSSRP`, the same client
  against both), median of 20;
- fidelity: does an SRP sign-in with a **wrong** password get tokens? Which key signs the tokens
  (`kid`)? Is `SRP_B` a valid group element (so the math a client does means anything)?
- weight: the installed size of what each needs beyond the emulator's own dependencies.

moto and pycognito are not the emulator's dependencies; install them in a scratch venv:

    python3.11 -m venv ~/.cache/cognito-idp-bench
    ~/.cache/cognito-idp-bench/bin/pip install 'moto[cognitoidp]==5.2.1' pycognito==2024.5.1 psutil
    .venv/bin/python bench/cognito_idp.py --moto-python ~/.cache/cognito-idp-bench/bin/python

The emulator's side runs with this interpreter (the project's venv: pycognito is in its `test` extra).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PRELUDE = """
import json, os, statistics, sys, time
t0 = time.perf_counter()
"""

MOTO = _PRELUDE + textwrap.dedent(
    """
    import moto.cognitoidp.models as models
    import moto.cognitoidp.responses  # noqa: F401  (what serves the JSON API)
    import psutil
    t_import = time.perf_counter() - t0
    rss_import = psutil.Process().memory_info().rss
    t1 = time.perf_counter()
    backend = models.cognitoidp_backends["123456789012"]["us-east-1"]
    pool = backend.create_user_pool("bench", {})
    client = backend.create_user_pool_client(
        pool.id, False, {"ClientName": "app", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"]}
    )
    backend.admin_create_user(pool.id, "alice", "SUPPRESS", "Temp0rary!", [])
    backend.admin_set_user_password(pool.id, "alice", "Passw0rd!", True)
    params = {"USERNAME": "alice", "PASSWORD": "Passw0rd!"}
    first = backend.initiate_auth(client.id, "USER_PASSWORD_AUTH", params)
    t_first = time.perf_counter() - t1
    assert "AuthenticationResult" in first, first
    warm = []
    for _ in range(20):
        t = time.perf_counter()
        backend.initiate_auth(client.id, "USER_PASSWORD_AUTH", params)
        warm.append(time.perf_counter() - t)

    class Boto:
        def initiate_auth(self, **kw):
            return backend.initiate_auth(kw["ClientId"], kw["AuthFlow"], kw["AuthParameters"])

        def respond_to_auth_challenge(self, **kw):
            return backend.respond_to_auth_challenge(
                kw.get("Session"), kw["ClientId"], kw["ChallengeName"], kw["ChallengeResponses"]
            )

    from pycognito.aws_srp import AWSSRP, N_HEX

    srp = []
    for _ in range(20):
        t = time.perf_counter()
        AWSSRP("alice", "Passw0rd!", pool.id, client.id, client=Boto()).authenticate_user()
        srp.append(time.perf_counter() - t)
    wrong = AWSSRP("alice", "not-the-password", pool.id, client.id, client=Boto())
    try:
        wrong_gets_tokens = "AuthenticationResult" in wrong.authenticate_user()
    except Exception:
        wrong_gets_tokens = False
    challenge = backend.initiate_auth(client.id, "USER_SRP_AUTH", {"USERNAME": "alice", "SRP_A": "abc"})
    b = int(challenge["ChallengeParameters"]["SRP_B"], 16)
    import base64
    header = json.loads(base64.urlsafe_b64decode(first["AuthenticationResult"]["IdToken"].split(".")[0] + "=="))
    print(json.dumps({
        "import_s": t_import, "rss_import": rss_import, "first_signin_s": t_first,
        "password_auth_s": statistics.median(warm), "srp_signin_s": statistics.median(srp),
        "wrong_password_srp_gets_tokens": wrong_gets_tokens, "kid": header.get("kid"),
        "srp_b_bits": b.bit_length(), "group_bits": int(N_HEX, 16).bit_length(),
        "rss_end": psutil.Process().memory_info().rss,
    }))
    """
)

OURS = _PRELUDE + textwrap.dedent(
    """
    from appsync_emu.auth.cognito_idp import N
    from appsync_emu.auth.cognito_users import build_idp
    from appsync_emu.auth.issuers import Issuers, LocalIssuer
    import psutil
    t_import = time.perf_counter() - t0
    rss_import = psutil.Process().memory_info().rss
    t1 = time.perf_counter()
    pool_id = "us-east-1_Bench0001"
    issuer = LocalIssuer("Pool", "http://127.0.0.1:4000/" + pool_id, pool_id=pool_id, client_ids=["app"])
    idp = build_idp(Issuers([issuer]), b"k" * 32, users=["alice:Passw0rd!"])
    params = {"USERNAME": "alice", "PASSWORD": "Passw0rd!"}
    body = {"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": params, "ClientId": "app"}
    first = idp.call("InitiateAuth", body)
    t_first = time.perf_counter() - t1
    warm = []
    for _ in range(20):
        t = time.perf_counter()
        idp.call("InitiateAuth", body)
        warm.append(time.perf_counter() - t)

    class Boto:
        def initiate_auth(self, **kw):
            return idp.call("InitiateAuth", kw)

        def respond_to_auth_challenge(self, **kw):
            return idp.call("RespondToAuthChallenge", kw)

    from pycognito.aws_srp import AWSSRP

    srp = []
    for _ in range(20):
        t = time.perf_counter()
        AWSSRP("alice", "Passw0rd!", pool_id, "app", client=Boto()).authenticate_user()
        srp.append(time.perf_counter() - t)
    try:
        wrong_gets_tokens = "AuthenticationResult" in AWSSRP(
            "alice", "not-the-password", pool_id, "app", client=Boto()
        ).authenticate_user()
    except Exception:
        wrong_gets_tokens = False
    challenge = idp.call("InitiateAuth", {**body, "AuthFlow": "USER_SRP_AUTH",
                                          "AuthParameters": {"USERNAME": "alice", "SRP_A": "abc"}})
    b = int(challenge["ChallengeParameters"]["SRP_B"], 16)
    import base64
    header = json.loads(base64.urlsafe_b64decode(first["AuthenticationResult"]["IdToken"].split(".")[0] + "=="))
    print(json.dumps({
        "import_s": t_import, "rss_import": rss_import, "first_signin_s": t_first,
        "password_auth_s": statistics.median(warm), "srp_signin_s": statistics.median(srp),
        "wrong_password_srp_gets_tokens": wrong_gets_tokens, "kid": header.get("kid"),
        "srp_b_bits": b.bit_length(), "group_bits": N.bit_length(),
        "rss_end": psutil.Process().memory_info().rss,
    }))
    """
)

#: What each needs beyond the emulator's own dependencies (moto's import chain; our side adds none).
MOTO_EXTRA = ("moto", "boto3", "botocore", "s3transfer", "jmespath", "responses", "werkzeug", "xmltodict", "requests")


def run(python: str, code: str) -> dict[str, object]:
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{python} failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def site_size(python: str, packages: tuple[str, ...]) -> int:
    code = (
        "import importlib.util, os, sys, json\n"
        "total = 0\n"
        f"for name in {list(packages)!r}:\n"
        "    spec = importlib.util.find_spec(name)\n"
        "    if spec is None or not spec.submodule_search_locations: continue\n"
        "    for root, _, files in os.walk(list(spec.submodule_search_locations)[0]):\n"
        "        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)\n"
        "print(total)\n"
    )
    return int(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moto-python", default=str(Path.home() / ".cache/cognito-idp-bench/bin/python"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, object]]] = {"moto": [], "ours": []}
    for _ in range(args.rounds):
        results["moto"].append(run(args.moto_python, MOTO))
        results["ours"].append(run(sys.executable, OURS))

    def med(name: str, key: str, scale: float = 1.0) -> str:
        values = [float(r[key]) * scale for r in results[name]]  # type: ignore[arg-type]
        return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"

    rows = [
        ("import (ms)", "import_s", 1000),
        ("RSS after import (MiB)", "rss_import", 1 / 2**20),
        ("first sign-in (ms)", "first_signin_s", 1000),
        ("warm USER_PASSWORD_AUTH (ms)", "password_auth_s", 1000),
        ("warm SRP sign-in, pycognito (ms)", "srp_signin_s", 1000),
    ]
    print(f"{'':36} {'moto 5.2.1':>22} {'appsync-emu':>22}")
    for label, key, scale in rows:
        print(f"{label:36} {med('moto', key, scale):>22} {med('ours', key, scale):>22}")
    for key in ("wrong_password_srp_gets_tokens", "kid", "srp_b_bits", "group_bits"):
        print(f"{key:36} {results['moto'][0][key]!s:>22} {results['ours'][0][key]!s:>22}")
    moto_mb = site_size(args.moto_python, MOTO_EXTRA) / 2**20
    print(f"{'installed beyond our deps (MiB)':36} {moto_mb:>22.1f} {0.0:>22.1f}")
    print(
        "SUMMARY moto import "
        + med("moto", "import_s", 1000)
        + " ms, ours "
        + med("ours", "import_s", 1000)
        + " ms; wrong SRP password gets tokens: moto "
        + str(results["moto"][0]["wrong_password_srp_gets_tokens"])
        + ", ours "
        + str(results["ours"][0]["wrong_password_srp_gets_tokens"])
    )


if __name__ == "__main__":
    main()
