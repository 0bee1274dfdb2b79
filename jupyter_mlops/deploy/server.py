"""The serving process of a local deployment: ``python -m jupyter_mlops.deploy.server DIR``.

One detached process per deployment. It answers MLflow's scoring protocol on the
deployment's stable port (``http_app``: FastAPI on uvicorn) and supervises one model worker
process per live version (``front``, ``version_worker``, ``worker``). Requests are batched
dynamically per version (up to ``max_batch_size`` rows, waiting at most ``max_wait_ms`` for
more while the worker is busy) through a bounded queue (503 when full); a crashed worker is
restarted with backoff.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

from .front import ServingFront
from .http_app import ScoringApp, create_app
from .state import STATE_FILE, write_json
from .version_worker import log


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m jupyter_mlops.deploy.server DEPLOYMENT_FOLDER", file=sys.stderr)
        return 2
    folder = Path(args[0]).resolve()
    import uvicorn

    front = ServingFront(folder)
    settings = front.settings
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        front.deployment.status = "failed"
        front.deployment.message = (f"port {settings.port} on {settings.host} is in use "
                                    f"({exc.strerror}): deploy with another port")
        write_json(folder / STATE_FILE, front.deployment.to_dict())
        log(front.deployment.message)
        return 2
    sock.listen(2048)
    sock.set_inheritable(False)
    front.deployment.pid = os.getpid()
    app = ScoringApp(front, create_app(front))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=10, backlog=2048)
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    front.should_exit = stop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # detached: a closed terminal is no reason
    log(f"serving {front.deployment.name} on http://{settings.host}:{settings.port} "
        f"(pid {os.getpid()}, uvicorn {uvicorn.__version__}, max batch "
        f"{settings.max_batch_size} rows, max wait {settings.max_wait_ms:g} ms, queue "
        f"{settings.max_queue})")
    server.run(sockets=[sock])
    log("stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
