"""The Dockerfile cannot be built here (no Docker engine), so its recipe is checked by reading it."""

from __future__ import annotations

import re
import shlex

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_base_image_is_slim_python_of_a_supported_version() -> None:
    [base] = [rest for word, rest in instructions() if word == "FROM"]
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base


def test_runs_as_a_non_root_user_after_installing() -> None:
    words = [w for w, _ in instructions()]
    users = [rest for w, rest in instructions() if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert words.index("USER") > max(i for i, (w, r) in enumerate(instructions()) if w == "RUN" and "pip" in r)


def test_exposes_4000_and_serves_the_mounted_project_on_all_interfaces() -> None:
    assert ("EXPOSE", "4000") in instructions()
    [entry] = [rest for w, rest in instructions() if w == "ENTRYPOINT"]
    assert entry == '["appsync-emu", "serve", "/app", "--host", "0.0.0.0"]'


def test_copied_paths_exist_and_install_matches_the_readme() -> None:
    for word, rest in instructions():
        if word == "COPY":
            for src in shlex.split(rest)[:-1]:
                assert (ROOT / src).exists(), src
    [install] = [rest for w, rest in instructions() if w == "RUN" and "pip install" in rest]
    extras = re.search(r"'\.\[([\w,]+)\]'", install)
    assert extras is not None
    assert f"pip install -e '.[{extras.group(1)}]'" in README


def test_readme_shows_the_docker_run_command() -> None:
    assert 'docker run --rm -p 127.0.0.1:4000:4000 -v "$PWD:/app" appsync-emu' in README
    assert "docker run --rm -p 4000:4000" not in README  # every interface would hand the keys to the network


def test_node_and_npm_come_from_debian_before_the_package_is_installed() -> None:
    runs = [(i, rest) for i, (w, rest) in enumerate(instructions()) if w == "RUN"]
    [(apt, line)] = [(i, rest) for i, rest in runs if "apt-get install" in rest]
    assert re.search(r"apt-get install -y --no-install-recommends nodejs npm\b", line)
    assert "rm -rf /var/lib/apt/lists/*" in line
    assert apt < min(i for i, rest in runs if "pip install" in rest)


def test_prepare_fills_the_cache_as_the_user_that_serves() -> None:
    """esbuild and the AWS SDK clients are in the image, in a cache the non-root user owns and reads."""
    from appsync_emu.cli import build_parser

    steps = instructions()
    env = " ".join(rest for w, rest in steps if w == "ENV")
    cache = re.search(r"APPSYNC_EMU_CACHE_DIR=(\S+)", env)
    assert cache is not None
    user = next(i for i, (w, _) in enumerate(steps) if w == "USER")
    [(prepare, line)] = [(i, rest) for i, (w, rest) in enumerate(steps) if w == "RUN" and "appsync-emu prepare" in rest]
    assert prepare > user
    owner = next(rest for w, rest in steps[:user] if w == "RUN" and "useradd" in rest)
    assert 'install -d -o appsync "$APPSYNC_EMU_CACHE_DIR"' in owner
    command = shlex.split(line.split("&&")[0])
    assert build_parser().parse_args(command[command.index("appsync-emu") + 1 :]).command == "prepare"


def test_the_installed_package_carries_its_node_scripts() -> None:
    """The image installs the package (not editable): the Node.js worker and the DynamoDB engine's launcher go too."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["appsync_emu"]
    for script in ("lambdas/node/worker.mjs", "dynamodb/engine/launcher.mjs"):
        assert (ROOT / "appsync_emu" / script).is_file()
        assert any(fnmatch.fnmatch(script, pattern) for pattern in patterns), script
