"""Registering a run's model in MLflow's model registry: a new version of a registered model,
and an alias pointing at it.

Shared by ``mlops.register``, ``%mlops register``, the CLI and the Experiments panel's REST
API. mlflow is imported inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..config import Config, load_config
from ..errors import UserInputError
from .run_rows import logged_model_names, models_of
from .store import first_line, get_run, reachable_client


@dataclass
class Registration:
    """A model version made from a run's model (and the alias pointing at it)."""

    name: str
    version: str
    source: str
    run_id: str
    alias: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else \
            f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source,
                "run_id": self.run_id, "alias": self.alias, "uri": self.uri}

    def __str__(self) -> str:
        """What was registered and how to load it: ``cubic version 1 → models:/cubic@champion``
        (the registered name, not the logged model's ``m-…`` id)."""
        return f"{self.name} version {self.version} → {self.uri}"

    def __repr__(self) -> str:
        return f"mlops: registered {self} (from run {self.run_id})"


def register_run(config: Config, run_id: str, name: str | None = None,
                 alias: str | None = None, model: str | None = None) -> Registration:
    """Register the model that run ``run_id`` logged (``model``: its name or URI, needed when
    the run logged several) as a new version of ``name`` (default: the model's name), and
    point ``alias`` at it."""
    from mlflow.exceptions import MlflowException

    mlflow_client = reachable_client(config)
    run = get_run(mlflow_client, config, run_id)
    logged = models_of(run, logged_model_names(mlflow_client, [run]))
    if not logged:
        raise UserInputError(f"run {run_id} logged no model: log one with "
                             "mlops.log_model(model, name) inside the run")
    if model:
        chosen = [m for m in logged if model in (m["name"], m["uri"])]
        if not chosen:
            raise UserInputError(f"run {run_id} has no model '{model}'; it has: "
                                 + ", ".join(m["name"] for m in logged))
    elif len(logged) > 1:
        raise UserInputError(f"run {run_id} logged {len(logged)} models: say which with "
                             "--model NAME (" + ", ".join(m["name"] for m in logged) + ")")
    else:
        chosen = logged
    entry = chosen[0]
    target = (name or entry["name"] or "").strip()
    if not target:
        raise UserInputError("a registered model needs a name: pass --name NAME")
    if alias is not None:
        alias = alias.strip()
        if not alias or not all(c.isalnum() or c in "_-" for c in alias) or \
                alias.lower() == "latest" or (alias[0] in "vV" and alias[1:].isdigit()):
            raise UserInputError(f"'{alias}' cannot be an alias: use letters, digits, _ and -, "
                                 "not 'latest' nor 'v<number>'")
    source = entry["uri"]
    model_id = source[len("models:/"):] if source.startswith("models:/m-") else None
    try:
        if model_id is not None:
            # the logged model's own location: a models:/m-… source would be looked up
            # through MLflow's process-wide tracking URI, which may be another store
            source = str(mlflow_client.get_logged_model(model_id).artifact_location)
        try:
            mlflow_client.create_registered_model(target)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        version = mlflow_client.create_model_version(target, source, run_id=run_id,
                                                     model_id=model_id)
        if alias:
            mlflow_client.set_registered_model_alias(target, alias, str(version.version))
    except MlflowException as exc:
        raise UserInputError(f"could not register run {run_id}'s model as '{target}': "
                             f"{first_line(exc.message)}") from None
    return Registration(target, str(version.version), entry["uri"], run_id, alias)


def register(run_id: str, name: str | None = None, alias: str | None = None, *,
             model: str | None = None, cwd: str | os.PathLike[str] | None = None
             ) -> Registration:
    """Register the model of run ``run_id`` in MLflow's registry, and set ``alias``."""
    return register_run(load_config(cwd), run_id, name, alias, model)
