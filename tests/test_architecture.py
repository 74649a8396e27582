"""Issues 14 and 26: the layout by role holds (the floors of the package, no import cycle, a domain-free engine)
and the moves changed no output."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from finsynth.build import BuildConfig, build

PACKAGE = Path(__file__).resolve().parents[1] / "finsynth"

# The floors of the package, lowest first. A module may import its own unit (its subpackage, or itself for a
# top-level module) and units on lower floors, never a unit on its own floor or above: no arrow runs back up,
# so no two units are in a circle. Function-level and TYPE_CHECKING imports count as well (docs/architecture.md).
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors",),  # the error taxonomy (issue 26 item 3): imports nothing
    ("finsynth", "schema", "manifest", "markdown", "llm"),  # the contract; the domain-free engine
    ("io", "prompts"),  # the edges: files, and the one way to templates
    ("parsing", "text"),  # replies; what the domain knows about the text
    ("audit",),  # judges a dataset
    ("synth",),  # makes and remakes rows (its validator is audit's rules)
    ("build", "export"),  # the build pipeline (lint + relabel + compose); the LLaMA-Factory export
    ("ingest", "qa"),  # documents to paragraphs; the QA family (synth's run stats, export's formats)
    ("eval",),  # scoring, rewards (qa's metric), ablation (runs builds)
    ("cli",),
    ("__main__",),
)
FLOOR = {unit: level for level, units in enumerate(FLOORS) for unit in units}


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(root: Path = PACKAGE) -> dict[str, list[tuple[int, str]]]:
    """Every module of the package under `root` -> the (line, module) pairs it imports, at any depth
    (function-level and TYPE_CHECKING imports included). Relative imports are resolved; `from pkg import
    name` is an import of the submodule `pkg.name` when there is one, else of `pkg`."""
    files = {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, list[tuple[int, str]]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: list[tuple[int, str]] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in files]
                found += [(node.lineno, target) for target in (subs if len(subs) == len(node.names) else [base, *subs])]
        graph[name] = found
    return graph


def unit_of(module: str) -> str:
    """`finsynth.audit.lint` -> "audit"; `finsynth.io` -> "io"; the package itself -> "finsynth"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def floor_violations(graph: dict[str, list[tuple[int, str]]]) -> list[str]:
    """Each import that runs sideways or up the floors, or out of the package into `train`, in words."""
    out = []
    for module, imports in sorted(graph.items()):
        mine = unit_of(module)
        for line, target in imports:
            if target.split(".")[0] in ("train", "finsynth_train"):  # the checkout's name, and the wheel's
                out.append(f"{module}:{line} imports {target}: train/ sits above the package")
                continue
            if target.split(".")[0] != "finsynth" or unit_of(target) == mine:
                continue
            theirs = unit_of(target)
            if mine not in FLOOR or theirs not in FLOOR:
                out.append(f"{module}:{line} imports {target}: give {mine if mine not in FLOOR else theirs} a floor")
            elif FLOOR[theirs] >= FLOOR[mine]:
                out.append(
                    f"{module}:{line} imports {target}: {mine} (floor {FLOOR[mine]}) may import only lower "
                    f"floors, and {theirs} is on floor {FLOOR[theirs]}"
                )
    return out


def import_cycles(graph: dict[str, list[tuple[int, str]]]) -> list[list[str]]:
    """The circles of the module graph (strongly connected components of more than one module)."""
    edges = {m: sorted({t for _, t in imports if t in graph and t != m}) for m, imports in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the package is shallow, recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_every_unit_of_the_package_has_a_floor():
    units = {unit_of(module) for module in package_imports()}
    assert sorted(units - set(FLOOR)) == []


def test_no_import_runs_sideways_or_up_the_floors():
    assert floor_violations(package_imports()) == []


def test_no_import_cycle_between_modules():
    assert import_cycles(package_imports()) == []


def test_the_llm_engine_imports_nothing_from_the_domain():
    graph = package_imports()
    allowed = ("finsynth.llm", "finsynth.errors")  # the error taxonomy is no domain
    offenders = {
        m: sorted({t for _, t in imports if t.startswith("finsynth") and not t.startswith(allowed)})
        for m, imports in graph.items()
        if m.startswith("finsynth.llm")
    }
    assert {m: bad for m, bad in offenders.items() if bad} == {}


def test_templates_are_reached_one_way():
    """Library code holds a `prompts.Templates`; no function but prompts' own takes a template directory."""
    takers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "prompts.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = {a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
                if "template_dir" in names:
                    takers.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert takers == []


def _probe_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "finsynth"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


def test_the_floor_check_names_a_function_level_import_up_the_floors(tmp_path):
    package = _probe_package(
        tmp_path,
        {
            "__init__.py": "",
            "audit/__init__.py": "",
            "audit/page.py": "import os\n\n\ndef render():\n    from finsynth.synth.relabel import RelabelChange\n",
            "synth/__init__.py": "",
            "synth/relabel.py": "from ..audit import page\n",  # relative, and downward: fine
        },
    )
    graph = package_imports(package)
    assert graph["finsynth.synth.relabel"] == [(1, "finsynth.audit.page")]
    assert floor_violations(graph) == [
        "finsynth.audit.page:5 imports finsynth.synth.relabel: audit (floor 4) may import only lower floors, "
        "and synth is on floor 5"
    ]
    assert import_cycles(graph) == [["finsynth.audit.page", "finsynth.synth.relabel"]]


def test_the_floor_check_refuses_sideways_imports_and_train(tmp_path):
    package = _probe_package(
        tmp_path,
        {
            "__init__.py": "",
            "qa/__init__.py": "",
            "qa/x.py": "from finsynth.ingest.run import ingest\nfrom finsynth.qa import y\n",
            "qa/y.py": "if True:\n    import train.sft\n    from finsynth_train import cli\n",
        },
    )
    graph = package_imports(package)
    assert graph["finsynth.qa.x"] == [(1, "finsynth.ingest.run"), (2, "finsynth.qa.y")]
    assert floor_violations(graph) == [
        "finsynth.qa.x:1 imports finsynth.ingest.run: qa (floor 7) may import only lower floors, and ingest is on "
        "floor 7",
        "finsynth.qa.y:2 imports train.sft: train/ sits above the package",
        "finsynth.qa.y:3 imports finsynth_train: train/ sits above the package",
    ]


# sha256 of the starter corpus build (data/raw, seed 13) made at 917a4c3, the last commit before the move:
# a change here is a change of behaviour, not of layout (update it only with a CHANGELOG line saying why)
STARTER_BUILD = {
    "train.jsonl": "f0cee860d373877f2faa71cc3f9a35c0f99f26f757a11995fe8c010330e92460",
    "val.jsonl": "e00bb86b8d8e8ec956c76586dc380873080578a2fd9847d78820af0f39a8ce7c",
    "test.jsonl": "6d81000b961b690cfada4a664f80d8e8a61390912a593730c538fb7b16501439",
    "quarantine.jsonl": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    # report.md changed on purpose in issue 23 (the lint table shows each rule's severity and measured evidence)
    "report.md": "0a880fbe1d0c944baed44b08d4896032799a8bc0304d2de9a2816fc02c65a449",
}


def test_starter_build_is_byte_identical_to_before_the_move(repo_root, tmp_path, monkeypatch):
    monkeypatch.chdir(repo_root)  # rows record their source path as given: `data/raw/...`, as a user types it
    out = tmp_path / "built"
    build(BuildConfig(raw_dir=Path("data/raw"), out_dir=out, seed=13))
    got = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in STARTER_BUILD}
    assert got == STARTER_BUILD


def test_the_manifest_is_a_model_and_round_trips(repo_root, tmp_path, monkeypatch):
    import json

    from finsynth.manifest import Manifest

    monkeypatch.chdir(repo_root)
    out = tmp_path / "composed"
    build(BuildConfig(raw_dir=Path("data/raw"), out_dir=out, seed=13, compose=Path("data/compose/match_test.yaml")))
    doc = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest = Manifest.model_validate(doc)
    assert manifest.to_json() == doc and manifest.composition is not None and manifest.counts.reconciles
    plain = Manifest.model_validate(
        {**doc, "composition": None, "counts": {**doc["counts"], "composed_out": None, "composition": None}}
    )
    assert "composition" not in plain.to_json() and "composed_out" not in plain.to_json()["counts"]


def test_rows_taken_out_after_loading_are_quarantined_by_one_helper():
    """Issue 26 item 2: build, relabel, review and compose quarantine a read row through `QuarantineRow.of`
    (the loader in io.py, generation and the QA flows, whose rows are not read `Record`s, build theirs from their
    own parts)."""
    makers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ("io.py", "synth/generate.py") or rel.startswith("qa/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "QuarantineRow":
                makers.append(f"{rel}:{node.lineno}")
    assert makers == [], f"use QuarantineRow.of(record, reason, stage, ...) instead of QuarantineRow(...): {makers}"


def test_the_build_is_a_sequence_of_short_stages():
    """Issue 26 item 2: `build()` runs stages (`BuildState -> StageResult`); no function of build.py is long."""
    tree = ast.parse((PACKAGE / "build.py").read_text(encoding="utf-8"))
    long = {
        node.name: node.end_lineno - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.end_lineno and node.end_lineno - node.lineno + 1 > 100
    }
    assert long == {}, f"split these into stages or helpers: {long}"
