"""The environment variables a function's worker starts with: never the server's own environment.

Layers, later wins: a minimal base (PATH, LANG, HOME, TZ, no AWS config files), the emulator's
injected variables (endpoints, API URL, dummy credentials, region), the function's own
`Environment.Variables`, then Lambda's runtime variables. Keys Lambda reserves cannot be set by
the function (Lambda refuses such a deployment); the emulator ignores them with a warning.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from ..config.model import DEFAULT_REGION, LambdaFunction

#: Keys Lambda does not let a function set (Lambda developer guide, "Defined runtime environment variables").
RESERVED_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

#: Used when the emulator injects none: the function then still gets a region and credentials
#: that sign requests (to the emulator) but are worthless against real AWS.
DEFAULT_INJECTED = {
    "AWS_REGION": DEFAULT_REGION,
    "AWS_DEFAULT_REGION": DEFAULT_REGION,
    "AWS_ACCESS_KEY_ID": "ASIAEMULATOREXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "appsync-emu-dummy-secret-access-key-0000",
    "AWS_SESSION_TOKEN": "appsync-emu-dummy-session-token",
}

#: Passed through from the server only when set, because the interpreter itself may need them.
_PASS_THROUGH = ("LD_LIBRARY_PATH", "PYTHONHOME", "SYSTEMROOT")


def base_environment() -> dict[str, str]:
    """What any Python process needs; the interpreter finds its packages through `sys.executable`."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{path}",
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME") or "/tmp",
        "TZ": ":UTC",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.update({k: os.environ[k] for k in _PASS_THROUGH if k in os.environ})
    return env


def log_stream_name() -> str:
    """A fresh stream name per execution environment, in Lambda's `YYYY/MM/DD/[$LATEST]hex` form."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


def runtime_variables(fn: LambdaFunction, stream: str) -> dict[str, str]:
    """The variables Lambda's runtime defines for every function."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
        "LAMBDA_TASK_ROOT": str(fn.code_dir),
        "LAMBDA_RUNTIME_DIR": str(Path(__file__).parent),
        "_HANDLER": fn.handler,
    }


def python_path(fn: LambdaFunction) -> dict[str, str]:
    """PYTHONPATH of a Python function whose requirements were installed: its own value first, then theirs.

    (Node.js functions get their package folders in the NODE_PATH the Node runtime builds.)
    """
    if not fn.runtime.startswith("python") or not fn.dependency_paths:
        return {}
    own = fn.environment.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join([*([own] if own else []), *map(str, fn.dependency_paths)])}


def reserved_keys_set(fn: LambdaFunction) -> list[str]:
    """The reserved keys the function tries to set, which its workers will not see."""
    return sorted(k for k in fn.environment if k in RESERVED_KEYS)


def function_environment(fn: LambdaFunction, injected: Mapping[str, str], stream: str) -> dict[str, str]:
    """The complete environment of one worker of `fn`."""
    env = base_environment()
    env.update(DEFAULT_INJECTED)
    env.update(injected)
    env.update({k: str(v) for k, v in fn.environment.items() if k not in RESERVED_KEYS})
    env.update(python_path(fn))
    env.update(runtime_variables(fn, stream))
    return env
