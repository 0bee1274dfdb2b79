"""Warm workers: processes started once per pipeline run or sweep, each of which runs the
notebook's shared (imports) cells once and then forks for every step or trial it is given, so
no step or trial imports its libraries again, and each still starts from the same clean state.

A worker is this file run as a script by the step's Python (standard library only, as
``runtime.py``). It talks with its parent over two pipes, in length-prefixed pickles:

* parent -> worker: ``{"op": "warm", "cells", "notebook", "shell", "inputs", "preload",
  "prefetch", "path"}`` once (modules to import before forking, those of ``prefetch`` when
  they can be; ``path``: folders to import from, after the worker's own),
  then tasks: ``{"op": "step", "spec", "error", "log"}`` (one pipeline step, as ``runtime.py``
  runs it) or ``{"op": "call", "target": "module:function", "payload", "log"}`` (a trial:
  ``function(warm, channel, payload)``, ``warm`` being ``runtime.Warm``);
* worker -> parent: ``ready`` (with the warm-up's error, if a shared cell raised), ``forked``
  (the task's process id), whatever the task sends (a trial's reports), and ``exit`` (its code).

A task whose process dies (a crash, a kill) ends with its exit code; a worker that dies is seen
by the parent's reader (the pipe ends, or the process is gone) and reported as ``died``: the
step or trial fails with that line, the run never waits for it. On a machine with GPUs, sweep
workers each get one (``CUDA_VISIBLE_DEVICES``), found without importing torch (``gpus.py``).

    python .../jupyter_mlops/pipeline/workers.py IN_FD OUT_FD      # one worker
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import sys
import time
import traceback
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

# subprocess, threading, queue and select are the parent's: a worker's start does without them
if TYPE_CHECKING:
    import queue

_HEADER = struct.Struct("!I")
WORKER_SCRIPT = Path(__file__).resolve()
#: how often a worker's reader looks whether its process is still there (seconds)
POLL_S = 0.2
Event = tuple["Worker", dict[str, Any]]


# --------------------------------------------------------------------------- messages


def send(fd: int, message: Any) -> None:
    """Write one message (a length-prefixed pickle) to the pipe ``fd``."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd: int) -> Any:
    """The next message on the pipe ``fd`` (blocking); None when the pipe has ended."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class _Frames:
    """Messages from a pipe read in pieces (a process that dies mid-message leaves one)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self.buffer += data
        messages = []
        while len(self.buffer) >= _HEADER.size:
            size = _HEADER.unpack_from(self.buffer)[0]
            end = _HEADER.size + size
            if len(self.buffer) < end:
                break
            messages.append(pickle.loads(bytes(self.buffer[_HEADER.size:end])))
            del self.buffer[:end]
        return messages


class Channel:
    """A task's line to the parent process (a trial's reports; answers come back)."""

    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fd_in, self.fd_out = fd_in, fd_out

    def send(self, message: dict[str, Any]) -> None:
        send(self.fd_out, message)

    def ask(self, message: dict[str, Any]) -> Any:
        """Send ``message`` and wait for the parent's answer."""
        send(self.fd_out, message)
        return self.answer()

    def answer(self) -> Any:
        """The parent's next answer (other messages to a task are skipped)."""
        while True:
            answer = receive(self.fd_in)
            if answer is None:
                raise EOFError("the process that started this worker is gone")
            if answer.get("op") == "answer":
                return answer.get("value")


def exit_text(code: int) -> str:
    """An exit code as words: "was killed by signal SIGKILL", "exited with code 3"."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"was killed by signal {name}"
    return f"exited with code {code}"


# --------------------------------------------------------------------------- the parent's side


class Worker:
    """One warm worker as its parent sees it: ``send`` a task; the worker's messages arrive on
    ``events`` as ``(worker, message)``, and ``{"kind": "died", "code", "reason"}`` when the
    process is gone (its running task's process is then killed)."""

    def __init__(self, number: int, warm: Mapping[str, Any], events: queue.Queue[Event], *,
                 python: str | None = None, cwd: str | None = None,
                 env: Mapping[str, str] | None = None, log: Path | None = None,
                 gpu: str | None = None) -> None:
        import subprocess
        import threading

        self.number, self.gpu, self.events = number, gpu, events
        self.child: int | None = None  # the process of the task it runs
        self.alive = True
        self._closing = threading.Lock()
        self.ready: dict[str, Any] | None = None
        environ = dict(os.environ if env is None else env)
        environ.setdefault("MPLBACKEND", "Agg")
        environ["PYTHONUNBUFFERED"] = "1"
        if gpu is not None:
            environ["CUDA_VISIBLE_DEVICES"] = gpu
        task_in, self._to = os.pipe()
        self._from, task_out = os.pipe()
        out: Any = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
        try:
            self.proc = subprocess.Popen(
                [python or sys.executable, str(WORKER_SCRIPT), str(task_in), str(task_out)],
                pass_fds=(task_in, task_out), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=environ, cwd=cwd)
        except BaseException:
            os.close(self._to)
            os.close(self._from)
            raise
        finally:
            os.close(task_in)
            os.close(task_out)
            if log:
                out.close()
        self.send({"op": "warm", **warm})
        self._reader = threading.Thread(target=self._read, name=f"mlops-worker-{number}",
                                        daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: dict[str, Any]) -> None:
        """A task or an answer; nothing when the worker is gone (its ``died`` is on the way)."""
        with self._closing, contextlib.suppress(OSError):
            if self._to >= 0:  # (under the lock: a closed pipe's number may be reused)
                send(self._to, message)

    def _read(self) -> None:
        import select
        import subprocess

        frames = _Frames()
        while True:
            ready, _, _ = select.select([self._from], [], [], POLL_S)
            if ready:
                data = os.read(self._from, 1 << 16)
                if data:
                    for message in frames.feed(data):
                        self._note(message)
                    continue
            elif self.proc.poll() is None:
                continue
            break  # the pipe ended or the process is gone (a task's process may hold the pipe)
        child = self.child
        if child is not None:
            _kill(child)
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.alive = False
        os.close(self._from)
        self.close()  # a fork waiting for a task ends with the pipe
        self.events.put((self, {"kind": "died", "code": code, "reason": exit_text(code)}))

    def _note(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "forked":
            self.child = message["pid"]
        elif kind == "exit":
            self.child = None
        elif kind == "ready":
            self.ready = message
        self.events.put((self, message))

    def close(self, kill: bool = False) -> None:
        """Let the worker end (it does once its pipe ends); ``kill``: now, with its task."""
        if kill:
            if self.child is not None:
                _kill(self.child)
            with contextlib.suppress(OSError):
                self.proc.kill()
        with self._closing:
            if self._to >= 0:
                os.close(self._to)
                self._to = -1

    def join(self, timeout: float = 5.0) -> None:
        self._reader.join(timeout)


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def warm_cells(code: str) -> list[tuple[int, str, str]]:
    """The cells a warm worker runs once: the shared cells a step's code starts with (up to
    the parameters cell, whose values change from run to run)."""
    from .runtime import split_cells

    cells = []
    for cell in split_cells(code):
        if cell[1] != "shared":
            break
        cells.append(cell)
    return cells


class StepWorkers:
    """The warm workers of one pipeline run: started as steps need them (never for a step
    served from the cache, at most ``size``), each having run the leading shared ``cells``;
    ``run_step`` runs a step in a fork of an idle one. A worker whose shared cells raised
    fails each step it is given with that error, as a step's own process would."""

    def __init__(self, cells: list[tuple[int, str, str]], notebook: str, size: int, *,
                 python: str | None = None, cwd: str | None = None,
                 log_dir: Path | None = None, shell: bool = False) -> None:
        import threading

        self.cells, self.size = cells, max(1, size)
        self._warm = {"cells": cells, "notebook": notebook, "shell": shell}
        self._python, self._cwd, self._log_dir = python, cwd, log_dir
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()

    def run_step(self, spec: Mapping[str, Any], spec_path: Path, error_path: Path,
                 log: str | None) -> int | None:
        from .runtime import split_cells

        if split_cells(spec["code"])[:len(self.cells)] != self.cells:
            return None  # other shared cells than the workers ran
        worker = self._acquire()
        if worker is None:
            return None
        try:
            worker.send({"op": "step", "spec": str(spec_path), "error": str(error_path),
                         "log": log})
            while True:
                _, message = worker.events.get()
                if message["kind"] == "exit":
                    return int(message["code"])
                if message["kind"] == "died":
                    text = (f"its worker process (pid {worker.pid}) {message['reason']} while "
                            "it ran the step")
                    error_path.write_text(_json({"message": text, "cell": None, "line": None}))
                    if log:
                        with open(log, "a", encoding="utf-8") as out:
                            out.write(f"[{spec['step']}] {text}\n")
                    return 1
        finally:
            self._release(worker)

    def _acquire(self) -> Worker | None:
        with self._cond:
            while True:
                if self._closed:
                    return None
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        return worker
                    self._count -= 1
                if self._count < self.size:
                    self._count += 1
                    number = len(self._all)
                    break
                self._cond.wait()
        import queue

        try:
            log = None
            if self._log_dir is not None:
                self._log_dir.mkdir(parents=True, exist_ok=True)
                log = self._log_dir / f"worker-{number}.log"
            worker = Worker(number, self._warm, queue.Queue(), python=self._python,
                            cwd=self._cwd, log=log)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._all.append(worker)
            if self._closed:  # closed while it started
                worker.close(kill=True)
        return worker

    def _release(self, worker: Worker) -> None:
        with self._cond:
            if worker.alive and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
            self._cond.notify()

    def close(self, kill: bool = False) -> None:
        """End the workers: idle ones end on their own; ``kill`` stops running steps too."""
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._cond.notify_all()
        for worker in workers:
            worker.close(kill=kill)
        if kill:
            for worker in workers:
                worker.join()

    @property
    def started(self) -> int:
        """How many workers this run started."""
        return len(self._all)


def _json(data: Any) -> str:
    import json

    return json.dumps(data)


# --------------------------------------------------------------------------- the worker's side


def _serve(rt: Any, fd_in: int, fd_out: int) -> int:
    """The worker: warm up, then one task at a time until the parent's pipe ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers itself
    warm_message = receive(fd_in)
    if warm_message is None:
        return 0
    began = time.perf_counter()
    cells = [tuple(cell) for cell in warm_message.get("cells", [])]
    warm, error = rt.warm_up(cells, warm_message.get("notebook", "notebook"),
                             bool(warm_message.get("shell")))
    for folder in warm_message.get("path") or ():  # where the parent imports from, too
        if folder not in sys.path:
            sys.path.append(folder)
    if error is None:
        try:
            for name, ref in (warm_message.get("inputs") or {}).items():
                warm.namespace[name] = rt.load_value(Path(ref["path"]), ref)
            for module in warm_message.get("preload") or ():
                import_module(module)
            for module in warm_message.get("prefetch") or ():  # (its tasks would say why)
                with contextlib.suppress(Exception):
                    import_module(module)
        except BaseException as exc:
            error = {"message": f"cannot load what the tasks read ({type(exc).__name__}: {exc})",
                     "cell": None, "line": None, "text": traceback.format_exc()}
    if error is not None:
        print(error["text"], flush=True)  # into the worker's log
    torch = sys.modules.get("torch")
    # a process that set up CUDA cannot be forked (the fork cannot use it): run in place
    forking = hasattr(os, "fork") and not (torch is not None and _cuda_started(torch))
    if forking:  # the garbage collector of a fork leaves the warm objects' pages shared
        import gc

        gc.freeze()
    send(fd_out, {"kind": "ready", "pid": os.getpid(), "error": error, "fork": forking,
                  "seconds": time.perf_counter() - began})
    while True:
        if error is None and forking:
            code = _spare(rt, warm, fd_in, fd_out)
            if code is None:
                return 0
            send(fd_out, {"kind": "exit", "code": code})
            continue
        task = _next_task(fd_in)
        if task is None:
            return 0
        if error is not None:
            code = _refuse(task, error)
        else:
            code = _in_place(rt, warm, task, fd_in, fd_out)
        send(fd_out, {"kind": "exit", "code": code})


def _next_task(fd_in: int) -> Any:
    """The next task on the pipe (answers to a trial that is gone are skipped); None at its
    end."""
    while True:
        task = receive(fd_in)
        if task is None or task.get("op") in ("step", "call"):
            return task


def _cuda_started(torch: Any) -> bool:
    try:
        return bool(torch.cuda.is_initialized())
    except Exception:
        return False


def _refuse(task: Mapping[str, Any], error: Mapping[str, Any]) -> int:
    """A task for a worker whose shared cells raised: it fails with their error."""
    if task["op"] == "step":
        Path(task["error"]).write_text(_json({k: error[k] for k in ("message", "cell",
                                                                     "line")}))
    if task.get("log"):
        with open(task["log"], "a", encoding="utf-8") as out:
            out.write(error["text"])
    return 1


def _spare(rt: Any, warm: Any, fd_in: int, fd_out: int) -> int | None:
    """A fork of the warm process made before its task comes, which reads the task itself (so
    no step waits for the fork): the exit code of the task it ran; None when the pipe ended
    first (the parent is done with this worker)."""
    took, took_out = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the task's process: a copy of the warm one
        os.close(took)
        code = 1
        try:
            task = _next_task(fd_in)
            if task is None:
                os._exit(0)
            os.write(took_out, b"t")
            send(fd_out, {"kind": "forked", "pid": os.getpid()})
            _redirect(task.get("log"))
            code = _task(rt, warm, task, fd_in, fd_out)
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(OSError):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(took_out)
    _, status = os.waitpid(pid, 0)
    ran = os.read(took, 1)
    os.close(took)
    return os.waitstatus_to_exitcode(status) if ran else None


def _in_place(rt: Any, warm: Any, task: Mapping[str, Any], fd_in: int, fd_out: int) -> int:
    """A task run in the worker itself (no fork): its names are put back afterwards."""
    saved = dict(warm.namespace)
    sys.stdout.flush()
    kept = os.dup(1), os.dup(2)
    try:
        _redirect(task.get("log"))
        return _task(rt, warm, task, fd_in, fd_out)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(kept[0], 1)
        os.dup2(kept[1], 2)
        for fd in kept:
            os.close(fd)
        warm.namespace.clear()
        warm.namespace.update(saved)


def _redirect(log: str | None) -> None:
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)


def _task(rt: Any, warm: Any, task: Mapping[str, Any], fd_in: int, fd_out: int) -> int:
    if task["op"] == "step":
        return int(rt._child(task["spec"], task["error"], warm))
    module, _, name = str(task["target"]).partition(":")
    target = getattr(import_module(module), name)
    return int(target(warm, Channel(fd_in, fd_out), task.get("payload")) or 0)


def _load_runtime() -> Any:
    """``runtime.py`` beside this file, loaded by its path (this script imports nothing of the
    package, so a Python without jupyter_mlops can run steps)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_mlops_step_runtime",
                                                  Path(__file__).with_name("runtime.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    # as runtime.py: the steps see their working folder first on sys.path, not this package's
    sys.path[0] = os.getcwd()
    sys.exit(_serve(_load_runtime(), int(sys.argv[1]), int(sys.argv[2])))
