"""Which MLflow model a deployment serves: references resolved through the project's tracking
store (public MLflow APIs only), copied locally, and checked before anything is started."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..errors import BackendUnavailableError, NotFoundError, UserInputError
from ..paths import make_folder

if TYPE_CHECKING:
    from mlflow import MlflowClient

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
FORMS = ("a run id, runs:/RUN_ID/PATH, models:/NAME/VERSION, models:/NAME@ALIAS, "
         "models:/m-LOGGED_MODEL_ID or a local model folder")


@dataclass
class ResolvedModel:
    """A model reference pinned to what it means now (an alias can move later)."""

    given: str
    uri: str  # pinned URI to download from
    run_id: str | None = None
    registered_name: str | None = None
    registered_version: str | None = None
    logged_model_id: str | None = None
    storage_uri: str | None = None  # the artifacts' own location (s3://, gs://, file://)
    tracking_uri: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def default_name(self) -> str:
        from .state import slug

        if self.registered_name:
            return slug(self.registered_name)
        if self.run_id:
            return slug(f"run-{self.run_id[:8]}")
        if self.logged_model_id:
            return slug(self.logged_model_id)
        return slug(Path(self.uri).name or "model")


def tracking_client(config: Config) -> tuple[MlflowClient, str]:
    """The project's MLflow client (the tracking capability's, when it is there)."""
    try:
        from ..tracking.store import client, tracking_uri
    except ImportError:  # the tracking capability is not in this checkout
        from mlflow import MlflowClient

        uri = str(config["tracking.uri"])
        return MlflowClient(tracking_uri=uri, registry_uri=uri), uri
    return client(config), tracking_uri(config)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def resolve_model(reference: str, config: Config, *,
                  root: str | os.PathLike[str] | None = None) -> ResolvedModel:
    """Pin ``reference`` and find its run, registered version and artifact location. With
    ``root``, a local folder is looked up inside it (a path relative to it, ``..``, ``~`` and
    symlinks resolved first: outside it is a 403), never relative to this process."""
    reference = reference.strip()
    if not reference:
        raise UserInputError(f"a model is needed: {FORMS}")
    if root is not None and "://" not in reference and not reference.startswith(
            ("models:/", "runs:/")):
        from ..paths import resolve_inside

        local = resolve_inside(root, reference, must_exist=False)
    else:
        local = Path(reference).expanduser()
    if "://" not in reference and not reference.startswith(("models:/", "runs:/")):
        if local.is_dir():
            if not (local / "MLmodel").is_file():
                raise UserInputError(f"{local} has no MLmodel file: it is not an MLflow model")
            folder = local.resolve()
            return ResolvedModel(reference, str(folder), storage_uri=folder.as_uri())
        if not RUN_ID.match(reference):
            raise UserInputError(f"'{reference}' is not a model reference: use {FORMS}")
    from mlflow.exceptions import MlflowException

    client, uri = tracking_client(config)
    try:
        return _resolve(reference, client, uri)
    except MlflowException as exc:
        code = getattr(exc, "error_code", "")
        if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"):
            raise NotFoundError(f"model '{reference}' was not found in the tracking store "
                                f"{_redact(uri)}: {_first_line(exc)}") from None
        raise BackendUnavailableError(f"tracking store {_redact(uri)} could not resolve "
                                      f"'{reference}': {_first_line(exc)}") from None


def _redact(uri: str) -> str:
    from ..config import redact

    return str(redact(uri))


def _resolve(reference: str, client: MlflowClient, uri: str) -> ResolvedModel:
    if RUN_ID.match(reference):
        run = client.get_run(reference)
        models = client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{reference}'")
        if not models:
            raise NotFoundError(f"run {reference} has no logged model: log one with "
                                "mlflow.<flavor>.log_model(...) inside the run")
        if len(models) > 1:
            names = ", ".join(f"runs:/{reference}/{m.name}" for m in models)
            raise UserInputError(f"run {reference} logged {len(models)} models: name one "
                                 f"({names})")
        model = models[0]
        return ResolvedModel(reference, f"models:/{model.model_id}", run_id=reference,
                             logged_model_id=model.model_id,
                             storage_uri=model.artifact_location, tracking_uri=uri)
    if reference.startswith("runs:/"):
        rest = reference[len("runs:/"):].strip("/")
        run_id, _, path = rest.partition("/")
        run = client.get_run(run_id)
        found = client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run_id}' AND name = '{path}'") if path else []
        if found:
            model = found[0]
            return ResolvedModel(reference, f"models:/{model.model_id}", run_id=run_id,
                                 logged_model_id=model.model_id,
                                 storage_uri=model.artifact_location, tracking_uri=uri)
        location = f"{run.info.artifact_uri.rstrip('/')}/{path}" if path else None
        return ResolvedModel(reference, reference, run_id=run_id, storage_uri=location,
                             tracking_uri=uri)
    if reference.startswith("models:/"):
        rest = reference[len("models:/"):].strip("/")
        if rest.startswith("m-") and "/" not in rest and "@" not in rest:
            model = client.get_logged_model(rest)
            return ResolvedModel(reference, f"models:/{model.model_id}",
                                 run_id=model.source_run_id, logged_model_id=model.model_id,
                                 storage_uri=model.artifact_location, tracking_uri=uri)
        if "@" in rest:
            name, _, alias = rest.partition("@")
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, _, number = rest.partition("/")
            if not number.isdigit():
                raise UserInputError(f"'{reference}': name a version (models:/{name}/3) or an "
                                     f"alias (models:/{name}@champion)")
            version = client.get_model_version(name, number)
        source = str(version.source or "")
        model_id = getattr(version, "model_id", None)
        if not model_id and source.startswith("models:/m-"):
            model_id = source[len("models:/"):].strip("/")
        storage: str | None = source
        if model_id:
            storage = client.get_logged_model(model_id).artifact_location
        elif source.startswith("runs:/"):
            storage = _resolve(source, client, uri).storage_uri
        return ResolvedModel(reference, f"models:/{version.name}/{version.version}",
                             run_id=version.run_id, registered_name=version.name,
                             registered_version=str(version.version),
                             logged_model_id=model_id, storage_uri=storage, tracking_uri=uri)
    raise UserInputError(f"'{reference}' is not a model reference: use {FORMS}")


def download_model(model: ResolvedModel, destination: Path) -> Path:
    """A local copy of the model's artifacts (an MLflow model folder)."""
    import shutil

    if model.storage_uri and model.storage_uri.startswith("file://") and not model.tracking_uri:
        shutil.copytree(Path(model.uri), destination, dirs_exist_ok=True)
        return destination
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    make_folder(destination)
    # the artifacts' own location when known: MLflow resolves models:/ URIs through the
    # process-wide registry URI, which may not be this project's
    source = model.storage_uri if model.storage_uri and not model.storage_uri.startswith(
        ("models:/", "runs:/")) else model.uri
    try:
        path = download_artifacts(artifact_uri=source, dst_path=str(destination),
                                  tracking_uri=model.tracking_uri or None,
                                  registry_uri=model.tracking_uri or None)
    except MlflowException as exc:
        raise NotFoundError(f"could not download {model.uri}: {_first_line(exc)}") from None
    except OSError as exc:
        raise BackendUnavailableError(f"could not download {model.uri}: {exc}") from None
    folder = Path(path)
    if not (folder / "MLmodel").is_file():
        nested = [p.parent for p in folder.rglob("MLmodel")]
        if len(nested) != 1:
            raise UserInputError(f"{model.given} is not an MLflow model (no MLmodel file)")
        folder = nested[0]
    return folder


@dataclass
class ModelFacts:
    flavors: list[str]
    signature: dict[str, Any] | None
    has_example: bool
    note: str | None = None


def inspect_model(folder: Path, given: str) -> ModelFacts:
    """Refuse what cannot be served: no pyfunc flavor, or neither signature nor example."""
    from mlflow.models import Model

    meta = Model.load(str(folder))
    flavors = sorted(meta.flavors)
    if "python_function" not in meta.flavors:
        raise UserInputError(f"{given} has no python_function flavor (flavors: "
                             f"{', '.join(flavors)}): it cannot be served through MLflow's "
                             "scoring protocol")
    example = bool(meta.saved_input_example_info)
    signature = meta.signature.to_dict() if meta.signature is not None else None
    note = None
    if signature is None:
        if not example:
            raise UserInputError(
                f"{given} has no signature and no input example, so requests cannot be "
                "checked nor the model warmed up: log it again with input_example=... "
                "(MLflow infers the signature from it)")
        note = "no signature: requests are checked against the input example's shape"
    if signature is not None:
        signature = {k: json.loads(v) if isinstance(v, str) else v
                     for k, v in signature.items()}
    return ModelFacts(flavors, signature, example, note)
