"""load data -> features -> train a small torch model -> evaluate: the local runner gives the
same results as running the notebook top to bottom (nbclient, a real kernel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_mlops.pipeline import from_notebook

from .pipeline_notebooks import digest, step_states, write_notebook

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

TRAIN = [
    ("import json\n\nimport numpy as np\nimport pandas as pd\nimport torch", ["imports"]),
    ("seed = 0\nepochs = 40\nlr = 0.5", ["parameters"]),
    "%%mlops step load\n"
    "rng = np.random.default_rng(seed)\n"
    "x = rng.normal(size=(256, 4))\n"
    "data = pd.DataFrame(x, columns=['a', 'b', 'c', 'd'])\n"
    "data['label'] = (x @ np.array([1.0, -2.0, 0.5, 1.0]) > 0).astype('float32')",
    "%%mlops step features\n"
    "cols = ['a', 'b', 'c', 'd']\n"
    "scaled = (data[cols] - data[cols].mean()) / data[cols].std()\n"
    "features = torch.tensor(scaled.to_numpy(), dtype=torch.float32)\n"
    "target = torch.tensor(data['label'].to_numpy())",
    "%%mlops step train --gpu 1\n"
    "torch.manual_seed(seed)\n"
    "model = torch.nn.Sequential(torch.nn.Linear(4, 1))\n"
    "opt = torch.optim.SGD(model.parameters(), lr=lr)\n"
    "for _ in range(epochs):\n"
    "    opt.zero_grad()\n"
    "    loss = torch.nn.functional.binary_cross_entropy_with_logits(\n"
    "        model(features).squeeze(1), target)\n"
    "    loss.backward()\n"
    "    opt.step()\n"
    "final_loss = float(loss)",
    "%%mlops step evaluate\n"
    "with torch.no_grad():\n"
    "    predicted = (model(features).squeeze(1) > 0).float()\n"
    "accuracy = float((predicted == target).float().mean())\n"
    "weights = model[0].weight.detach().numpy().copy()",
    "%%mlops step report\n"
    "metrics = {'accuracy': accuracy, 'loss': final_loss, 'weights': weights.tolist()}\n"
    "with open('metrics.json', 'w') as out:\n"
    "    json.dump(metrics, out)\n"
    "print(metrics)",
]


def _top_to_bottom(nb: Path) -> dict[str, object]:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(str(nb), as_version=4)
    # the magic needs the extension loaded, as a user's notebook would have it
    notebook.cells.insert(0, nbformat.v4.new_code_cell("%load_ext jupyter_mlops"))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(nb.parent)}}).execute()
    metrics = json.loads((nb.parent / "metrics.json").read_text())
    (nb.parent / "metrics.json").unlink()
    return metrics


def test_the_pipeline_gives_the_notebooks_own_results(project: Path) -> None:
    nb = write_notebook(project / "train.ipynb", TRAIN)
    before = digest(nb)
    expected = _top_to_bottom(nb)

    pipeline = from_notebook(nb)
    assert pipeline.step("train").inputs == {"features": "features", "target": "features"}
    assert pipeline.step("evaluate").inputs == {"model": "train", "features": "features",
                                                "target": "features"}
    assert pipeline.step("report").inputs == {"accuracy": "evaluate", "final_loss": "train",
                                              "weights": "evaluate"}
    run = pipeline.run()

    assert run.ok, run.to_text()
    got = json.loads((project / "metrics.json").read_text())
    assert got == expected
    assert expected["accuracy"] > 0.9  # type: ignore[operator]
    formats = {n: r["format"] for s in run.results.values() for n, r in s["outputs"].items()}
    assert formats["data"] == "parquet" and formats["model"] == "torch"
    assert formats["features"] == "torch" and formats["weights"] == "npy"
    assert digest(nb) == before

    # an unchanged second run is served whole from the cache
    assert set(step_states(pipeline.run()).values()) == {"cached"}

    # changing the training step re-runs it and what depends on it, nothing above
    changed = list(TRAIN)
    changed[4] = changed[4].replace("lr=lr", "lr=lr / 2")
    write_notebook(nb, changed)
    rerun = from_notebook(nb).run()
    assert step_states(rerun) == {"load": "cached", "features": "cached", "train": "done",
                                  "evaluate": "done", "report": "done"}
