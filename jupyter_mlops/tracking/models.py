"""``log_model``: torch modules, scikit-learn estimators and pyfunc models, with a signature
inferred from an input example; the run's ``mlops.models`` tag lists what it logged."""

from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import BackendUnavailableError, UserInputError
from . import lifecycle
from .store import client, first_line

MODELS_TAG = "mlops.models"


def flavor_of(model: Any) -> str:
    """"pytorch", "sklearn" or "pyfunc"; UserInputError for anything else. torch and
    scikit-learn are looked at only when already imported (a torch module means torch is)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "pytorch"
    sklearn_base = sys.modules.get("sklearn.base")
    if sklearn_base is not None and isinstance(model, sklearn_base.BaseEstimator):
        return "sklearn"
    import mlflow.pyfunc

    if isinstance(model, mlflow.pyfunc.PythonModel):
        return "pyfunc"
    if callable(model) and not isinstance(model, type):
        return "pyfunc"  # MLflow 3 wraps a typed function as a pyfunc model
    raise UserInputError(f"log_model: a {type(model).__name__} is not a model this can log; "
                         "pass a torch.nn.Module, a scikit-learn estimator or an "
                         "mlflow.pyfunc.PythonModel")


def _example(input_example: Any) -> Any:
    """MLflow wants numpy/pandas/dicts: a torch tensor becomes a numpy array."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(input_example, torch.Tensor):
        return input_example.detach().cpu().numpy()
    return input_example


def _torch_output(model: Any, example: Any) -> Any:
    import torch

    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    was_training = model.training
    model.eval()  # dropout and batch norm must not change while we ask for an output
    try:
        with torch.no_grad():
            output = model(torch.as_tensor(example).to(device))
    finally:
        model.train(was_training)
    if isinstance(output, tuple | list):
        output = output[0]
    return output.detach().cpu().numpy()


def _signature(flavor: str, model: Any, example: Any) -> Any:
    if example is None or flavor == "pyfunc":
        return None  # pyfunc: MLflow runs predict on the example itself
    from mlflow.models import infer_signature

    try:
        output = _torch_output(model, example) if flavor == "pytorch" else model.predict(example)
    except Exception as exc:
        raise UserInputError(f"log_model: the model failed on input_example "
                             f"({type(exc).__name__}: {first_line(str(exc))})") from None
    return infer_signature(example, output)


def log_model(model: Any, name: str, input_example: Any = None, *,
              reference: Any = None) -> str:
    """Log ``model`` to the active run under ``name`` and return its ``models:/`` URI.

    ``reference``: the frame the model was trained on (a DataFrame), profiled with the
    model's predictions on it as the run's reference for drift, replacing the one a
    ``features.get`` in the run captured."""
    run = lifecycle.require_active("mlops.log_model")
    if not name or not isinstance(name, str):
        raise UserInputError("log_model: a model needs a name")
    if reference is not None:
        from ..monitor.reference import check_frame

        check_frame(reference, "log_model: reference")
    if run.ref.run_id is None or run.ref.store.offline:
        raise BackendUnavailableError(
            f"log_model: tracking store {run.ref.store.shown} is unreachable: the model was not "
            "logged (metrics are kept); call log_model again when the store is back")
    flavor = flavor_of(model)
    example = _example(input_example)
    signature = _signature(flavor, model, example)
    lifecycle.flush()  # the run's points first, so the model is logged after them
    kwargs: dict[str, Any] = {"name": name, "signature": signature}
    if flavor != "pyfunc":  # torch and sklearn pass it on to Model.log; pyfunc has no such
        kwargs["run_id"] = run.ref.run_id
    if example is not None:
        kwargs["input_example"] = example
    if flavor == "pytorch":
        import mlflow.pytorch as module

        kwargs["pytorch_model"] = model
        # the default requirements, not MLflow's inference (a subprocess that loads the model)
        kwargs["pip_requirements"] = module.get_default_pip_requirements()  # type: ignore[no-untyped-call]
    elif flavor == "sklearn":
        import mlflow.sklearn as module  # type: ignore[no-redef]

        kwargs["sk_model"] = model
        kwargs["pip_requirements"] = module.get_default_pip_requirements()  # type: ignore[no-untyped-call]
    else:
        import mlflow.pyfunc as module  # type: ignore[no-redef]

        kwargs["python_model"] = model
    with lifecycle.fluent_run(run):
        info = module.log_model(**kwargs)
    entry = {"name": name, "uri": str(info.model_uri), "flavor": flavor}
    run.models = [m for m in run.models if m["name"] != name] + [entry]
    client(run.config).set_tag(run.ref.run_id, MODELS_TAG, json.dumps(run.models))
    if reference is not None:
        from ..monitor.reference import model_reference

        model_reference(run, model, flavor, reference, name, entry["uri"])
    return entry["uri"]
