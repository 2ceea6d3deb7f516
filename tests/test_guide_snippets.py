"""The Python blocks of README.md, docs/index.md and the guides: every name they use exists.

The blocks of a page run in order, as a reader pastes them, so a block may use
what an earlier block of its page defined; a page that says in its prose that
a name stands for the reader's own object lists it in ``PLACEHOLDERS``. Names
taken from ``libspn_keras`` (``layers.DenseSum``, ``from libspn_keras.models
import ...``) must exist in the package. Nothing is executed beyond the imports
(the README's and the seed example's blocks run in ``test_seed_example.py``).
"""

import ast
import builtins
import importlib
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "docs" / "index.md", *sorted((ROOT / "docs" / "guide").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
#: Names a page's prose introduces as the reader's own ("`model` is any of them, `x` its training data").
PLACEHOLDERS = {"input_contract.md": {"model", "x"}, "sum_ops.md": {"model"}}


def bound_names(tree):
    """Names a block binds: assignments, loop and ``with`` targets, imports, definitions and their arguments."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def package_bindings(tree):
    """``{name: module or object}`` for the names a block takes from ``libspn_keras``."""
    bindings = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "libspn_keras":
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
                bindings[alias.asname or alias.name] = getattr(module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "libspn_keras":
                    module = importlib.import_module(alias.name)
                    bindings[alias.asname or "libspn_keras"] = (
                        module if alias.asname else importlib.import_module("libspn_keras")
                    )
    return bindings


def attribute_chain(node):
    """``("layers", "DenseSum")`` for ``layers.DenseSum``; ``None`` if the chain does not start at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return (node.id, *reversed(parts)) if isinstance(node, ast.Name) else None


def blocks_of(page):
    return [
        ast.parse(block, filename=f"{page.name} block {index}")
        for index, block in enumerate(BLOCK.findall(page.read_text()))
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_name_a_block_uses_is_defined_on_its_page_or_in_the_package(page):
    defined = set(dir(builtins)) | PLACEHOLDERS.get(page.name, set())
    package = {}
    for index, tree in enumerate(blocks_of(page)):
        defined |= bound_names(tree)
        package.update(package_bindings(tree))
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        assert not used - defined, f"{page.name}, Python block {index}: {sorted(used - defined)} used but never defined"
        for node in ast.walk(tree):
            chain = attribute_chain(node) if isinstance(node, ast.Attribute) else None
            if not chain or chain[0] not in package:
                continue
            target = package[chain[0]]
            for part in chain[1:]:
                if not isinstance(target, types.ModuleType):
                    break  # attributes of the package's classes and objects are checked by their own tests
                assert hasattr(target, part), f"{page.name}, Python block {index}: {'.'.join(chain)} does not exist"
                target = getattr(target, part)


def test_the_pages_hold_python_blocks_to_check():
    counts = {page.name: len(BLOCK.findall(page.read_text())) for page in PAGES}
    assert counts["README.md"] >= 1 and counts["queries.md"] >= 4 and sum(counts.values()) >= 15, counts
