"""Steps from cells and the data flow between them, found by static analysis (no code runs)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.pipeline import from_notebook

from .pipeline_notebooks import CHAIN, write_notebook


def _warnings(pipeline: object) -> list[str]:
    return [str(w) for w in pipeline.warnings]  # type: ignore[attr-defined]


def test_magic_marks_give_steps_inputs_outputs_and_parameters(project: Path) -> None:
    pipeline = from_notebook(write_notebook(project / "chain.ipynb", CHAIN))

    assert [s.name for s in pipeline.steps] == ["load", "clean", "stats", "scaled", "report"]
    by = {s.name: s for s in pipeline.steps}
    assert by["load"].inputs == {} and by["load"].outputs == ["raw"]
    assert by["load"].parameters == ["n"]
    assert by["clean"].inputs == {"raw": "load"} and by["clean"].outputs == ["clean"]
    assert by["stats"].inputs == {"clean": "clean"} and by["stats"].outputs == ["mean"]
    assert by["scaled"].parameters == ["scale"]
    assert by["report"].inputs == {"mean": "stats", "scaled": "scaled"}
    assert by["report"].parameters == ["label"]
    assert by["report"].depends_on == ["stats", "scaled"]
    # stats and scaled both need only clean: they can run side by side
    assert by["stats"].depends_on == by["scaled"].depends_on == ["clean"]
    # `total` stays inside stats: nobody later reads it
    assert "total" not in by["stats"].outputs
    assert [(p.name, p.type, p.default) for p in pipeline.parameters] == [
        ("n", "int", 5), ("scale", "float", 2.0), ("label", "str", "demo")]
    assert pipeline.warnings == []
    # cell positions count every cell (markdown too), as the panel selects them
    assert [c.index for c in by["load"].cells] == [3]


def test_unmarked_cells_join_the_step_above_and_leading_imports_are_shared(
        project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        "import os",
        "%%mlops step first\na = 1",
        "b = a + 1",  # joins 'first'
        "%%mlops step second\nc = b * 2",
        "d = c + os.getpid() * 0",
    ])
    pipeline = from_notebook(nb)

    first, second = pipeline.steps
    assert [c.index for c in first.cells] == [1, 2]
    assert [c.index for c in second.cells] == [3, 4]
    assert second.inputs == {"b": "first"}
    assert [c.index for c in pipeline.prelude] == [0]
    assert pipeline.prelude[0].role == "shared"


def test_leading_code_that_is_not_only_imports_becomes_a_setup_step(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", ["x = 1", "%%mlops step use\ny = x"])
    pipeline = from_notebook(nb)
    assert [s.name for s in pipeline.steps] == ["setup", "use"]
    assert pipeline.step("use").inputs == {"x": "setup"}


def test_metadata_and_kale_tags_mark_steps_too(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        ("import math", ["imports"]),
        ("def half(v):\n    return v / 2", ["functions"]),
        ("x = 4", [], {"mlops": {"step": {"name": "make", "retries": 2, "gpu": 1,
                                          "memory": "2Gi", "cache": False}}}),
        ("y = half(x)", ["block:halve"]),
        ("z = math.sqrt(16)", ["step:other", "prev:make"]),
        ("w = y + z", [], {"mlops": {"step": "combine"}}),
        ("print('scratch', w)", ["skip"]),
    ])
    pipeline = from_notebook(nb)

    assert [s.name for s in pipeline.steps] == ["make", "halve", "other", "combine"]
    make = pipeline.step("make")
    assert (make.retries, make.gpu, make.memory, make.cache) == (2, 1, "2Gi", False)
    assert pipeline.step("halve").inputs == {"x": "make"}
    # Kale's prev: is an ordering edge without data
    assert pipeline.step("other").depends_on == ["make"]
    assert pipeline.step("other").inputs == {}
    assert pipeline.step("combine").inputs == {"y": "halve", "z": "other"}
    assert [c.role for c in pipeline.prelude] == ["shared", "shared"]
    assert [c.index for c in pipeline.skipped] == [6]


def test_after_adds_an_edge_and_the_step_line_options_are_read(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        "%%mlops step a\nopen('marker.txt', 'w').write('x')",
        "%%mlops step b --after a --gpu 2 --cpu 500m --memory 4Gi --retries 3 --no-cache\n"
        "text = open('marker.txt').read()",
    ])
    b = from_notebook(nb).step("b")
    assert b.depends_on == ["a"] and b.inputs == {}
    assert (b.gpu, b.cpu, b.memory, b.retries, b.cache) == (2, "500m", "4Gi", 3, False)


def test_a_shared_function_brings_the_globals_it_reads_as_inputs(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        ("def scaled(v):\n    return v * factor", ["functions"]),
        "%%mlops step setup\nfactor = 3",
        "%%mlops step use\nresult = scaled(2)",
    ])
    assert from_notebook(nb).step("use").inputs == {"factor": "setup"}


def test_nested_scopes_comprehensions_and_rebinding(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        "%%mlops step a\nitems = [1, 2]\nk = 2\nlimit = 10",
        "%%mlops step b\n"
        "def f(v):\n    return v * k\n"               # k read when f is called
        "doubled = [f(i) for i in items]\n"          # i is the comprehension's own
        "items = [i for i in doubled if i < limit]\n"  # reads the old items, rebinds it
        "for j in range(3):\n    last = j\n",
        "%%mlops step c\nout = (items, last)",
    ])
    pipeline = from_notebook(nb)
    assert pipeline.step("b").inputs == {"items": "a", "k": "a", "limit": "a"}
    assert pipeline.step("c").inputs == {"items": "b", "last": "b"}
    assert "i" not in pipeline.step("b").outputs


def test_warnings_name_the_cell_and_line(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        "%%mlops step load\nrows = [3, 1, 2]\nfrom math import *",
        ("helper = 42", ["skip"]),
        "%%mlops step use\ncount = len(rows)\nrows.sort()\nvalue = helper + count\n"
        "missing_name + 1",
        "%%mlops step after\nfirst = rows[0]",
    ])
    pipeline = from_notebook(nb)
    warnings = _warnings(pipeline)

    assert any(w.startswith("cell 1, line 3: 'from math import *'") for w in warnings)
    assert any(w.startswith("cell 3, line 3: step 'use' changes 'rows' from step 'load'")
               and "rows.sort()" in w for w in warnings), warnings
    assert any(w.startswith("cell 3, line 4: step 'use' reads 'helper', which only the skipped "
                            "cell 2 defines") for w in warnings), warnings
    # later steps read the sorted copy from 'use', as they would in the notebook
    assert pipeline.step("after").inputs == {"rows": "use"}
    assert pipeline.step("use").outputs == ["rows"]


def test_an_undefined_name_is_a_warning(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", ["%%mlops step a\nx = not_defined_anywhere"])
    assert _warnings(from_notebook(nb)) == [
        "cell 1, line 2: step 'a' reads 'not_defined_anywhere', which no cell defines"]


def test_ipython_syntax_is_step_code_read_with_ipythons_own_transformer(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        "%load_ext jupyter_mlops\n%matplotlib inline",
        "%%mlops step a\n!pip list\nfiles = !ls\nx = 1\nif x:\n    %time y = 2\n",
        "%%bash\necho hi",
        "%%mlops step b\nt = %timeit -o -n 1 len(files)\n%time z = y + x\n"
        "run = %mlops pipeline run other.ipynb -p noise=0.5\n%pip install nothing-at-all",
        "%%mlops step c\nout = (t, z, run)",
    ])
    pipeline = from_notebook(nb)
    # no "syntax error", no warning: IPython's rules make each of them valid
    assert _warnings(pipeline) == []
    # a leading cell of session set-up magics is shared, as imports are
    assert [(c.number, c.role) for c in pipeline.prelude] == [(1, "shared")]
    assert [s.name for s in pipeline.steps] == ["a", "b", "c"]
    # the %%bash cell joins step a, and IPython runs it there
    assert [c.number for c in pipeline.step("a").cells] == [2, 3]
    # the data flow reads the code the magics run: `files = !ls` and `%time y = 2` define
    # names, %timeit and %time read them
    assert pipeline.step("a").outputs == ["files", "x", "y"]
    assert pipeline.step("b").inputs == {"files": "a", "y": "a", "x": "a"}
    assert pipeline.step("c").inputs == {"t": "b", "z": "b", "run": "b"}
    assert pipeline.step("a").cells[0].magics == ("!", "%time")
    assert pipeline.step("a").cells[1].magics == ("%%bash",)
    assert pipeline.step("b").cells[0].magics == ("%timeit", "%time", "%mlops", "%pip")
    assert pipeline.prelude[0].magics == ("%load_ext", "%matplotlib")
    # the step's code is the cell as written: line numbers kept, the %%mlops line blanked
    lines = pipeline.step("a").cells[0].source.split("\n")
    assert lines[:4] == ["", "!pip list", "files = !ls", "x = 1"]
    assert "files = !ls" in pipeline.step_code("a")


def test_names_a_magic_line_expands_are_read(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        "%%mlops step a\nfolder = 'data'\nname = 'x'\nrun_id = 'r1'",
        "%%mlops step b\n!ls {folder} $name\nlisted = %mlops runs $run_id",
        "%%mlops step c\n%%capture shown\nprint(folder)",
        "%%mlops step d\nprint(shown.stdout)",
    ])
    pipeline = from_notebook(nb)
    assert pipeline.step("b").inputs == {"folder": "a", "name": "a", "run_id": "a"}
    # a %%capture cell's body is Python the analysis reads; the capture is its output
    assert pipeline.step("c").inputs == {"folder": "a"}
    assert pipeline.step("d").inputs == {"shown": "c"}
    assert _warnings(pipeline) == []


def test_a_magic_a_step_cannot_run_is_named_with_its_cell(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        "%%mlops step a\nx = 1\n%autotime",
        "%%mlops step b\n%edit x",
    ])
    assert _warnings(from_notebook(nb)) == [
        "cell 1, line 3: %autotime is not one of IPython's own magics: the step runs under "
        "a plain IPython shell, where it exists only when a cell loads it (%load_ext)",
        "cell 2, line 2: %edit waits for a person at the keyboard: a step cannot run it (tag "
        "the cell 'skip' or remove the line)",
    ]
    # a notebook that loads an extension may define any magic: no guess
    loads = write_notebook(project / "loads.ipynb", [
        "%load_ext sql", "%%mlops step a\nrows = %sql SELECT 1"])
    assert _warnings(from_notebook(loads)) == []


def test_calling_a_modules_function_does_not_change_the_module(project: Path) -> None:
    """A module a step imported reaches later steps; `json.dump(…)` or `mlops.log_model(…)`
    there changes no module (no warning), while a method of a value still may."""
    nb = write_notebook(project / "nb.ipynb", [
        "%%mlops step load\nimport json\nimport os.path as osp\nrows = [3, 1, 2]",
        "%%mlops step use\njson.dumps(rows)\nosp.join('a', 'b')\nrows.sort()",
        "%%mlops step rebind\njson = {'a': 1}",
        "%%mlops step last\njson.update(b=2)",
    ])
    warnings = _warnings(from_notebook(nb))
    assert [w.split(": ", 1)[1].split(" (")[0] for w in warnings] == [
        "step 'use' changes 'rows' from step 'load' in place",
        "step 'last' changes 'json' from step 'rebind' in place"], warnings


def test_the_demo_notebook_reads_as_a_pipeline_without_an_error(project: Path) -> None:
    """binder/demo.ipynb (its `run = %mlops pipeline run …` cell was a syntax error)."""
    demo = Path(__file__).resolve().parent.parent / "binder" / "demo.ipynb"
    pipeline = from_notebook(demo)
    assert _warnings(pipeline) == []
    run_cell = next(c for s in pipeline.steps for c in s.cells
                    if "= %mlops pipeline run" in c.source)
    assert run_cell.magics == ("%mlops",)


def test_parameters_cell_types_and_computed_values(project: Path) -> None:
    nb = write_notebook(project / "nb.ipynb", [
        ("epochs = 3\nlr: float = 0.1\nlayers = [8, 4]\nopts = {'a': 1}\nverbose = False\n"
         "run_name = f'run-{epochs}'", ["parameters"]),
        "%%mlops step a\nx = (epochs, lr, layers, opts, verbose, run_name)",
    ])
    pipeline = from_notebook(nb)
    assert {p.name: p.type for p in pipeline.parameters} == {
        "epochs": "int", "lr": "float", "layers": "list", "opts": "dict", "verbose": "bool"}
    assert pipeline.computed_parameters
    assert any("run_name in the parameters cell is not a literal" in w
               for w in _warnings(pipeline))
    assert pipeline.parse_parameters(["epochs=5", "lr=1", "layers=[2]", "verbose=true"]) == {
        "epochs": 5, "lr": 1.0, "layers": [2], "verbose": True}
    with pytest.raises(UserInputError, match=r"parameter 'epochs' is an integer, not 'x'"):
        pipeline.parse_parameters(["epochs=x"])
    with pytest.raises(UserInputError, match=r"unknown parameter 'nope'"):
        pipeline.parse_parameters(["nope=1"])
    with pytest.raises(UserInputError, match=r"parameter 'lr' is a number"):
        pipeline.check_parameters({"lr": "fast"})


@pytest.mark.parametrize(("cells", "message"), [
    (["%%mlops step a\nx = 1", "%%mlops step a\ny = 2"],
     r"step name 'a' is used twice \(cells 1 and 2\)"),
    (["%%mlops step a --after ghost\nx = 1"],
     r"cell 1: step 'a' runs after unknown step 'ghost'; steps: a"),
    (["%%mlops step a --after b\nx = y", "%%mlops step b\ny = x"],
     r"the steps form a cycle: a -> b -> a|the steps form a cycle: b -> a -> b"),
    (["%%mlops step a\nx = (", ],
     r"cell 1, line 2: syntax error"),
    (["%%mlops step a --gpu many\nx = 1"], r"cell 1: .*--gpu.*whole number"),
    (["%%mlops step 'bad name'\nx = 1"], r"step name 'bad name' must start with a letter"),
    ([("n = 1", ["parameters"]), "%%mlops step n\nx = 1"],
     r"step 'n' has the name of a parameter"),
])
def test_bad_notebooks_are_one_clear_line(project: Path, cells: list[str],
                                          message: str) -> None:
    nb = write_notebook(project / "bad.ipynb", cells)
    with pytest.raises(UserInputError, match=message) as info:
        from_notebook(nb)
    assert "\n" not in str(info.value)
    assert not (project / ".mlops").exists()  # nothing written


def test_unreadable_and_old_notebooks(project: Path) -> None:
    broken = project / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(UserInputError, match=r"broken.ipynb is not a readable notebook"):
        from_notebook(broken)
    with pytest.raises(NotFoundError):
        from_notebook(project / "missing.ipynb")
    # a version 3 notebook is upgraded by nbformat
    from nbformat import v3

    old = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[
        v3.new_code_cell(input="%%mlops step only\nx = 1")])])
    path = project / "old.ipynb"
    path.write_text(v3.writes_json(old))
    assert json.loads(path.read_text())["nbformat"] == 3
    assert [s.name for s in from_notebook(path).steps] == ["only"]


def test_a_notebook_without_marks_is_one_step(project: Path) -> None:
    nb = write_notebook(project / "plain.ipynb", ["import os", "x = 1", "y = x + 1"])
    pipeline = from_notebook(nb)
    assert [s.name for s in pipeline.steps] == ["main"]


def test_a_500_cell_notebook_converts(project: Path) -> None:
    cells: list[str] = []
    for i in range(100):
        cells.append(f"%%mlops step s{i}\nv{i} = {'v' + str(i - 1) if i else 0} + 1")
        cells.extend(f"w{i}_{k} = v{i} * {k}" for k in range(4))
    nb = write_notebook(project / "big.ipynb", cells)
    pipeline = from_notebook(nb)
    assert len(pipeline.steps) == 100
    assert pipeline.step("s99").inputs == {"v98": "s98"}
    assert nbformat.read(str(nb), as_version=4).cells[0].source.startswith("%%mlops step s0")
