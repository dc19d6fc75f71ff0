"""This machine's secret: what makes the emulator's credentials unguessable from outside it.

`/graphql` answers CORS from any origin, as AppSync does, so any web page may send it requests;
what stops a page is the credential. API keys derived from a public template, or a dummy IAM
secret written in our source, would be credentials every page knows. So both also derive from a
random value made once per machine (user) and kept where only that user reads it
(docs/SECURITY.md). Keys stay stable across restarts and when a project moves.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger("appsync_emu.config")
_RANDOM_FOR_THIS_RUN = "credentials are random for this run; --api-key pins the API key"


def secret_path() -> Path:
    """Where this machine's secret is kept: `$XDG_CONFIG_HOME/appsync-emu/secret` (~/.config by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "appsync-emu" / "secret"


@functools.cache
def machine_secret() -> str:
    """A random value made once per machine (user), readable by that user only.

    Where it cannot be kept (no writable home), it is random for this process: keys then change
    on each start, which the banner shows, and `--api-key` pins one.
    """
    path = secret_path()
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    except OSError as err:
        log.info("cannot read %s (%s): %s", path, err, _RANDOM_FOR_THIS_RUN)
        return secrets.token_hex(32)
    value = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(value + "\n")
    except FileExistsError:
        return path.read_text().strip()  # another process made it first
    except OSError as err:
        log.info("cannot keep a secret in %s (%s): %s", path, err, _RANDOM_FOR_THIS_RUN)
    return value


def derived(purpose: str, length: int = 40) -> str:
    """`length` hex characters derived from the machine secret for one `purpose`."""
    return hashlib.sha256(f"{machine_secret()}\0{purpose}".encode()).hexdigest()[:length]
