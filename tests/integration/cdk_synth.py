"""Synthesizing the CDK fixture apps during the test run, with aws-cdk-lib from npm.

`tests/fixtures/cdk/synth/` pins what synthesis needs (aws-cdk-lib, constructs, and the esbuild
that `NodejsFunction` bundles with); it is installed once per lock file into the emulator's cache
(`cache_dir()/cdk-synth/<hash>`). Each app is copied without its `cdk.out`, its `node_modules`
linked to that install (CDK runs `npx --no-install esbuild` in the app folder), and run with node:
its `cdk.out` is what `cdk synth` would write.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from appsync_emu.lambdas.packages import cache_dir
from tests.conftest import FIXTURES

DEPENDENCIES = FIXTURES / "cdk" / "synth"


def cdk_modules() -> Path:
    """The `node_modules` holding aws-cdk-lib, installed with `npm ci` the first time; skip without node or npm."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: synthesizing a CDK app needs them")
    lock = (DEPENDENCIES / "package-lock.json").read_bytes()
    folder = cache_dir() / "cdk-synth" / hashlib.sha256(lock).hexdigest()[:16]
    if not (folder / "node_modules" / "aws-cdk-lib" / "package.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(DEPENDENCIES / name, folder / name)
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(f"npm could not install aws-cdk-lib for synthesis:\n{done.stderr[-2000:]}")
    return folder / "node_modules"


def synthesize(app: Path, into: Path) -> Path:
    """Synthesize the CDK app folder `app` in a copy under `into`; the new cloud assembly (`cdk.out`)."""
    modules = cdk_modules()
    copy = into / app.name
    shutil.copytree(app, copy, ignore=shutil.ignore_patterns("cdk.out", "node_modules"))
    (copy / "node_modules").symlink_to(modules, target_is_directory=True)
    env = {**os.environ, "NODE_PATH": str(modules), "CDK_DISABLE_VERSION_CHECK": "1"}
    done = subprocess.run(["node", "app.js"], cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"synthesizing {app.name} failed:\n{done.stderr[-3000:]}"
    return copy / "cdk.out"
