"""Code and schema text from a template: inline (with its template line) or a local file.

Locations are local paths relative to the template, as they are before `sam package` or
`aws cloudformation package` upload them; an S3 location cannot be read offline, except in a
CDK cloud assembly, whose asset manifests name the local asset behind it (`assembly.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .assembly import asset_path
from .cfn import line_of
from .model import Code, ConfigError, Origin
from .resource import Resource
from .stack import Stack


def local_path(location: Any, template: Path, what: str, origin: Origin) -> Path:
    """A location written in the template, as an absolute local path; S3 locations are errors outside assemblies."""
    asset = asset_path(location, template, what, origin)
    if asset is not None:
        return asset
    if isinstance(location, dict) or (isinstance(location, str) and location.startswith("s3://")):
        raise ConfigError(
            f"{what} must be a local path (the template as before `sam package`), not an S3 location", origin
        )
    if not isinstance(location, str) or not location:
        raise ConfigError(f"{what} must be a path", origin)
    path = Path(location).expanduser()
    return path if path.is_absolute() else template.parent / path


def file_code(location: Any, template: Path, what: str, origin: Origin) -> Code:
    """The text of a code or schema file named in the template."""
    path = local_path(location, template, what, origin)
    if not path.is_file():
        raise ConfigError(f"{what} {location!r} not found (looked for {path})", origin)
    try:
        return Code(path.read_text(encoding="utf-8"), path, 0)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}", origin) from None


def inline_code(text: Any, raw: Any, template: Path, what: str, origin: Origin) -> Code:
    """Inline text, located so that its line N is template line N + `line_offset`."""
    if not isinstance(text, str):
        raise ConfigError(f"{what} must be a string", origin)
    line = line_of(raw) or origin.line or 1
    return Code(text, template, line - 1)


def resource_code(stack: Stack, resource: Resource, inline_key: str, location_key: str) -> Code | None:
    """A resource's code from its inline property or its file location property (None if neither)."""
    properties = stack.properties(resource)
    inline, location = properties.get(inline_key), properties.get(location_key)
    if inline is not None and location is not None:
        raise ConfigError(f"give {inline_key} or {location_key}, not both", resource.at_property(location_key))
    if inline is not None:
        raw = resource.properties.get(inline_key)
        return inline_code(inline, raw, stack.path, inline_key, resource.at_property(inline_key))
    if location is not None:
        return file_code(location, stack.path, location_key, resource.at_property(location_key))
    return None
