"""Virtual environments for the real engines (Airflow 3, Prefect 3, Kubeflow Pipelines, Feast).

Each engine pins many packages of its own, so each gets its own venv under ``ENGINES_DIR``
(default ``/tmp/jupyter-mlops-engines``), never the project's ``.venv``. ``make engines`` builds
them (in parallel) before the tests; a test that needs one calls ``engine_python(name)``, which
builds it when missing and otherwise returns the reason it cannot, so the test skips with it.
On CI (``CI=true``) ``make engines`` fails instead when a venv cannot be built.

    python tests/engines.py airflow prefect kfp     # build (or confirm) the three venvs
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ENGINES_DIR = Path(os.environ.get("MLOPS_ENGINES_DIR", "/tmp/jupyter-mlops-engines"))

#: What each venv holds: the engine, plus what the generated code's runtime needs
#: (cloudpickle; numpy for the typed-artifact steps of the test notebooks).
REQUIREMENTS: dict[str, list[str]] = {
    "airflow": ["apache-airflow>=3.0,<4", "cloudpickle>=3", "numpy"],
    # FastAPI 0.151+ dropped the min_items= that Prefect 3.8's server still passes
    "prefect": ["prefect>=3.0,<4", "fastapi<0.151", "cloudpickle>=3", "numpy"],
    "kfp": ["kfp>=2.7,<3"],
    # the Features adapter's tests and benchmarks/features.py: Feast pins pandas < 3
    "feast": ["feast[duckdb]==0.67.*"],
    # benchmarks/monitor.py and the drift agreement test: Evidently 0.7 needs pandas < 3
    "evidently": ["evidently==0.7.*", "pandas<3", "pyarrow"],
}
#: The module whose import proves the venv works.
PROBE = {"airflow": "airflow.sdk", "prefect": "prefect", "kfp": "kfp.compiler",
         "feast": "feast", "evidently": "evidently.presets"}

_locks = {name: threading.Lock() for name in REQUIREMENTS}


def _stamp_text(name: str) -> str:
    spec = "\n".join(REQUIREMENTS[name]) + f"\n{sys.version_info[:2]}"
    return hashlib.sha256(spec.encode()).hexdigest()


def venv_dir(name: str) -> Path:
    return ENGINES_DIR / name


def _python(name: str) -> Path:
    return venv_dir(name) / "bin" / "python"


def ready(name: str) -> bool:
    stamp = venv_dir(name) / ".stamp"
    return _python(name).is_file() and stamp.is_file() and stamp.read_text() == _stamp_text(name)


def build(name: str, *, quiet: bool = True) -> tuple[Path | None, str]:
    """Create the engine's venv unless it is ready; (python, "") or (None, why it failed)."""
    with _locks[name]:
        if ready(name):
            return _python(name), ""
        folder = venv_dir(name)
        folder.parent.mkdir(parents=True, exist_ok=True)
        log = ENGINES_DIR / f"{name}.log"
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(folder)],
            [str(_python(name)), "-m", "pip", "install", "--quiet", *REQUIREMENTS[name]],
            [str(_python(name)), "-c", f"import {PROBE[name]}"],
        ]
        with log.open("w") as out:
            for argv in steps:
                out.write("$ " + " ".join(argv) + "\n")
                out.flush()
                done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False,
                                      timeout=1200)
                if done.returncode != 0:
                    tail = [line for line in log.read_text().splitlines() if line.strip()][-1:]
                    return None, (f"the {name} venv could not be created ({' '.join(argv[2:4])}"
                                  f" exited {done.returncode}: {tail[0] if tail else ''}; "
                                  f"see {log})")
        (folder / ".stamp").write_text(_stamp_text(name))
        if not quiet:
            print(f"{name}: ready at {folder}", flush=True)
        return _python(name), ""


def engine_python(name: str) -> tuple[Path | None, str]:
    """The engine venv's python, building the venv when it is missing."""
    return build(name)


def main(argv: list[str]) -> int:
    names = argv or list(REQUIREMENTS)
    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(lambda n: (n, *build(n, quiet=False)), names))
    failed = [(n, why) for n, python, why in results if python is None]
    for name, why in failed:
        print(f"{name}: {why}", file=sys.stderr)
    if failed and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        # on CI an engine that cannot be built is a failure, never a quiet skip: CI must not
        # pass with the Airflow, Prefect, kfp or Feast tests unrun
        print(f"CI: {len(failed)} engine venv(s) could not be built; failing", file=sys.stderr)
        return 1
    # on a contributor's machine (offline, say) the tests that need it skip with this reason
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
