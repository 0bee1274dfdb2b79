"""The pieces that make one install work: versions agree, Jupyter finds the server extension,
the labextension lands where JupyterLab looks, and ``jupyter mlops`` resolves to our CLI."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

import jupyter_mlops
from jupyter_mlops._version import __version__

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE_JSON = json.loads((REPO / "labextension" / "package.json").read_text())
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_python_and_labextension_versions_agree() -> None:
    # the sidebar compares the server's version with its own and warns when they differ
    assert PACKAGE_JSON["version"] == __version__
    assert jupyter_mlops.__version__ == __version__


def test_server_extension_point_is_an_extension_app() -> None:
    from jupyter_server.extension.application import ExtensionApp

    points = jupyter_mlops._jupyter_server_extension_points()

    assert len(points) == 1
    assert points[0]["module"] == "jupyter_mlops.server.app"
    app = points[0]["app"]
    assert issubclass(app, ExtensionApp)
    assert app.name == "jupyter_mlops"
    assert app.version == __version__


def test_jupyter_server_discovers_and_validates_the_extension() -> None:
    """jupyter_server's own loader, as ``jupyter server extension list`` uses it."""
    from jupyter_server.extension.manager import ExtensionPackage

    package = ExtensionPackage(name="jupyter_mlops", enabled=True)

    assert package.validate()
    assert package.version == __version__
    assert list(package.extension_points) == ["jupyter_mlops"]
    assert package.extension_points["jupyter_mlops"].validate()


def test_server_config_enables_the_extension_on_install() -> None:
    config = json.loads((REPO / "jupyter-config" / "server-config" / "jupyter_mlops.json")
                        .read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}
    shared = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared["jupyter-config/server-config"] == "etc/jupyter/jupyter_server_config.d"


def test_labextension_path_matches_the_frontend_build() -> None:
    paths = jupyter_mlops._jupyter_labextension_paths()

    assert paths == [{"src": "labextension", "dest": PACKAGE_JSON["name"]}]
    # the frontend build writes where the Python package says the extension is
    built = (REPO / "labextension" / PACKAGE_JSON["jupyterlab"]["outputDir"]).resolve()
    assert built == Path(jupyter_mlops.__file__).resolve().parent / paths[0]["src"]
    # and the wheel installs it under JupyterLab's folder for this package name
    shared = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared["jupyter_mlops/labextension"] == (
        f"share/jupyter/labextensions/{PACKAGE_JSON['name']}")


def test_install_json_names_the_python_package() -> None:
    install = json.loads((REPO / "labextension" / "install.json").read_text())
    assert install["packageManager"] == "python"
    assert install["packageName"] == PYPROJECT["project"]["name"]


def test_jupyter_mlops_subcommand_is_our_cli(capsys: pytest.CaptureFixture[str]) -> None:
    # `jupyter mlops` runs the `jupyter-mlops` executable
    target = PYPROJECT["project"]["scripts"]["jupyter-mlops"]
    module, _, function = target.partition(":")
    entry = getattr(importlib.import_module(module), function)
    assert entry(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: jupyter mlops VERB")


def test_wheel_carries_the_core_and_the_kernel_package() -> None:
    wheel = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert set(wheel["packages"]) == {"jupyter_mlops", "kernel/jupyter_mlops_kernel"}


def test_python_api_exposes_status_as_a_function(project: Path) -> None:
    import jupyter_mlops.status
    from jupyter_mlops.status import StatusReport

    report = jupyter_mlops.status(str(project))

    assert isinstance(report, StatusReport)
    assert report.config is not None
    assert report.config["project_root"] == str(project)
