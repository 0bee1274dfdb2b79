"""``%mlops rule add|list|remove`` and ``%mlops check`` in a real IPython shell and the same
``jupyter mlops`` verbs in a real subprocess, over an inference log written as the serving
process writes it (``monitor_traffic``) and a one-step retraining notebook."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from tests.monitor_traffic import Traffic, retrain_notebook, shifted_traffic
from tests.shell_fixtures import displayed, one_line_error, run

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def traffic(project: Path) -> Traffic:
    return shifted_traffic(project)


# --------------------------------------------------------------------------- rules and check


def _finished(project: Path, name: str, rule_id: str, timeout: float = 120) -> dict[str, Any]:
    """The rule's last retraining once it is no longer running."""
    import time

    from jupyter_mlops.monitor.rules import rules

    deadline = time.monotonic() + timeout
    while True:
        (found,) = [r for r in rules(name, cwd=project) if r.id == rule_id]
        result = found.last_result or {}
        if result.get("status") != "running" or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_rules_added_listed_checked_and_removed_in_a_notebook(
        shell: InteractiveShell, traffic: Traffic) -> None:
    from jupyter_mlops.monitor.check import CheckResult

    retrain_notebook(traffic.project)
    listed = run(shell, "%mlops rule list churn")
    assert displayed(shell, listed)[0]["text/plain"].startswith("churn: no rules")
    added = run(shell, "%mlops rule add churn --when 'rows>100' --then retrain.ipynb "
                       "--cooldown 1h")
    rule_id = added.to_dict()["id"]
    assert added.to_dict()["cooldown_s"] == 3600 and added.to_dict()["then"] == "retrain.ipynb"
    assert f"churn: rule added [{rule_id}] when rows>100 then retrain.ipynb" in displayed(
        shell, added)[0]["text/plain"]
    listed = run(shell, "%mlops rule list churn")
    (table,) = displayed(shell, listed)
    assert f'data-rule="{rule_id}"' in table["text/html"] and "never" in table["text/html"]
    assert run(shell, "%mlops rule list churn --json") == {"rules": [added.to_dict()]}

    # a dry run: nothing was logged since the rule was added, so it does not hold
    dry = run(shell, "%mlops check churn --dry-run")
    assert isinstance(dry, CheckResult) and dry.dry_run and dry.fired == []
    (card,) = displayed(shell, dry)
    assert f'data-rule="{rule_id}" data-fired="false"' in card["text/html"]
    assert card["text/plain"] == dry.to_text()

    # the Python API's rule shows as its line, too
    (kept,) = run(shell, "import jupyter_mlops as mlops\nmlops.monitor.rules('churn')")
    (line,) = displayed(shell, kept)
    assert line["text/plain"] == str(kept) and f'data-rule="{rule_id}"' in line["text/html"]

    removed = run(shell, f"%mlops rule remove churn {rule_id} --json")
    assert removed == {"removed": rule_id}
    assert run(shell, "%mlops rule list churn --json") == {"rules": []}


def test_a_rule_fires_once_from_the_magic(shell: InteractiveShell, traffic: Traffic) -> None:
    """A rule whose condition holds fires on the first check (its retraining starts) and is
    skipped on the next one; the outcome shows in the rules list."""
    retrain_notebook(traffic.project)
    rule_id = run(shell, "%mlops rule add churn --when 'rows>=0' --then retrain.ipynb "
                         "--json")["id"]
    (dry,) = displayed(shell, run(shell, "%mlops check churn --dry-run"))
    assert ">holds</span>" in dry["text/html"] and "dry run: nothing started" in dry["text/html"]
    first = run(shell, "%mlops check churn")
    assert first.fired == [rule_id]
    (card,) = displayed(shell, first)
    assert f'data-rule="{rule_id}" data-fired="true"' in card["text/html"]
    outcome = _finished(traffic.project, "churn", rule_id)
    assert outcome.get("status") in ("succeeded", "failed"), outcome
    second = run(shell, "%mlops check churn --json")
    (again,) = second["rules"]
    assert again["fired"] is False and again["skipped"] == "cooldown"
    listed = run(shell, "%mlops rule list churn")
    (table,) = displayed(shell, listed)
    assert f">{outcome['status']}</span>" in table["text/html"]


@pytest.mark.parametrize(("line", "message"), [
    ("%mlops rule add churn --when 'accuracy<0.8' --then retrain.ipynb",
     "cannot read the condition 'accuracy<0.8'"),
    ("%mlops rule add churn --when drift --then missing.ipynb", "no such notebook"),
    ("%mlops rule add churn --when drift --then retrain.ipynb --cooldown soon",
     "cooldown: "),
    ("%mlops rule add churn --when drift --then retrain.ipynb --target cron", "target 'cron'"),
    ("%mlops rule add nobody --when drift --then retrain.ipynb", "no deployment named 'nobody'"),
    ("%mlops rule add churn --then retrain.ipynb", "the following arguments are required: "
     "--when"),
    ("%mlops rule remove churn abcdef12", "has no rule 'abcdef12'"),
    ("%mlops rule pause churn", "invalid choice: 'pause'"),
    ("%mlops check nobody", "no deployment named 'nobody'"),
])
def test_rule_and_check_mistakes_are_one_line(shell: InteractiveShell, traffic: Traffic,
                                              line: str, message: str) -> None:
    retrain_notebook(traffic.project)
    assert message in one_line_error(shell, line)


def test_rules_and_check_on_the_command_line(cli: Callable[..., Any],
                                             traffic: Traffic) -> None:
    retrain_notebook(traffic.project)
    done = cli("rule", "add", "churn", "--when", "rows>5", "--then", "retrain.ipynb",
               "--json", cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    added = json.loads(done.stdout)
    assert added["when"] == "rows>5" and added["target"] == "local"
    done = cli("rule", "list", "churn", cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "churn: 1 rule"
    assert f"[{added['id']}] when rows>5 then retrain.ipynb (local, the default cooldown; " \
           "fired never)" in done.stdout
    done = cli("check", "churn", "--dry-run", "--json", cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    checked = json.loads(done.stdout)
    assert checked["dry_run"] is True and [r["id"] for r in checked["rules"]] == [added["id"]]
    assert checked["rules"][0]["fired"] is False
    done = cli("rule", "remove", "churn", added["id"], cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"churn: rule {added['id']} removed"
    done = cli("rule", "remove", "churn", added["id"], cwd=traffic.project)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert f"has no rule '{added['id']}'" in done.stderr


def test_an_engine_runs_result_names_its_run_and_links_only_http() -> None:
    from jupyter_mlops_kernel.monitor_views import _result_html

    shown = _result_html({"status": "running", "run_id": None, "engine": "prefect",
                          "engine_run": "f00d", "url": "http://127.0.0.1:4200/runs/f00d"})
    assert "prefect run" in shown and 'href="http://127.0.0.1:4200/runs/f00d"' in shown
    assert "run <code>None" not in shown
    planted = _result_html({"status": "failed", "engine": "airflow", "engine_run": "x",
                            "url": "javascript:alert(1)"})
    assert "href" not in planted and "<code>x</code>" in planted
