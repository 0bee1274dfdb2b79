"""``make engines`` on CI: an engine venv that cannot be built fails the run (CI must never
pass with the Airflow, Prefect, kfp or Feast tests skipped); elsewhere its tests skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import engines


def _unbuildable(name: str, *, quiet: bool = True) -> tuple[Path | None, str]:
    return None, f"the {name} venv could not be created (pip exited 1: no network)"


@pytest.mark.parametrize("ci", ["true", "1"])
def test_an_unbuildable_engine_fails_make_engines_on_ci(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ci: str) -> None:
    monkeypatch.setattr(engines, "build", _unbuildable)
    monkeypatch.setenv("CI", ci)
    assert engines.main(["airflow"]) == 1
    err = capsys.readouterr().err
    assert "airflow: the airflow venv could not be created" in err
    assert "failing" in err


def test_off_ci_an_unbuildable_engine_only_skips_its_tests(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(engines, "build", _unbuildable)
    monkeypatch.delenv("CI", raising=False)
    assert engines.main(["kfp"]) == 0
    assert "kfp: the kfp venv could not be created" in capsys.readouterr().err


def test_built_engines_pass_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "build",
                        lambda name, quiet=True: (Path("/usr/bin/python3"), ""))
    monkeypatch.setenv("CI", "true")
    assert engines.main(["prefect", "feast"]) == 0
