"""The installed packages a run records are read once per kernel, and read again as soon as
a package is installed or removed (a ``pip install`` in the notebook)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jupyter_mlops.tracking import capture


def _install(folder: Path, name: str, version: str) -> Path:
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return info


def test_an_install_or_removal_shows_in_the_next_runs_packages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    before = capture.packages()
    assert "optuna" in {line.split("==")[0].lower() for line in before}
    assert capture.packages() == before  # kept: nothing changed
    info = _install(tmp_path, "mlops-fake-package", "1.2.3")
    assert "mlops-fake-package==1.2.3" in capture.packages()
    for file in info.iterdir():
        file.unlink()
    info.rmdir()
    assert "mlops-fake-package==1.2.3" not in capture.packages()


def test_the_list_handed_out_is_a_copy(tmp_path: Path) -> None:
    first = capture.packages()
    first.append("tampered==0")
    assert "tampered==0" not in capture.packages()
