"""The Dockerfile without a Docker engine (none runs on these machines): its build stage's install steps
run for real in a fresh virtual environment under a temporary "image root", its runtime stage's files are
laid out the same way, then `python -m bot check` and the HEALTHCHECK command run there. The lock file
must cover every dependency pyproject.toml declares, pinned and hash-checked."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
# The runtime stage's RUN steps set up the operating system (Debian's ffmpeg, the user, /data); they
# cannot run here. Anything else in that stage must be added to this test.
SYSTEM_STEPS = (
    "apt-get update",
    "apt-get install -y --no-install-recommends ffmpeg",
    "rm -rf /var/lib/apt/lists/*",
    "useradd --create-home --uid 10001 bot",
    "mkdir /data",
    "chown bot:bot /data",
)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, argument = line.partition(" ")
        found.append((keyword.upper(), argument.strip()))
    return found


def stages(steps: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for step in steps:
        if step[0] == "FROM":
            split.append([])
        split[-1].append(step)
    return split


def env_pairs(argument: str) -> list[tuple[str, str]]:
    return [tuple(word.split("=", 1)) for word in shlex.split(argument)]  # type: ignore[misc]


def locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    return {canonicalize_name(name): version for name, version in pins}


def test_the_lock_pins_every_declared_dependency_with_hashes():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = locked()
    for spec in map(Requirement, declared):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec.name} is missing from requirements.lock: re-run pip-compile (see README)"
        assert spec.specifier.contains(pins[name]), f"{spec.name}=={pins[name]} does not satisfy {spec.specifier}"
    hashed = re.findall(r"^\S+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", (ROOT / "requirements.lock").read_text(), re.M)
    assert len(hashed) == len(pins)  # every pin carries its hashes: pip --require-hashes accepts nothing else


def test_the_dockerfile_is_two_stages_and_runs_as_a_non_root_user():
    build, runtime = stages(instructions((ROOT / "Dockerfile").read_text()))
    assert build[0] == ("FROM", "python:3.11-slim AS build") and runtime[0] == ("FROM", "python:3.11-slim")
    kinds = dict(runtime)
    assert kinds["USER"] == "bot" and kinds["VOLUME"] == "/data"
    assert "--require-hashes -r /app/requirements.lock" in " ".join(arg for kind, arg in build if kind == "RUN")
    assert kinds["HEALTHCHECK"].split(" CMD ")[1] == '["python", "-m", "bot.ops.health"]'
    assert kinds["STOPSIGNAL"] == "SIGTERM"


def image_python() -> tuple[int, int]:
    found = re.search(r"^FROM python:(\d+)\.(\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert found, "the Dockerfile starts from an official python:X.Y image"
    return int(found[1]), int(found[2])


@pytest.mark.slow
@pytest.mark.skipif(
    sys.version_info[:2] != image_python(),
    # requirements.lock is resolved for the image's Python: on 3.13 discord.py also needs audioop-lts,
    # which a lock for 3.11 neither pins nor hashes, so --require-hashes refuses it.
    reason=f"the image runs Python {'.'.join(map(str, image_python()))}; requirements.lock is resolved for it",
)
def test_the_dockerfile_steps_install_and_pass_check_in_a_fresh_venv(tmp_path):
    image = tmp_path / "image"  # stands for the image's /
    image.mkdir()

    def mapped(text: str) -> str:
        return re.sub(r"(?<![\w./-])/(venv|app|data)(?![\w-])", lambda m: str(image / m.group(1)), text)

    env = {"PATH": f"{image / 'venv' / 'bin'}:{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    workdir = image
    build, runtime = stages(instructions((ROOT / "Dockerfile").read_text()))
    for stage in (build, runtime):
        for kind, argument in stage:
            if kind == "ENV":
                for key, value in env_pairs(argument):
                    env[key] = mapped(value.replace("$PATH", env["PATH"]))
            elif kind == "WORKDIR":
                workdir = Path(mapped(argument))
                workdir.mkdir(parents=True, exist_ok=True)
            elif kind == "COPY" and argument.startswith("--from=build "):
                source, target = argument.split()[1:]
                assert Path(mapped(source)).exists() and mapped(source) == mapped(target)  # same path in both
            elif kind == "COPY":
                *sources, target = argument.split()
                destination = Path(mapped(target)) if target.startswith("/") else workdir / target
                for source in sources:
                    origin = ROOT / source
                    if origin.is_dir():
                        shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
                    else:
                        to = destination / origin.name if target.endswith("/") else destination
                        to.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(origin, to)
            elif kind == "RUN" and stage is build:
                run = subprocess.run(
                    ["bash", "-c", mapped(argument)], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
                )
                assert run.returncode == 0, f"RUN {argument}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
            elif kind == "RUN":
                steps = tuple(step.strip() for step in argument.split("&&"))
                assert set(steps) <= set(SYSTEM_STEPS), f"a new runtime step to emulate: {argument}"
                (image / "data").mkdir()

    # The bot imported in the "image" is the copy under /app, with exactly the locked packages.
    python = image / "venv" / "bin" / "python"
    where = subprocess.run(
        [python, "-c", "import bot; print(bot.__file__)"],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    assert where.startswith(str(image / "app" / "bot"))
    frozen = json.loads(
        subprocess.run([python, "-m", "pip", "list", "--format=json"], env=env, capture_output=True, text=True).stdout
    )
    installed = {canonicalize_name(p["name"]): p["version"] for p in frozen}
    for name, version in locked().items():
        assert installed.get(name) == version, name

    # The runtime's own checks, as the image would run them.
    kinds = dict(runtime)
    bot_env = {**env, "DISCORD_TOKEN": TOKEN, "FAL_BACKEND": "simulated"}
    check = subprocess.run(
        [python, "-m", "bot", "check"], cwd=workdir, env=bot_env, capture_output=True, text=True, timeout=300
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "✗" not in check.stdout
    assert f"database SQLite {image / 'data' / 'sora-bot.sqlite3'}: reachable, migrated" in check.stdout
    health = json.loads(kinds["HEALTHCHECK"].split(" CMD ")[1])
    unhealthy = subprocess.run(health, cwd=workdir, env=bot_env, capture_output=True, text=True, timeout=60)
    assert unhealthy.returncode == 1 and "no gateway heartbeat" in unhealthy.stdout  # no bot is running
    assert json.loads(kinds["CMD"]) == ["python", "-m", "bot"]
