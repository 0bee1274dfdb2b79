"""The small runtime every engine's generated code imports: run one step in its own process,
save its outputs by type, and serve them from a content-hash cache.

Outputs a step hands on as pickles or torch files run code when they are loaded, so those read
from an ``s3://`` artifact store (which other projects and people may write) are loaded only
when their manifest entry carries this project's digest: an HMAC of the file's sha256 under a
key kept in the project (``.mlops/pipeline.key``, made on first use, never in the store; an
engine gets it as ``MLOPS_PIPELINE_KEY``, hex). Parquet and ``.npy`` (no pickles) load anyway.

The local runner, Airflow, Prefect and Kubeflow all call ``run_step``, so a step behaves the
same everywhere. Standard library only at import time (engines parse DAG files often); pandas,
numpy, torch, cloudpickle and boto3 load only when a value of theirs is saved or loaded, and
IPython only for a step whose cells use its syntax (``!ls``, ``%time``, ``%%bash``): those run
under IPython's InteractiveShell, with the kernel's rules.

    python .../jupyter_mlops/pipeline/runtime.py SPEC.json ERROR.json   # one step's process
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import hmac
import importlib.util
import json
import linecache
import os
import pickle
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

# shutil, subprocess, tempfile and uuid are imported where used: a step's process needs
# none of them, and every millisecond of its start counts once per step
if TYPE_CHECKING:
    import subprocess

FORMAT_VERSION = 1
#: the project's key for output digests: its file (in the state folder), or the key itself
KEY_FILE_NAME = "pipeline.key"
KEY_FILE_ENV = "MLOPS_PIPELINE_KEY_FILE"
KEY_ENV = "MLOPS_PIPELINE_KEY"
#: formats whose loading can run code (pickle, torch.load(weights_only=False))
CODE_FORMATS = ("pickle", "torch")
CELL_MARKER = re.compile(r"^# %% cell (\d+)(?: \((\w+)\))?$")
_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()


class StepPool(Protocol):
    """Warm workers that run a step (``workers.StepWorkers``): its exit code, or None when
    this pool cannot run it (then it runs in a process of its own)."""

    def run_step(self, spec: Mapping[str, Any], spec_path: Path, error_path: Path,
                 log: str | None) -> int | None: ...


class StepFailed(Exception):
    """A step's code raised, or its outputs could not be saved; names the cell and line."""

    def __init__(self, step: str, message: str, cell: int | None = None,
                 line: int | None = None, notebook: str = "", log: str | None = None) -> None:
        self.step, self.message, self.cell, self.line = step, message, cell, line
        self.notebook, self.log = notebook, log
        where = f" at cell {cell + 1}, line {line}" if cell is not None and line else ""
        in_nb = f" of {notebook}" if notebook and where else ""
        super().__init__(f"step {step!r} failed{where}{in_nb}: {message}")

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "cell": self.cell, "line": self.line, "text": str(self)}


class MissingInput(StepFailed):
    """``only``: an upstream step's outputs are not in the cache."""


class UntrustedOutput(Exception):
    """A pickled output in a shared store that this project did not write (no or a wrong
    digest, or a file that is not the one the digest is about)."""


# --------------------------------------------------------------------------- digests


def project_key(key_file: str | None, *, create: bool = False) -> bytes | None:
    """The project's digest key: ``MLOPS_PIPELINE_KEY`` (hex), else the file ``key_file``
    (made, 32 random bytes readable by the owner only, when ``create``); None without one."""
    if os.environ.get(KEY_ENV):
        try:
            return bytes.fromhex(os.environ[KEY_ENV])
        except ValueError:
            raise UntrustedOutput(f"{KEY_ENV} must be hex (as in .mlops/{KEY_FILE_NAME})"
                                  ) from None
    key_file = key_file or os.environ.get(KEY_FILE_ENV)
    if not key_file:
        return None
    path = Path(key_file)
    if create and not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another run made it first
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        return None


def output_digest(key: bytes, entry: Mapping[str, Any]) -> str:
    """The digest this project puts on an output's manifest entry: its format and sha256."""
    message = f"{FORMAT_VERSION}:{entry['format']}:{entry['sha256']}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check_trusted(path: Path, entry: Mapping[str, Any], key: bytes | None, where: str) -> None:
    """Raise UntrustedOutput unless the pickle/torch output at ``path`` (read from a shared
    store at ``where``) carries this project's digest and is the file the digest is about."""
    if entry.get("format") not in CODE_FORMATS:
        return
    digest = entry.get("digest")
    if key is None:
        raise UntrustedOutput(
            f"{where} is a {entry.get('format')} file in a shared store, and this process has "
            f"no project key to check who wrote it ({KEY_ENV} or .mlops/{KEY_FILE_NAME}): "
            "not loaded")
    if not isinstance(digest, str) or not hmac.compare_digest(digest,
                                                              output_digest(key, entry)):
        raise UntrustedOutput(
            f"{where} carries no digest of this project: it was not written by this project's "
            "runs, and loading a pickle runs its code, so it is not loaded (rerun the step "
            "with --refresh to replace it)")
    if hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
        raise UntrustedOutput(f"{where} is not the file its digest is about: not loaded")


# --------------------------------------------------------------------------- storage


class Store:
    """The artifact root: a local folder or ``s3://bucket/prefix`` (boto3's credential chain;
    ``endpoint_url`` for S3-compatible stores and emulators)."""

    def __init__(self, root: str, endpoint_url: str = "") -> None:
        self.root = root
        self.is_s3 = root.startswith("s3://")
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "")
        if self.is_s3:
            bucket, _, prefix = root[5:].partition("/")
            self.bucket, self.prefix = bucket, prefix.strip("/")
            self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            boto3 = import_module("boto3")
            self._client = boto3.client("s3", **(
                {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}))
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def local(self, key: str) -> Path:
        return Path(self.root) / key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}" if self.is_s3 else str(self.local(key))

    def read_json(self, key: str) -> Any:
        """The JSON object at ``key``; None when there is none."""
        if not self.is_s3:
            try:
                return json.loads(self.local(key).read_text())
            except FileNotFoundError:
                return None
        try:
            body = self._s3().get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:  # botocore's ClientError: NoSuchKey
            if "NoSuchKey" in str(exc) or "404" in str(exc) or "Not Found" in str(exc):
                return None
            raise
        return json.loads(body)

    def fetch(self, key: str, folder: Path) -> Path:
        """A local path holding the file at ``key`` (downloaded into ``folder`` for S3)."""
        if not self.is_s3:
            return self.local(key)
        target = folder / key.replace("/", "__")
        self._s3().download_file(self.bucket, self._key(key), str(target))
        return target

    def publish(self, staging: Path, key: str) -> None:
        """Move a finished folder of outputs to ``key``; its manifest.json goes last."""
        if not self.is_s3:
            target = self.local(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(staging, target)
            except OSError:  # another run finished the same key first: same content
                _rmtree(staging)
            return
        files = sorted(staging.iterdir(), key=lambda p: p.name == "manifest.json")
        for file in files:
            self._s3().upload_file(str(file), self.bucket, self._key(f"{key}/{file.name}"))
        _rmtree(staging)

    def staging(self, key: str) -> Path:
        import tempfile
        import uuid

        if self.is_s3:
            return Path(tempfile.mkdtemp(prefix="mlops-step-"))
        folder = self.local(key).parent / f".{Path(key).name}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        folder.mkdir(parents=True)
        return folder


def _rmtree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- values by type


def _module_of(value: Any) -> str:
    return type(value).__module__.split(".")[0]


#: how a value is saved: parquet (pandas), npy (numpy), torch, or pickle (cloudpickle)
ValueFormat = Literal["parquet", "npy", "torch", "pickle"]


def value_format(value: Any) -> ValueFormat:
    """How a value is saved: parquet (pandas), npy (numpy), torch, or pickle (cloudpickle)."""
    module = _module_of(value)
    if module == "pandas":
        pd = sys.modules["pandas"]
        if isinstance(value, (pd.DataFrame, pd.Series)):
            return "parquet"
    if module == "numpy":
        np = sys.modules["numpy"]
        if isinstance(value, np.ndarray) and value.dtype != object:
            return "npy"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if isinstance(value, (torch.Tensor, torch.nn.Module)):
            return "torch"
    return "pickle"


_ATOMS = (type(None), bool, int, float, complex, str, bytes)


def _plain(value: Any, budget: list[int] | None = None) -> bool:
    """Built-in data only (numbers, strings, and lists/tuples/sets/dicts of them): what the
    standard pickle saves by value. Big containers are left to cloudpickle."""
    budget = [10_000] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        return False
    kind = type(value)
    if kind in _ATOMS:
        return True
    if kind in (list, tuple, set, frozenset):
        return all(_plain(item, budget) for item in value)
    if kind is dict:
        return all(_plain(k, budget) and _plain(v, budget) for k, v in value.items())
    return False


def _pickler() -> Any:
    try:
        return import_module("cloudpickle")
    except ImportError:  # pragma: no cover - cloudpickle comes with the pipeline extras
        import pickle

        return pickle


SUFFIX: dict[ValueFormat, str] = {"parquet": ".parquet", "npy": ".npy", "torch": ".pt",
                                  "pickle": ".pkl"}


def save_value(value: Any, folder: Path, name: str) -> dict[str, Any]:
    """Write ``value`` into ``folder``; returns its entry for the manifest."""
    fmt = value_format(value)
    path = folder / f"{name}{SUFFIX[fmt]}"
    extra: dict[str, Any] = {}
    if fmt == "parquet":
        try:
            if isinstance(value, sys.modules["pandas"].Series):
                extra["series"] = True
                value.to_frame(name="__series__" if value.name is None else value.name) \
                    .to_parquet(path)
            else:
                value.to_parquet(path)
        except Exception:  # e.g. non-string column names, mixed object columns
            path.unlink(missing_ok=True)
            fmt, path, extra = "pickle", folder / f"{name}.pkl", {}
    if fmt == "npy":
        sys.modules["numpy"].save(path, value, allow_pickle=False)
    elif fmt == "torch":
        sys.modules["torch"].save(value, path, pickle_module=_pickler())
    elif fmt == "pickle":
        # plain data needs no cloudpickle (whose import costs a step's process ~50 ms); what
        # it writes, pickle reads back, so loading is the same either way
        data = pickle.dumps(value, protocol=5) if _plain(value) else _pickler().dumps(value)
        path.write_bytes(data)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"file": path.name, "format": fmt, "sha256": digest,
            "type": f"{type(value).__module__}.{type(value).__qualname__}", **extra}


def sign(entry: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """``entry`` with this project's digest (when there is a key)."""
    return {**entry, "digest": output_digest(key, entry)} if key is not None else entry


def load_value(path: Path, entry: Mapping[str, Any]) -> Any:
    fmt = entry["format"]
    if fmt == "parquet":
        frame = import_module("pandas").read_parquet(path)
        if entry.get("series"):
            series = frame.iloc[:, 0]
            return series.rename(None) if series.name == "__series__" else series
        return frame
    if fmt == "npy":
        return import_module("numpy").load(path, allow_pickle=False)
    if fmt == "torch":
        torch = import_module("torch")
        location = None if torch.cuda.is_available() else "cpu"
        return torch.load(path, map_location=location, weights_only=False)
    return pickle.loads(path.read_bytes())  # cloudpickle's output too


# --------------------------------------------------------------------------- cache


def cache_key(spec: Mapping[str, Any], params: Mapping[str, Any],
              input_hashes: Mapping[str, str]) -> str:
    """Content hash of what decides a step's outputs: its code (shared cells included), the
    parameters it reads, the contents of its inputs, and which outputs are kept."""
    payload = {
        "format": FORMAT_VERSION,
        "code": spec["code"],
        "parameters": {k: params.get(k) for k in sorted(spec.get("parameters", []))},
        "inputs": dict(sorted(input_hashes.items())),
        "outputs": sorted(spec.get("outputs", [])),
    }
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def step_folder(pipeline: str, step: str, key: str) -> str:
    return f"{pipeline}/cache/{step}/{key}"


# --------------------------------------------------------------------------- running a step


def _resolve_inputs(spec: Mapping[str, Any], upstream: Mapping[str, Any]) -> dict[str, Any]:
    refs = {}
    for name, producer in spec.get("inputs", {}).items():
        result = upstream.get(producer)
        if not result or name not in result.get("outputs", {}):
            raise StepFailed(spec["step"], f"input {name!r} from step {producer!r} is missing "
                             f"(run {producer!r} first)")
        refs[name] = result["outputs"][name]
    return refs


def run_step(spec: Mapping[str, Any], *, artifacts: str,
             upstream: Mapping[str, Any] | None = None,
             params: Mapping[str, Any] | None = None, endpoint_url: str = "",
             force: bool = False, lookup_only: bool = False, log: str | None = None,
             echo: bool = False, python: str | None = None, cwd: str | None = None,
             on_start: Callable[[str], None] | None = None,
             key_file: str | None = None, pool: StepPool | None = None) -> dict[str, Any]:
    """Run one step (``spec`` as ``Pipeline.step_spec`` makes it) and return its result:
    ``{"step", "key", "cached", "seconds", "outputs": {name: {"key", "format", "sha256",
    "type"}}}``, small enough for an engine to pass between tasks (XCom).

    Served from the cache when the step allows it and an entry with the same content hash
    exists; otherwise the code runs in a child process (``python``, default this one; in the
    folder ``cwd``), its output written to ``log`` (and echoed to stdout with ``echo``, for
    engines' task logs).
    ``key_file``: the project's digest key (``.mlops/pipeline.key``, made when missing;
    default ``$MLOPS_PIPELINE_KEY_FILE``), with which outputs are signed and pickles read
    from an S3 store are checked.
    ``pool``: warm workers (``workers.StepWorkers``) that run the step in a fork of a process
    that already ran the shared cells, instead of a new process.
    Raises StepFailed naming the notebook cell and line.
    """
    store = Store(artifacts, endpoint_url)
    key_file = key_file or os.environ.get(KEY_FILE_ENV)
    project_key(key_file, create=True)
    step = spec["step"]
    refs = _resolve_inputs(spec, upstream or {})
    values = {k: v for k, v in (params or {}).items() if k in spec.get("parameters", [])}
    key = cache_key(spec, values, {n: r["sha256"] for n, r in refs.items()})
    folder = step_folder(spec["pipeline"], step, key)
    if (spec.get("cache", True) and not force) or lookup_only:
        manifest = store.read_json(f"{folder}/manifest.json")
        if manifest is not None:
            _write_log(log, f"[{step}] served from the cache ({key[:12]}, made by run "
                            f"{manifest.get('run_id') or '?'}): nothing ran\n", echo)
            return _result(manifest, folder, cached=True)
        if lookup_only:
            raise MissingInput(step, "its outputs are not in the cache: run the whole pipeline "
                               f"(or from {step!r}) first")
    if on_start is not None:
        on_start(key)
    import tempfile

    staging = store.staging(folder)
    with tempfile.TemporaryDirectory(prefix="mlops-step-") as tmp:
        child_spec = {**spec, "input_refs": refs, "params": values, "artifacts": artifacts,
                      "endpoint_url": endpoint_url, "staging": str(staging), "key": key,
                      "key_file": key_file,
                      "run_id": os.environ.get("MLOPS_PIPELINE_RUN_ID", "")}
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(child_spec, default=repr))
        error_path = Path(tmp) / "error.json"
        code = pool.run_step(spec, spec_path, error_path, log) if pool is not None else None
        if code is None:  # no pool, or one whose workers ran other shared cells
            code = _spawn(python or sys.executable, spec_path, error_path, log, echo, cwd)
        if code != 0:
            _rmtree(staging)
            try:
                error = json.loads(error_path.read_text())
            except (OSError, ValueError):
                error = {"message": f"the step's process exited with code {code}"
                         + (" (killed)" if code < 0 else "")}
            raise StepFailed(step, error["message"], error.get("cell"), error.get("line"),
                             spec.get("notebook", ""), log)
    manifest = json.loads((staging / "manifest.json").read_text()) if not store.is_s3 else None
    store.publish(staging, folder)
    if manifest is None:
        manifest = store.read_json(f"{folder}/manifest.json")
    return _result(manifest, folder, cached=False)


def _result(manifest: Mapping[str, Any], folder: str, *, cached: bool) -> dict[str, Any]:
    outputs = {name: {"key": f"{folder}/{entry['file']}", **{k: v for k, v in entry.items()
                                                             if k != "file"}}
               for name, entry in manifest["outputs"].items()}
    return {"step": manifest["step"], "key": manifest["key"], "cached": cached,
            "seconds": manifest.get("seconds", 0.0),
            "shared_seconds": manifest.get("shared_seconds", 0.0), "outputs": outputs}


def _write_log(log: str | None, text: str, echo: bool) -> None:
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(text)
    if echo:
        print(text, end="", flush=True)


def _spawn(python: str, spec_path: Path, error_path: Path, log: str | None,
           echo: bool, cwd: str | None) -> int:
    import subprocess

    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONUNBUFFERED"] = "1"
    # this file as a script: the child imports only the standard library before the step's
    # own code (not the jupyter_mlops package), which keeps a step's start cheap
    argv = [python, str(Path(__file__).resolve()), str(spec_path), str(error_path)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, cwd=cwd)
    with _children_lock:
        _children.add(proc)
    try:
        out = open(log, "ab") if log else None  # noqa: SIM115 - closed below
        try:
            assert proc.stdout is not None
            for chunk in iter(proc.stdout.readline, b""):
                if out is not None:
                    out.write(chunk)
                    out.flush()
                if echo:
                    print(chunk.decode(errors="replace"), end="", flush=True)
        finally:
            if out is not None:
                out.close()
        return proc.wait()
    finally:
        with _children_lock:
            _children.discard(proc)


def stop_children() -> None:
    """Terminate every step process this process started (a cancelled or interrupted run)."""
    import subprocess

    with _children_lock:
        procs = list(_children)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def load_output(result: Mapping[str, Any], name: str, *, artifacts: str,
                endpoint_url: str = "", key_file: str | None = None) -> Any:
    """The value ``name`` that a step's result refers to (a pickle from S3 only with this
    project's digest: see ``check_trusted``)."""
    import tempfile

    store = Store(artifacts, endpoint_url)
    ref = result["outputs"][name]
    with tempfile.TemporaryDirectory(prefix="mlops-load-") as tmp:
        path = store.fetch(ref["key"], Path(tmp))
        if store.is_s3:
            check_trusted(path, ref, project_key(key_file), store.uri(ref["key"]))
        return load_value(path, ref)


# --------------------------------------------------------------------------- the child process


def split_cells(code: str) -> list[tuple[int, str, str]]:
    """``# %% cell N (role)`` sections of a step's code: (cell number, role, source)."""
    cells: list[tuple[int, str, list[str]]] = []
    for line in code.split("\n"):
        match = CELL_MARKER.match(line)
        if match:
            cells.append((int(match.group(1)), match.group(2) or "step", []))
        elif cells:
            cells[-1][2].append(line)
    return [(number, role, "\n".join(lines)) for number, role, lines in cells]


@functools.cache
def _transformer() -> Any:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()  # type: ignore[no-untyped-call]


def to_python(source: str, manager: Any = None) -> str:
    """The cell as IPython runs it (``!ls`` -> ``get_ipython().system('ls')``: IPython's own
    transformer, the kernel's rules), with the cell's line numbers kept (IPython drops leading
    blank lines). ``manager``: a shell's ``input_transformer_manager``."""
    manager = manager or _transformer()
    lines = source.split("\n")
    blank = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    code: str = manager.transform_cell(source)
    return "\n" * blank + code


def _ipython_shell() -> Any:
    """IPython's shell, for steps whose cells use its syntax (``!ls``, ``%time y = 3``,
    ``%%bash``): the magics run as in the notebook, in the step's namespace. Its history stays
    in memory."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=config)


#: ``%load_ext jupyter_mlops`` alone on its line: it only registers ``%mlops``, so it is done
#: once a shell is there (a step without IPython syntax starts without IPython)
_LOAD_OURS = re.compile(r"^[ \t]*%load_ext[ \t]+jupyter_mlops[ \t]*$", re.M)


class Warm:
    """What a warm worker keeps between steps: the shared cells it ran (their number, role and
    source), the namespace they left, IPython's shell (None when no cell needs it), whether
    ``%mlops`` is wanted, and the cells' file names (tracebacks name the cell)."""

    def __init__(self, cells: list[tuple[int, str, str]], namespace: dict[str, Any], shell: Any,
                 ours: bool, filenames: dict[str, int]) -> None:
        self.cells, self.namespace, self.shell = cells, namespace, shell
        self.ours, self.filenames = ours, filenames


def _compile_cells(cells: list[tuple[int, str, str]], notebook: str,
                   filenames: dict[str, int], shell: Any = None, ours: bool = False,
                   want_shell: bool = False) -> tuple[list[tuple[str, Any]], Any, bool]:
    """Each cell compiled under its notebook name (tracebacks name the cell), as plain Python
    where it is, else through IPython's transformer; the IPython shell when one is needed
    (None otherwise: a plain step starts without importing IPython, ``want_shell`` makes one
    anyway); and whether our extension is wanted (loaded into the shell when there is one)."""
    codes: list[tuple[str, Any]] = []
    for number, role, source in cells:
        filename = f"{notebook}, cell {number}"
        filenames[filename] = number
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        plain = _LOAD_OURS.sub("", source)
        ours = ours or plain != source
        try:
            code = compile(plain, filename, "exec")
            if shell is None and "get_ipython" in plain:
                shell = _ipython_shell()
        except SyntaxError:
            try:
                shell = shell or _ipython_shell()
            except ImportError:
                raise ImportError(f"cell {number} uses IPython syntax (!, %magic), which runs "
                                  f"under IPython, and {sys.executable} has no IPython: pip "
                                  "install ipython there") from None
            python = to_python(plain, shell.input_transformer_manager)
            ours = ours or "_magic('mlops'" in python  # %mlops loads it, as in a kernel
            code = compile(python, filename, "exec")
        codes.append((role, code))
    if want_shell and shell is None and importlib.util.find_spec("IPython") is not None:
        shell = _ipython_shell()  # (without IPython, the cell that needs it says so)
    if shell is not None and ours and "jupyter_mlops" not in shell.extension_manager.loaded:
        shell.extension_manager.load_extension("jupyter_mlops")
    return codes, shell, ours


def _where(exc: BaseException, filenames: Mapping[str, int]) -> tuple[int | None, int | None]:
    """(0-based cell, line) of the notebook where ``exc`` was raised, when it was in a cell."""
    cell = line = None
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename in filenames:
        cell, line = filenames[exc.filename] - 1, exc.lineno
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename in filenames:
            cell, line = filenames[frame.f_code.co_filename] - 1, lineno
    return cell, line


def warm_up(cells: list[tuple[int, str, str]], notebook: str,
            want_shell: bool = False) -> tuple[Warm, dict[str, Any] | None]:
    """A warm worker's start: the shared ``cells`` run once, into the namespace every step it
    runs starts from. Returns the state and the error (message, cell, line, text) when a cell
    raised (each step the worker is given then fails with it)."""
    filenames: dict[str, int] = {}
    namespace: dict[str, Any] = {"__builtins__": builtins}
    shell: Any = None
    ours = False
    error: dict[str, Any] | None = None
    try:
        codes, shell, ours = _compile_cells(cells, notebook, filenames, want_shell=want_shell)
        if shell is not None:
            namespace = shell.user_ns
        namespace.update({"__name__": "__main__", "display": _display})
        for _, code in codes:
            exec(code, namespace)
    except BaseException as exc:  # the user's code: what every step will report
        cell, line = _where(exc, filenames)
        error = {"message": f"{type(exc).__name__}: {exc}", "cell": cell, "line": line,
                 "text": traceback.format_exc()}
    return Warm(cells, namespace, shell, ours, filenames), error


def _display(*objs: Any, **_kwargs: Any) -> None:
    for obj in objs:
        print(repr(obj))


def _load_inputs(spec: Mapping[str, Any], store: Store) -> dict[str, Any]:
    refs = spec.get("input_refs", {})
    if not store.is_s3:
        return {name: load_value(store.local(ref["key"]), ref) for name, ref in refs.items()}
    import tempfile

    key = project_key(spec.get("key_file"))
    values = {}
    with tempfile.TemporaryDirectory(prefix="mlops-in-") as tmp:
        for name, ref in refs.items():
            path = store.fetch(ref["key"], Path(tmp))
            check_trusted(path, ref, key, store.uri(ref["key"]))
            values[name] = load_value(path, ref)
    return values


def _child(spec_path: str, error_path: str, warm: Warm | None = None) -> int:
    """One step's process: the shared and parameters cells, then the inputs, then the step's
    own cells, then its outputs saved by type into the staging folder with a manifest.
    ``warm``: a warm worker's fork, where the shared cells it ran are not run again."""
    spec = json.loads(Path(spec_path).read_text())
    step, notebook = spec["step"], spec.get("notebook", "notebook")
    staging = Path(spec["staging"])
    store = Store(spec["artifacts"], spec.get("endpoint_url", ""))
    filenames: dict[str, int] = dict(warm.filenames) if warm is not None else {}
    cells = split_cells(spec["code"])
    if warm is not None:
        cells = cells[len(warm.cells):]  # the worker ran these (the pool checked they match)

    def fail(message: str, cell: int | None = None, line: int | None = None) -> int:
        Path(error_path).write_text(json.dumps({"message": message, "cell": cell,
                                                "line": line}))
        return 1

    print(f"[{step}] running in process {os.getpid()} ({sys.executable})", flush=True)
    began = time.perf_counter()  # the shared cells from here, then the step's own
    shared = seconds = 0.0
    inputs_loaded = False
    try:
        codes, shell, _ = _compile_cells(cells, notebook, filenames,
                                         *((warm.shell, warm.ours) if warm else ()))
        namespace: dict[str, Any] = (shell.user_ns if shell is not None else warm.namespace
                                     if warm is not None else {"__builtins__": builtins})
        if warm is not None and namespace is not warm.namespace:  # a shell made for this step
            namespace.update(warm.namespace)
        namespace.update({"__name__": "__main__", "display": _display})
        # the notebook a `%%mlops sweep` / `track` in the step reads (session.py), not the
        # caller's: a runner started from a kernel passes its JPY_SESSION_NAME on
        os.environ["JPY_SESSION_NAME"] = notebook
        for role, code in codes:
            if role == "step" and not inputs_loaded:
                shared = time.perf_counter() - began
                try:
                    namespace.update(_load_inputs(spec, store))
                except Exception as exc:
                    return fail(f"cannot load its inputs ({type(exc).__name__}: {exc})")
                inputs_loaded = True
                began = time.perf_counter()
            exec(code, namespace)
            if role == "parameters":
                namespace.update(spec.get("params", {}))
        seconds = time.perf_counter() - began
    except BaseException as exc:  # the user's code: report where it broke
        cell, line = _where(exc, filenames)
        traceback.print_exc()
        return fail(f"{type(exc).__name__}: {exc}", cell, line)

    outputs: dict[str, Any] = {}
    key = project_key(spec.get("key_file"))
    for name in spec.get("outputs", []):
        if name not in namespace:
            return fail(f"it did not define {name!r}, which a later step reads")
        try:
            outputs[name] = sign(save_value(namespace[name], staging, name), key)
        except Exception as exc:
            kind = type(namespace[name]).__name__
            return fail(f"cannot hand on {name!r} ({kind}): {type(exc).__name__}: {exc}; make "
                        "it a value that can be saved, or compute it in the step that uses it")
    manifest = {"step": step, "key": spec["key"], "pipeline": spec["pipeline"],
                "outputs": outputs, "seconds": round(seconds, 6),
                "shared_seconds": round(shared, 6), "run_id": spec.get("run_id"),
                "finished": time.time()}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"[{step}] done in {seconds:.3f} s; outputs: {', '.join(outputs) or 'none'}",
          flush=True)
    return 0


if __name__ == "__main__":
    # run as a script, Python put this package's folder first on sys.path, where the step's
    # `import model` would find our modules: the step sees its working folder instead, as a
    # kernel does
    sys.path[0] = os.getcwd()
    sys.exit(_child(sys.argv[1], sys.argv[2]))
