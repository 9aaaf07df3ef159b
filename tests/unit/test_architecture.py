"""Dependencies point inward (architecture.md):

domain <- sources, index, policies, tracking, legacy <- ranking, learning, archive
<- recommender (the request path) <- service_config, service (the composition root)
<- api, cli; ``lab``
may use anything and nothing uses ``lab``.

Walks the imports of every module (including imports inside functions), and checks in a
fresh interpreter that what ``serve`` loads does not load the lab or matplotlib.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pitchrec"

#: The command line: the app (``cli``), what its commands share, and the commands.
CLI = {"cli", "cli_shared", "cli_database", "cli_feeds", "cli_serving"}
PRODUCT = {
    "domain",
    "models",
    "sources",
    "index",
    "policies",
    "tracking",
    "legacy",
    "ranking",
    "learning",
    "archive",
    "recommender",
    "service_config",
    "service",
    "api",
} | CLI
#: For each layer, the pitchrec layers it may import (besides itself and the top-level
#: helpers errors, logs, progress, settings and settings_*).
ALLOWED = {
    "domain": set(),
    "policies": set(),
    "sources": {"domain"},
    "index": {"domain", "sources", "models"},
    "models": {"domain", "sources"},
    "tracking": {"domain", "legacy", "sources"},
    "legacy": {"domain", "index", "sources"},
    "ranking": {"domain", "index", "sources", "policies", "models"},
    "learning": {"domain", "tracking", "policies", "legacy"},
    "archive": {"domain", "tracking", "sources"},
    "recommender": {"domain", "index", "learning", "legacy", "policies", "ranking", "tracking"},
    "service_config": {"domain", "learning", "ranking", "tracking"},
    "service": {
        "service_config",
        "recommender",
        "domain",
        "index",
        "models",
        "learning",
        "legacy",
        "policies",
        "ranking",
        "tracking",
        "archive",
        "sources",
    },
    "api": PRODUCT - CLI,
    **{module: PRODUCT - {"api"} for module in CLI},
    "entry": {"cli"},
}
HELPERS = {
    "errors",
    "logs",
    "progress",
    "settings",
    "settings_secrets",
    "settings_experiments",
    "__init__",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {n.split(".")[1] for n in names if n.startswith("pitchrec.") and n.count(".") >= 1}


def _modules(layer: str) -> list[Path]:
    single = SRC / f"{layer}.py"
    return [single] if single.exists() else sorted((SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_point_inward(layer: str) -> None:
    assert _modules(layer), layer
    for path in _modules(layer):
        bad = _imports(path) - ALLOWED[layer] - HELPERS - {layer}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py")}
    assert packages | modules <= set(ALLOWED) | HELPERS | {"lab"}


def test_no_product_module_imports_the_lab() -> None:
    for layer in sorted(PRODUCT):
        for path in _modules(layer):
            assert "lab" not in _imports(path), f"{path.relative_to(SRC)} imports pitchrec.lab"


def test_serving_does_not_load_the_lab_or_matplotlib() -> None:
    code = (
        "import sys, pitchrec.entry, pitchrec.cli, pitchrec.api.app; "
        "bad = sorted(m for m in sys.modules if m.startswith(('pitchrec.lab', 'matplotlib'))); "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_policies_speak_no_talentpitch() -> None:
    words = ("resume", "challenge", "talentpitch", "vmp", "flow")
    for path in (SRC / "policies").rglob("*.py"):
        text = path.read_text(encoding="utf-8").lower()
        found = [w for w in words if w in text]
        assert not found, f"{path.name} mentions {found}"


def test_importing_the_library_leaves_blas_threads_alone() -> None:
    """Pinning BLAS threads is the console script's job (pitchrec.entry), not import's."""
    code = (
        "import os, pitchrec; pitchrec.Recommender; "
        "print(os.environ.get('OPENBLAS_NUM_THREADS', 'unset'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unset"


def test_the_console_script_pins_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from pitchrec.entry import BLAS_THREAD_VARIABLES, pin_blas_threads

    for variable in BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "4")  # a choice already made is kept
    pin_blas_threads()
    assert os.environ["OMP_NUM_THREADS"] == "1" == os.environ["OPENBLAS_NUM_THREADS"]
    assert os.environ["MKL_NUM_THREADS"] == "4"


def test_the_package_docstring_example_runs() -> None:
    import doctest

    import pitchrec

    result = doctest.testmod(pitchrec, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0
