"""Imports point down the layers only, and the client starts light (no models, parsers or the Assistant)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import its own layer and the layers before it, never one after it.
LAYERS = [
    ("base", ["rag", "rag.errors", "rag.types", "rag.settings", "rag.text", "rag.versions", "rag.bootstrap"]),
    ("backends", ["rag.backends"]),
    ("access", ["rag.access"]),  # keys, audit, limits, the model's queue: used by ingest and the Assistant
    ("ingest", ["rag.ingest"]),
    ("answer", ["rag.answer"]),
    ("assemble", ["rag.assemble"]),  # settings -> components -> Assistant, for the shells and evaluation
    ("evaluation", ["rag.evaluation"]),
    ("shells", ["rag.cli", "rag.server", "rag.client", "rag.__main__", "ui"]),
]


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the longest prefix naming the module (None for modules outside the project)."""
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return best[0] if best else None


def module_name(path: Path) -> str:
    """'rag/answer/policy.py' -> 'rag.answer.policy' ('__init__.py' names its package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Every module an import in the tree names (function-level and TYPE_CHECKING ones too), with its line."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            out.append((node.lineno, base))
    return out


def test_every_module_is_in_a_layer() -> None:
    missing = [module_name(p) for p in sorted((ROOT / "rag").rglob("*.py")) if layer_of(module_name(p)) is None]
    assert not missing


def test_no_import_points_up_the_layers() -> None:
    upward = []
    for path in sorted([*(ROOT / "rag").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        own = layer_of(name)
        for line, target in imported(ast.parse(path.read_text(encoding="utf-8")), package):
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({LAYERS[own][0]}) imports {target} "
                              f"({LAYERS[theirs][0]})")
    assert not upward, "\n".join(upward)


def test_the_layer_table_reads_imports_as_python_does() -> None:
    tree = ast.parse("from .policy import Reason\nfrom .. import text\nimport rag.backends.factory as f\n")
    assert [m for _, m in imported(tree, "rag.answer")] == ["rag.answer.policy", "rag", "rag.backends.factory"]
    assert layer_of("rag.answer.assistant") > layer_of("rag.ingest.clean") > layer_of("rag.backends.stores.base")
    assert layer_of("rag.text") == layer_of("rag") == 0 and layer_of("ui.render") == len(LAYERS) - 1
    assert layer_of("numpy") is None


def loaded_after(imports: str, modules: list[str]) -> list[str]:
    """Which of these modules a fresh interpreter has loaded after `import IMPORTS`."""
    code = f"import json, sys; import {imports}; print(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_importing_the_client_loads_no_models_parsers_or_assistant() -> None:
    heavy = ["rag.answer.assistant", "rag.backends.factory", "trafilatura", "pypdf", "bm25s", "llama_cpp",
             "faiss", "torch", "onnxruntime"]
    assert loaded_after("rag.client", heavy) == []


def test_the_ingest_command_loads_no_assistant_parsers_or_datasketch() -> None:
    """What `rag ingest` imports before it reads a file (each was measured in a one-file change at 10,000 articles:
    the assistant 0.5 s, scipy through datasketch 0.3 s, trafilatura/pypdf/python-docx 0.2 s)."""
    heavy = ["rag.answer.assistant", "llama_cpp", "torch", "scipy.integrate", "datasketch", "trafilatura", "pypdf",
             "docx", "markdown_it"]
    imports = ("rag.cli, rag.ingest.run, rag.backends.factory, rag.backends.stores.faiss_files, "
               "rag.backends.embedders.onnx_runtime")
    assert loaded_after(imports, heavy) == []
