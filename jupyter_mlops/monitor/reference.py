"""The reference a deployment's traffic is compared with: a profile of the frame its model was
trained on, stored on the training run as the artifact ``monitor/reference.json``.

* Captured unasked: the first ``features.get`` inside a tracked run profiles the frame it
  returned. The profile is computed in a background thread (the retrieval returns at once;
  the run's end waits for it) and queued like the run's other files, so a store that is
  unreachable keeps it in the run's journal.
* Set explicitly: ``mlops.log_model(..., reference=df)`` (with the model's predictions on
  ``df`` as column ``prediction`` when it can predict them) or
  ``mlops.monitor.set_reference(name_or_uri, df)``. An explicit reference replaces an
  automatic one, and no later retrieval of the run replaces it.
* Found: deployment -> its current version -> that version's training run -> the artifact.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..config import Config, load_config
from ..errors import BackendUnavailableError, NotFoundError, UserInputError
from .profile import Profile, profile_frame

if TYPE_CHECKING:
    import pandas as pd

    from ..deploy.state import Deployment
    from ..tracking.lifecycle import ActiveRun

__all__ = ["REFERENCE_ARTIFACT", "NoReference", "Reference", "ReferenceWarning", "capture",
           "load_reference", "set_reference"]

REFERENCE_ARTIFACT = "monitor/reference.json"
MAX_REFERENCE_BYTES = 16 * 1024 * 1024  # what load_reference reads at most
WAIT_S = 120.0  # how long a run's end waits for its reference to be profiled
PREDICTION_OUTPUTS = 16  # a model with more outputs is profiled without its predictions

ReferenceKind = Literal["features.get", "log_model", "set_reference"]


class NoReference(UserInputError):
    """A deployment has no reference to compare its traffic with."""


class ReferenceWarning(UserWarning):
    """The reference could not be captured or stored; the call that asked for it worked."""


@dataclass
class Reference:
    """A deployment's reference: its ``profile``, the run it is stored on, and a line saying
    where it came from ("run 3f2a1b9c (features.get of orders v2, activity v1)")."""

    profile: Profile
    run_id: str | None
    origin: str


def _config(cwd: str | os.PathLike[str] | None, config: Config | None) -> Config:
    return config if config is not None else load_config(cwd)


def how_to(name: str) -> str:
    """The line that says how to give ``name`` a reference."""
    return (f"give it one: mlops.monitor.set_reference('{name}', df) with the training "
            "frame, log the model with mlops.log_model(..., reference=df), or retrieve the "
            "training data with features.get inside the tracked run")


# --------------------------------------------------------------------------- in a run


class _RunReferences:
    """Per run of this process (by its local id): which kind of reference it has (the first
    one wins, an explicit one replaces an automatic one) and the profiling in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kinds: weakref.WeakKeyDictionary[ActiveRun, ReferenceKind] = \
            weakref.WeakKeyDictionary()
        self.threads: dict[str, threading.Thread] = {}
        self.failures: dict[str, str] = {}

    def claim(self, run: ActiveRun, kind: ReferenceKind) -> bool:
        """True when ``kind`` may store the run's reference now."""
        with self.lock:
            if kind == "features.get" and run in self.kinds:
                return False
            self.kinds[run] = kind
            return True

    def current(self, run: ActiveRun) -> ReferenceKind | None:
        with self.lock:
            return self.kinds.get(run)

    def wait(self, run: ActiveRun, timeout: float = WAIT_S) -> None:
        """Wait for the run's profiling in flight; a failure is told here, on the caller's
        thread (a warning from the background thread would land in whichever cell runs)."""
        key = run.ref.local_id
        with self.lock:
            thread = self.threads.pop(key, None)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                with self.lock:
                    self.kinds.pop(run, None)
                warnings.warn(f"monitor: the reference of run {run.run_id} was still being "
                              f"profiled after {timeout:.0f} s: not stored", ReferenceWarning,
                              stacklevel=3)
        with self.lock:
            failure = self.failures.pop(key, None)
        if failure:
            warnings.warn(failure, ReferenceWarning, stacklevel=3)


RUNS = _RunReferences()


def capture(df: pd.DataFrame, source: Mapping[str, Any]) -> None:
    """The frame a ``features.get`` returned inside the active run becomes the run's
    reference, unless the run already has one. Never raises: a failure is a warning."""
    from ..tracking.lifecycle import active_run

    run = active_run()
    if run is None or run.status != "RUNNING" or not RUNS.claim(run, "features.get"):
        return
    try:
        snapshot = _snapshot(df)
        described = {**source, "kind": "features.get", "run_id": run.ref.run_id}
        thread = threading.Thread(target=_profile_and_queue, args=(run, snapshot, described),
                                  name="mlops-reference-profile", daemon=True)
        with RUNS.lock:
            RUNS.threads[run.ref.local_id] = thread
        run.before_end.append(lambda: RUNS.wait(run))
        thread.start()
    except Exception as exc:  # the frame is the user's result; its reference must not cost it
        warnings.warn(f"monitor: the retrieval's reference was not captured: "
                      f"{_first_line(exc)}", ReferenceWarning, stacklevel=3)


def _snapshot(df: pd.DataFrame) -> pd.DataFrame:
    """A copy the caller's later edits of ``df`` do not reach. With pandas' copy-on-write
    (always on from pandas 3) a shallow copy is one, made without copying the data."""
    import pandas as pd

    try:
        cow = int(pd.__version__.split(".")[0]) >= 3 or \
            pd.get_option("mode.copy_on_write") is True
    except (ValueError, KeyError):
        cow = False
    return df.copy(deep=not cow)


def _profile_and_queue(run: ActiveRun, frame: pd.DataFrame, source: dict[str, Any]) -> None:
    try:
        content = profile_frame(frame, source=source).to_bytes()
        with RUNS.lock:
            if RUNS.kinds.get(run) != "features.get":
                return  # an explicit reference came first
            _queue(run, content)
    except Exception as exc:
        with RUNS.lock:
            RUNS.kinds.pop(run, None)
            RUNS.failures[run.ref.local_id] = (
                f"monitor: the reference of run {run.run_id} was not stored: "
                f"{_first_line(exc)}")


def _queue(run: ActiveRun, content: bytes) -> None:
    """The artifact goes through the run's queue (and journal), after what came before."""
    from ..tracking import lifecycle

    folder, _, name = REFERENCE_ARTIFACT.rpartition("/")
    lifecycle._queue_file(run, folder, name, content)


def store_explicit(run: ActiveRun, profile: Profile) -> None:
    """Make ``profile`` the active run's reference, replacing an automatic one (whose
    profiling, if in flight, is waited for so the two cannot be stored out of order)."""
    kind = profile.source.get("kind", "set_reference")
    RUNS.claim(run, kind if kind in ("log_model", "set_reference") else "set_reference")
    RUNS.wait(run)
    content = profile.to_bytes()
    with RUNS.lock:
        _queue(run, content)


def check_frame(df: Any, what: str = "reference") -> None:
    """A UserInputError unless ``df`` is a DataFrame with at least one column."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise UserInputError(f"{what} must be a pandas DataFrame, not {type(df).__name__}")
    if len(df.columns) == 0:
        raise UserInputError(f"{what} has no columns")


def model_reference(run: ActiveRun, model: Any, flavor: str, df: pd.DataFrame, name: str,
                    uri: str) -> None:
    """``mlops.log_model(..., reference=df)``: ``df``, with the model's predictions on it when
    it predicts cheaply (scikit-learn, pyfunc), becomes the run's reference."""
    try:
        predictions = _predictions(model, flavor, df)
        frame = df.assign(**predictions) if predictions is not None else df
        profile = profile_frame(frame, source={
            "kind": "log_model", "run_id": run.ref.run_id, "model": name, "model_uri": uri,
            "predictions": predictions is not None})
        store_explicit(run, profile)
    except Exception as exc:  # the model is logged: say what is missing, do not undo it
        warnings.warn(f"log_model: model '{name}' was logged, but its reference was not "
                      f"stored: {_first_line(exc)}", ReferenceWarning, stacklevel=3)


def _predictions(model: Any, flavor: str, df: pd.DataFrame) -> dict[str, Any] | None:
    """Columns ``prediction`` (or ``prediction_<i>``) of the model's output on ``df``; None
    when it does not predict cheaply or fails (the inputs alone are still a reference)."""
    import numpy as np
    import pandas as pd

    if flavor == "sklearn":
        names = getattr(model, "feature_names_in_", None)
        inputs = df[[str(n) for n in names]] if names is not None and all(
            str(n) in df.columns for n in names) else df
        call = model.predict
    elif flavor == "pyfunc":
        inputs = df

        def call(frame: Any) -> Any:
            if not hasattr(model, "predict"):
                return model(frame)  # a typed function logged as a pyfunc model
            try:
                return model.predict(None, frame)
            except TypeError:
                return model.predict(frame)
    else:
        return None  # torch: a tensor model, its inputs are not this frame's columns
    try:
        output = call(inputs)
    except Exception:
        return None
    if isinstance(output, pd.DataFrame):
        if len(output) != len(df) or len(output.columns) > PREDICTION_OUTPUTS:
            return None
        if len(output.columns) == 1:
            return {"prediction": output.iloc[:, 0].to_numpy()}
        return {str(c): output[c].to_numpy() for c in output.columns}
    values = np.asarray(output)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape[:1] != (len(df),):
        return None
    if values.ndim == 1:
        return {"prediction": values}
    if values.ndim == 2 and values.shape[1] <= PREDICTION_OUTPUTS:
        return {f"prediction_{i}": values[:, i] for i in range(values.shape[1])}
    return None


# --------------------------------------------------------------------------- by name


def set_reference(name_or_model_uri: str, df: pd.DataFrame, *,
                  cwd: str | os.PathLike[str] | None = None,
                  config: Config | None = None) -> str:
    """Make ``df`` the reference of a deployment (stored on its current version's training
    run) or of a model (``models:/NAME/3``, ``models:/NAME@alias``, ``runs:/RUN_ID/…`` or a
    run id); returns the run id it is stored on. Replaces any reference the run had."""
    check_frame(df)
    config = _config(cwd, config)
    given = str(name_or_model_uri).strip()
    run_id = _run_of(config, given)
    profile = profile_frame(df, source={"kind": "set_reference", "run_id": run_id,
                                        "given": given[:200]})
    from ..tracking.lifecycle import active_run

    run = active_run()
    while run is not None and run.ref.run_id != run_id:
        run = run.parent
    if run is not None and run.status == "RUNNING":
        store_explicit(run, profile)  # after the run's queued files, not before them
        return run_id
    _upload(config, run_id, profile)
    return run_id


def _run_of(config: Config, given: str) -> str:
    """The training run of a deployment's current version, or of a model reference."""
    from ..deploy.models import RUN_ID, resolve_model

    if not given:
        raise UserInputError("set_reference needs a deployment name or a model URI")
    if given.startswith(("models:/", "runs:/")) or RUN_ID.match(given):
        model = resolve_model(given, config)
        if not model.run_id:
            raise UserInputError(f"model '{given}' has no training run to keep a reference "
                                 "on: log it inside a tracked run")
        return model.run_id
    deployment = _deployment(config, given)
    current = deployment.current
    if current is None:
        raise UserInputError(f"deployment '{given}' serves no version yet: deploy a model "
                             "first, or set the reference on the model (runs:/RUN_ID)")
    if not current.run_id:
        raise UserInputError(f"deployment '{given}' serves {current.model_label}, which has "
                             "no training run to keep a reference on: deploy a model logged "
                             "in a tracked run")
    return current.run_id


def _deployment(config: Config, name: str) -> Deployment:
    from ..deploy.core import store_for

    if "/" in name or ":" in name:
        raise UserInputError(f"'{name}' is neither a deployment name nor a model URI "
                             "(models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID)")
    return store_for(config).load(name)


def _upload(config: Config, run_id: str, profile: Profile) -> None:
    import tempfile
    from pathlib import Path

    from ..tracking.store import client, first_line, redact_uri, tracking_uri

    folder_name, _, file_name = REFERENCE_ARTIFACT.rpartition("/")
    with tempfile.TemporaryDirectory(prefix="mlops-reference-") as folder:
        path = Path(folder) / file_name
        path.write_bytes(profile.to_bytes())
        try:
            client(config).log_artifact(run_id, str(path), folder_name)
        except Exception as exc:
            raise BackendUnavailableError(
                f"the reference could not be stored on run {run_id} in tracking store "
                f"{redact_uri(tracking_uri(config))}: {first_line(str(exc))}") from None


# --------------------------------------------------------------------------- reading


def load_reference(name: str, *, cwd: str | os.PathLike[str] | None = None,
                   config: Config | None = None) -> Reference:
    """Deployment ``name``'s reference, found through its current version's training run;
    NoReference (saying how to give one) when there is none."""
    config = _config(cwd, config)
    deployment = _deployment(config, name)
    current = deployment.current
    if current is None:
        raise NoReference(f"deployment '{name}' serves no version, so it has no reference; "
                          f"{how_to(name)}")
    if not current.run_id:
        raise NoReference(f"deployment '{name}' serves {current.model_label}, which has no "
                          f"training run and so no reference; {how_to(name)}")
    profile = read_run_reference(config, current.run_id)
    if profile is None:
        raise NoReference(f"deployment '{name}' has no reference: its version "
                          f"{current.version}'s run {current.run_id} stored none; "
                          f"{how_to(name)}")
    return Reference(profile, current.run_id, origin(current.run_id, profile))


def read_run_reference(config: Config, run_id: str) -> Profile | None:
    """The profile stored on run ``run_id``; None when the run has none."""
    import tempfile
    from pathlib import Path

    from ..tracking.store import client, first_line, redact_uri, tracking_uri

    what = f"{REFERENCE_ARTIFACT} of run {run_id}"
    mlflow_client = client(config)
    folder_name = REFERENCE_ARTIFACT.rpartition("/")[0]
    try:
        listed = mlflow_client.list_artifacts(run_id, folder_name)
    except Exception as exc:
        text = first_line(str(exc))
        if "RESOURCE_DOES_NOT_EXIST" in text or "not found" in text.lower():
            raise NotFoundError(f"run {run_id} is not in tracking store "
                                f"{redact_uri(tracking_uri(config))}") from None
        raise BackendUnavailableError(f"tracking store {redact_uri(tracking_uri(config))} "
                                      f"could not list run {run_id}'s files: {text}") from None
    found = next((f for f in listed if f.path == REFERENCE_ARTIFACT and not f.is_dir), None)
    if found is None:
        return None
    if found.file_size is not None and found.file_size > MAX_REFERENCE_BYTES:
        raise UserInputError(f"{what} is {found.file_size:,} bytes, more than a profile can "
                             f"be ({MAX_REFERENCE_BYTES:,}): set the reference again")
    with tempfile.TemporaryDirectory(prefix="mlops-reference-") as folder:
        try:
            with _no_progress_bar():  # a small file, read on every drift check
                local = Path(mlflow_client.download_artifacts(run_id, REFERENCE_ARTIFACT,
                                                              folder))
        except Exception as exc:
            raise BackendUnavailableError(f"{what} could not be read: "
                                          f"{first_line(str(exc))}") from None
        if local.stat().st_size > MAX_REFERENCE_BYTES:
            raise UserInputError(f"{what} is more than {MAX_REFERENCE_BYTES:,} bytes: set "
                                 "the reference again")
        raw = local.read_bytes()
    return parse_reference(raw, what=what)


@contextlib.contextmanager
def _no_progress_bar() -> Iterator[None]:
    """MLflow draws a tqdm bar for every download (MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR,
    read at each call): not for a reference read on every drift check."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def parse_reference(raw: bytes, *, what: str = REFERENCE_ARTIFACT) -> Profile:
    """A stored reference's bytes as a profile; anything else is one UserInputError line."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise UserInputError(f"{what} is not valid JSON ({reason}): set the reference "
                             "again") from None
    return Profile.from_json(data, what=what)


def origin(run_id: str | None, profile: Profile) -> str:
    """One line: the run and what made the reference."""
    source = profile.source
    kind = _clean(source.get("kind"))
    if kind == "features.get":
        views = source.get("views")
        named = [f"{_clean(v.get('view'))} v{_clean(v.get('version'))}" for v in views
                 if isinstance(v, dict)][:5] if isinstance(views, list) else []
        what = f"features.get of {', '.join(named)}" if named else "features.get"
    elif kind == "log_model":
        what = f"log_model '{_clean(source.get('model'))}'"
        if source.get("predictions") is True:
            what += " with its predictions"
    else:
        what = kind or "set by hand"
    where = f"run {run_id[:8]}" if run_id else "a frame"
    return f"{where} ({what}, {profile.rows:,} rows)"


def _clean(value: Any) -> str:
    """A value from the (untrusted) file, fit for one line."""
    text = "" if value is None else str(value)
    return " ".join(text.split())[:60]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
