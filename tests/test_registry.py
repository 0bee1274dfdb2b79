"""One registry of capabilities: each package declares its verbs and health checks once, and
``commands`` / ``status`` discover them. A parse loads only the capability it runs; a new
capability is one package added to ``CAPABILITY_PACKAGES``."""

from __future__ import annotations

import importlib
import io
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import jupyter_mlops
from jupyter_mlops import commands
from jupyter_mlops.checks import Check, HealthCheck
from jupyter_mlops.commands import (
    CAPABILITY_PACKAGES,
    Context,
    HelpShown,
    UsageError,
    capabilities,
    parse,
    run,
    verbs_for,
)
from jupyter_mlops.status import collect_status

CAPABILITY_IDS = {
    "jupyter_mlops.features": "features",
    "jupyter_mlops.tracking": "experiments",
    "jupyter_mlops.pipeline": "pipeline",
    "jupyter_mlops.review": "review",
    "jupyter_mlops.deploy": "deploy",
    "jupyter_mlops.monitor": "monitor",
}
#: which capability each verb belongs to
OWNER = {verb.name: cap.package for cap in capabilities() for verb in cap.verbs}


def capability_modules_after(code: str, child_env: Callable[..., dict[str, str]]) -> list[str]:
    """The capability modules (beyond the packages' ``__init__``) a fresh Python holds after
    running ``code``."""
    script = code + textwrap.dedent("""
        import json as _json, sys as _sys
        from jupyter_mlops.commands import CAPABILITY_PACKAGES as _PACKAGES
        print(_json.dumps(sorted(m for m in _sys.modules
                                 if m.rpartition(".")[0] in _PACKAGES)))
    """)
    done = subprocess.run([sys.executable, "-c", script], env=child_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


# --------------------------------------------------------------------------- the registry


def test_capabilities_come_from_their_packages_in_order() -> None:
    found = capabilities()

    assert [cap.package for cap in found] == list(CAPABILITY_PACKAGES)
    assert [cap.id for cap in found] == [CAPABILITY_IDS[p] for p in CAPABILITY_PACKAGES]
    assert [cap.title for cap in found] == [
        "Features", "Experiments", "Pipeline", "Review", "Deploy", "Monitor"]
    for cap in found:
        assert cap.verbs, cap.id


def test_every_capability_has_named_health_checks_and_a_summary() -> None:
    for cap in capabilities():
        health = importlib.import_module(f"{cap.package}.health")
        assert health.CHECKS, cap.id
        assert all(isinstance(check, HealthCheck) for check in health.CHECKS)
        names = [check.name for check in health.CHECKS]
        assert len(set(names)) == len(names)
        assert callable(health.summary)


def test_verbs_are_listed_once_core_verbs_around_the_capabilities() -> None:
    names = [verb.name for verb in verbs_for("cli")]

    assert names[0] == "status" and names[-1] == "demo"
    assert len(set(names)) == len(names)
    assert names[1:-1] == [v.name for cap in capabilities() for v in cap.verbs
                           if "cli" in v.adapters]
    magic = [verb.name for verb in verbs_for("magic")]
    assert {"track", "param", "step"} <= set(magic) - set(names)
    assert "demo" not in magic
    assert {v.name for v in verbs_for("magic") if v.cell} == {"track", "step", "sweep"}


# --------------------------------------------------------------------------- lazy parsing


@pytest.mark.parametrize(("argv", "adapter"), [
    (["features", "search", "x"], "magic"),
    (["runs", "--limit", "3"], "cli"),
    (["pipeline", "show"], "magic"),
    (["diff", "train.ipynb"], "cli"),
    (["deployments"], "magic"),
    (["inferences", "churn", "--limit", "5"], "cli"),
    (["drift", "churn", "--since", "1d"], "magic"),
    (["rule", "add", "churn", "--when", "drift", "--then", "retrain.ipynb"], "cli"),
])
def test_a_parse_loads_only_the_capability_of_its_verb(
        argv: list[str], adapter: str, child_env: Callable[..., dict[str, str]]) -> None:
    loaded = capability_modules_after(
        f"from jupyter_mlops.commands import parse\nparse({argv!r}, {adapter!r}, 'prog')\n",
        child_env)

    own = OWNER[argv[0]]
    assert f"{own}.verbs" in loaded  # the verb's own parser was configured
    others = [m for m in loaded if not m.startswith(f"{own}.")]
    assert others == [], f"parsing {argv} imported {others}"


def test_help_lists_every_verb_without_configuring_any(
        child_env: Callable[..., dict[str, str]]) -> None:
    code = textwrap.dedent("""
        import io
        from jupyter_mlops.commands import HelpShown, parse
        out = io.StringIO()
        try:
            parse(["--help"], "magic", "%mlops", out)
        except HelpShown:
            print(out.getvalue())
    """)
    done = subprocess.run([sys.executable, "-c", code], env=child_env(),
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.stdout.startswith("usage: %mlops VERB [options]"), done.stderr[-3000:]
    for verb in verbs_for("magic"):
        assert f"  {verb.name:<12} {verb.help}" in done.stdout
    assert capability_modules_after(code, child_env) == []


def test_a_verbs_own_help_configures_it() -> None:
    out = io.StringIO()
    with pytest.raises(HelpShown):
        parse(["runs", "--help"], "magic", "%mlops", out)

    assert out.getvalue().startswith("usage: %mlops runs")
    assert "--experiment NAME" in out.getvalue()


def test_an_unknown_verb_suggests_the_close_one() -> None:
    with pytest.raises(UsageError) as caught:
        parse(["featurs", "search"], "magic", "%mlops")

    message = str(caught.value)
    assert "unknown verb 'featurs'" in message
    assert "did you mean 'features'" in message
    assert "verbs: " + ", ".join(v.name for v in verbs_for("magic")) in message


def test_a_flag_before_the_verb_is_named_with_the_verbs_usage() -> None:
    with pytest.raises(UsageError) as caught:
        parse(["--verbose", "status"], "cli", "jupyter mlops")

    assert "unrecognized arguments: --verbose" in str(caught.value)
    assert "usage: jupyter mlops status" in str(caught.value)


# --------------------------------------------------------------------------- cheap packages


def test_importing_a_capability_package_loads_none_of_its_modules(
        child_env: Callable[..., dict[str, str]]) -> None:
    code = ("import jupyter_mlops\n"
            "from jupyter_mlops.commands import capabilities\n"
            "capabilities()\n")
    assert capability_modules_after(code, child_env) == []


def test_the_public_names_load_on_first_use() -> None:
    from jupyter_mlops.pipeline import Pipeline, from_notebook
    from jupyter_mlops.review import NotebookDiff, diff
    from jupyter_mlops.tracking import log_model, start_run

    assert start_run.__module__ == "jupyter_mlops.tracking.lifecycle"
    assert log_model.__module__ == "jupyter_mlops.tracking.models"
    assert from_notebook.__module__ == "jupyter_mlops.pipeline.notebook"
    assert Pipeline.__name__ == "Pipeline"
    assert diff.__module__ == "jupyter_mlops.review.diffs"
    assert NotebookDiff.__name__ == "NotebookDiff"
    assert jupyter_mlops.features.get.__module__ == "jupyter_mlops.features.api"
    assert jupyter_mlops.runs is jupyter_mlops.tracking.runs
    assert "get" in dir(jupyter_mlops.features)
    for package in CAPABILITY_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"


def test_an_unknown_name_of_a_capability_package_is_an_attribute_error() -> None:
    import jupyter_mlops.features as features

    with pytest.raises(AttributeError,
                       match=re.escape("'jupyter_mlops.features' has no attribute 'gett'")):
        features.gett  # noqa: B018


def test_the_deploy_package_stays_callable() -> None:
    import jupyter_mlops.deploy as deploy

    assert callable(jupyter_mlops.deploy)
    assert jupyter_mlops.deploy is deploy
    assert deploy.deploy.__module__ == "jupyter_mlops.deploy.core"


# --------------------------------------------------------------------------- a new capability


@pytest.fixture
def sixth_capability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A capability package outside the project, as the next one would be written: its
    ``CAPABILITY`` with one verb, and a ``health`` module with one check."""
    package = tmp_path / "forecasting"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        from jupyter_mlops.verb import Capability, Verb, lazy

        CAPABILITY = Capability("forecast", "Forecast", __name__, verbs=(
            Verb("forecast", "forecast a metric",
                 configure=lazy("forecasting.verbs:configure"),
                 run=lazy("forecasting.verbs:run")),
        ))
    """))
    (package / "verbs.py").write_text(textwrap.dedent("""
        def configure(parser):
            parser.add_argument("metric")

        def run(args, ctx):
            return f"{args.metric} goes up"
    """))
    (package / "health.py").write_text(textwrap.dedent("""
        from jupyter_mlops.checks import Check, health_check

        @health_check("oracle")
        def oracle(config, timeout, environ):
            return Check("oracle", True, f"asked within {timeout:g} s", level="warning")

        CHECKS = (oracle,)

        def summary(config, checks):
            return "the oracle answers"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(commands, "CAPABILITY_PACKAGES", (*CAPABILITY_PACKAGES, "forecasting"))
    yield "forecasting"
    for name in [m for m in sys.modules if m.split(".")[0] == "forecasting"]:
        del sys.modules[name]


def test_a_new_capability_is_one_package_in_the_list(
        project: Path, sixth_capability: str) -> None:
    verb, args = parse(["forecast", "loss"], "cli", "jupyter mlops")
    assert run(verb, args, Context(cwd=str(project))) == "loss goes up"
    assert "forecast" in [v.name for v in verbs_for("magic")]

    report = collect_status(project, {}, timeout=2)

    last = report.capabilities[-1]
    assert (last.id, last.title, last.summary) == ("forecast", "Forecast", "the oracle answers")
    assert [(c.name, c.level, c.message) for c in last.checks] == [
        ("oracle", "warning", "asked within 2 s")]
    assert last.state == "warning"
    assert "Forecast: the oracle answers" in report.to_text()


def test_a_check_that_fails_is_the_capabilitys_summary(
        project: Path, sixth_capability: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import forecasting.health as health  # type: ignore[import-not-found]

    def broken(config: object, timeout: float, environ: object) -> Check:
        raise RuntimeError("the oracle is asleep")

    monkeypatch.setattr(health, "CHECKS", (HealthCheck("oracle", broken),))

    last = collect_status(project, {}).capabilities[-1]

    assert last.state == "error"
    assert last.summary == "RuntimeError: the oracle is asleep"


def test_a_public_function_keeps_its_name_when_its_module_of_that_name_is_imported() -> None:
    """``monitor.performance`` (the function) lives in ``monitor/performance.py``: a verb or a
    route importing the module first must not make ``mlops.monitor.performance`` the module."""
    code = ("import importlib, types, jupyter_mlops as mlops\n"
            "importlib.import_module('jupyter_mlops.monitor.performance')\n"
            "import jupyter_mlops.monitor.labels\n"
            "assert callable(mlops.monitor.performance), mlops.monitor.performance\n"
            "assert not isinstance(mlops.monitor.performance, types.ModuleType)\n"
            "from jupyter_mlops.monitor.performance import performance_dict\n"
            "assert callable(performance_dict)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
