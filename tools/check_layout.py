#!/usr/bin/env python3
"""Check genorm's layout by reading its source with ``ast`` (nothing is imported).

Limits (a finding fails: exit 1, and tests/test_layout.py fails):

* **import cycles between genorm modules**; imports at module level and inside functions both count (an import
  under ``if TYPE_CHECKING:`` does not: it never runs);
* **import cycles between packages**: ``genorm.a.x`` importing ``genorm.b.y`` while ``genorm.b.*`` imports
  ``genorm.a.*`` (longer rings too). A subpackage (its ``__init__`` and everything under it) is one node, a
  top-level module such as ``genorm.rundir`` is its own node, and so is the root ``genorm/__init__.py`` (a ring
  of top-level modules only is a module cycle, reported once, above);
* **private Keras/TensorFlow API outside genorm/_compat.py**: imports of ``keras.src`` / ``tensorflow.python``,
  attribute chains through them, underscored attributes reached from a ``keras`` / ``tensorflow`` import, and
  underscored attributes of names that by convention hold Keras/TF objects (``model._x``, ``self.model._x``,
  ``strategy._x``, ``optimizer._x``, ...: a heuristic, the source has no types);
* **sys.modules patches**: ``sys.modules[...].__class__ = ...`` or ``sys.modules[...] = ...``.

Review flags (listed for a reader to look at; they never fail and never change the exit status; never move code
only to silence one, split by concern):

* **modules over 600 lines**;
* **functions over 80 lines** (methods and nested functions too, from ``def`` to the last line);
* **functions with more than 8 parameters** (``self`` / ``cls`` and ``*args`` / ``**kwargs`` not counted);
* **modules without tests**: ``genorm/x.py`` wants ``tests/test_x.py`` (for ``genorm/sub/x.py`` also accepted:
  ``tests/sub/test_x.py``, ``tests/test_sub_x.py``); ``__init__.py`` and ``__main__.py`` are exempt.

Usage::

    python tools/check_layout.py                 # exit 1 when a limit is broken (flags never count)
    python tools/check_layout.py --report-only   # print the same, exit 0
    python tools/check_layout.py --summary       # also each module's lines and dependency layer, and the packages

A module's *layer* is 0 when it imports no other genorm module, else one more than the highest layer it imports
(modules of one import cycle share a layer).
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

PACKAGE = "genorm"
COMPAT = "genorm._compat"
MAX_MODULE_LINES = 600  # review flag
MAX_FUNCTION_LINES = 80  # review flag
MAX_PARAMETERS = 8  # review flag
PRIVATE_PREFIXES = ("keras.src", "tensorflow.python", "tf_keras.src")
KERAS_TF_ROOTS = ("keras", "tensorflow", "tf_keras")
# variable names that by convention hold Keras/TF objects: their underscored attributes are private API
KERAS_TF_NAMES = frozenset({"model", "layer", "layers", "optimizer", "strategy", "extended", "callback", "cell",
                            "metric", "loss", "tf_trainer", "trainer", "keras_model", "dist_strategy"})


@dataclass
class Module:
    name: str  # dotted, e.g. genorm.training.trainer
    path: Path
    tree: ast.Module
    lines: int
    imports: dict[str, int] = field(default_factory=dict)  # imported genorm module -> first line


@dataclass
class Findings:
    # limits: any one fails
    cycles: list[str] = field(default_factory=list)
    package_cycles: list[str] = field(default_factory=list)
    private_api: list[str] = field(default_factory=list)
    module_patches: list[str] = field(default_factory=list)
    # review flags: listed, never failing
    long_modules: list[str] = field(default_factory=list)
    long_functions: list[str] = field(default_factory=list)
    many_parameters: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)

    def limits(self) -> list[tuple[str, list[str]]]:
        """The sections whose findings fail."""
        return [("import cycles between genorm modules", self.cycles),
                ("import cycles between genorm packages", self.package_cycles),
                ("private Keras/TensorFlow API outside genorm/_compat.py", self.private_api),
                ("sys.modules patches", self.module_patches)]

    def flags(self) -> list[tuple[str, list[str]]]:
        """The sections listed for review only."""
        return [(f"modules over {MAX_MODULE_LINES} lines", self.long_modules),
                (f"functions over {MAX_FUNCTION_LINES} lines", self.long_functions),
                (f"functions with more than {MAX_PARAMETERS} parameters", self.many_parameters),
                ("modules without tests/test_<module>.py", self.untested)]

    def sections(self) -> list[tuple[str, list[str]]]:
        return self.limits() + self.flags()

    @property
    def total(self) -> int:
        """Broken limits (review flags not counted)."""
        return sum(len(items) for _, items in self.limits())

    @property
    def flagged(self) -> int:
        return sum(len(items) for _, items in self.flags())


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def load_modules(src: Path) -> dict[str, Module]:
    """Every ``.py`` file under ``src/genorm``, parsed, by dotted module name."""
    modules = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = module_name(path, src)
        modules[name] = Module(name, path, ast.parse(text, filename=str(path)), len(text.splitlines()))
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _absolute(node: ast.ImportFrom, module: Module) -> str:
    if not node.level:
        return node.module or ""
    package = module.name.split(".")
    if module.path.name != "__init__.py":
        package = package[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _nearest_module(name: str, modules: dict[str, Module]) -> str:
    """``name`` or its closest enclosing package that is a module of ours ("" for none)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def imported_modules(node: ast.Import | ast.ImportFrom, module: Module, modules: dict[str, Module]) -> list[str]:
    """The genorm modules an import statement runs: ``from genorm import x`` is ``genorm.x`` when that is a module,
    else ``genorm`` (the package's ``__init__``); ``import genorm.x`` is ``genorm.x``."""
    if isinstance(node, ast.Import):
        return [_nearest_module(alias.name, modules) for alias in node.names]
    base = _absolute(node, module)
    found = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else _nearest_module(base, modules)
             for a in node.names]
    return found


def resolve_imports(modules: dict[str, Module]) -> None:
    """Fill ``Module.imports`` with the genorm modules each module imports (anywhere but TYPE_CHECKING)."""
    for module in modules.values():
        skip = _type_checking_nodes(module.tree)
        for node in ast.walk(module.tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in skip:
                continue
            for target in imported_modules(node, module, modules):
                if target and target != module.name:
                    module.imports.setdefault(target, node.lineno)


def strongly_connected(graph: dict[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` (node -> nodes it imports), in reverse topological
    order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the number of nodes
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            components.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return components


def _shortest_cycle(component: list[str], graph: dict[str, Iterable[str]]) -> list[str]:
    """The shortest cycle through the component's first node: ``[start, ..., start]``."""
    members = set(component)
    start = component[0]
    parent: dict[str, str] = {}
    queue = [start]
    while queue and start not in parent:
        current = queue.pop(0)
        for nxt in sorted(graph[current]):
            if nxt in members and nxt not in parent:
                parent[nxt] = current
                queue.append(nxt)
    path = [start]
    while path[-1] != start or len(path) == 1:
        path.append(parent[path[-1]])
    path.reverse()
    return path


def _import_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    return {name: set(m.imports) for name, m in modules.items()}


def check_cycles(modules: dict[str, Module]) -> list[str]:
    """One line per cycle of modules: its members, then the shortest ring with the line of each import."""
    graph = _import_graph(modules)
    found = []
    for component in strongly_connected(graph):
        if len(component) > 1:
            path = _shortest_cycle(component, graph)
            steps = "".join(f"{a} (line {modules[a].imports[b]}) -> " for a, b in zip(path, path[1:]))
            found.append(f"{', '.join(component)}: {steps}{path[0]}")
    return found


def package_of(name: str) -> str:
    """The node a module is in the package graph: ``genorm.a`` for ``genorm.a`` and every ``genorm.a.*``; a
    top-level module (``genorm.rundir``) and the root ``genorm`` are their own nodes."""
    return ".".join(name.split(".")[:2])


def package_imports(modules: dict[str, Module], root: Path) -> dict[str, dict[str, str]]:
    """package -> {package it imports: the first import that makes the edge, as ``path:line module``}."""
    graph: dict[str, dict[str, str]] = {package_of(n): {} for n in modules}
    for name in sorted(modules):
        m = modules[name]
        for target, line in sorted(m.imports.items(), key=lambda kv: (kv[1], kv[0])):
            a, b = package_of(name), package_of(target)
            if a != b:
                graph[a].setdefault(b, f"{_relative(m.path, root)}:{line} imports {target}")
    return graph


def check_package_cycles(modules: dict[str, Module], root: Path) -> list[str]:
    """One line per cycle of packages: its members, then the shortest ring with one import per arrow. A ring of
    top-level modules only is a cycle of modules, already reported by :func:`check_cycles`: not repeated here."""
    graph = package_imports(modules, root)
    packages = {package_of(n) for n, m in modules.items() if m.path.name == "__init__.py" and n != PACKAGE}
    found = []
    for component in strongly_connected(graph):
        if len(component) > 1 and packages.intersection(component):
            path = _shortest_cycle(component, graph)
            steps = "".join(f"{a} ({graph[a][b]}) -> " for a, b in zip(path, path[1:]))
            found.append(f"{', '.join(component)}: {steps}{path[0]}")
    return found


def layers(modules: dict[str, Module]) -> dict[str, int]:
    """Each module's dependency layer (see the module docs)."""
    layer: dict[str, int] = {}
    for component in strongly_connected(_import_graph(modules)):  # dependencies come first
        members = set(component)
        deps = [layer[d] for m in component for d in modules[m].imports if d not in members]
        for m in component:
            layer[m] = max(deps, default=-1) + 1
    return layer


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Named parameters, ``self`` / ``cls`` of a method not counted (nor ``*args`` / ``**kwargs``)."""
    positional = node.args.posonlyargs + node.args.args
    n = len(positional) + len(node.args.kwonlyargs)
    return n - 1 if positional and positional[0].arg in ("self", "cls") else n


def check_sizes(modules: dict[str, Module], root: Path) -> tuple[list[str], list[str], list[str]]:
    """The review flags on size: long modules, long functions, functions with many parameters."""
    long_modules = [f"{_relative(m.path, root)}: {m.lines} lines" for m in modules.values()
                    if m.lines > MAX_MODULE_LINES]
    long_functions, many_parameters = [], []
    for m in modules.values():
        for qualname, node in _functions(m.tree):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES:
                long_functions.append(f"{_relative(m.path, root)}:{node.lineno} {qualname}: {n} lines")
            k = _parameters(node)
            if k > MAX_PARAMETERS:
                many_parameters.append(f"{_relative(m.path, root)}:{node.lineno} {qualname}: {k} parameters")
    return long_modules, long_functions, many_parameters


def _functions(tree: ast.AST, prefix: str = ""):
    """``(qualname, node)`` of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id] + parts[::-1])


def _keras_tf_aliases(tree: ast.AST) -> dict[str, str]:
    """Local names bound to Keras/TF modules: ``{"tf": "tensorflow", "keras": "keras", ...}``."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in KERAS_TF_ROOTS:
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] in KERAS_TF_ROOTS:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _private_attribute(node: ast.Attribute, aliases: dict[str, str]) -> str | None:
    """Why ``node`` is private Keras/TF API, or None."""
    attr = node.attr
    dotted = _dotted(node)
    if dotted:
        root, _, rest = dotted.partition(".")
        full = f"{aliases[root]}.{rest}" if root in aliases else None
        if full and full.startswith(PRIVATE_PREFIXES):
            return full
        if full and any(p.startswith("_") and not p.startswith("__") for p in rest.split(".")):
            return full
    if not attr.startswith("_") or attr.startswith("__"):
        return None
    owner = node.value
    owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
    if owner_name in KERAS_TF_NAMES:
        return dotted or f"<...>.{owner_name}.{attr}"
    return None


def check_private_api(modules: dict[str, Module], root: Path) -> list[str]:
    found = []
    for m in modules.values():
        if m.name == COMPAT:
            continue
        aliases = _keras_tf_aliases(m.tree)
        where = _relative(m.path, root)
        hits: list[tuple[int, str]] = []
        for node in ast.walk(m.tree):
            what = None
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                what = next((n for n in names if n.startswith(PRIVATE_PREFIXES)), None)
            elif isinstance(node, ast.Attribute):
                what = _private_attribute(node, aliases)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("getattr", "setattr", "delattr") and len(node.args) >= 2:
                owner, key = node.args[0], node.args[1]
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.startswith("_") \
                        and not key.value.startswith("__") and isinstance(owner, ast.Name) \
                        and owner.id in KERAS_TF_NAMES:
                    what = f"{node.func.id}({owner.id}, {key.value!r})"
            if what:
                hits.append((node.lineno, what))
        hits = sorted(set(hits))  # ast.walk is breadth first; of `tf.python.ops` and `tf.python` keep the longest
        found += [f"{where}:{line} {what}" for line, what in hits
                  if not any(line == other_line and other.startswith(what + ".") for other_line, other in hits)]
    return found


def _is_sys_modules(node: ast.AST) -> bool:
    return isinstance(node, ast.Subscript) and _dotted(node.value) == "sys.modules"


def check_module_patches(modules: dict[str, Module], root: Path) -> list[str]:
    found = []
    for m in modules.values():
        for node in ast.walk(m.tree):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
            for t in targets:
                if _is_sys_modules(t) or isinstance(t, ast.Attribute) and _is_sys_modules(t.value):
                    found.append(f"{_relative(m.path, root)}:{node.lineno} {ast.unparse(t)} = ...")
    return found


def check_tests(modules: dict[str, Module], root: Path) -> list[str]:
    tests = root / "tests"
    found = []
    for m in modules.values():
        if m.path.name in ("__init__.py", "__main__.py"):
            continue
        parts = m.name.split(".")[1:]  # without "genorm"
        leaf, subs = parts[-1], parts[:-1]
        candidates = [tests / f"test_{leaf}.py", tests.joinpath(*subs, f"test_{leaf}.py"),
                      tests / f"test_{'_'.join(parts)}.py"]
        if not any(c.is_file() for c in candidates):
            found.append(f"{_relative(m.path, root)}: no {_relative(candidates[0], root)}")
    return found


def check(root: Path) -> tuple[Findings, dict[str, Module]]:
    """Every limit and review flag, checked on the source tree under ``root`` (the repository root)."""
    modules = load_modules(root)
    resolve_imports(modules)
    findings = Findings(cycles=check_cycles(modules), package_cycles=check_package_cycles(modules, root),
                        private_api=check_private_api(modules, root), module_patches=check_module_patches(modules, root),
                        untested=check_tests(modules, root))
    findings.long_modules, findings.long_functions, findings.many_parameters = check_sizes(modules, root)
    return findings, modules


def summary(modules: dict[str, Module], root: Path) -> list[str]:
    """One line per module: its layer, its lines and the genorm modules it imports, by layer then name; then one
    line per package node with the packages it imports."""
    layer = layers(modules)
    rows = []
    for name in sorted(modules, key=lambda n: (layer[n], n)):
        deps = ", ".join(d.removeprefix(PACKAGE + ".") for d in sorted(modules[name].imports))
        rows.append(f"  layer {layer[name]:2d}  {modules[name].lines:5d}  {name}" + (f"  <- {deps}" if deps else ""))
    graph = package_imports(modules, root)
    rows.append(f"packages ({len(graph)}; a top-level module is its own node; name, genorm packages imported):")
    for name in sorted(graph):
        deps = ", ".join(d.removeprefix(PACKAGE + ".") for d in sorted(graph[name]))
        rows.append(f"  {name}" + (f"  <- {deps}" if deps else ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the repository root (default: the one holding this script)")
    parser.add_argument("--report-only", action="store_true", help="print the findings but exit 0 even when a "
                        "limit is broken")
    parser.add_argument("--summary", action="store_true", help="also print each module's layer, lines and imports")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / PACKAGE).is_dir():
        print(f"error: {root / PACKAGE} is not a directory; pass the repository root with --root", file=sys.stderr)
        return 2
    findings, modules = check(root)
    if args.summary:
        print(f"modules ({len(modules)}; layer, lines, name, genorm imports):")
        print("\n".join(summary(modules, root)))
    for kind, sections in (("limit", findings.limits()), ("review flag", findings.flags())):
        for title, items in sections:
            print(f"{kind}, {title}: {len(items) or 'none'}")
            for item in items:
                print(f"  {item}")
    print(f"{findings.total} problem(s) and {findings.flagged} review flag(s) in {len(modules)} modules under "
          f"{root / PACKAGE} (review flags never fail)")
    return 1 if findings.total and not args.report_only else 0


if __name__ == "__main__":
    sys.exit(main())
