"""The Optuna study behind a sweep: stored in Optuna's journal file under ``.mlops/sweeps/`` (or
an RDB URL), so ``resume`` continues it and two kernels can work on one study.

The journal (``studies.journal``: Optuna's ``JournalStorage`` on a ``JournalFileBackend``, an
append-only log under a file lock) and not SQLite, because the study is touched several times
per trial: ask, each parameter's draw, tell. Through ``RDBStorage`` on SQLite that cost ~46 ms
per trial of TPE here, as much as the child run's tracking itself; the journal keeps the study
in memory and appends one line per change (~6 ms per trial, ``benchmarks/sweep.py``). Studies
an earlier version kept in ``studies.db`` are still found there and continued there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from ..config import Config
from ..errors import UserInputError
from ..paths import make_folder
from .space import Space

Direction = Literal["minimize", "maximize"]
SamplerName = Literal["tpe", "random", "grid"]
PrunerName = Literal["median", "none"]
DIRECTIONS: tuple[Direction, ...] = ("minimize", "maximize")
SAMPLERS: tuple[SamplerName, ...] = ("tpe", "random", "grid")
PRUNERS: tuple[PrunerName, ...] = ("median", "none")


JOURNAL = "studies.journal"
#: where studies were kept before the journal: still read, never created
LEGACY = "studies.db"


def storage_url(config: Config, storage: str | None) -> str:
    """``storage`` (an RDB URL such as ``postgresql://…``), else the journal file under
    ``.mlops/sweeps/`` (a path, not a URL)."""
    if storage:
        return storage
    folder = make_folder(config.state_dir / "sweeps")
    return str(folder / JOURNAL)


def _storages(uri: str) -> list[Any]:
    """The storages a study of ``uri`` may be in: an RDB URL itself; for the journal, the
    journal and (when an earlier version left one) the SQLite file beside it."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if "://" in uri:
        return [optuna.storages.RDBStorage(uri)]
    found: list[Any] = [optuna.storages.JournalStorage(JournalFileBackend(uri))]
    legacy = Path(uri).with_name(LEGACY)
    if legacy.is_file():
        found.append(optuna.storages.RDBStorage("sqlite:///" + legacy.as_posix()))
    return found


def _names(storages: list[Any]) -> list[str]:
    import optuna

    return [name for storage in storages for name in optuna.get_all_study_names(storage)]


def default_name(uri: str, base: str, resume: bool) -> str:
    """A new study's name: ``base-1``, ``base-2``, …; with ``resume``, the latest of them."""
    pattern = re.compile(re.escape(base) + r"-(\d+)")
    numbers = [int(m.group(1)) for s in _names(_storages(uri)) if (m := pattern.fullmatch(s))]
    if resume and numbers:
        return f"{base}-{max(numbers)}"
    return f"{base}-{max(numbers, default=0) + 1}"


def _sampler(name: SamplerName, space: Space, seed: int | None) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    for key, dist in space.items():  # grid: each trial is enqueued (next_grid_point)
        if name == "grid":
            dist.grid(key)
    return optuna.samplers.RandomSampler(seed=seed)


def next_grid_point(study: Any, space: Space) -> dict[str, Any] | None:
    """The first point of the grid that no trial of the study has tried; None when all have.
    (Optuna's GridSampler stops the study from its ``after_trial``, which only works inside
    ``study.optimize``: the sweep asks and tells, so it enqueues each point itself.)"""
    import itertools

    names = list(space)
    tried = {tuple(trial.params.get(n) for n in names) for trial in study.trials}
    for values in itertools.product(*(space[n].grid(n) for n in names)):
        if values not in tried:
            return dict(zip(names, values, strict=True))
    return None


def _pruner(name: PrunerName) -> Any:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def open_study(storage_uri: str, name: str, direction: Direction, sampler: SamplerName,
               pruner: PrunerName, space: Space, seed: int | None, resume: bool) -> Any:
    """The study ``name``: created, or with ``resume`` loaded (created if it does not exist).
    One clear line for an existing study without ``resume``, or one of another direction."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storages = _storages(storage_uri)
    storage, found = storages[0], None
    for candidate in storages:  # the journal first; a study it lacks may be in studies.db
        existing = {s.study_name: s for s in optuna.get_all_study_summaries(candidate)}
        if name in existing:
            storage, found = candidate, existing[name]
            break
    if found is not None:
        theirs = "maximize" if found.direction == optuna.study.StudyDirection.MAXIMIZE \
            else "minimize"
        if theirs != direction:
            raise UserInputError(f"study '{name}' exists and {theirs}s its metric; this sweep "
                                 f"asks to {direction}: give another --name")
        if not resume:
            raise UserInputError(f"study '{name}' exists: add --resume to continue it, or give "
                                 "another --name")
    return optuna.create_study(storage=storage, study_name=name, direction=direction,
                               sampler=_sampler(sampler, space, seed), pruner=_pruner(pruner),
                               load_if_exists=True)


def base_name(notebook: Path | None) -> str:
    """Default names of a notebook's studies: its stem (``sweep`` outside a notebook)."""
    return re.sub(r"[^\w.-]+", "_", notebook.stem) if notebook else "sweep"
