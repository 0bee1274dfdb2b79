"""The Pipeline panel as a person uses it, in real JupyterLab: the DAG of the open notebook,
steps selecting their cells, a step set through the form, runs from the panel, an export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ..pipeline_notebooks import write_notebook
from .conftest import Lab, screenshot
from .helpers import open_notebook, show_panel

pytestmark = pytest.mark.ui

#: load -> (train of two cells, spread); the last cell has no mark: it joins spread until the
#: panel makes it a step of its own
FLOW = [
    ("import statistics", ["imports"]),
    ("rows = 20", ["parameters"]),
    "%%mlops step load\nxs = [x * 2 for x in range(rows)]",
    "%%mlops step train\nmean = statistics.fmean(xs)",
    "half = mean / 2",
    "%%mlops step spread\ntop = max(xs)",
    "summary = {'mean': mean, 'half': half, 'top': top}\nprint('summary', summary)",
]
SUMMARY = "summary {'mean': 19.0, 'half': 9.5, 'top': 38}"
STEPS = ("load", "train", "spread", "report")

#: a step failing on its third line
BROKEN = [
    "%%mlops step make\nvalues = [1, 2, 3]",
    "%%mlops step divide\ntotal = sum(values)\nratio = total / 0",
]
FIXED = "%%mlops step share\ntotal = sum(values)\nratio = total / 2\nprint('ratio', ratio)"

#: a step that runs until it is stopped, and one that changes its input in place (a warning)
SLOW = [
    "%%mlops step wait\nimport time\nitems = [3, 1, 2]\ntime.sleep(600)",
    "%%mlops step then\nitems.sort()\nfirst = items[0]",
]

#: a -> b -> c, and c reads a's value too: the edge a -> c skips b's row
SKIP = [
    "%%mlops step a\nxs = [1, 2]",
    "%%mlops step b\ny = sum(xs)",
    "%%mlops step c\nz = (xs, y)",
]


@pytest.fixture
def lab_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write_notebook(root / "work" / "flow.ipynb", FLOW)
    write_notebook(root / "broken.ipynb", BROKEN)
    write_notebook(root / "slow.ipynb", SLOW)
    write_notebook(root / "skip.ipynb", SKIP)
    return root


def node(panel: Any, step: str) -> Any:
    return panel.locator(f'.jp-mlops-pipeline-node[data-step="{step}"]')


def edge(panel: Any, source: str, target: str) -> Any:
    return panel.locator(f'.jp-mlops-pipeline-edge[data-from="{source}"][data-to="{target}"]')


CROSSINGS = """svg => {
  const boxes = [...svg.querySelectorAll('.jp-mlops-pipeline-node')].map(g => {
    const r = g.querySelector('rect').getBBox();
    const m = g.transform.baseVal.consolidate().matrix;
    return {step: g.dataset.step, x: m.e + r.x, y: m.f + r.y, w: r.width, h: r.height};
  });
  const found = [];
  for (const e of svg.querySelectorAll('.jp-mlops-pipeline-edge')) {
    const path = e.querySelector('path');
    const total = path.getTotalLength();
    for (let i = 1; i < 100; i++) {
      const p = path.getPointAtLength(total * i / 100);
      for (const b of boxes) {
        if (b.step !== e.dataset.from && b.step !== e.dataset.to &&
            p.x > b.x && p.x < b.x + b.w && p.y > b.y && p.y < b.y + b.h) {
          found.push(`${e.dataset.from}->${e.dataset.to} over ${b.step}`);
        }
      }
    }
  }
  return [...new Set(found)];
}"""


def edges_crossing_boxes(panel: Any) -> list[str]:
    """Edges of the drawn DAG whose path passes over a step box other than its ends."""
    found: list[str] = panel.locator("svg.jp-mlops-pipeline-dag").evaluate(CROSSINGS)
    return found


def start_run(panel: Any) -> Any:
    panel.locator(".jp-mlops-pipeline-run-button").click()
    form = panel.locator("form.jp-mlops-pipeline-form")
    expect(form.locator('input[name="rows"]')).to_have_value("20")  # the parameter's default
    form.get_by_role("button", name="Start run").click()
    return panel.locator(".jp-mlops-pipeline-run")


def test_the_pipeline_panel_runs_the_notebook_and_exports_it(page: Any, lab: Lab) -> None:
    notebook = open_notebook(page, lab, "work/flow.ipynb")
    panel = show_panel(page, "pipeline")

    # the DAG of the open notebook: its steps and the values passed between them
    expect(panel.locator(".jp-mlops-pipeline-node")).to_have_count(3)
    expect(edge(panel, "load", "train")).to_contain_text("xs")
    expect(edge(panel, "train", "spread")).to_contain_text("mean, half")
    expect(panel.locator(".jp-mlops-pipeline-title")).to_have_text("flow.ipynb")

    # clicking a step selects its cells (train: its marked cell and the one below)
    node(panel, "train").click()
    cells = notebook.locator(".jp-Cell")
    expect(cells.nth(3)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    expect(cells.nth(4)).to_have_class(re.compile(r"\bjp-mod-selected\b"))
    for other in (2, 5):
        expect(cells.nth(other)).not_to_have_class(re.compile(r"\bjp-mod-selected\b"))
    expect(node(panel, "train")).to_have_attribute("data-selected", "true")
    detail = panel.locator(".jp-mlops-pipeline-detail")
    expect(detail).to_have_attribute("data-step", "train")
    expect(detail.locator("dt")).to_have_text(["reads", "hands on"])
    expect(detail.locator("dd")).to_have_text(["xs ← load", "mean, half"])

    # set a step on the last cell through the form: spread no longer waits for train, and
    # the new step is fed by both
    cells.nth(6).locator(".jp-InputArea-prompt").click()
    active = panel.locator(".jp-mlops-pipeline-cell")
    expect(active).to_contain_text("Cell 7 is part of step spread")
    active.locator(".jp-mlops-pipeline-set-step").click()
    form = active.locator("form.jp-mlops-pipeline-form")
    form.locator('input[name="name"]').fill("report")
    form.locator('input[name="retries"]').fill("1")
    save = form.get_by_role("button", name="Save step")
    form.locator('input[name="memory"]').fill("2 gigs")  # checked as marks.py checks it
    expect(form.locator(".jp-mlops-field-error")).to_contain_text("512Mi, 4Gi")
    expect(save).to_be_disabled()
    form.locator('input[name="memory"]').fill("2Gi")
    form.locator('input[name="cpu"]').fill("500m")
    save.click()
    expect(panel.locator(".jp-mlops-pipeline-node")).to_have_count(4)
    expect(edge(panel, "train", "report")).to_contain_text("mean, half")
    expect(edge(panel, "spread", "report")).to_contain_text("top")
    expect(edge(panel, "train", "spread")).to_have_count(0)
    # no edge runs across a box it does not join (train -> report skips spread's row)
    assert edges_crossing_boxes(panel) == []
    expect(node(panel, "report")).to_contain_text("retries 1")
    expect(active).to_contain_text("Cell 7 starts step report")
    screenshot(page, "pipeline-dag", panel.locator(".jp-mlops-pipeline-graph"))
    node(panel, "report").click()
    expect(detail).to_have_attribute("data-step", "report")
    expect(detail).to_contain_text("500m CPU, 2Gi, 1 retry")

    # run it from the panel: the notebook is saved first, and every step ends done
    run = start_run(panel)
    for step in STEPS:
        expect(run.locator(f'.jp-mlops-pipeline-step[data-step="{step}"]')).to_have_attribute(
            "data-state", "done", timeout=90_000)
        expect(node(panel, step)).to_have_attribute("data-state", "done")
    expect(run).to_have_attribute("data-state", "done")
    saved = json.loads((lab.root / "work" / "flow.ipynb").read_text())
    assert saved["cells"][6]["metadata"]["mlops"] == {
        "step": {"name": "report", "cpu": "500m", "memory": "2Gi", "retries": 1}}
    report = run.locator('.jp-mlops-pipeline-step[data-step="report"]')
    report.locator("summary").click()
    expect(report.locator(".jp-mlops-pipeline-log")).to_contain_text(SUMMARY)
    screenshot(page, "pipeline-panel", panel)
    screenshot(page, "pipeline-in-lab")

    # the whole log opens in the main area
    report.locator("summary .jp-mlops-pipeline-link").click()
    log = page.locator(".jp-MainAreaWidget .jp-mlops-pipeline-logview")
    expect(log).to_have_attribute("data-state", "loaded")
    expect(log).to_contain_text(SUMMARY)
    page.locator(".lm-TabBar-tab", has_text="flow.ipynb").click()

    # the same run again comes from the cache, and both runs are listed
    first_run = run.get_attribute("data-run-id")
    run = start_run(panel)
    expect(run).not_to_have_attribute("data-run-id", first_run or "")
    for step in STEPS:
        expect(run.locator(f'.jp-mlops-pipeline-step[data-step="{step}"]')).to_have_attribute(
            "data-state", "cached", timeout=90_000)
    expect(run).to_have_attribute("data-state", "done")
    expect(panel.locator(".jp-mlops-pipeline-recent li")).to_have_count(2)

    # export to Airflow: the written file is reported, and it is on disk
    panel.locator(".jp-mlops-pipeline-export-button").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator('select[name="target"]')).to_have_value("airflow")
    dialog.locator('input[name="out_dir"]').fill("work/dags")
    dialog.locator('input[name="schedule"]').fill("@daily")
    screenshot(page, "pipeline-export-dialog", dialog.locator(".jp-Dialog-content"))
    dialog.locator(".jp-mod-accept").click()
    exported = panel.locator(".jp-mlops-pipeline-exported")
    expect(exported).to_contain_text("work/dags/flow_dag.py")
    dag_file = lab.root / "work" / "dags" / "flow_dag.py"
    assert dag_file.is_file()
    text = dag_file.read_text()
    assert "schedule='@daily'" in text and "@task(task_id='report', retries=1)" in text

    # the form edits what the cell's metadata holds, and "Clear" takes the step away again
    expect(active).to_contain_text("Cell 7 starts step report")
    active.locator(".jp-mlops-pipeline-set-step").click()
    expect(form.locator('input[name="name"]')).to_have_value("report")
    expect(form.locator('input[name="retries"]')).to_have_value("1")
    form.get_by_role("button", name="Cancel").click()
    active.locator(".jp-mlops-pipeline-clear-step").click()
    expect(panel.locator(".jp-mlops-pipeline-node")).to_have_count(3)
    expect(active).to_contain_text("Cell 7 is part of step spread")


def test_a_failed_step_names_its_cell_and_line_and_the_fix_resumes_there(
        page: Any, lab: Lab) -> None:
    notebook = open_notebook(page, lab, "broken.ipynb")
    panel = show_panel(page, "pipeline")
    expect(panel.locator(".jp-mlops-pipeline-node")).to_have_count(2)
    run = start_run_without_parameters(panel)
    failed = run.locator('.jp-mlops-pipeline-step[data-step="divide"]')
    expect(failed).to_have_attribute("data-state", "failed", timeout=90_000)
    expect(run).to_have_attribute("data-state", "failed")
    expect(node(panel, "divide")).to_have_attribute("data-state", "failed")
    expect(node(panel, "make")).to_have_attribute("data-state", "done")
    link = failed.locator(".jp-mlops-pipeline-failure")
    expect(link).to_have_text("cell 2, line 3")
    expect(failed).to_contain_text("ZeroDivisionError")
    # the first cell is active; the failure's link selects the failing one
    notebook.locator(".jp-Cell").nth(0).locator(".jp-InputArea-prompt").click()
    link.click()
    expect(notebook.locator(".jp-Cell").nth(1)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    screenshot(page, "pipeline-failed", panel)

    # fix the cell in the editor (unsaved): the DAG follows the typing
    cells = notebook.locator(".jp-Cell")
    cells.nth(1).locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(FIXED)
    expect(node(panel, "share")).to_have_count(1)
    expect(node(panel, "divide")).to_have_count(0)
    expect(edge(panel, "make", "share")).to_contain_text("values")
    # the run saves the notebook first; make comes from the cache, the fixed step runs
    run = start_run_without_parameters(panel)
    expect(run.locator('.jp-mlops-pipeline-step[data-step="share"]')).to_have_attribute(
        "data-state", "done", timeout=90_000)
    expect(run.locator('.jp-mlops-pipeline-step[data-step="make"]')).to_have_attribute(
        "data-state", "cached")
    expect(run.locator('.jp-mlops-pipeline-step[data-step="share"]')).to_contain_text(
        "ratio 3.0")
    assert "step share" in (lab.root / "broken.ipynb").read_text()


def test_switching_notebooks_and_stopping_a_run(page: Any, lab: Lab) -> None:
    open_notebook(page, lab, "broken.ipynb")
    panel = show_panel(page, "pipeline")
    expect(node(panel, "divide")).to_have_count(1)
    # the panel follows the notebook in use: open another one from the file browser
    page.locator('.jp-SideBar [data-id="filebrowser"]').click()
    page.locator(".jp-DirListing-item", has_text="slow.ipynb").dblclick()
    expect(page.locator(".lm-TabBar-tab.jp-mod-current", has_text="slow.ipynb")).to_have_count(1)
    panel = show_panel(page, "pipeline")
    expect(panel.locator(".jp-mlops-pipeline-title")).to_have_text("slow.ipynb")
    expect(node(panel, "wait")).to_have_count(1)
    # a warning names its cell and line; its link selects that cell
    warning = panel.locator(".jp-mlops-pipeline-warnings li")
    expect(warning).to_have_count(1)
    expect(warning).to_contain_text("changes 'items' from step 'wait' in place")
    warning.get_by_role("button", name="cell 2, line 2").click()
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-Cell").nth(1)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    run = start_run_without_parameters(panel)
    expect(run.locator('.jp-mlops-pipeline-step[data-step="wait"]')).to_have_attribute(
        "data-state", "running", timeout=60_000)
    expect(run.locator('.jp-mlops-pipeline-step[data-step="then"]')).to_have_attribute(
        "data-state", "queued")
    run.locator(".jp-mlops-pipeline-stop").click()
    expect(run).to_have_attribute("data-state", "cancelled", timeout=30_000)
    expect(run.locator(".jp-mlops-pipeline-badge")).to_have_text("stopped")
    for step in ("wait", "then"):
        expect(run.locator(f'.jp-mlops-pipeline-step[data-step="{step}"]')).to_have_attribute(
            "data-state", "skipped")
    expect(panel.locator(".jp-mlops-pipeline-run-button")).to_be_enabled()


def start_run_without_parameters(panel: Any) -> Any:
    panel.locator(".jp-mlops-pipeline-run-button").click()
    form = panel.locator("form.jp-mlops-pipeline-form")
    expect(form).to_contain_text("No parameters")
    form.get_by_role("button", name="Start run").click()
    return panel.locator(".jp-mlops-pipeline-run")


def test_an_edge_that_skips_a_row_goes_around_its_boxes(page: Any, lab: Lab) -> None:
    open_notebook(page, lab, "skip.ipynb")
    panel = show_panel(page, "pipeline")
    expect(node(panel, "c")).to_have_count(1)
    skipping = edge(panel, "a", "c")
    expect(skipping).to_contain_text("xs")
    expect(skipping).to_have_attribute("data-lane", "true")
    expect(edge(panel, "a", "b")).not_to_have_attribute("data-lane", "true")
    # drawn straight down, a -> c would cross b's box: it runs in a lane beside it
    assert edges_crossing_boxes(panel) == []
    screenshot(page, "pipeline-dag-lane", panel.locator(".jp-mlops-pipeline-graph"))
