"""The machine's cores and GPUs, as warm workers are spread over them: GPUs found without
importing torch (``CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L``), one per worker in turn."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_GPU_LINE = re.compile(r"^GPU (\d+):.*?(?:\(UUID: (\S+?)\))?\s*$")
_MIG_LINE = re.compile(r"^\s+MIG .*\(UUID: (\S+?)\)\s*$")


def parse_nvidia_smi(text: str) -> list[str]:
    """The devices ``nvidia-smi -L`` lists, as CUDA_VISIBLE_DEVICES values: each GPU's UUID
    (its index without one), or its MIG instances' UUIDs when it is split."""
    gpus: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        gpu = _GPU_LINE.match(line)
        mig = _MIG_LINE.match(line)
        if gpu:
            gpus.append((gpu.group(2) or gpu.group(1), []))
        elif mig and gpus:
            gpus[-1][1].append(mig.group(1))
    return [device for gpu, migs in gpus for device in (migs or [gpu])]


def detect_gpus(environ: Mapping[str, str] | None = None,
                nvidia_smi: str | None = None) -> list[str]:
    """The GPUs trials may use, without importing torch: ``CUDA_VISIBLE_DEVICES`` when it is
    set (CUDA stops at the first negative entry; empty hides them all), else what
    ``nvidia-smi -L`` lists; none when neither says."""
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = []
        for item in (v.strip() for v in visible.split(",")):
            if not item or item.startswith("-"):
                break
            devices.append(item)
        return devices
    import shutil

    program = nvidia_smi or shutil.which("nvidia-smi")
    if not program:
        return []
    import subprocess

    try:
        done = subprocess.run([program, "-L"], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else []


def assign_gpus(workers: int, gpus: Sequence[str]) -> list[str | None]:
    """One GPU per worker, in turn (several workers share one when there are more workers);
    None for each when there is no GPU."""
    return [gpus[i % len(gpus)] if gpus else None for i in range(workers)]
