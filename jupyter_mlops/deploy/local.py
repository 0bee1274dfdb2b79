"""The local target: a detached serving process per deployment (``python -m
jupyter_mlops.deploy.server``) on loopback, driven through its token-protected admin routes.
Survives the process that started it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from ..errors import BackendUnavailableError, MLOpsError, UserInputError
from ..paths import inside, make_folder
from .models import ResolvedModel, download_model, inspect_model
from .protocol import predictions_frame, request_body
from .state import (
    INVOCATIONS_TOKEN,
    SECRET_FILE,
    Deployment,
    ServingAuth,
    ServingSettings,
    TargetKind,
    VersionInfo,
    write_json,
)
from .target import DeployFailed, DeployOptions, Progress, TargetBase

SERVER_MODULE = "jupyter_mlops.deploy.server"  # what the serving process runs, and is known by
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_children: dict[int, subprocess.Popen[bytes]] = {}  # fronts started here, reaped when they end

__all__ = ["DeployFailed", "LocalTarget"]


# ---------------------------------------------------------------------------- HTTP


def http(method: str, url: str, body: Any = None, *, token: str | None = None,
         timeout: float = 10.0, raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, bytes]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read() or b"")


def _message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("message", ""))
    except (ValueError, AttributeError):
        return data.decode(errors="replace")[:300]


def _token(folder: Path, key: str = "token") -> str | None:
    """The admin token of a deployment (or its invocations token: ``key``)."""
    try:
        return str(json.loads((folder / SECRET_FILE).read_text())[key])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def host_names(host: str) -> list[str]:
    """The names a deployment listening on ``host`` is called by besides IP addresses and
    localhost: this machine's names when it listens on every interface."""
    if host not in ("0.0.0.0", "::", ""):
        return []
    return sorted({socket.gethostname(), socket.getfqdn()} - {""})


def admin_get(folder: Path, url: str, route: str, timeout: float = 3.0
              ) -> dict[str, Any] | None:
    """``GET {url}/-/admin/{route}`` with the deployment's token: its JSON, or None when
    the front does not answer."""
    try:
        status, data = http("GET", f"{url}/-/admin/{route}", token=_token(folder),
                            timeout=timeout)
    except OSError:
        return None
    if status != 200:
        return None
    result: dict[str, Any] = json.loads(data)
    return result


def admin_status(folder: Path, url: str, timeout: float = 3.0) -> dict[str, Any] | None:
    """The front's live status, or None when it does not answer."""
    return admin_get(folder, url, "status", timeout)


# ---------------------------------------------------------------------------- processes


def _reap() -> None:
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            _children.pop(pid, None)


def is_front(pid: int | None, folder: Path) -> bool:
    """``pid`` is alive and is this deployment's serving front (not a recycled pid)."""
    _reap()
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc here: trust the pid
    return SERVER_MODULE.encode() in cmdline and str(folder).encode() in cmdline


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UserInputError(f"port {port} on {host} is in use ({exc.strerror}): pick "
                                 "another (--port) or stop what listens there") from None


def start_front(folder: Path) -> subprocess.Popen[bytes]:
    logs = make_folder(folder / "logs")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [PACKAGE_ROOT, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    with open(logs / "server.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, str(folder)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, cwd=str(folder), env=env,
        )
    _children[proc.pid] = proc
    return proc


def stop_front(pid: int | None, folder: Path, url: str | None, timeout: float = 20.0) -> None:
    """Ask the front to finish and exit; end its process group when it does not."""
    if not is_front(pid, folder):
        return
    assert pid is not None
    if url:
        with contextlib.suppress(OSError):
            http("POST", f"{url}/-/admin/shutdown", {}, token=_token(folder), timeout=3)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_front(pid, folder):
        time.sleep(0.1)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_front(pid, folder):
            break
        with contextlib.suppress(OSError):
            os.killpg(pid, sig)
        end = time.monotonic() + 5
        while time.monotonic() < end and is_front(pid, folder):
            time.sleep(0.1)
    # the front may look gone (its command line empties while it exits) before the kernel
    # has made it a zombie: wait for our own child, so none is left unreaped
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)
    _reap()


def tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


# ---------------------------------------------------------------------------- the target


def gpu_spec(gpu: str | int | None, default: Any = "auto") -> str:
    """The device a local deployment asks for: auto, none/cpu or a CUDA index ('0', 'cuda:1')."""
    value = str(default if gpu is None else gpu).strip().lower()
    if value in ("auto", "none", "cpu") or value.removeprefix("cuda").lstrip(":").isdigit():
        return value
    raise UserInputError(f"invalid gpu '{gpu}': use auto, none or a CUDA device index (0, 1…)")


class LocalTarget(TargetBase):
    kind: ClassVar[TargetKind] = "local"

    def check(self, options: DeployOptions) -> DeployOptions:
        return replace(options, gpu=gpu_spec(options.gpu, self.config["deploy.gpu"]))

    def status(self, deployment: Deployment) -> Deployment:
        """The deployment as its front sees it now, or marked dead when it is gone."""
        folder = self.store.folder(deployment.name)
        if deployment.url and is_front(deployment.pid, folder):
            live = admin_status(folder, deployment.url)
            if live is not None:
                fresh = Deployment.from_dict(live)
                fresh.details = {**fresh.details, "workers": live.get("workers", {}),
                                 "rollout": live.get("rollout")}
                return fresh
            deployment.status = "unresponsive"
            deployment.health = f"the serving process (pid {deployment.pid}) does not answer"
            return deployment
        if deployment.status not in ("stopped",):
            deployment.status = "dead"
            deployment.health = ("the serving process is gone (machine restarted or killed): "
                                 "deploy again to restart it, or undeploy")
        deployment.metrics = {}
        return deployment

    # ------------------------------------------------------------------ deploy
    def deploy(self, model: ResolvedModel, name: str, options: DeployOptions,
               progress: Progress) -> Deployment:
        folder = self.store.folder(name)
        existing = self.existing(name)
        canary, port, host, timeout = options.canary, options.port, options.host, options.timeout
        running = existing is not None and existing.url is not None and \
            is_front(existing.pid, folder) and admin_status(folder, existing.url) is not None
        version = existing.next_version() if existing else 1
        if not running and port is not None:
            check_port(host, port)  # before anything is downloaded or started
        progress(f"downloading {model.given} (version {version})")
        vdir = folder / "versions" / f"v{version}"
        fresh = existing is None
        try:
            model_dir = download_model(model, vdir / "model")
            facts = inspect_model(model_dir, model.given)
        except BaseException:
            if fresh:
                self.store.remove(name)
            else:
                import shutil

                shutil.rmtree(vdir, ignore_errors=True)
            raise
        info = VersionInfo(
            version, model.given, source_uri=model.storage_uri or model.uri,
            run_id=model.run_id, registered_name=model.registered_name,
            registered_version=model.registered_version, path=str(model_dir),
            message=facts.note,
            details={"flavors": facts.flavors, "signature": facts.signature,
                     "pinned_uri": model.uri},
        )
        if running:
            assert existing is not None and existing.url is not None
            return self._roll_out(existing, info, canary, timeout, progress)
        if canary:
            progress("nothing is serving yet: the new version takes all the traffic "
                     f"(canary={canary} applies to later versions)")
        try:
            return self._boot(existing, name, info, options, progress)
        except BaseException:
            if fresh:  # nothing half-deployed: _boot stopped what it started
                self.store.remove(name)
            raise

    def _boot(self, existing: Deployment | None, name: str, info: VersionInfo,
              options: DeployOptions, progress: Progress) -> Deployment:
        folder = self.store.folder(name)
        port, host, timeout = options.port, options.host, options.timeout
        if existing is not None:
            old = existing.settings
            host = host or str(old.get("host", "127.0.0.1"))
            if port is None and old.get("port"):
                with contextlib.suppress(UserInputError):
                    check_port(host, int(old["port"]))
                    port = int(old["port"])
        if port is None:
            port = free_port(host)
        else:
            check_port(host, port)
        deployment = existing or Deployment(name=name, target=self.kind)
        for old_version in deployment.versions:  # a dead deployment: nothing of it runs
            if old_version.status in ("serving", "canary", "starting", "restarting"):
                old_version.status = "stopped"
        deployment.traffic = {}
        deployment.versions = [v for v in deployment.versions if v.version != info.version]
        deployment.versions.append(info)
        deployment.url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        deployment.status = "starting"
        deployment.message = None
        deployment.details = {"boot_version": info.version}
        auth: ServingAuth = "token" if self.config["deploy.auth"] == "token" else "none"
        deployment.settings = asdict(ServingSettings(
            host=host, port=port, max_batch_size=options.max_batch_size,
            max_wait_ms=options.max_wait_ms, max_queue=options.max_queue,
            max_request_bytes=options.max_request_bytes,
            max_request_rows=options.max_request_rows, gpu=str(options.gpu),
            cpu_threads=options.cpu_threads, start_timeout_s=timeout, python=sys.executable,
            max_queue_bytes=options.max_queue_bytes,
            request_timeout_s=float(self.config["deploy.request_timeout"]), auth=auth,
            host_names=host_names(host)))
        # parsing a deploy verb loads no monitor module
        from ..monitor.inference_log import log_folder
        from ..monitor.remote_log import remote_url

        deployment.settings["monitor"] = {
            "enabled": bool(self.config["monitor.enabled"]),
            "sample_rate": float(self.config["monitor.sample_rate"]),
            "max_rows_per_s": int(self.config["monitor.max_rows_per_s"]),
            "folder": str(log_folder(self.config.state_dir, name)),
            "remote": remote_url(str(self.config["tracking.artifact_root"]), name),
            "endpoint_url": str(self.config["aws.endpoint_url"]),
            "region": str(self.config["aws.region"])}
        self.store.save(deployment)
        secret = {"token": secrets.token_urlsafe(32)}
        kept = _token(folder, INVOCATIONS_TOKEN)  # a dead deployment booted again keeps it
        made = secrets.token_urlsafe(32) if auth == "token" and not kept else None
        if auth == "token":
            secret[INVOCATIONS_TOKEN] = kept or str(made)
        write_json(folder / SECRET_FILE, secret, private=True)
        progress(f"starting the serving process on {deployment.url}")
        proc = start_front(folder)
        deployment.pid = proc.pid
        try:
            booted = self._wait(deployment, info.version, timeout, progress, proc=proc)
            booted.new_token = made
            return booted
        except BaseException:  # failed, timed out or interrupted: stop what was started
            stop_front(proc.pid, folder, deployment.url, timeout=5)
            if existing is None:
                self.store.remove(name)
            else:
                dead = self.store.load(name)
                dead.status = "dead"
                self.store.save(dead)
            raise

    def _roll_out(self, existing: Deployment, info: VersionInfo, canary: int | None,
                  timeout: float, progress: Progress) -> Deployment:
        folder = self.store.folder(existing.name)
        assert existing.url is not None
        progress(f"starting version {info.version} next to version {existing.version}")
        status, data = http("POST", f"{existing.url}/-/admin/versions",
                            {"version": info.__dict__, "canary": canary},
                            token=_token(folder), timeout=10)
        if status != 202:
            raise UserInputError(_message(data) or f"the serving process answered {status}")
        return self._wait(existing, info.version, timeout, progress)

    def _wait(self, deployment: Deployment, version: int | None, timeout: float,
              progress: Progress, proc: subprocess.Popen[bytes] | None = None,
              kind: Literal["deploy", "rollback"] = "deploy") -> Deployment:
        """Follow the front's rollout until it is done, reporting each phase."""
        folder = self.store.folder(deployment.name)
        assert deployment.url is not None
        deadline = time.monotonic() + timeout + 30
        last = ""
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                why = self._front_failure(deployment.name)
                raise DeployFailed(f"the serving process exited (code {proc.returncode}): {why}")
            live = admin_status(folder, deployment.url, timeout=2)
            rollout = (live or {}).get("rollout") or {}
            if rollout and (version is None or rollout.get("version") == version
                            or rollout.get("kind") == "rollback"):
                phase = str(rollout.get("phase") or "")
                if phase and phase != last and phase not in ("done", "failed", "queued"):
                    label = f"version {rollout.get('version')}: " if rollout.get("version") \
                        else ""
                    progress(f"{label}{phase}")
                    last = phase
                if rollout.get("ok") is True:
                    return self._confirm(deployment.name)
                if rollout.get("ok") is False:
                    raise DeployFailed(str(rollout.get("message") or "the rollout failed"))
            time.sleep(0.1)
        raise DeployFailed(f"{kind} did not finish within {timeout:g} s: see "
                           f"'%mlops logs {deployment.name}'")

    def _confirm(self, name: str) -> Deployment:
        """The endpoint answers at its URL (health) from here too."""
        deployment = self.status(self.store.load(name))
        assert deployment.url is not None
        status, data = http("GET", f"{deployment.url}/health", timeout=5)
        if status != 200:
            raise DeployFailed(f"{deployment.url}/health answered {status}: {_message(data)}")
        return deployment

    def _front_failure(self, name: str) -> str:
        with contextlib.suppress(MLOpsError):
            message = self.store.load(name).message
            if message:
                return message
        lines = [line for line in tail(self.store.folder(name) / "logs" / "server.log", 20)
                 if line.strip()]
        return lines[-1] if lines else "no log"

    # ------------------------------------------------------------------ operations
    def rollback(self, deployment: Deployment, timeout: float, progress: Progress
                 ) -> Deployment:
        folder = self.store.folder(deployment.name)
        live = self._require_live(deployment)
        status, data = http("POST", f"{live.url}/-/admin/rollback", {}, token=_token(folder))
        if status == 400:
            raise UserInputError(f"{deployment.name}: {_message(data)}")
        if status != 202:
            raise UserInputError(_message(data) or f"the serving process answered {status}")
        progress(f"rolling back {deployment.name}")
        return self._wait(live, None, timeout, progress, kind="rollback")

    def promote(self, deployment: Deployment) -> Deployment:
        folder = self.store.folder(deployment.name)
        live = self._require_live(deployment)
        status, data = http("POST", f"{live.url}/-/admin/promote", {}, token=_token(folder))
        if status != 200:
            raise UserInputError(f"{deployment.name}: {_message(data)}")
        return self.status(self.store.load(deployment.name))

    def _require_live(self, deployment: Deployment) -> Deployment:
        live = self.status(deployment)
        if live.status in ("dead", "unresponsive", "stopped"):
            raise BackendUnavailableError(f"{deployment.name} is {live.status}: {live.health}")
        return live

    def undeploy(self, deployment: Deployment, progress: Progress) -> None:
        folder = self.store.folder(deployment.name)
        stop_front(deployment.pid, folder, deployment.url)
        if is_front(deployment.pid, folder):
            raise BackendUnavailableError(f"the serving process {deployment.pid} of "
                                          f"{deployment.name} did not stop")
        self.store.remove(deployment.name)

    def predict(self, deployment: Deployment, data: Any) -> Any:
        return predictions_frame(self.score(deployment, request_body(data)))

    def score(self, deployment: Deployment, body: bytes, timeout: float | None = None
              ) -> bytes:
        """One ``POST /invocations`` with a ready MLflow payload (and the deployment's token
        when it wants one); the answer's bytes."""
        if not deployment.url:
            raise BackendUnavailableError(f"{deployment.name} has no URL")
        settings = ServingSettings.from_dict(deployment.settings)
        token = _token(self.store.folder(deployment.name), INVOCATIONS_TOKEN) \
            if settings.auth == "token" else None
        try:
            status, data = http("POST", f"{deployment.url}/invocations", raw=body,
                                token=token, timeout=timeout or settings.request_timeout_s + 10)
        except OSError as exc:
            raise BackendUnavailableError(f"{deployment.name} at {deployment.url} does not "
                                          f"answer ({exc}): see 'deployments'") from None
        if status != 200:
            error = UserInputError if 400 <= status < 500 else BackendUnavailableError
            raise error(f"{deployment.name} answered HTTP {status}: {_message(data)}")
        return data

    def logs(self, deployment: Deployment, lines: int) -> dict[str, list[str]]:
        folder = self.store.folder(deployment.name) / "logs"

        def read(name: str) -> list[str]:  # a log linked out of the deployments is not read
            path = folder / name
            return tail(path, lines) if inside(path, self.store.root) else []

        sections = {"serving process": read("server.log")}
        shown = [int(v) for v in deployment.traffic] or (
            [deployment.version] if deployment.version else [])
        for version in shown:
            sections[f"version {version}"] = read(f"v{version}.log")
        return sections
