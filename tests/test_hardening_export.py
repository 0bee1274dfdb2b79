"""A repository's names cannot run code through an export (issue 16, items 1 and 6): hostile
notebook, step and parameter names and schedules reach the generated Airflow, Prefect and KFP
source only as data, checked by parsing the source here and by loading it with the real
engines (each in its venv, tests/engines.py); names with a trailing newline are refused; bad
pipeline REST bodies are a 400 of one line (a real Jupyter server)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.errors import UserInputError
from jupyter_mlops.pipeline import from_notebook
from jupyter_mlops.pipeline.export import check_schedule, check_source

from .conftest import IMPORT_ROOTS
from .engines import engine_python
from .pipeline_notebooks import CHAIN, write_notebook

#: what each payload does when it runs: create the file $PWNED_AT
PAYLOAD = "open(__import__('os').environ['PWNED_AT'],'w')"
#: notebook names that close the export's docstring (or its line) in every way we know of
HOSTILE_NAMES = [
    f'x""";{PAYLOAD};""".ipynb',  # closes the docstring, code, reopens it
    f'x\\""";{PAYLOAD};""".ipynb',  # a backslash before the quotes, to eat an escape
    f"x''';{PAYLOAD};'''.ipynb",  # the other triple quote
    f'x"\n{PAYLOAD}\n#.ipynb',  # newlines: a line of its own if the name leaves a comment
    f'x\r{PAYLOAD}\r"""\\.ipynb',  # carriage returns, and a trailing backslash
    os.fsdecode(b"x\xff") + f'\\"""{PAYLOAD}.ipynb',  # not UTF-8: a lone surrogate
]
ENGINES = ["airflow", "prefect", "kfp"]
SUFFIX = {"airflow": "_dag.py", "prefect": "_flow.py", "kfp": "_kfp.py"}
#: a parameter default that would close any literal it were pasted into
HOSTILE_DEFAULT = f'\'\'\'"""\\\n{PAYLOAD}#'
#: step code that would close any literal it were pasted into, and a lone surrogate
HOSTILE_CODE = "%%mlops step report\ntext = '''a''' + \"\"\"b\"\"\" + '\\udcff'\nprint(len(text))"


@pytest.fixture
def pwned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a payload that ran would leave its mark (the environment every child inherits)."""
    mark = tmp_path / "PWNED"
    monkeypatch.setenv("PWNED_AT", str(mark))
    return mark


def _engine(name: str) -> Path:
    python, why = engine_python(name)
    if python is None:
        pytest.skip(why)
    return python


def _engine_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PREFECT"))}
    env.update(PYTHONPATH=os.pathsep.join(IMPORT_ROOTS), HOME=str(tmp),
               AIRFLOW_HOME=str(tmp / "airflow-home"), PREFECT_HOME=str(tmp / "prefect-home"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    return env


def _in_engine(engine: str, script: str, *args: str, tmp: Path) -> Any:
    """``script`` run by the engine's venv Python; the JSON it prints last."""
    done = subprocess.run([str(_engine(engine)), "-c", script, *args], cwd=tmp,
                          env=_engine_env(tmp), capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


#: each engine loads the export as it would in production (a DAG folder, a flow import, the
#: kfp compiler); what it read back is printed as JSON
AIRFLOW_LOAD = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
dag = next(iter(bag.dags.values()))
print(json.dumps({"doc": dag.doc_md, "params": dict(dag.params),
                  "tasks": [t.task_id for t in dag.tasks]}))
"""
PREFECT_LOAD = """
import inspect, json, runpy, sys
module = runpy.run_path(sys.argv[1], run_name="exported_flow")
flow = module[sys.argv[2]]
defaults = {n: p.default for n, p in inspect.signature(flow.fn).parameters.items()}
print(json.dumps({"doc": module["__doc__"], "params": defaults, "name": flow.name}))
"""


def _chain(folder: Path, name: str, *extra: str) -> Path:
    return write_notebook(folder / name, [*CHAIN, *extra])


def _docstring(source: str) -> str | None:
    return ast.get_docstring(ast.parse(source), clean=False)


def _string_constants(source: str) -> list[str]:
    return [n.value for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


# --------------------------------------------------------------------------- notebook names


#: a magic's name goes into the export's docstring too (its IPython note)
MAGIC_NAME = 'x"""\n' + PAYLOAD + "#"
HOSTILE_MAGIC = f"%%mlops step magic\nget_ipython().run_line_magic({MAGIC_NAME!r}, '')"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_hostile_notebook_name_is_only_data_in_the_export(
        project: Path, tmp_path: Path, pwned: Path, engine: str) -> None:
    for i, name in enumerate(HOSTILE_NAMES):
        nb = _chain(project, name, HOSTILE_MAGIC)
        out = tmp_path / f"{engine}-{i}"

        result = from_notebook(nb).export(engine, out)

        source = result.files[0].read_text(encoding="utf-8")
        assert result.files[0].name.endswith(SUFFIX[engine])
        # it parses, the name is in its docstring exactly, and nowhere as code
        doc = _docstring(source)
        assert doc is not None and f"for the notebook {nb.name}, written" in doc, name
        assert '(%x"""' in doc  # the magic's name, in the IPython note
        assert any(nb.name in text for text in _string_constants(source))
        names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
        assert not names & {"open", "__import__"}, name  # the payload is nowhere as code
        assert not pwned.exists(), name


def test_the_issues_kubeflow_attack_runs_no_code(project: Path, tmp_path: Path) -> None:
    """The reproduction from the issue: 'Export to Kubeflow' of this notebook ran `touch`."""
    python = _engine("kfp")
    nb = _chain(project, "x\"\"\";__import__('os').system('touch PWNED');\"\"\".ipynb")

    result = from_notebook(nb).export("kfp", tmp_path / "kfp", compile_with=str(python))

    assert result.compiled is True
    assert [f.name for f in result.files] == ["x___import___os_system_touch_PWNED_kfp.py",
                                              "x___import___os_system_touch_PWNED.yaml"]
    assert not list(project.rglob("PWNED")) and not list(tmp_path.rglob("PWNED"))
    assert not Path("PWNED").exists()


def test_airflow_loads_hostile_exports_as_a_dag_and_runs_nothing(
        project: Path, tmp_path: Path, pwned: Path) -> None:
    _engine("airflow")
    nb = _chain(project, HOSTILE_NAMES[0], HOSTILE_CODE.replace("report", "extra"))
    with_default = json.loads(nb.read_text())
    with_default["cells"][1]["source"] = f"n = 5\nscale = 2.0\nlabel = {HOSTILE_DEFAULT!r}"
    nb.write_text(json.dumps(with_default))
    dags = tmp_path / "dags"
    from_notebook(nb).export("airflow", dags, "0 3 * * *")

    loaded = _in_engine("airflow", AIRFLOW_LOAD, str(dags), tmp=tmp_path)

    assert f"for the notebook {nb.name}, written" in loaded["doc"]
    assert loaded["params"]["label"] == HOSTILE_DEFAULT
    assert sorted(loaded["tasks"]) == ["clean", "extra", "load", "report", "scaled", "stats"]
    assert not pwned.exists()


def test_prefect_imports_hostile_exports_as_a_flow_and_runs_nothing(
        project: Path, tmp_path: Path, pwned: Path) -> None:
    _engine("prefect")
    nb = _chain(project, HOSTILE_NAMES[1], HOSTILE_CODE.replace("report", "extra"))
    with_default = json.loads(nb.read_text())
    with_default["cells"][1]["source"] = f"n = 5\nscale = 2.0\nlabel = {HOSTILE_DEFAULT!r}"
    nb.write_text(json.dumps(with_default))
    pipeline = from_notebook(nb)
    flow_file = pipeline.export("prefect", tmp_path / "flows", "@daily").files[0]

    loaded = _in_engine("prefect", PREFECT_LOAD, str(flow_file), pipeline.name, tmp=tmp_path)

    assert f"for the notebook {nb.name}, written" in loaded["doc"]
    assert loaded["params"] == {"n": 5, "scale": 2.0, "label": HOSTILE_DEFAULT,
                                "mlops_trigger": ""}
    assert loaded["name"] == pipeline.name
    assert not pwned.exists()


def test_kfp_compiles_hostile_exports_and_runs_nothing(
        project: Path, tmp_path: Path, pwned: Path) -> None:
    python = _engine("kfp")
    for i, name in enumerate(HOSTILE_NAMES):
        nb = _chain(project, name)
        data = json.loads(nb.read_text())
        data["cells"][1]["source"] = f"n = 5\nscale = 2.0\nlabel = {HOSTILE_DEFAULT!r}"
        nb.write_text(json.dumps(data))

        result = from_notebook(nb).export("kfp", tmp_path / f"kfp-{i}", "0 3 * * *",
                                          compile_with=str(python))

        assert result.compiled is True, name
        spec = result.files[1].read_text(encoding="utf-8")
        assert "Notebook " in spec and "PWNED_AT" in spec  # the name, as the description
        assert not pwned.exists(), name


def test_the_embedded_step_code_reads_back_exactly(project: Path, tmp_path: Path) -> None:
    """Step code with both triple quotes and a lone surrogate (a notebook's JSON may hold one):
    the export embeds it as a literal that evaluates to the code (it used to fail to write)."""
    nb = _chain(project, "chain.ipynb", HOSTILE_CODE.replace("report", "extra"))
    pipeline = from_notebook(nb)
    for engine in ENGINES:
        source = pipeline.export(engine, tmp_path / engine).files[0].read_text(
            encoding="utf-8")
        assert pipeline.step_code("extra") in _string_constants(source)


def test_a_planted_kfp_module_beside_the_export_is_not_imported(
        project: Path, tmp_path: Path, pwned: Path) -> None:
    """The output folder is the repository's: a kfp.py or typing.py planted there is not what
    the compile imports (the script's folder is no longer first on sys.path)."""
    python = _engine("kfp")
    out = project / "exports"
    out.mkdir()
    for module in ("kfp.py", "typing.py", "os.py"):
        (out / module).write_text(f"{PAYLOAD}\n")
    nb = _chain(project, "chain.ipynb")

    result = from_notebook(nb).export("kfp", out, compile_with=str(python))

    assert result.compiled is True
    assert not pwned.exists()


def test_an_export_replaces_a_planted_link_instead_of_writing_through_it(
        project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    out = project / "dags"
    out.mkdir()
    (out / "chain_dag.py").symlink_to(outside)
    nb = _chain(project, "chain.ipynb")

    result = from_notebook(nb).export("airflow", out)

    assert outside.read_text() == "keep me"
    assert not result.files[0].is_symlink()
    assert "def chain() -> None:" in result.files[0].read_text()


# --------------------------------------------------------------------------- steps, parameters


@pytest.mark.parametrize("cell", [
    ("x = 1", [], {"mlops": {"step": "load\n"}}),
    ("x = 1", [], {"mlops": {"step": {"name": "load", "after": ["load\n"]}}}),
    ("x = 1", ["step:load\n"]),
    ("x = 1", ["step:load');__import__('os').system('id');('"]),
    ("x = 1", [], {"mlops": {"step": {"name": "load", "cpu": "2\n"}}}),
    ("x = 1", [], {"mlops": {"step": {"name": "load", "memory": "4Gi\n"}}}),
    ("x = 1", [], {"mlops": {"step": {"name": "load", "gpu": "²"}}}),
])
def test_a_step_name_or_need_with_a_trailing_newline_is_refused(
        project: Path, cell: Any) -> None:
    nb = write_notebook(project / "bad.ipynb", [cell])
    with pytest.raises(UserInputError) as caught:
        from_notebook(nb)
    assert "\n" not in str(caught.value)


def test_names_the_generated_code_uses_itself_are_refused(project: Path,
                                                          tmp_path: Path) -> None:
    """A step or parameter named like the export's own names (run_step, task, ARTIFACTS...)
    would shadow them and make a file that compiles but breaks: one line instead."""
    cases = [
        ("prefect", ["%%mlops step run_step\nx = 1"], "step 'run_step'"),
        ("airflow", ["%%mlops step task\nx = 1"], "step 'task'"),
        ("airflow", ["%%mlops step artifacts\nx = 1"], "the spec of step 'artifacts'"),
        ("prefect", [("pipeline_params = 1", ["parameters"]), "%%mlops step a\ny = 2"],
         "parameter 'pipeline_params'"),
        ("kfp", ["%%mlops step load\nx = 1", "%%mlops step task_load\ny = x"],
         "the task of step 'load'"),
    ]
    for engine, cells, said in cases:
        nb = write_notebook(project / "names.ipynb", cells)
        with pytest.raises(UserInputError, match=f"{said}.* would both be"):
            from_notebook(nb).export(engine, tmp_path / engine)
        assert not (tmp_path / engine).exists()


@pytest.mark.parametrize("source", [
    "x = " + "-" * 100_000 + "1",  # Python's parser runs out of stack
    "x = " + "+" * 1000 + "1",  # parses, but the analysis recursed past the limit
])
def test_code_nested_too_deeply_is_one_line(project: Path, source: str) -> None:
    nb = write_notebook(project / "deep.ipynb", [(source, ["parameters"]),
                                                 "%%mlops step a\ny = x"])
    with pytest.raises(UserInputError, match=r"^deep.ipynb has code nested too deeply to read"):
        from_notebook(nb)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_default_that_is_no_literal_is_one_line(project: Path, tmp_path: Path,
                                                  engine: str) -> None:
    nb = write_notebook(project / "inf.ipynb", [("limit = 1e999", ["parameters"]),
                                                "%%mlops step a\ny = limit"])
    with pytest.raises(UserInputError, match=r"the default of parameter 'limit', inf cannot "
                                             r"be written into an export"):
        from_notebook(nb).export(engine, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_name_changed_past_the_notebooks_checks_is_refused_and_not_written(
        project: Path, tmp_path: Path) -> None:
    """A step whose name a caller changed in Python after the notebook was read."""
    pipeline = from_notebook(_chain(project, "chain.ipynb"))
    pipeline.steps[0].name = "load\nimport os"
    with pytest.raises(UserInputError, match=r"step name 'load\\nimport os' must start"):
        pipeline.export("airflow", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_generated_file_that_does_not_compile_or_read_back_is_one_line() -> None:
    with pytest.raises(UserInputError, match=r"^the kfp export does not compile \(.*, line 2\),"
                                             r" so nothing was written$"):
        check_source('"""doc"""\nx = (\n', "kfp", "doc")
    with pytest.raises(UserInputError, match="docstring does not read back as written"):
        check_source('"""doc"""\n"""more"""\n', "airflow", "doc\nmore")
    check_source('"""doc"""\nx = 1\n', "prefect", "doc")


@pytest.mark.parametrize(("schedule", "said"), [
    (5, "schedule must be a cron expression as a string, not int 5"),
    (["@daily"], "schedule must be a cron expression as a string, not list"),
    ("0 3 * * *'; import os #", "is not a cron expression"),
    ("@daily\nimport os", "is not a cron expression"),
])
def test_a_bad_schedule_is_one_line(schedule: Any, said: str) -> None:
    with pytest.raises(UserInputError, match=said):
        check_schedule(schedule)


def test_a_schedule_is_data_in_every_export(project: Path, tmp_path: Path) -> None:
    pipeline = from_notebook(_chain(project, "chain.ipynb"))
    for engine in ENGINES:
        source = pipeline.export(engine, tmp_path / engine, " 0  3 * * 1-5 ").files[0]
        assert "0 3 * * 1-5" in _string_constants(source.read_text())


# --------------------------------------------------------------------------- other names


def test_feature_view_and_deployment_names_end_where_they_end() -> None:
    from jupyter_mlops.deploy.state import check_name as deployment_name
    from jupyter_mlops.features.model import check_name as view_name

    assert view_name("churn.v2") == "churn.v2"
    assert deployment_name("churn-v2") == "churn-v2"
    for name in ("churn\n", "churn\n\n"):
        with pytest.raises(UserInputError, match="view name 'churn\\\\n"):
            view_name(name)
        with pytest.raises(UserInputError, match="invalid deployment name 'churn"):
            deployment_name(name)


# --------------------------------------------------------------------------- REST


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


async def _post(jp_fetch: Any, *parts: str, body: Any) -> Any:
    response = await jp_fetch("mlops", "api", *parts, method="POST", body=json.dumps(body))
    return json.loads(response.body.decode())


async def _refused(jp_fetch: Any, *parts: str, body: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", *parts, method="POST", body=json.dumps(body))
    response = caught.value.response
    assert response is not None
    reply = json.loads(response.body.decode())
    assert set(reply) == {"message"} and "\n" not in reply["message"], reply
    return caught.value.code, reply["message"]


async def test_a_notebook_nested_too_deeply_is_a_400(jp_fetch: Any, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "deep.ipynb", ["%%mlops step a\nx = " + "-" * 100_000 + "1"])
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "pipeline", params={"path": "deep.ipynb"})
    assert caught.value.code == 400


async def test_export_to_kubeflow_of_a_hostile_notebook_through_the_server(
        jp_fetch: Any, jp_root_dir: Path, tmp_path: Path, pwned: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """'Export to Kubeflow' in the panel: the server compiles with its own Python, here the
    kfp venv's (the server runs in this process)."""
    import sys

    python = _engine("kfp")
    site = next((python.parent.parent / "lib").glob("python*/site-packages"))
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    for i, name in enumerate(HOSTILE_NAMES[:3]):
        _chain(jp_root_dir / "nb", name)
        reply = await _post(jp_fetch, "pipeline", "export", body={
            "path": f"nb/{name}", "target": "kfp", "out_dir": f"out{i}",
            "schedule": "0 3 * * *"})
        assert reply["compiled"] is True, reply
        assert reply["files"][0].startswith(f"out{i}/") and reply["files"][1].endswith(".yaml")
        assert not pwned.exists(), name
    for engine in ("airflow", "prefect"):
        reply = await _post(jp_fetch, "pipeline", "export", body={
            "path": f"nb/{HOSTILE_NAMES[0]}", "target": engine, "out_dir": engine})
        source = (jp_root_dir / reply["files"][0]).read_text()
        assert f"for the notebook {HOSTILE_NAMES[0]}, written" in (_docstring(source) or "")
    assert not pwned.exists()


@pytest.mark.parametrize(("route", "body", "said"), [
    ("export", {"target": "airflow", "out_dir": "out", "schedule": 5}, "schedule"),
    ("export", {"target": "airflow", "out_dir": "out", "schedule": ["@daily"]}, "schedule"),
    ("export", {"target": 5, "out_dir": "out"}, "target"),
    ("export", {"target": "airflow", "out_dir": {}}, "out_dir"),
    ("runs", {"only": 5}, "only"),
    ("runs", {"only": [5]}, "only"),
    ("runs", {"parameters": []}, "parameters"),
    ("runs", {"parameters": "n=3"}, "parameters"),
    ("runs", {"from_step": {}}, "from_step"),
    ("runs", {"from_step": ["load"]}, "from_step"),
    ("runs", {"from_step": "load\n"}, "no step named 'load\\n'"),
    ("runs", {"only": "load\n"}, "no step named 'load\\n'"),
    ("runs", {"only": ["load"], "from_step": "clean"}, "not both"),
])
async def test_bad_pipeline_bodies_are_a_400_of_one_line(
        jp_fetch: Any, jp_root_dir: Path, route: str, body: dict[str, Any], said: str) -> None:
    _chain(jp_root_dir, "chain.ipynb")
    parts = ("pipeline", "export") if route == "export" else ("pipeline", "runs")

    code, message = await _refused(jp_fetch, *parts, body={"path": "chain.ipynb", **body})

    assert code == 400
    assert said in message
    assert not (jp_root_dir / "out").exists()
