"""The structure as a test: no import cycles, layers that point one way, modules of a readable size, a lab
package that loads no GUI or capture stack, and the old import paths kept (with a warning) for one release."""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("trajrec", "recorder", "uploader")
MAX_LINES = 450  # "under ~400" with room for a docstring or two; the bound

# Layers, lowest first: a module may import only from its own layer or a lower one. Keys are module-name
# prefixes; the longest matching prefix decides a module's layer.
LAYERS: dict[str, int] = {
    "trajrec": 0,  # the lab package: format, manifest, source, reader, validator
    "recorder.errors": 1,
    "recorder.logs": 1,
    "recorder.units": 1,
    "recorder.exitcodes": 1,
    "recorder.interrupt": 1,
    "recorder.clock": 1,
    "recorder": 1,  # the package's own __init__ (version)
    "uploader": 2,  # depends on the lab package only
    "recorder.platform": 2,
    "recorder.writers": 2,
    "recorder.privacy": 2,  # guards applied before anything is written
    "recorder.capture": 3,
    "recorder.dirs": 3,  # the uploader's directories, resolved on this machine
    "recorder.sealing": 3,
    "recorder.bundle": 4,  # deprecated aliases of trajrec.* and recorder.sealing.*
    "recorder.session": 4,
    "recorder.logthread": 4,  # the session's log thread
    "recorder.plan": 5,
    "recorder.app": 6,
    "recorder.commands": 6,
    "recorder.cli": 7,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            out[module_name(path)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that `name` imports (at any depth in the file, TYPE_CHECKING blocks included)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


@functools.cache
def _graph() -> dict[str, frozenset[str]]:
    mods = our_modules()
    known = set(mods)
    return {name: frozenset(imports_of(name, path, known)) for name, path in mods.items()}


def graph() -> dict[str, set[str]]:
    """Our modules and the modules of ours each imports (parsed once per test run; a fresh copy each call)."""
    return {name: set(deps) for name, deps in _graph().items()}


def layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle between our modules, as a path, or None (iterative DFS)."""
    state: dict[str, int] = {}
    for root in sorted(g):
        if state.get(root):
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(g[root]))]
        path = [root]
        state[root] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(g.get(nxt, ()))))
    return None


def test_no_import_cycle() -> None:
    g = graph()
    # `import a.b` also runs a/__init__.py; a package __init__ that re-exports its own submodules would
    # make a trivial cycle with them, so such edges (parent -> own child) are dropped first.
    for name, deps in g.items():
        g[name] = {d for d in deps if not d.startswith(name + ".")}
    assert find_cycle(g) is None, f"import cycle: {' -> '.join(find_cycle(g) or [])}"


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_layers_point_one_way() -> None:
    wrong = [
        f"{name} (layer {layer(name)}) imports {dep} (layer {layer(dep)})"
        for name, deps in sorted(graph().items())
        for dep in sorted(deps)
        if layer(dep) > layer(name)
    ]
    assert not wrong, "imports that point up the layers:\n" + "\n".join(wrong)


def test_lab_package_and_uploader_import_nothing_of_the_recorder() -> None:
    wrong = [
        f"{name} imports {dep}"
        for name, deps in sorted(graph().items())
        if name.split(".")[0] in ("trajrec", "uploader")
        for dep in sorted(deps)
        if dep.split(".")[0] == "recorder"
    ]
    assert not wrong, "\n".join(wrong)


def test_modules_stay_small_and_say_what_they_own() -> None:
    too_long, undocumented = [], []
    for name, path in sorted(our_modules().items()):
        lines = path.read_text().count("\n")
        if lines > MAX_LINES:
            too_long.append(f"{name}: {lines} lines")
        doc = ast.get_docstring(ast.parse(path.read_text()))
        if not doc:
            undocumented.append(name)
    assert not too_long, f"modules over {MAX_LINES} lines:\n" + "\n".join(too_long)
    assert not undocumented, "modules without a docstring saying what they own: " + ", ".join(undocumented)


HEAVY = ("PySide6", "mss", "pynput", "sounddevice", "cv2", "Xlib")


def test_importing_the_lab_package_loads_no_gui_or_capture_stack() -> None:
    code = (
        "import sys, trajrec\n"
        "from trajrec import format, reader, source, validation, manifest, timeline\n"
        "trajrec.open, trajrec.validate, trajrec.BundleReader, trajrec.Report\n"
        f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "", f"the lab package loaded {out.stdout.strip()}"


def test_public_api_is_exported_and_reads_a_bundle(sample: tuple[Path, object]) -> None:
    import trajrec

    assert "open" in trajrec.__all__ and "validate" in trajrec.__all__
    for name in trajrec.__all__:
        assert getattr(trajrec, name) is not None, name
    path, _ = sample
    with trajrec.open(path) as b:
        assert b.session_id == path.name
        assert b.events().num_rows > 0
        assert b.pauses(), "the sample has a pause"
        assert all(p.start_ns < p.end_ns for p in b.pauses())
    report = trajrec.validate(path)
    assert report.valid, report.findings


def test_old_import_paths_work_with_a_deprecation_warning() -> None:
    """Every name of release 0.1 under recorder.bundle imports the module that replaced it, and warns."""
    from recorder.bundle import MOVED

    code = (
        "import importlib, json, warnings\n"
        "warnings.simplefilter('always')\n"
        "out = {}\n"
        f"for old, new in {MOVED!r}.items():\n"
        "    with warnings.catch_warnings(record=True) as w:\n"
        "        module = importlib.import_module('recorder.bundle.' + old)\n"
        "    assert module is importlib.import_module(new), (old, module, new)\n"
        "    out[old] = [str(x.message) for x in w if issubclass(x.category, DeprecationWarning)]\n"
        "print(json.dumps(out))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    warned = json.loads(run.stdout)
    assert (
        set(warned) == set(MOVED) == {"format", "manifest", "source", "reader", "validate", "seal", "edit", "synthetic"}
    )
    for old, new in MOVED.items():
        assert any(f"recorder.bundle.{old} moved to {new}" in m for m in warned[old]), (old, warned[old])
