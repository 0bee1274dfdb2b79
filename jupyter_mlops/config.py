"""One configuration resolution shared by the kernel, the server and the CLI.

Each setting is taken from the first of:

1. environment variables (``MLOPS_<SECTION>_<KEY>``, then the field's own, e.g.
   ``MLFLOW_TRACKING_URI`` or ``AWS_REGION``);
2. ``mlops.toml``, or ``[tool.mlops]`` in a ``pyproject.toml``, the nearest one walking up
   from the working folder, no further than the git root and the Jupyter server's root
   (``MLOPS_SERVER_ROOT``, which the server extension sets for itself and its kernels);
3. the user config, outside every project: ``MLOPS_USER_CONFIG``, else
   ``$XDG_CONFIG_HOME/mlops/config.toml``, else ``~/.config/mlops/config.toml``;
4. embedded defaults under ``<project root>/.mlops/``.

The project root is the folder of that file, else the git root, else the working folder.
Every value remembers which source set it, so ``status`` can say why a value is what it is.

A project's files are not trusted with the user's credentials: MLflow's token, username and
password (read from the environment) go only to a tracking server named by the environment,
by ``MLOPS_CONFIG`` or by the user config, or listed in the user config's
``tracking.trusted``, which no project file may set (``Config.sends_credentials``).
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILE = "mlops.toml"
PYPROJECT = "pyproject.toml"
STATE_DIR = ".mlops"


@dataclass(frozen=True)
class Setting:
    """One configurable value: its key, type, default and the variables that may set it."""

    key: str
    kind: str  # "str", "path" (a local path, made absolute, or a URL), "float" (> 0),
    # "fraction" (0 to 1), "count" (an integer >= 0), "bool", "choice", "urls" (a list)
    default: Callable[[Path, Path], Any]  # (project_root, state_dir) -> default value
    help: str
    env: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()

    @property
    def env_names(self) -> tuple[str, ...]:
        own = "MLOPS_" + self.key.replace(".", "_").upper()
        return (own, *self.env)


def _in_state(name: str) -> Callable[[Path, Path], Any]:
    return lambda _root, state: str(state / name)


SETTINGS: tuple[Setting, ...] = (
    Setting("state_dir", "path", lambda root, _s: str(root / STATE_DIR),
            "Folder for the embedded stores (databases, artifacts, caches, reviews)."),
    Setting("tracking.uri", "str",
            lambda _r, state: "sqlite:///" + (state / "mlflow.db").as_posix(),
            "MLflow tracking URI.", env=("MLFLOW_TRACKING_URI",)),
    Setting("tracking.trusted", "urls", lambda _r, _s: (),
            "Tracking servers a project's mlops.toml may name that still get MLflow's "
            "credentials from the environment (each entry trusts its scheme, host and port). "
            "Read only from the user config or MLOPS_TRACKING_TRUSTED, never from a project."),
    Setting("tracking.artifact_root", "path", _in_state("artifacts"),
            "Where the embedded tracking store keeps run artifacts (a folder or s3://...)."),
    Setting("tracking.experiment", "str", lambda root, _s: root.name or "default",
            "Experiment that runs go to when none is named.", env=("MLFLOW_EXPERIMENT_NAME",)),
    Setting("features.backend", "choice", lambda _r, _s: "embedded",
            "Feature store backend.", choices=("embedded", "feast")),
    Setting("features.path", "path", _in_state("features"),
            "Offline store of the embedded feature store (a folder or s3://...)."),
    Setting("features.repo", "path", lambda _r, _s: "",
            "Feast repository (folder holding feature_store.yaml) when backend = feast."),
    Setting("pipeline.artifacts", "path", _in_state("pipelines"),
            "Where pipeline runs keep step outputs, logs and their cache (a folder or s3://...)."),
    Setting("pipeline.target", "choice", lambda _r, _s: "local",
            "Default pipeline engine.", choices=("local", "airflow", "prefect", "kfp")),
    Setting("pipeline.prefect_url", "str", lambda _r, _s: "http://127.0.0.1:4200/api",
            "Prefect API that monitoring rules with target prefect trigger the served export "
            "on.", env=("PREFECT_API_URL",)),
    Setting("pipeline.airflow_url", "str", lambda _r, _s: "http://127.0.0.1:8080",
            "Airflow API server that monitoring rules with target airflow trigger the "
            "exported DAG on."),
    Setting("review.path", "path", _in_state("reviews"),
            "Review threads and approvals, one JSON file per event (meant to be committed)."),
    Setting("deploy.target", "choice", lambda _r, _s: "local",
            "Default deployment target.", choices=("local", "kserve", "sagemaker")),
    Setting("deploy.path", "path", _in_state("deployments"),
            "State of local deployments."),
    Setting("deploy.gpu", "str", lambda _r, _s: "auto",
            "GPU for local serving: auto, none, or a CUDA device index."),
    Setting("aws.region", "str", lambda _r, _s: "",
            "AWS region for S3 and SageMaker.", env=("AWS_REGION", "AWS_DEFAULT_REGION")),
    Setting("aws.endpoint_url", "str", lambda _r, _s: "",
            "Custom AWS endpoint (e.g. an S3-compatible store).", env=("AWS_ENDPOINT_URL",)),
    Setting("aws.sagemaker_role", "str", lambda _r, _s: "",
            "IAM role ARN SageMaker endpoints run as (SageMaker deploy target)."),
    Setting("aws.sagemaker_image", "str", lambda _r, _s: "",
            "ECR image serving MLflow pyfunc models ('mlflow sagemaker "
            "build-and-push-container')."),
    Setting("aws.sagemaker_bucket", "str", lambda _r, _s: "",
            "s3://bucket/prefix where SageMaker deploys upload model packages."),
    Setting("status.timeout", "float", lambda _r, _s: 3.0,
            "Seconds each status check may take before it is reported as timed out."),
    Setting("monitor.enabled", "bool", lambda _r, _s: True,
            "Local deployments serve Prometheus /metrics, keep a request history and write "
            "an inference log (off: none of the three)."),
    Setting("monitor.sample_rate", "fraction", lambda _r, _s: 1.0,
            "Share of the answered requests a local deployment writes to its inference log "
            "(0 to 1)."),
    Setting("monitor.max_rows_per_s", "count", lambda _r, _s: 10000,
            "Most rows per second a local deployment writes to its inference log (0: no "
            "limit); the rest are counted as sampled out."),
    Setting("monitor.drift_method", "choice", lambda _r, _s: "psi",
            "How numeric inputs are compared with the training data: population stability "
            "index, Wasserstein distance (normed by the reference's deviation) or "
            "Kolmogorov-Smirnov.", choices=("psi", "wasserstein", "ks")),
    Setting("monitor.categorical_method", "choice", lambda _r, _s: "psi",
            "How categorical inputs are compared with the training data: population "
            "stability index, chi-square or Jensen-Shannon distance.",
            choices=("psi", "chisquare", "jensenshannon")),
    Setting("monitor.drift_threshold", "str", lambda _r, _s: "",
            "Drift threshold for every input (empty: the method's own: psi 0.2, wasserstein "
            "and jensenshannon 0.1, ks and chisquare a p-value below 0.05)."),
    Setting("monitor.feature_thresholds", "str", lambda _r, _s: "",
            "Per-input drift thresholds that override monitor.drift_threshold, as "
            "'age=0.3 income=0.25'."),
    Setting("monitor.check_interval", "count", lambda _r, _s: 600,
            "Seconds between the server's checks of the monitoring rules of local "
            "deployments (0: the server never checks by itself)."),
    Setting("monitor.cooldown", "count", lambda _r, _s: 3600,
            "Seconds a monitoring rule waits after firing before it may fire again."),
    Setting("deploy.request_timeout", "float", lambda _r, _s: 60.0,
            "Seconds a local deployment waits for a prediction before it answers 504 (its "
            "/health then says the model is stuck until it answers again)."),
    Setting("deploy.auth", "choice", lambda _r, _s: "none",
            "Who may call a local deployment's /invocations: anyone who reaches its port "
            "(none) or callers with the bearer token made at deploy (token).",
            choices=("none", "token")),
)
SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class ConfigValue:
    key: str
    value: Any
    source: str  # "default", "env:NAME", "file:PATH:LINE" or "user:PATH:LINE"


@dataclass(frozen=True)
class Config:
    """The resolved configuration of one project."""

    project_root: Path
    config_file: Path | None
    values: Mapping[str, ConfigValue]
    #: the config file was found by the search (a project's file), not named by MLOPS_CONFIG
    found_by_search: bool = True
    #: the user config file (read when it exists)
    user_file: Path | None = None
    #: tracking servers the user named (user config's tracking.uri, tracking.trusted)
    trusted_uris: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    def path(self, key: str) -> Path:
        """A path-valued setting as an absolute Path."""
        return Path(self.values[key].value)

    @property
    def state_dir(self) -> Path:
        return self.path("state_dir")

    def source(self, key: str) -> str:
        return self.values[key].source

    def from_project(self, key: str) -> bool:
        """Was ``key`` set by a project's file (found by the search), not by the user?"""
        return self.source(key).startswith("file:") and self.found_by_search

    def sends_credentials(self) -> bool:
        """May MLflow's credentials from the environment go to ``tracking.uri``? Yes unless a
        project's file named it and the user's ``tracking.trusted`` does not list its server."""
        if not self.from_project("tracking.uri"):
            return True
        uri = str(self["tracking.uri"])
        return any(url_origin(uri) == url_origin(entry) for entry in self.trusted_uris)

    def trust_hint(self) -> str:
        """How the user lets ``tracking.uri`` have the credentials (for status)."""
        return (f"the URI comes from {self.source('tracking.uri')[len('file:'):]}, not from "
                f"your environment or user config; to send them, add it to tracking.trusted "
                f"in {self.user_file or user_config_path(os.environ)}")

    def report(self) -> dict[str, Any]:
        """JSON-ready view for status displays; credentials inside URLs are masked."""
        return {
            "project_root": str(self.project_root),
            "config_file": str(self.config_file) if self.config_file else None,
            "values": [
                {"key": v.key, "value": redact(v.value), "source": v.source}
                for v in self.values.values()
            ],
        }


#: userinfo of a URL (``https://TOKEN@host``, ``https://user:password@host``)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<info>[^/?#@\s'\"]+)@")
#: a query parameter whose name says it holds a secret (``?token=``, ``&access_token=``,
#: ``X-Amz-Signature=``, ``password=``, ``api_key=``, ...)
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;][A-Za-z0-9_.\-]*(?:token|password|passwd|pwd|secret|signature|sig|"
    r"credential|key|auth)[A-Za-z0-9_.\-]*=)(?P<value>[^&#\s'\"]+)", re.IGNORECASE)


def redact(value: Any) -> Any:
    """Mask the credentials in a URL, or in every URL of a text: ``https://***@host`` for a
    token as userinfo, ``https://user:***@host`` for a password, ``?token=***`` for a query
    parameter whose name says it is a secret. A list or tuple is a list of its items masked;
    other values are returned as they are. Every URL the project shows goes through here."""
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if not isinstance(value, str) or "://" not in value:
        return value

    def userinfo(match: re.Match[str]) -> str:
        info = match.group("info")
        user = info.split(":", 1)[0] + ":" if ":" in info else ""
        return f"{match.group('scheme')}{user}***@"

    masked = _USERINFO.sub(userinfo, value)
    return _SECRET_PARAM.sub(lambda m: f"{m.group('name')}***", masked)


def url_origin(uri: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a URL (the port a URL of its scheme uses when not given):
    what a ``tracking.trusted`` entry vouches for."""
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def user_config_path(env: Mapping[str, str]) -> Path:
    """The user-level config file (read when it exists): ``MLOPS_USER_CONFIG``, else
    ``$XDG_CONFIG_HOME/mlops/config.toml``, else ``~/.config/mlops/config.toml``."""
    if env.get("MLOPS_USER_CONFIG"):
        return Path(env["MLOPS_USER_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or os.path.join(
        env.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(base) / "mlops" / "config.toml"


# --------------------------------------------------------------------------- discovery


def search_folders(start: str, root: str | None) -> list[str]:
    """The folders the config search looks in: ``start``, then its parents up to the first
    that is a git root (holds ``.git``) or is ``root`` (the server's; ignored when ``start``
    is not inside it). A repository's files never reach above the repository, and no file
    above the folder Jupyter serves is read."""
    folders = []
    folder = start
    inside = root is not None and (start == root or start.startswith(root.rstrip(os.sep)
                                                                     + os.sep))
    while True:
        folders.append(folder)
        if os.path.exists(os.path.join(folder, ".git")) or (inside and folder == root):
            return folders
        parent = os.path.dirname(folder)
        if parent == folder:
            return folders
        folder = parent


def _server_root(env: Mapping[str, str]) -> str | None:
    root = env.get("MLOPS_SERVER_ROOT")
    return os.path.realpath(os.path.expanduser(root)) if root else None


def find_config_file(start: Path, root: str | None = None
                     ) -> tuple[Path | None, dict[str, Any]]:
    """The nearest mlops.toml, or pyproject.toml with [tool.mlops], from ``start`` upwards
    (no further than ``search_folders`` goes)."""
    for name in search_folders(str(start), root):
        folder = Path(name)
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate, _parse(candidate)
        pyproject = folder / PYPROJECT
        if pyproject.is_file():
            section = _tool_section(pyproject, _parse(pyproject))
            if section is not None:
                return pyproject, section
    return None, {}


def _tool_section(pyproject: Path, data: dict[str, Any]) -> dict[str, Any] | None:
    """The [tool.mlops] table of a parsed pyproject.toml; None when it has none."""
    tool = data.get("tool", {})
    if not isinstance(tool, dict) or "mlops" not in tool:
        return None
    section = tool["mlops"]
    if not isinstance(section, dict):
        raise ConfigError(
            f"{pyproject}:{_locate(pyproject, 'tool.mlops', '') or 1}: "
            "[tool.mlops] must be a table"
        )
    return section


def find_git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc}); fix or remove it") from exc
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        message = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        if line is None and match:
            line = int(match.group(1))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        near = ""
        if line:
            lines = text.splitlines()
            if 0 < line <= len(lines):
                key = lines[line - 1].split("=", 1)[0].strip()
                near = f" at key '{key}'" if key else ""
        raise ConfigError(f"{path}:{line or '?'}: invalid TOML{near}: {message}") from None


def _locate(path: Path, key: str, prefix: str) -> int | None:
    """Best-effort line number of ``key`` (dotted) in a TOML file whose settings live under
    ``prefix`` (``""`` for mlops.toml, ``"tool.mlops"`` for pyproject.toml)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    full = f"{prefix}.{key}" if prefix else key
    table = ""
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", line)
        if header:
            table = header.group(1).replace('"', "").replace("'", "").replace(" ", "")
            if table == full:
                return number
            continue
        assign = re.match(r"^([A-Za-z0-9_.\-\"' ]+?)\s*=", line)
        if assign:
            name = assign.group(1).replace('"', "").replace("'", "").replace(" ", "")
            if (f"{table}.{name}" if table else name) == full:
                return number
    return None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and key not in SETTINGS_BY_KEY:
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = value
    return flat


# --------------------------------------------------------------------------- values


_TYPE_NAMES = {str: "string", int: "integer", float: "float", bool: "boolean", list: "array",
               dict: "table"}


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _coerce(setting: Setting, raw: Any, where: str) -> Any:
    """Check and convert one raw value; ``where`` names its origin for the error message."""
    key = setting.key
    if setting.kind == "urls":
        return _urls(setting, raw, where)
    if setting.kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
            return raw.strip().lower() in _TRUE
        raise ConfigError(f"{where}: key '{key}' must be true or false, not {raw!r}")
    if setting.kind == "count":
        text = raw.strip() if isinstance(raw, str) else raw
        if isinstance(raw, bool) or not (isinstance(text, int) or (
                isinstance(text, str) and text.isdigit())) or int(text) < 0:
            raise ConfigError(f"{where}: key '{key}' must be a whole number >= 0, not {raw!r}")
        return int(text)
    if setting.kind == "fraction":
        value = math.nan
        if not isinstance(raw, bool):
            with contextlib.suppress(TypeError, ValueError):
                value = float(raw)
        if not 0 <= value <= 1:  # NaN fails too
            raise ConfigError(f"{where}: key '{key}' must be a number from 0 to 1, not {raw!r}")
        return value
    if setting.kind == "float":
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: key '{key}' must be a number, not boolean")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: key '{key}' must be a number, not {raw!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(
                f"{where}: key '{key}' must be a number greater than 0, not {raw!r}"
            )
        return value
    if not isinstance(raw, str):
        kind = _TYPE_NAMES.get(type(raw), type(raw).__name__)
        raise ConfigError(f"{where}: key '{key}' must be a string, not {kind}")
    if setting.kind == "choice" and raw not in setting.choices:
        raise ConfigError(
            f"{where}: key '{key}' must be one of {', '.join(setting.choices)}, not {raw!r}"
        )
    _check_port(key, raw, where)
    return raw


def _urls(setting: Setting, raw: Any, where: str) -> tuple[str, ...]:
    """A list of http(s) URLs: a TOML array of strings, or (from a variable) a string of
    them separated by spaces or commas."""
    key = setting.key
    items = re.split(r"[\s,]+", raw.strip()) if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{where}: key '{key}' must be a list of URLs, as "
                          '["https://mlflow.example.com"]')
    for item in items:
        if urlsplit(item).scheme not in ("http", "https") or not urlsplit(item).hostname:
            raise ConfigError(f"{where}: key '{key}' lists {redact(item)!r}, which is not an "
                              "http(s) URL with a host")
        _check_port(key, item, where)
    return tuple(i for i in items if i)


def _check_port(key: str, value: str, where: str) -> None:
    """A URL's port, when it has one, is a number from 0 to 65535."""
    if "://" not in value:
        return
    try:
        int(urlsplit(value).port or 0)
    except ValueError:
        raise ConfigError(f"{where}: key '{key}' names a URL whose port is not a number from "
                          f"0 to 65535: {redact(value)!r}") from None


def _absolute(value: str, base: Path) -> str:
    """Resolve a local path against ``base``; URLs (s3://, http://, sqlite:///) are kept."""
    if "://" in value or not value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


_ENV_NAMES = ("MLOPS_CONFIG", "MLOPS_SERVER_ROOT", "MLOPS_USER_CONFIG", "XDG_CONFIG_HOME",
              "HOME", *dict.fromkeys(n for s in SETTINGS for n in s.env_names))
_MEMO: dict[tuple[Any, ...], Config] = {}
_MEMO_SIZE = 32


def _fingerprint(here: str, env: Mapping[str, str]) -> tuple[Any, ...]:
    """What the resolution may have read from disk, found again cheaply: the user config's
    bytes, the folders searched from ``here`` up (where ``.git`` ends the search) and the
    config files' bytes (up to the first mlops.toml)."""
    seen: list[Any] = []
    explicit = env.get("MLOPS_CONFIG")
    candidates = [str(user_config_path(env))]
    if explicit:
        candidates.append(os.path.expanduser(explicit))
    else:
        folders = search_folders(here, _server_root(env))
        seen.append(tuple(folders))
        for folder in folders:
            candidates += [os.path.join(folder, CONFIG_FILE), os.path.join(folder, PYPROJECT)]
    for candidate in candidates:
        try:
            with open(candidate, "rb") as handle:
                data = handle.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        except OSError:
            data = None
        seen.append((candidate, data))
        if candidate.endswith(CONFIG_FILE):  # the search stops there (a pyproject.toml
            break  # without [tool.mlops] does not stop it: the files above are read too)
    return tuple(seen)


def load_config(start: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Resolve the configuration for the folder ``start`` (default: the working folder).

    Raises ConfigError, with a one-line message naming the file, line and key, when a file or
    variable is broken. A repeated call for the same folder, variables and files answers from
    memory (the files are read again to tell; the online lookup calls this each time).
    """
    env = os.environ if environ is None else environ
    where = os.path.realpath(os.path.expanduser(os.fspath(start if start is not None
                                                          else os.getcwd())))
    if os.path.isfile(where):
        where = os.path.dirname(where)
    key = (where, tuple(env.get(n) for n in _ENV_NAMES), _fingerprint(where, env))
    found = _MEMO.get(key)
    if found is not None:
        return found
    config = _load_config(start, env)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = config
    return config


def _load_config(start: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Config:
    here = Path(start if start is not None else os.getcwd()).expanduser().resolve()
    if here.is_file():
        here = here.parent
    explicit = env.get("MLOPS_CONFIG")
    if explicit:
        config_file: Path | None = Path(explicit).expanduser().resolve()
        assert config_file is not None
        if not config_file.is_file():
            raise ConfigError(f"MLOPS_CONFIG: no such file {config_file}; fix or unset it")
        data = _parse(config_file)
        if config_file.name == PYPROJECT:
            data = _tool_section(config_file, data) or {}
    else:
        config_file, data = find_config_file(here, _server_root(env))
    prefix = "tool.mlops" if config_file is not None and config_file.name == PYPROJECT else ""
    user_file = user_config_path(env)
    if env.get("MLOPS_USER_CONFIG") and not user_file.is_file():
        raise ConfigError(f"MLOPS_USER_CONFIG: no such file {user_file}; fix or unset it")
    user = _flatten(_parse(user_file)) if user_file.is_file() else {}
    _known(user, user_file, "")

    project_root = config_file.parent if config_file else (find_git_root(here) or here)

    flat = _flatten(data)
    if flat:
        assert config_file is not None
        _known(flat, config_file, prefix)
    if "tracking.trusted" in flat and not explicit:
        assert config_file is not None
        raise ConfigError(
            f"{config_file}:{_locate(config_file, 'tracking.trusted', prefix) or '?'}: key "
            f"'tracking.trusted' is read only from your user config ({user_file}) or "
            "MLOPS_TRACKING_TRUSTED: a project cannot vouch for its own tracking server")

    resolved: dict[str, ConfigValue] = {}
    state_dir = project_root / STATE_DIR
    for setting in SETTINGS:
        value: Any = None
        source = "default"
        for name in setting.env_names:
            if env.get(name):
                value = _coerce(setting, env[name], name)
                if setting.kind == "path":
                    value = _absolute(value, here)
                source = f"env:{name}"
                break
        if value is None and setting.key in flat:
            assert config_file is not None
            where = f"{config_file}:{_locate(config_file, setting.key, prefix) or '?'}"
            value = _coerce(setting, flat[setting.key], where)
            if setting.kind == "path":
                value = _absolute(value, project_root)
            source = f"file:{where}"
        if value is None and setting.key in user:
            where = f"{user_file}:{_locate(user_file, setting.key, '') or '?'}"
            value = _coerce(setting, user[setting.key], where)
            if setting.kind == "path":
                value = _absolute(value, user_file.parent)
            source = f"user:{where}"
        if value is None:
            value = setting.default(project_root, state_dir)
        if setting.key == "state_dir":
            state_dir = Path(value)
        resolved[setting.key] = ConfigValue(setting.key, value, source)
    return Config(project_root=project_root, config_file=config_file, values=resolved,
                  found_by_search=not explicit, user_file=user_file,
                  trusted_uris=(*resolved["tracking.trusted"].value,
                                *([user["tracking.uri"]] if isinstance(
                                    user.get("tracking.uri"), str) else [])))


def _known(flat: Mapping[str, Any], path: Path, prefix: str) -> None:
    """Every key of a config file is a setting: else a ConfigError naming the closest."""
    for key in flat:
        if key not in SETTINGS_BY_KEY:
            line = _locate(path, key, prefix) or "?"
            guess = difflib.get_close_matches(key, SETTINGS_BY_KEY, n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            raise ConfigError(f"{path}:{line}: unknown key '{key}'{hint}")
