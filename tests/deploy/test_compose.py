"""Structural checks of deploy/compose.yaml and deploy/.env.example (no Docker needed).

What they pin: the start order (seed after MariaDB is healthy; the service and the
archiver after the seed completed and both servers are healthy), health checks that can
pass (the image's /healthz check is switched off where nothing listens), and secrets only
through ``${VAR:?}`` interpolation, each documented in .env.example with a placeholder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"

REQUIRED_VAR = re.compile(r"\$\{(\w+):\?[^}]*\}")
ANY_VAR = re.compile(r"\$\{(\w+)(?::?[-?+][^}]*)?\}")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET", re.I)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def example_vars() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def condition(service: dict[str, Any], dependency: str) -> str:
    value: str = service["depends_on"][dependency]["condition"]
    return value


def test_the_services(services: dict[str, Any]) -> None:
    assert set(services) == {"mariadb", "redis", "seed", "pitchrec", "archiver"}
    assert services["mariadb"]["image"] == "mariadb:10.11"
    assert re.fullmatch(r"redis:7(\.\d+)*(-alpine)?", services["redis"]["image"])


def test_pitchrec_images_are_built_from_the_deploy_dockerfile(services: dict[str, Any]) -> None:
    for name in ("seed", "pitchrec", "archiver"):
        build = services[name]["build"]
        assert build == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
        # Never pulled: a same-named image on a public registry must not replace the build.
        assert services[name]["pull_policy"] == "build"


def test_start_order(services: dict[str, Any]) -> None:
    seed = services["seed"]
    assert condition(seed, "mariadb") == "service_healthy"
    assert seed["restart"] == "no"
    for name in ("pitchrec", "archiver"):
        service = services[name]
        assert condition(service, "seed") == "service_completed_successfully", name
        assert condition(service, "mariadb") == "service_healthy", name
        assert condition(service, "redis") == "service_healthy", name


def test_health_checks_can_pass(services: dict[str, Any]) -> None:
    for name in ("mariadb", "redis"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL"), name
    assert "healthcheck.sh" in services["mariadb"]["healthcheck"]["test"]
    # seed and archiver listen on no port: the image's /healthz check would always fail
    # there (the legacy compose's health check always failed, D-R11).
    for name in ("seed", "archiver"):
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert "healthcheck" not in services["pitchrec"]  # the image's HEALTHCHECK applies


def test_commands(services: dict[str, Any]) -> None:
    seed = " ".join(services["seed"]["command"])
    assert "pitchrec seed --scale 1" in seed
    # The URLs reach the archiver through its environment, not its command line.
    assert services["archiver"]["command"] == ["pitchrec", "archive"]
    assert "command" not in services["pitchrec"]  # the image's CMD: serve --workers 2


def test_pitchrec_containers_are_hardened(services: dict[str, Any]) -> None:
    for name in ("seed", "pitchrec", "archiver"):
        service = services[name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    ports = services["pitchrec"]["ports"]
    assert all(str(p).startswith("127.0.0.1:") for p in ports)


def test_secrets_are_required_interpolations_only(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            text = str(value)
            if SECRET_NAME.search(key):
                assert REQUIRED_VAR.fullmatch(text), (name, key, text)
            if "://" in text and "@" in text:
                credentials = text.split("://", 1)[1].split("@", 1)[0]
                password = credentials.partition(":")[2]
                assert REQUIRED_VAR.fullmatch(password), (name, key)


def test_every_variable_is_documented_with_a_placeholder() -> None:
    lines = COMPOSE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    used = set(ANY_VAR.findall(text))
    required = set(REQUIRED_VAR.findall(text))
    documented = example_vars()
    assert required, "no required variable: where do the secrets come from?"
    assert used <= documented.keys(), used - documented.keys()
    for key in required:
        if SECRET_NAME.search(key):
            assert documented[key] == "change-me", key


def test_the_local_env_file_is_ignored_by_git() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("git is not installed or this is not a git work tree")

    def ignored(path: str) -> bool:
        done = subprocess.run(
            [git, "check-ignore", "-q", "--no-index", path],
            cwd=ROOT,
            capture_output=True,
            timeout=30,
            check=False,
        )
        return done.returncode == 0

    assert ignored("deploy/.env")
    assert ignored("credentials/anything.pem")
    assert not ignored("deploy/.env.example")
