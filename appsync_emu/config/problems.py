"""Collects every error and warning found while loading a template, instead of stopping at the first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from .model import ConfigError, Origin

T = TypeVar("T")


class Problems:
    """Errors (the template cannot be served as written) and warnings (served with a placeholder)."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []
        self._seen: set[str] = set()
        self._warned: set[str] = set()
        self._quiet = 0

    def error(self, message: str, origin: Origin | None = None) -> None:
        """Record one error; the same message at the same place is recorded once."""
        self.add(ConfigError(message, origin))

    def add(self, error: ConfigError) -> None:
        """Record an error raised by a helper."""
        if str(error) not in self._seen:
            self._seen.add(str(error))
            self.errors.append(error)

    def warn(self, message: str, origin: Origin | None = None) -> None:
        """Record one warning, once (whoever loaded the template prints or logs them)."""
        text = f"{origin}: {message}" if origin else message
        if not self._quiet and text not in self._warned:
            self._warned.add(text)
            self.warnings.append(text)

    def attempt(self, build: Callable[[], T]) -> T | None:
        """Run `build`; a ConfigError it raises is recorded and gives None, so loading goes on."""
        try:
            return build()
        except ConfigError as error:
            self.add(error)
            return None

    @contextmanager
    def errors_only(self) -> Iterator[None]:
        """Within the block, warnings are dropped (for resources the emulator does not use)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1
