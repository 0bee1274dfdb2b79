"""The Optuna study behind a sweep: stored in SQLite under ``.mlops/sweeps/`` (or an RDB URL),
so ``resume`` continues it and two kernels can work on one study."""

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


def storage_url(config: Config, storage: str | None) -> str:
    """``storage`` (an RDB URL such as ``postgresql://…``), else SQLite under
    ``.mlops/sweeps/``."""
    if storage:
        return storage
    folder = make_folder(config.state_dir / "sweeps")
    return "sqlite:///" + (folder / "studies.db").as_posix()


def default_name(storage: Any, base: str, resume: bool) -> str:
    """A new study's name: ``base-1``, ``base-2``, …; with ``resume``, the latest of them."""
    import optuna

    pattern = re.compile(re.escape(base) + r"-(\d+)")
    numbers = [int(m.group(1)) for s in optuna.get_all_study_names(storage)
               if (m := pattern.fullmatch(s))]
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
    storage = optuna.storages.RDBStorage(storage_uri) if "://" in storage_uri else storage_uri
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    found = existing.get(name)
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
