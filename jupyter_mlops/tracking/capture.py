"""What every run records without being asked: the notebook, git, the environment, the host.

Each probe is bounded in time and never raises: a run starts even where git, the notebook
file or the GPU driver cannot be found.
"""

from __future__ import annotations

import ast
import contextlib
import getpass
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ``mlops.tracking.set_notebook``: which notebook this kernel runs is ``session``'s to know
from ..session import set_notebook as set_notebook

GIT_TIMEOUT = 5.0
MAX_DIFF_BYTES = 5_000_000


@dataclass
class Context:
    notebook: Path | None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    # (artifact folder, file name, content): files written next to the journal and uploaded
    files: list[tuple[str, str, bytes]] = field(default_factory=list)


# --------------------------------------------------------------------------- the notebook


def notebook_parameters(notebook: Path, namespace: dict[str, Any] | None) -> dict[str, str]:
    """Values of the names assigned in the cell tagged ``parameters`` (papermill's
    convention): as they are now in the kernel (papermill's injected cell may have changed
    them), else as written in the cell."""
    source = _parameters_cell(notebook)
    if source is None:
        return {}
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return {}
    params: dict[str, str] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if namespace is not None and target.id in namespace:
                params[target.id] = _param_text(namespace[target.id])
            elif value is not None:
                try:
                    params[target.id] = _param_text(ast.literal_eval(value))
                except (ValueError, SyntaxError, TypeError):
                    continue
    return params


#: the last notebook read for its parameters cell: (path, mtime_ns, size) -> the cell's source
_read: dict[tuple[str, int, int], str | None] = {}


def _parameters_cell(notebook: Path) -> str | None:
    """The source of ``notebook``'s cell tagged ``parameters`` (None: no such cell, or the
    notebook cannot be read). Read again only when the file changed: a sweep's every trial
    asks, and a notebook with outputs can be megabytes."""
    try:
        stat = notebook.stat()
    except OSError:
        return None
    key = (str(notebook), stat.st_mtime_ns, stat.st_size)
    if key in _read:
        return _read[key]
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = None
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and "parameters" in tags:
            source = cell.get("source", "")
            found = "".join(source) if isinstance(source, list) else str(source)
            break
    _read.clear()
    _read[key] = found
    return found


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------- git


def _git(folder: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run([git, "-C", str(folder), *args], capture_output=True,
                              timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")


def git_info(folder: Path) -> dict[str, str]:
    """commit, branch, repo_url, dirty ("true"/"false"), diff (the uncommitted changes to
    tracked files) and status; empty outside a repository."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return {}
    info = {"commit": commit.strip()}
    branch = (_git(folder, "rev-parse", "--abbrev-ref", "HEAD") or "").strip()
    if branch and branch != "HEAD":
        info["branch"] = branch
    remote = (_git(folder, "remote", "get-url", "origin") or "").strip()
    if remote:
        info["repo_url"] = _without_credentials(remote)
    status = _git(folder, "status", "--porcelain") or ""
    info["status"] = status
    info["dirty"] = "true" if status.strip() else "false"
    diff = _git(folder, "diff", "HEAD") or ""
    if len(diff.encode()) > MAX_DIFF_BYTES:
        diff = diff.encode()[:MAX_DIFF_BYTES].decode("utf-8", "ignore") + "\n[diff truncated]\n"
    info["diff"] = diff
    return info


def _without_credentials(url: str) -> str:
    from ..config import redact

    return str(redact(url))


# --------------------------------------------------------------------------- environment


_PACKAGES: tuple[tuple[tuple[str, int], ...], list[str]] | None = None


def _path_stamp() -> tuple[tuple[str, int], ...]:
    """Each ``sys.path`` folder with its mtime: installing or removing a package adds or
    removes an entry (its ``.dist-info``) in one of them, which changes that folder's mtime."""
    stamp = []
    for entry in sys.path:
        try:
            stamp.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            stamp.append((entry, -1))
    return tuple(stamp)


def packages() -> list[str]:
    """The installed distributions as ``name==version``, sorted. Reading ~450 packages'
    metadata takes 0.2-0.9 s, which every run start paid (most of a sweep trial's overhead):
    the list is kept until a ``sys.path`` folder changes (a ``pip install`` in the kernel)."""
    global _PACKAGES
    stamp = _path_stamp()
    if _PACKAGES is not None and _PACKAGES[0] == stamp:
        return list(_PACKAGES[1])
    from importlib.metadata import distributions

    seen: dict[str, str] = {}
    for dist in distributions():
        name = dist.name
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    listed = [seen[key] for key in sorted(seen)]
    _PACKAGES = (stamp, listed)
    return list(listed)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> str:
    torch = sys.modules.get("torch")  # never import torch just to ask
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return "; ".join(torch.cuda.get_device_name(i)
                                 for i in range(torch.cuda.device_count()))
        except Exception:
            pass
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "none"
    try:
        done = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (nvidia-smi did not answer)"
    names = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return "; ".join(names) if done.returncode == 0 and names else "none"


def host() -> dict[str, str]:
    memory = ""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB"
    return {"name": socket.gethostname(), "cpu": _cpu_model(),
            "cpu_count": str(os.cpu_count() or ""), "memory": memory, "gpu": _gpus(),
            "platform": platform.platform()}


# --------------------------------------------------------------------------- all of it


def inherited(context: Context, notebook: Path | None, namespace: dict[str, Any] | None
              ) -> Context:
    """A run's context taken from ``context``, another run's of this process (a sweep's
    parent for its trials): the same tags, no files (they are on that run), the parameters
    cell's values as they are now."""
    params = notebook_parameters(notebook, namespace) if notebook is not None else {}
    return Context(notebook, dict(context.tags), params)


def collect(notebook: Path | None, project_root: Path, namespace: dict[str, Any] | None
            ) -> Context:
    """Tags, params and files for a new run."""
    ctx = Context(notebook)
    tags = ctx.tags
    tags["mlflow.source.type"] = "NOTEBOOK"
    with contextlib.suppress(Exception):
        tags["mlflow.user"] = getpass.getuser()
    if notebook is not None:
        tags["mlflow.source.name"] = str(notebook)
        tags["mlops.notebook.path"] = str(notebook)
        tags["mlops.notebook.name"] = notebook.name
        with contextlib.suppress(OSError):
            ctx.files.append(("notebook", notebook.name, notebook.read_bytes()))
        ctx.params.update(notebook_parameters(notebook, namespace))
    git = git_info(notebook.parent if notebook else project_root)
    if git:
        tags["mlflow.source.git.commit"] = git["commit"]
        if "branch" in git:
            tags["mlflow.source.git.branch"] = git["branch"]
        if "repo_url" in git:
            tags["mlflow.source.git.repoURL"] = git["repo_url"]
        tags["mlops.git.dirty"] = git["dirty"]
        if git["diff"]:
            ctx.files.append(("git", "uncommitted.diff", git["diff"].encode()))
        if git["status"]:
            ctx.files.append(("git", "status.txt", git["status"].encode()))
    machine = host()
    tags["mlops.python.version"] = platform.python_version()
    tags["mlops.host.name"] = machine["name"]
    tags["mlops.host.cpu"] = f"{machine['cpu']} ({machine['cpu_count']} cores)"
    tags["mlops.host.gpu"] = machine["gpu"]
    environment = {"python": sys.version, "executable": sys.executable, "host": machine}
    ctx.files.append(("environment", "environment.json",
                      json.dumps(environment, indent=2).encode()))
    ctx.files.append(("environment", "requirements.txt", ("\n".join(packages()) + "\n").encode()))
    return ctx
