"""One configuration resolution: where the project is, which source set each value, and
one-line errors for broken files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_mlops.config import SETTINGS, load_config
from jupyter_mlops.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config_error(start: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(start, environ if environ is not None else {})
    message = str(caught.value)
    assert "\n" not in message, "config errors are one line"
    return message


# --------------------------------------------------------------------------- defaults


def test_without_any_config_everything_lives_under_dot_mlops_of_the_working_folder(
        project: Path) -> None:
    config = load_config()

    assert config.project_root == project
    assert config.config_file is None
    state = project / ".mlops"
    assert config.state_dir == state
    assert config["tracking.uri"] == f"sqlite:///{(state / 'mlflow.db').as_posix()}"
    assert config.path("features.path") == state / "features"
    assert config.path("tracking.artifact_root") == state / "artifacts"
    assert config.path("pipeline.artifacts") == state / "pipelines"
    assert config.path("review.path") == state / "reviews"
    assert config.path("deploy.path") == state / "deployments"
    assert config["features.backend"] == "embedded"
    assert config["pipeline.target"] == "local"
    assert config["deploy.target"] == "local"
    assert config["status.timeout"] == 3.0
    assert config["tracking.experiment"] == "proj"
    assert {v.source for v in config.values.values()} == {"default"}
    assert list(config.values) == [s.key for s in SETTINGS]


def test_defaults_do_not_create_anything(project: Path) -> None:
    load_config()
    assert list(project.iterdir()) == []


# --------------------------------------------------------------------------- project root


def test_mlops_toml_marks_the_project_root_when_walking_up(project: Path) -> None:
    config_file = write(project / "mlops.toml", '[tracking]\nexperiment = "churn"\n')
    notebooks = project / "notebooks" / "deep"
    notebooks.mkdir(parents=True)

    config = load_config(notebooks, {})

    assert config.project_root == project
    assert config.config_file == config_file
    assert config["tracking.experiment"] == "churn"
    assert config.state_dir == project / ".mlops"


def test_pyproject_with_tool_mlops_marks_the_project_root(project: Path) -> None:
    pyproject = write(project / "pyproject.toml",
                      '[project]\nname = "x"\n\n[tool.mlops.features]\nbackend = "feast"\n')
    sub = project / "src"
    sub.mkdir()

    config = load_config(sub, {})

    assert config.project_root == project
    assert config.config_file == pyproject
    assert config["features.backend"] == "feast"
    assert config.source("features.backend") == f"file:{pyproject}:5"


def test_pyproject_without_tool_mlops_is_skipped(project: Path) -> None:
    config_file = write(project / "mlops.toml", '[deploy]\ntarget = "kserve"\n')
    package = project / "package"
    write(package / "pyproject.toml", '[project]\nname = "package"\n[tool.ruff]\nline-length = 9\n')
    notebooks = package / "notebooks"
    notebooks.mkdir()

    config = load_config(notebooks, {})

    assert config.config_file == config_file
    assert config.project_root == project
    assert config["deploy.target"] == "kserve"


def test_nearest_config_file_wins(project: Path) -> None:
    write(project / "mlops.toml", '[deploy]\ntarget = "kserve"\n')
    inner = write(project / "team" / "pyproject.toml", '[tool.mlops]\n')

    config = load_config(project / "team", {})

    assert config.config_file == inner
    assert config.project_root == project / "team"
    assert config["deploy.target"] == "local"
    assert config.source("deploy.target") == "default"


def test_mlops_toml_wins_over_pyproject_in_the_same_folder(project: Path) -> None:
    mlops_toml = write(project / "mlops.toml", '[deploy]\ntarget = "sagemaker"\n')
    write(project / "pyproject.toml", '[tool.mlops.deploy]\ntarget = "kserve"\n')

    config = load_config(project, {})

    assert config.config_file == mlops_toml
    assert config["deploy.target"] == "sagemaker"


@pytest.mark.parametrize("git_marker", ["folder", "file"])
def test_without_config_the_git_root_is_the_project_root(project: Path, git_marker: str) -> None:
    # a worktree or submodule has a .git file instead of a folder
    if git_marker == "folder":
        (project / ".git").mkdir()
    else:
        write(project / ".git", "gitdir: /elsewhere/.git/worktrees/proj\n")
    notebooks = project / "analysis" / "nb"
    notebooks.mkdir(parents=True)

    config = load_config(notebooks, {})

    assert config.project_root == project
    assert config.config_file is None
    assert config.state_dir == project / ".mlops"


def test_without_config_or_git_the_working_folder_is_the_project_root(project: Path) -> None:
    sub = project / "sub"
    sub.mkdir()
    os.chdir(sub)

    assert load_config().project_root == sub


def test_a_notebook_path_resolves_from_its_folder(project: Path) -> None:
    write(project / "mlops.toml", "")
    notebook = write(project / "nb" / "analysis.ipynb", "{}")

    assert load_config(notebook, {}).project_root == project


# --------------------------------------------------------------------------- sources


def test_file_values_report_file_and_line(project: Path) -> None:
    config_file = write(project / "mlops.toml",
                        '# comment\n\n[tracking]\nexperiment = "churn"\n\n'
                        '[pipeline]\ntarget = "prefect"\n')
    config = load_config(project, {})

    assert config.source("tracking.experiment") == f"file:{config_file}:4"
    assert config.source("pipeline.target") == f"file:{config_file}:7"
    assert config.source("deploy.target") == "default"


def test_dotted_keys_at_top_level_are_accepted(project: Path) -> None:
    config_file = write(project / "mlops.toml", 'deploy.target = "kserve"\n')
    config = load_config(project, {})
    assert config["deploy.target"] == "kserve"
    assert config.source("deploy.target") == f"file:{config_file}:1"


def test_environment_beats_the_file(project: Path) -> None:
    write(project / "mlops.toml", '[tracking]\nuri = "http://127.0.0.1:1111"\n'
                                  'experiment = "from-file"\n')

    from_mlflow = load_config(project, {"MLFLOW_TRACKING_URI": "http://127.0.0.1:2222",
                                        "MLFLOW_EXPERIMENT_NAME": "from-env"})
    assert from_mlflow["tracking.uri"] == "http://127.0.0.1:2222"
    assert from_mlflow.source("tracking.uri") == "env:MLFLOW_TRACKING_URI"
    assert from_mlflow["tracking.experiment"] == "from-env"
    assert from_mlflow.source("tracking.experiment") == "env:MLFLOW_EXPERIMENT_NAME"

    both = load_config(project, {"MLFLOW_TRACKING_URI": "http://127.0.0.1:2222",
                                 "MLOPS_TRACKING_URI": "http://127.0.0.1:3333"})
    assert both["tracking.uri"] == "http://127.0.0.1:3333"
    assert both.source("tracking.uri") == "env:MLOPS_TRACKING_URI"

    file_only = load_config(project, {})
    assert file_only["tracking.uri"] == "http://127.0.0.1:1111"
    assert file_only.source("tracking.uri").startswith(f"file:{project / 'mlops.toml'}:")


def test_the_real_process_environment_is_read_by_default(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_DEPLOY_TARGET", "sagemaker")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")

    config = load_config()

    assert config["deploy.target"] == "sagemaker"
    assert config.source("deploy.target") == "env:MLOPS_DEPLOY_TARGET"
    assert config["aws.region"] == "eu-west-1"
    assert config.source("aws.region") == "env:AWS_DEFAULT_REGION"


def test_aws_region_prefers_aws_region_over_the_default_region(project: Path) -> None:
    config = load_config(project, {"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert config["aws.region"] == "us-east-2"
    assert config.source("aws.region") == "env:AWS_REGION"


def test_an_empty_variable_does_not_override(project: Path) -> None:
    config = load_config(project, {"MLOPS_TRACKING_URI": "",
                                   "MLFLOW_TRACKING_URI": "http://127.0.0.1:2222"})
    assert config.source("tracking.uri") == "env:MLFLOW_TRACKING_URI"


def test_relative_paths_in_a_file_resolve_against_the_project_root(project: Path) -> None:
    write(project / "mlops.toml",
          '[features]\npath = "data/features"\n[review]\npath = "../shared-reviews"\n')
    sub = project / "notebooks"
    sub.mkdir()

    config = load_config(sub, {})

    assert config.path("features.path") == project / "data" / "features"
    assert config.path("review.path") == project.parent / "shared-reviews"


def test_state_dir_moves_every_embedded_default(project: Path) -> None:
    write(project / "mlops.toml", 'state_dir = "var/mlops"\n')
    state = project / "var" / "mlops"

    config = load_config(project, {})

    assert config.state_dir == state
    assert config["tracking.uri"] == f"sqlite:///{(state / 'mlflow.db').as_posix()}"
    assert config.path("features.path") == state / "features"
    assert config.path("deploy.path") == state / "deployments"
    assert config.source("features.path") == "default"


def test_urls_in_path_settings_are_kept(project: Path) -> None:
    write(project / "mlops.toml", '[features]\npath = "s3://bucket/features"\n')
    assert load_config(project, {})["features.path"] == "s3://bucket/features"


def test_status_timeout_from_the_environment_is_a_number(project: Path) -> None:
    config = load_config(project, {"MLOPS_STATUS_TIMEOUT": "0.5"})
    assert config["status.timeout"] == 0.5
    assert config.source("status.timeout") == "env:MLOPS_STATUS_TIMEOUT"


def test_mlops_config_names_the_file_explicitly(project: Path, tmp_path: Path) -> None:
    write(project / "mlops.toml", '[deploy]\ntarget = "kserve"\n')
    explicit = write(tmp_path / "elsewhere" / "team.toml",
                     '[deploy]\ntarget = "sagemaker"\n[features]\npath = "feats"\n')

    config = load_config(project, {"MLOPS_CONFIG": str(explicit)})

    assert config.config_file == explicit
    assert config.project_root == explicit.parent
    assert config["deploy.target"] == "sagemaker"
    assert config.source("deploy.target") == f"file:{explicit}:2"
    assert config.path("features.path") == explicit.parent / "feats"


def test_mlops_config_may_name_a_pyproject(project: Path, tmp_path: Path) -> None:
    explicit = write(tmp_path / "other" / "pyproject.toml",
                     '[project]\nname = "o"\n[tool.mlops.deploy]\ntarget = "kserve"\n')

    config = load_config(project, {"MLOPS_CONFIG": str(explicit)})

    assert config["deploy.target"] == "kserve"
    assert config.source("deploy.target") == f"file:{explicit}:4"


def test_mlops_config_pointing_nowhere_is_an_error(project: Path) -> None:
    message = config_error(project, {"MLOPS_CONFIG": str(project / "missing.toml")})
    assert "MLOPS_CONFIG" in message
    assert str(project / "missing.toml") in message


# --------------------------------------------------------------------------- report


def test_report_masks_passwords_in_urls_and_keeps_the_rest(project: Path) -> None:
    config = load_config(project, {
        "MLOPS_TRACKING_URI": "https://alice:s3cret@mlflow.example.com:8443/path",
        "AWS_ENDPOINT_URL": "postgresql://bob:hunter2@127.0.0.1/db",
    })
    report = config.report()
    values = {v["key"]: v for v in report["values"]}

    assert "s3cret" not in str(report)
    assert "hunter2" not in str(report)
    assert values["tracking.uri"]["value"] == "https://alice:***@mlflow.example.com:8443/path"
    assert values["tracking.uri"]["source"] == "env:MLOPS_TRACKING_URI"
    assert values["aws.endpoint_url"]["value"] == "postgresql://bob:***@127.0.0.1/db"
    # the resolved config itself keeps the secret, for the code that connects
    assert config["tracking.uri"] == "https://alice:s3cret@mlflow.example.com:8443/path"


def test_report_lists_every_setting_with_its_source(project: Path) -> None:
    config_file = write(project / "mlops.toml", '[deploy]\ntarget = "kserve"\n')
    report = load_config(project, {}).report()

    assert report["project_root"] == str(project)
    assert report["config_file"] == str(config_file)
    assert [v["key"] for v in report["values"]] == [s.key for s in SETTINGS]
    sources = {v["key"]: v["source"] for v in report["values"]}
    assert sources["deploy.target"] == f"file:{config_file}:2"
    assert sources["tracking.uri"] == "default"


# --------------------------------------------------------------------------- broken files


def test_toml_syntax_error_names_file_line_and_key(project: Path) -> None:
    config_file = write(project / "mlops.toml", '[tracking]\nexperiment = "ok"\nuri = \n')
    message = config_error(project)
    assert message.startswith(f"{config_file}:3:")
    assert "'uri'" in message
    assert "TOML" in message


def test_toml_syntax_error_in_a_subfolder_walk_names_the_file(project: Path) -> None:
    config_file = write(project / "mlops.toml", '[deploy\ntarget = "kserve"\n')
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    message = config_error(sub)
    assert message.startswith(f"{config_file}:1:")


def test_wrong_type_names_file_line_key_and_type(project: Path) -> None:
    config_file = write(project / "mlops.toml", '[features]\n\nbackend = 3\n')
    message = config_error(project)
    assert message.startswith(f"{config_file}:3:")
    assert "'features.backend'" in message
    assert "string" in message
    assert "integer" in message


def test_unknown_key_suggests_the_closest_one(project: Path) -> None:
    config_file = write(project / "mlops.toml", '[tracking]\nexperiment = "a"\nurl = "x"\n')
    message = config_error(project)
    assert message.startswith(f"{config_file}:3:")
    assert "unknown key 'tracking.url'" in message
    assert "did you mean 'tracking.uri'" in message


def test_unknown_section_suggests_the_closest_key(project: Path) -> None:
    config_file = write(project / "mlops.toml", '[deplyo]\ntarget = "kserve"\n')
    message = config_error(project)
    assert message.startswith(f"{config_file}:2:")
    assert "'deplyo.target'" in message
    assert "did you mean 'deploy.target'" in message


def test_bad_choice_lists_the_choices(project: Path) -> None:
    config_file = write(project / "mlops.toml", '[features]\nbackend = "fest"\n')
    message = config_error(project)
    assert message.startswith(f"{config_file}:2:")
    assert "'features.backend'" in message
    assert "embedded, feast" in message
    assert "'fest'" in message


def test_broken_tool_mlops_in_pyproject_names_the_pyproject_line(project: Path) -> None:
    pyproject = write(project / "pyproject.toml",
                      '[project]\nname = "x"\n\n[tool.mlops.deploy]\ntarget = "heroku"\n')
    message = config_error(project)
    assert message.startswith(f"{pyproject}:5:")
    assert "'deploy.target'" in message


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_status_timeout_must_be_a_positive_finite_number(project: Path, value: str) -> None:
    message = config_error(project, {"MLOPS_STATUS_TIMEOUT": value})
    assert message.startswith("MLOPS_STATUS_TIMEOUT:")
    assert "'status.timeout'" in message


def test_boolean_timeout_in_a_file_is_refused(project: Path) -> None:
    config_file = write(project / "mlops.toml", "[status]\ntimeout = true\n")
    message = config_error(project)
    assert message.startswith(f"{config_file}:2:")
    assert "number" in message


def test_bad_choice_from_the_environment_names_the_variable(project: Path) -> None:
    message = config_error(project, {"MLOPS_PIPELINE_TARGET": "luigi"})
    assert message.startswith("MLOPS_PIPELINE_TARGET:")
    assert "local, airflow, prefect, kfp" in message


def test_unreadable_bytes_are_a_config_error(project: Path) -> None:
    config_file = project / "mlops.toml"
    config_file.write_bytes(b"\xff\xfe[tracking]\n")
    message = config_error(project)
    assert message.startswith(f"{config_file}:")


def test_tool_mlops_that_is_not_a_table_is_a_config_error(project: Path, tmp_path: Path) -> None:
    pyproject = write(project / "pyproject.toml", '[project]\nname = "x"\n[tool]\nmlops = 3\n')
    assert config_error(project).startswith(f"{pyproject}:4:")
    # the same file named by MLOPS_CONFIG, from another folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    message = config_error(elsewhere, {"MLOPS_CONFIG": str(pyproject)})
    assert message == f"{pyproject}:4: [tool.mlops] must be a table"


def test_a_repeated_load_sees_every_change_of_files_and_variables(tmp_path: Path) -> None:
    # load_config answers repeated calls from memory: each change must still be seen
    project = tmp_path / "proj"
    sub = project / "notebooks"
    sub.mkdir(parents=True)
    write(project / "mlops.toml", '[status]\ntimeout = 1\n')
    assert load_config(sub, {})["status.timeout"] == 1.0
    write(project / "mlops.toml", '[status]\ntimeout = 2\n')  # same size, same instant
    assert load_config(sub, {})["status.timeout"] == 2.0
    assert load_config(sub, {"MLOPS_STATUS_TIMEOUT": "5"})["status.timeout"] == 5.0
    write(sub / "mlops.toml", '[status]\ntimeout = 3\n')  # a nearer file appears
    assert load_config(sub, {})["status.timeout"] == 3.0
    (sub / "mlops.toml").unlink()
    (project / "mlops.toml").unlink()
    (project / ".git").mkdir()  # no file: the git root is the project root
    assert load_config(sub, {}).project_root == project.resolve()
    write(project / "pyproject.toml", '[tool.mlops.status]\ntimeout = 4\n')
    assert load_config(sub, {})["status.timeout"] == 4.0
