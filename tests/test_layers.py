"""The package's shape, checked statically with :mod:`ast` (nothing of ``cutout_cli`` is imported).

See docs/architecture.md.  Layers, low to high; a module may import only from
its own layer or below:

====  =========================================================
0     ``cutout_cli.errors``, ``cutout_cli.calibration``
1     ``cutout_cli.sky``
2     ``cutout_cli.storage``
3     ``cutout_cli.fits``
4     ``cutout_cli.writers``
5     ``cutout_cli.cutouts``
6     ``cutout_cli.repository``
7     ``cutout_cli.batch``
8     ``cutout_cli.display``, ``cutout_cli.serve``
9     ``cutout_cli.cli``
10    ``cutout_cli._sample`` (tooling)
====  =========================================================

``cutout_cli/__init__.py`` (the lazy public API) and ``cutout_cli/__main__.py``
have no layer; ``_LAZY`` is checked instead.

What counts as an import: every ``import`` and ``from ... import`` statement
anywhere in a file (module level, functions, methods, ``if TYPE_CHECKING``
blocks, ``try`` blocks), and ``importlib.import_module("constant.string")``.
Relative imports are resolved against the file's package; in ``from X import
n``, ``X.n`` is a module when a file of that name exists (``from . import
x``), else ``n`` is a name of ``X``.

The one documented exception: a module of ``cutout_cli.repository`` may import
``cutout_cli.batch.run`` inside a function (``Repository.batch`` delegates to
the batch layer); in exchange, ``cutout_cli.batch`` never imports
``cutout_cli.repository`` (or ``cutout_cli.cli``), so no cycle can go through it.

Function size: a function's length is ``end_lineno - lineno + 1`` of its
``def`` (decorators excluded, docstring and nested functions included);
positional parameters are positional-only and ordinary ones, without the
``self``/``cls`` of a method, ``*args``, ``**kwargs`` and keyword-only ones.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cutout_cli"

LAYERS = {
    "cutout_cli.errors": 0,
    "cutout_cli.calibration": 0,
    "cutout_cli.sky": 1,
    "cutout_cli.storage": 2,
    "cutout_cli.fits": 3,
    "cutout_cli.writers": 4,
    "cutout_cli.cutouts": 5,
    "cutout_cli.repository": 6,
    "cutout_cli.batch": 7,
    "cutout_cli.display": 8,
    "cutout_cli.serve": 8,
    "cutout_cli.cli": 9,
    "cutout_cli._sample": 10,
}
EXEMPT = {"cutout_cli", "cutout_cli.__main__"}  # no layer: the lazy public API and `python -m cutout_cli`

#: (importing package, imported module, where): the allowed upward imports, with their reason.
UPWARD_EXCEPTIONS = {
    ("cutout_cli.repository", "cutout_cli.batch.run", "function"):
        "Repository.batch delegates to the batch layer (docs/architecture.md, 'The import rule')",
}
#: packages that the batch layer must never import (they would close a cycle with the exception above)
NOT_FROM_BATCH = ("cutout_cli.repository", "cutout_cli.cli")

MAX_LINES = 60
MAX_POSITIONAL = 8

#: (private module, the one file allowed to import it)
PRIVATE_ALLOWED = {("cutout_cli.fits.tiles._rice", "cutout_cli/fits/tiles/codecs.py")}

EXTENSION_SUFFIX = re.compile(r"\.(cpython|abi3|pypy)[^/]*\.(so|pyd)$|\.(so|pyd)$")


# -- the package's files and modules ----------------------------------------------------------------
@cache
def sources() -> dict[str, Path]:
    """``{module name: file}`` for every Python file of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


@cache
def modules() -> frozenset[str]:
    """Every importable module name of the package: Python files, packages and compiled extensions
    (a C source beside the Python files counts: it is built at install)."""
    names = set(sources())
    for path in PACKAGE.rglob("*"):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        name = path.name
        if EXTENSION_SUFFIX.search(name) or name.endswith(".c"):
            stem = name.split(".", 1)[0]
            names.add(".".join([*path.parent.relative_to(ROOT).parts, stem]))
    return frozenset(names)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@cache
def tree(module: str) -> ast.Module:
    path = sources()[module]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def is_package(module: str) -> bool:
    return sources()[module].name == "__init__.py"


def layer_of(module: str) -> int | None:
    """The layer of a module of the package (longest prefix of :data:`LAYERS`), None if it has none."""
    best = None
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return None if best is None else best[1]


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def ancestors(module: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


# -- imports ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    """One imported module (and, for ``from X import n`` where ``n`` is not a module, the name ``n``)."""

    importer: str  # module name of the importing file
    line: int
    module: str  # absolute name of the imported module
    name: str | None  # the imported name of ``module`` (None: the module itself)
    in_function: bool
    statement: str  # the source text, for messages

    @property
    def where(self) -> str:
        return f"{rel(sources()[self.importer])}:{self.line}"

    @property
    def internal(self) -> bool:
        return is_within(self.module, "cutout_cli")


def resolve_relative(importer: str, level: int, module: str | None) -> str:
    """The absolute module of ``from <level dots><module> import ...`` in ``importer``."""
    package = importer if is_package(importer) else importer.rpartition(".")[0]
    parts = package.split(".")
    if level - 1 > len(parts) - 1:
        raise ValueError(f"relative import beyond the top-level package in {importer}")
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, importer: str, text: str):
        self.importer = importer
        self.lines = text.splitlines()
        self.depth = 0  # > 0 inside a function or method
        self.found: list[Import] = []

    def _statement(self, node) -> str:
        return self.lines[node.lineno - 1].strip()

    def _add(self, node, module: str, name: str | None = None) -> None:
        self.found.append(Import(self.importer, node.lineno, module, name, self.depth > 0, self._statement(node)))

    def _function(self, node) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.depth += 1
        for child in ast.iter_child_nodes(node):
            if child not in node.decorator_list:
                self.visit(child)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = resolve_relative(self.importer, node.level, node.module) if node.level else node.module
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            if alias.name != "*" and candidate in modules():
                self._add(node, candidate)  # `from . import x`: the submodule x
            elif base == "cutout_cli" and alias.name in lazy_table():
                self._add(node, *lazy_table()[alias.name])  # the top-level __getattr__ imports it: that module
            else:
                self._add(node, base, None if alias.name == "*" else alias.name)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if called == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and not node.args[0].value.startswith("."):
            self._add(node, node.args[0].value)
        self.generic_visit(node)


@cache
def lazy_table() -> dict[str, tuple[str, str]]:
    """``_LAZY`` of ``cutout_cli/__init__.py``: ``{public name: (module, attribute)}``."""
    for node in tree("cutout_cli").body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets):
            return {name: tuple(value) for name, value in ast.literal_eval(node.value).items()}
    return {}


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    path = sources()[module]
    collector = _ImportCollector(module, path.read_text(encoding="utf-8"))
    collector.visit(tree(module))
    return tuple(collector.found)


def all_imports() -> list[Import]:
    return [imp for module in sources() for imp in imports_of(module)]


def internal_target(imp: Import) -> str:
    """The package module an internal import executes (the longest known module of its path)."""
    name = imp.module
    while name not in modules() and "." in name:
        name = name.rpartition(".")[0]
    return name


def report(title: str, offenders: list[str], advice: str) -> str:
    return f"{title}: {len(offenders)}\n  " + "\n  ".join(offenders) + f"\n{advice}"


# -- (a) the layer order --------------------------------------------------------------------------
def test_every_module_has_a_layer():
    unplaced = [f"{rel(path)}: {module}" for module, path in sources().items()
                if module not in EXEMPT and layer_of(module) is None]
    assert not unplaced, report("modules outside every layer", unplaced,
                                "add the module to a layer's package, or a new layer to LAYERS and "
                                "docs/architecture.md")


def test_imports_go_to_the_same_or_a_lower_layer():
    offenders = []
    for imp in all_imports():
        if not imp.internal or imp.importer in EXEMPT:
            continue
        target = internal_target(imp)
        if target in EXEMPT:
            continue  # `from .. import __version__`; names of _LAZY are resolved to their module above
        mine, theirs = layer_of(imp.importer), layer_of(target)
        if mine is None or theirs is None or theirs <= mine:
            continue
        allowed = any(is_within(imp.importer, package) and target == module
                      and (where != "function" or imp.in_function)
                      for package, module, where in UPWARD_EXCEPTIONS)
        if not allowed:
            level = "function-level" if imp.in_function else "module-level"
            offenders.append(f"{imp.where}: {imp.statement}  ({level}: layer {mine} {imp.importer} -> "
                             f"layer {theirs} {target})")
    assert not offenders, report(
        "imports of a higher layer", offenders,
        "move the code to the lower layer, pass the object in, or invert the dependency "
        "(the only allowed upward import: repository -> cutout_cli.batch.run, inside a function)")


def test_batch_never_imports_the_repository_or_the_cli():
    offenders = [f"{imp.where}: {imp.statement}  ({imp.importer} -> {internal_target(imp)})"
                 for imp in all_imports()
                 if is_within(imp.importer, "cutout_cli.batch") and imp.internal
                 and any(is_within(internal_target(imp), package) for package in NOT_FROM_BATCH)]
    assert not offenders, report(
        "imports of cutout_cli.repository or cutout_cli.cli by the batch layer", offenders,
        "Repository.batch imports cutout_cli.batch.run, so the batch layer must take what it needs of a "
        "repository as arguments (a locator, a callable), never import it")


def test_lazy_public_api_names_existing_modules_and_attributes():
    init = tree("cutout_cli")
    lazy = lazy_table()
    assert lazy, "cutout_cli/__init__.py must define _LAZY = {name: (module, attribute)}"
    assert any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in init.body), \
        "cutout_cli/__init__.py must resolve _LAZY in a module-level __getattr__"
    offenders = []
    for public, (module, attribute) in lazy.items():
        if module not in sources():
            offenders.append(f"cutout_cli/__init__.py: _LAZY[{public!r}]: no module {module} "
                             f"(no {module.replace('.', '/')}.py or package)")
        elif attribute not in top_level_names(module):
            offenders.append(f"cutout_cli/__init__.py: _LAZY[{public!r}]: {rel(sources()[module])} neither "
                             f"defines nor imports {attribute!r}")
    assert not offenders, report("public names that would not resolve", offenders,
                                 "point _LAZY at the module that defines the name")


def top_level_names(module: str) -> set[str]:
    """Names bound at the top level of a module (definitions, assignments, imports), also inside
    top-level ``if``/``try`` blocks."""
    names: set[str] = set()

    def bind(target) -> None:
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for item in target.elts:
                bind(item)
        elif isinstance(target, ast.Starred):
            bind(target.value)

    def walk(body) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    bind(target)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                bind(node.target)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.If):
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                walk(node.orelse)
                walk(node.finalbody)
                for handler in node.handlers:
                    walk(handler.body)

    walk(tree(module).body)
    return names


# -- (b) no import cycle ------------------------------------------------------------------------
def import_graph() -> dict[str, dict[str, Import]]:
    """``{module: {imported module: the first import that makes the edge}}``, over the package's modules.

    An import of ``a.b.c`` is an edge to ``a.b.c`` and to each package ``a``, ``a.b`` whose ``__init__``
    it runs, except the importer's own packages (already initialised when the importer runs)."""
    graph: dict[str, dict[str, Import]] = {module: {} for module in sources()}
    for imp in all_imports():
        if not imp.internal:
            continue
        target = internal_target(imp)
        for module in [*ancestors(target), target]:
            if module in sources() and module != imp.importer and not is_within(imp.importer, module):
                graph[imp.importer].setdefault(module, imp)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def a_cycle(graph: dict[str, dict[str, Import]], component: list[str]) -> list[str]:
    """One shortest cycle through the first module of a component (breadth-first inside it)."""
    members = set(component)
    start = component[0]
    previous = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node]):
            if child == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, node, start]
            if child in members and child not in previous:
                previous[child] = node
                queue.append(child)
    return component  # unreachable for a strongly connected component


def test_no_import_cycles():
    graph = import_graph()
    problems = []
    for component in strongly_connected(graph):
        cycle = a_cycle(graph, component)
        steps = []
        for here, there in zip(cycle, cycle[1:]):
            imp = graph[here][there]
            kind = "in a function" if imp.in_function else "module level"
            steps.append(f"    {here} -> {there}   {imp.where}: {imp.statement}  ({kind})")
        problems.append(f"cycle among {len(component)} modules ({', '.join(component)}); one of its cycles:\n"
                        + "\n".join(steps))
    assert not problems, report("import cycles (function-level imports included)", problems,
                                "break each cycle: move the shared code down a layer, or pass the object in")


# -- (c) function size --------------------------------------------------------------------------
def functions(module: str):
    """``(qualified name, node, is_method)`` for every function and method of a module, nested ones too."""
    def walk(body, prefix, in_class):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{prefix}{node.name}", node, in_class
                yield from walk(node.body, f"{prefix}{node.name}.", False)
            elif isinstance(node, ast.ClassDef):
                yield from walk(node.body, f"{prefix}{node.name}.", True)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        yield from walk(inner, prefix, in_class)

    yield from walk(tree(module).body, "", False)


def positional_parameters(node, is_method: bool) -> list[str]:
    names = [arg.arg for arg in [*node.args.posonlyargs, *node.args.args]]
    decorators = {d.id if isinstance(d, ast.Name) else getattr(d, "attr", None) for d in node.decorator_list}
    if names and (names[0] in ("self", "cls") or (is_method and "staticmethod" not in decorators)):
        names = names[1:]
    return names


def test_functions_are_short_and_take_few_positional_parameters():
    long, wide = [], []
    for module, path in sources().items():
        for name, node, is_method in functions(module):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_LINES:
                long.append((lines, f"{rel(path)}:{node.lineno}: {module}.{name}: {lines} lines"))
            positional = positional_parameters(node, is_method)
            if len(positional) > MAX_POSITIONAL:
                wide.append((len(positional), f"{rel(path)}:{node.lineno}: {module}.{name}: {len(positional)} "
                                              f"positional parameters ({', '.join(positional)})"))
    problems = []
    if long:
        problems.append(report(f"functions longer than {MAX_LINES} lines (def line to last line)",
                               [text for _, text in sorted(long, reverse=True)],
                               "split them into steps with names"))
    if wide:
        problems.append(report(f"functions with more than {MAX_POSITIONAL} positional parameters",
                               [text for _, text in sorted(wide, reverse=True)],
                               "make the optional ones keyword-only (after *) or group them in an options object"))
    assert not problems, "\n\n".join(problems)


# -- (d) private names --------------------------------------------------------------------------
def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def test_no_private_names_of_other_modules_or_of_dependencies():
    package_offenders, dependency_offenders = [], []
    for imp in all_imports():
        path = rel(sources()[imp.importer])
        parts = imp.module.split(".") + ([imp.name] if imp.name else [])
        if imp.internal:
            if any((imp.module, path) == allowed for allowed in PRIVATE_ALLOWED):
                continue
            # a private package is fine from inside it (cutout_cli._sample's own modules)
            private = [i for i, part in enumerate(parts)
                       if is_private(part) and not is_within(imp.importer, ".".join(parts[:i + 1]))]
            if private:
                what = ".".join(parts)
                package_offenders.append(f"{imp.where}: {imp.statement}  ({what}: private "
                                         f"{', '.join(parts[i] for i in private)})")
        elif any(is_private(part) for part in parts):
            dependency_offenders.append(f"{imp.where}: {imp.statement}  ({'.'.join(parts)})")
    problems = []
    if package_offenders:
        problems.append(report("private names imported from other cutout_cli modules", package_offenders,
                               "make the name public (and document it), or move the code to its one user"))
    if dependency_offenders:
        problems.append(report("private modules or names of dependencies", dependency_offenders,
                               "use the dependency's public API (a private module changes without notice)"))
    assert not problems, "\n\n".join(problems)


# -- the checker checks itself ------------------------------------------------------------------
def test_the_checker_resolves_imports_as_python_does():
    assert resolve_relative("cutout_cli.fits.coadd", 1, "planes") == "cutout_cli.fits.planes"
    assert resolve_relative("cutout_cli.fits.coadd", 2, "sky.box") == "cutout_cli.sky.box"
    assert resolve_relative("cutout_cli.fits", 1, "coadd") == "cutout_cli.fits.coadd"  # an __init__ is its package
    assert resolve_relative("cutout_cli.fits.tiles.codecs", 1, None) == "cutout_cli.fits.tiles"
    assert layer_of("cutout_cli.fits.tiles.codecs") == 3 and layer_of("cutout_cli.errors") == 0
    assert layer_of("cutout_cli._sample.scene") == 10 and layer_of("cutout_cli") is None
    assert "cutout_cli.fits.tiles._rice" in modules()
    graph = {"a": {"b": None}, "b": {"c": None}, "c": {"a": None}, "d": {"a": None}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    node = ast.parse("class K:\n    def f(self, a, b, /, c, *args, d, **kw):\n        pass\n").body[0].body[0]
    assert positional_parameters(node, True) == ["a", "b", "c"]
