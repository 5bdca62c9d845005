"""The package's structure: every module imports alone, and imports form no circle (so each module sits
on a layer above what it uses)."""
import ast
import os
import subprocess
import sys

from conftest import ROOT

APP = ROOT / "app"


def module_names() -> dict[str, object]:
    names = {}
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def test_every_module_imports_alone_in_a_fresh_interpreter():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("DISPLAY", None)  # importing a UI module needs no display
    procs = {name: subprocess.Popen([sys.executable, "-c", f"import {name}"], cwd=ROOT, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in module_names()}
    failed = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        if proc.returncode:
            failed[name] = err.strip().splitlines()[-1:]
    assert not failed, failed


def import_graph() -> dict[str, set[str]]:
    """Module -> app modules it imports, at the top or inside functions."""
    names = module_names()
    graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in names else module for a in node.names]
            deps |= {t for t in targets if t in names and t != name}
        graph[name] = deps
    return graph


def test_imports_form_no_circle():
    graph, state, cycles = import_graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [node, dep]))
            elif dep not in state:
                visit(dep, stack + [node])
        state[node] = "done"
    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, cycles


def test_the_core_never_imports_the_ui():
    """Only `python app.py` without a command reaches the window (app.cli.main calls app.ui.main.run_app)."""
    graph = import_graph()
    graph["app.cli"] -= {"app.ui.main"}
    core = [name for name in graph if not name.startswith("app.ui")]
    assert not {name: sorted(d for d in graph[name] if d.startswith("app.ui")) for name in core
                if any(d.startswith("app.ui") for d in graph[name])}
