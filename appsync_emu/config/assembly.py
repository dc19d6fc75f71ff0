"""CDK cloud assemblies (`cdk.out/`): the stack that holds the API, and S3 locations as local assets.

`cdk synth` writes each stack's CloudFormation template next to a `manifest.json` and, per stack,
an asset manifest (`<Stack>.assets.json`) naming the local file or folder that `cdk deploy` would
upload to each `s3://bucket/key`. The template is loaded as any other; where it names an S3
location (`CodeS3Location`, `DefinitionS3Location`, Lambda `Code.S3Bucket`/`S3Key`), the asset
that would be uploaded there is read instead: a CDK `NestedStack`'s `TemplateURL` (an S3 URL)
is its `*.nested.template.json` asset. A CDK `Stage` is a nested assembly (`assembly-<Stage>/`
with its own `manifest.json`); its stacks are listed with the others, named `Stage/Stack` as the
CDK CLI names them. The assembly's other stacks answer its `Fn::ImportValue`s through their
exported `Outputs` (`other_stacks`, used by `nested.StackTree`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model import ConfigError, ConfigErrors, Origin

MANIFEST = "manifest.json"
STACK_ARTIFACT = "aws:cloudformation:stack"
ASSET_MANIFEST_ARTIFACT = "cdk:asset-manifest"
NESTED_ASSEMBLY_ARTIFACT = "cdk:cloud-assembly"
API_TYPES = ("AWS::AppSync::GraphQLApi", "AWS::Serverless::GraphQLApi")
_PLACEHOLDER = re.compile(r"\$\{AWS::[A-Za-z]+\}")


@dataclass(frozen=True)
class Asset:
    """One file asset: its local source and where `cdk deploy` uploads it (the bucket may hold `${AWS::…}`)."""

    bucket: str
    key: str
    source: Path

    @functools.cached_property
    def _bucket_pattern(self) -> re.Pattern[str]:
        return re.compile(".+".join(re.escape(part) for part in _PLACEHOLDER.split(self.bucket)))

    def matches(self, bucket: str, key: str) -> bool:
        """Whether `s3://bucket/key` (resolved, with this emulator's account and region) is this asset."""
        return key == self.key and self._bucket_pattern.fullmatch(bucket) is not None


@dataclass(frozen=True)
class StackArtifact:
    """A stack artifact of the assembly: its CloudFormation stack name, template file and CDK path."""

    name: str  # the deployed stack's name (`AWS::StackName`)
    template: Path
    display: str = ""  # the CDK CLI's name for it: `Stack`, or `Stage/Stack` in a nested assembly

    def named(self, name: str) -> bool:
        """Whether `--stack name` chooses this stack (by stack name or the CDK CLI's path)."""
        return name in (self.name, self.display)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigErrors([ConfigError(f"cannot read the cloud assembly file: {exc}", Origin(path))]) from None
    if not isinstance(body, dict):
        raise ConfigErrors([ConfigError("not a cloud assembly file (a JSON object)", Origin(path))])
    return body


def _artifacts(folder: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    artifacts = _read_json(folder / MANIFEST).get("artifacts")
    found = []
    for name, artifact in (artifacts if isinstance(artifacts, dict) else {}).items():
        if isinstance(artifact, dict) and artifact.get("type") == kind:
            properties = artifact.get("properties")
            found.append((str(name), properties if isinstance(properties, dict) else {}))
    return found


def assembly_folder(path: Path) -> Path | None:
    """The cloud assembly `path` is (a folder with `manifest.json`) or holds (a CDK app folder's output), if any."""
    if (path / MANIFEST).is_file():
        return path
    output = "cdk.out"
    if (path / "cdk.json").is_file():
        configured = _read_json(path / "cdk.json").get("output")
        output = configured if isinstance(configured, str) else output
    return path / output if (path / output / MANIFEST).is_file() else None


def stacks(folder: Path, *, nested: bool = True) -> list[StackArtifact]:
    """The assembly's CloudFormation stacks, in manifest order, then (with `nested`) its Stages' stacks."""
    manifest = _read_json(folder / MANIFEST).get("artifacts")
    artifacts = manifest if isinstance(manifest, dict) else {}
    found = []
    for name, properties in _artifacts(folder, STACK_ARTIFACT):
        template = properties.get("templateFile")
        if isinstance(template, str):
            artifact = artifacts.get(name)
            display = artifact.get("displayName") if isinstance(artifact, dict) else None
            stack_name = str(properties.get("stackName") or name)
            found.append(StackArtifact(stack_name, folder / template, str(display or name)))
    for _, properties in _artifacts(folder, NESTED_ASSEMBLY_ARTIFACT) if nested else []:
        directory = properties.get("directoryName")
        if isinstance(directory, str) and (folder / directory / MANIFEST).is_file():
            found += stacks(folder / directory)
    return found


def stack_name(template: Path) -> str | None:
    """The stack name the assembly's manifest gives the stack whose template is `template` (None: no such stack)."""
    folder = template.parent
    if not (folder / MANIFEST).is_file():
        return None
    return next((s.name for s in stacks(folder, nested=False) if s.template.resolve() == template.resolve()), None)


def other_stacks(template: Path) -> list[StackArtifact]:
    """The assembly's stacks other than the one whose template is `template` (none: it is no assembly's stack).

    Their `Outputs` with an `Export` answer the `Fn::ImportValue`s of the served stack (CDK's cross-stack
    references are such exports, named `<Stack>:ExportsOutput…`).
    """
    folder = template.parent
    if not (folder / MANIFEST).is_file():
        return []
    every = stacks(folder, nested=False)
    if all(s.template.resolve() != template.resolve() for s in every):
        return []
    return [s for s in every if s.template.resolve() != template.resolve()]


def _has_api(template: Path, depth: int = 0) -> bool:
    """Whether the stack, or a CDK `NestedStack` under it (an asset of the assembly), defines a GraphQL API."""
    resources = _read_json(template).get("Resources")
    values = [r for r in resources.values() if isinstance(r, dict)] if isinstance(resources, dict) else []
    if any(r.get("Type") in API_TYPES for r in values):
        return True
    keys = {
        text.rpartition("/")[2]
        for r in values
        if r.get("Type") == "AWS::CloudFormation::Stack" and isinstance(r.get("Properties"), dict)
        for text in _strings(r["Properties"].get("TemplateURL"))
    }
    nested = [a.source for a in assets(template) or [] if a.key in keys and a.source.is_file()]
    return depth < 8 and any(_has_api(path, depth + 1) for path in nested)


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a (not yet resolved) template value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def stack_template(path: Path, stack: str | None = None) -> Path | None:
    """The template of the stack to serve from the assembly at `path` (None: `path` is no assembly).

    `stack` names it; otherwise it is the one stack holding a GraphQL API (or the only stack).
    """
    folder = assembly_folder(path)
    if folder is None:
        if stack is not None:
            raise ConfigErrors([ConfigError(f"--stack {stack}: this is not a CDK cloud assembly", Origin(path))])
        return None
    every = stacks(folder)
    listed = ", ".join(s.display or s.name for s in every) or "none"
    if stack is not None:
        chosen = [s for s in every if s.named(stack)]
        if not chosen:
            message = f"the cloud assembly has no stack {stack!r} (its stacks: {listed})"
            raise ConfigErrors([ConfigError(message, Origin(folder / MANIFEST))])
        return chosen[0].template
    with_api = [s for s in every if _has_api(s.template)]
    if len(with_api) == 1 or len(every) == 1:
        return (with_api or every)[0].template
    if with_api:
        names = ", ".join(s.display or s.name for s in with_api)
        message = f"more than one stack of the cloud assembly has a GraphQL API ({names}): choose one with --stack"
    else:
        message = f"no stack of the cloud assembly has an AppSync GraphQL API (its stacks: {listed})"
    raise ConfigErrors([ConfigError(message, Origin(folder / MANIFEST))])


def legacy_asset_parameters(template: Path, body: dict[str, Any]) -> ConfigError | None:
    """The error for a CDK v1 stack, whose assets are template parameters (`AssetParameters…`), not S3 locations.

    CDK v1 (end of support June 2023) names each asset's bucket and key by parameters that `cdk deploy`
    fills in; the emulator reads only CDK v2's asset manifests.
    """
    parameters = body.get("Parameters")
    names = [
        str(n) for n in (parameters if isinstance(parameters, dict) else {}) if str(n).startswith("AssetParameters")
    ]
    if not names or not (template.parent / MANIFEST).is_file():
        return None
    return ConfigError(
        f"this stack was synthesized by CDK v1: its assets are the parameters {names[0]}… that `cdk deploy` fills in, "
        "which the emulator does not read; synthesize the app with CDK v2 (aws-cdk-lib)",
        Origin(template, f"Parameters.{names[0]}"),
    )


def assets(template: Path) -> list[Asset] | None:
    """The file assets of the assembly `template` is in (a stack's or a CDK nested stack's; None: no assembly).

    Read once per version of the manifests: a template names dozens of assets (Amplify's, one per
    resolver template), and each lookup reading every asset manifest again took half the load time.
    """
    folder = template.parent
    if not (folder / MANIFEST).is_file():
        return None
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.json")))
    return list(_folder_assets(folder, stamp))


@functools.lru_cache(maxsize=16)
def _folder_assets(folder: Path, stamp: tuple[tuple[str, int, int], ...]) -> tuple[Asset, ...]:
    """The assets the asset manifests of `folder` name; `stamp` (its JSON files' sizes and times) keys the cache."""
    found = []
    for _, properties in _artifacts(folder, ASSET_MANIFEST_ARTIFACT):
        file = properties.get("file")
        entries = _read_json(folder / file).get("files") if isinstance(file, str) else None
        for entry in (entries if isinstance(entries, dict) else {}).values():
            source = entry.get("source") if isinstance(entry, dict) else None
            destinations = entry.get("destinations") if isinstance(entry, dict) else None
            if not isinstance(source, dict) or not isinstance(source.get("path"), str):
                continue
            for destination in (destinations if isinstance(destinations, dict) else {}).values():
                if isinstance(destination, dict):
                    bucket, key = destination.get("bucketName"), destination.get("objectKey")
                    if isinstance(bucket, str) and isinstance(key, str):
                        found.append(Asset(bucket, key, folder / source["path"]))
    return tuple(found)


_S3_URL = re.compile(r"https://(?:s3[.-][^/]+|s3)\.amazonaws\.com(?:\.cn)?/([^/]+)/(.+)")
_S3_VIRTUAL_HOST_URL = re.compile(r"https://([^/]+)\.s3(?:[.-][^/]+)?\.amazonaws\.com(?:\.cn)?/(.+)")


def _s3_address(location: Any) -> tuple[str, str] | None:
    if isinstance(location, str) and location.startswith("s3://"):
        bucket, _, key = location.removeprefix("s3://").partition("/")
        return bucket, key
    if isinstance(location, str) and location.startswith("https://"):
        match = _S3_URL.fullmatch(location) or _S3_VIRTUAL_HOST_URL.fullmatch(location)
        return (match[1], match[2]) if match else None
    if (
        isinstance(location, dict)
        and isinstance(location.get("S3Bucket"), str)
        and isinstance(location.get("S3Key"), str)
    ):
        return location["S3Bucket"], location["S3Key"]
    return None


def asset_path(location: Any, template: Path, what: str, origin: Origin) -> Path | None:
    """The local asset (file or folder) for an S3 `location` of a cloud assembly's template.

    None where `template` is no stack of an assembly or `location` is no S3 location.
    """
    address = _s3_address(location)
    found = assets(template) if address is not None else None
    if address is None or found is None:
        return None
    for asset in found:
        if asset.matches(*address):
            return asset.source
    raise ConfigError(
        f"{what} s3://{address[0]}/{address[1]} is no asset of the cloud assembly's asset manifests", origin
    )
