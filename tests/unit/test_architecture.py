"""Dependencies point inward (architecture.md): domain <- sources, index, policies,
tracking <- ranking <- service <- api, cli. Walks the imports of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pitchrec"

#: For each layer, the pitchrec layers it must not import.
FORBIDDEN = {
    "domain": {"sources", "index", "policies", "tracking", "ranking", "service", "api", "cli"},
    "policies": {"sources", "index", "tracking", "ranking", "service", "api", "cli", "domain"},
    "sources": {"index", "policies", "tracking", "ranking", "service", "api", "cli"},
    "index": {"policies", "tracking", "ranking", "service", "api", "cli"},
    "ranking": {"tracking", "service", "api", "cli"},
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


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_inward(layer: str) -> None:
    for path in sorted((SRC / layer).rglob("*.py")):
        bad = _imports(path) & FORBIDDEN[layer]
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_policies_speak_no_talentpitch() -> None:
    words = ("resume", "challenge", "talentpitch", "vmp", "flow")
    for path in (SRC / "policies").rglob("*.py"):
        text = path.read_text(encoding="utf-8").lower()
        found = [w for w in words if w in text]
        assert not found, f"{path.name} mentions {found}"
