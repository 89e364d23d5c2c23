"""The package's layout holds: each wing says what it owns, a phase is one module named as its state and
imports no other phase, and no module imports itself round a circle (imports at module level)."""

import ast
import importlib
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "packages" / "spin_train"


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """The spin_train modules ``path`` imports (a name imported from a package counts when it is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module(path).split(".") if path.name == "__init__.py" else _module(path).split(".")[:-1]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: the package ``level - 1`` folders up, then the module
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            if not base.startswith("spin_train"):
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if _exists(f"{base}.{a.name}")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("spin_train")}
    return found


def _exists(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PKG / relative).with_suffix(".py").exists() or (PKG / relative / "__init__.py").exists()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports in ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_every_wing_names_each_of_its_modules_in_its_docstring():
    wings = sorted(p.parent for p in PKG.glob("*/__init__.py"))
    assert [w.name for w in wings] == ["data", "evaluation", "run", "serving", "training"]
    for wing in wings:
        doc = ast.get_docstring(ast.parse((wing / "__init__.py").read_text(encoding="utf-8")))
        named = {p.stem for p in wing.glob("*.py") if p.name != "__init__.py"} | \
                {p.parent.name for p in wing.glob("*/__init__.py")}
        assert doc and [m for m in sorted(named) if f"``{m}``" not in doc and f"``{m}/``" not in doc] == [], wing


def test_a_phase_is_a_module_named_as_its_state_and_imports_no_other_phase():
    from spin_train.run import phases
    from spin_train.run.run_dir import PHASES

    folder = PKG / "run" / "phases"
    names = {p.stem for p in folder.glob("*.py")} - {"__init__", "context"}
    assert names == set(PHASES) | {"scan"}
    assert [p.name for p in phases.EPOCH] == list(PHASES) and phases.SCAN.name == "scan"
    for name in names:
        assert callable(getattr(importlib.import_module(f"spin_train.run.phases.{name}"), name))
        others = {f"spin_train.run.phases.{other}" for other in names - {name}}
        assert _imports(folder / f"{name}.py", top_level_only=False) & others == set(), name


def test_no_module_imports_itself_round_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check finds a planted one
    graph = {_module(p): _imports(p, top_level_only=True) for p in PKG.rglob("*.py")}
    assert len(graph) > 40 and _cycle(graph) is None
