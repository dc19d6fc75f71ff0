"""One log format for the emulator and uvicorn, and no credential in any line.

AppSync writes request and field logs to CloudWatch; the emulator writes them to stderr in
one format (`configure`). uvicorn logs each WebSocket upgrade with its query string, which
for AppSync clients carries the auth header object (`header=<base64 JSON with the API key or
signature>`); `quiet_credentials` rewrites those values before any handler sees them.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"

#: Query parameters of a real-time URL that carry credentials (gql's and Amplify's `header`).
_SECRET_PARAMETERS = re.compile(r"(?<=[?&])(header|payload)=[^&\s\"]*")


def configure(level: str) -> None:
    """The command line's logging: one format for our lines and uvicorn's, at `level`."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    quiet_credentials()


class _RedactCredentials(logging.Filter):
    """Replaces credential-bearing query values in a record's message arguments with `…`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "=" in a for a in record.args):
            record.args = tuple(_SECRET_PARAMETERS.sub(r"\1=…", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "header=" in record.msg:
            record.msg = _SECRET_PARAMETERS.sub(r"\1=…", record.msg)
        return True


_FILTER = _RedactCredentials()


def quiet_credentials() -> None:
    """Install the redaction on uvicorn's loggers (idempotent)."""
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
