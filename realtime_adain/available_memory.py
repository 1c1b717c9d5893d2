"""How much memory a process may still take: free on a GPU, or available on the CPU within any
memory cgroup's limit. Shared by the benchmarks' and the trainer's checks that refuse, before any
work, what cannot fit (Linux overcommits: the OOM killer, not an allocation error, ends such runs).
"""

from __future__ import annotations

from pathlib import Path

import torch


def free_memory(device: torch.device) -> int | None:
    """Bytes free on the GPU, or available to a process on the CPU (Linux): the machine's, or less
    where a memory cgroup limits the process (a 3 GiB container passed the check, then met the
    OOM killer); None when unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        available = next(int(line.split()[1]) * 1024 for line in lines if line.startswith("MemAvailable:"))
    except (OSError, ValueError, IndexError, StopIteration):
        available = None
    limits = [free for free in (available, cgroup_free_memory()) if free is not None]
    return min(limits) if limits else None


# Where each cgroup version keeps a group's limit, usage and statistics (the page cache it may
# drop, `inactive_file`, is available as MemAvailable counts it), under its mount in CGROUP_ROOT.
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_FILES = {2: ("", "memory.max", "memory.current", "inactive_file"),
                1: ("memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")}


def cgroup_free_memory(proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = CGROUP_ROOT) -> int | None:
    """Bytes the process's memory cgroup and each group above it still allow (limit - usage, the
    least of them), v2 or v1; None where no limit is found."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    free = []
    for line in lines:
        _, controllers, group = (line.split(":", 2) + ["", ""])[:3]  # "ID:CONTROLLERS:PATH"
        version = 2 if controllers == "" else 1 if "memory" in controllers.split(",") else None
        if version is None:
            continue
        mount, limit_name, usage_name, cache_name = CGROUP_FILES[version]
        top = root / mount
        folder = top / group.lstrip("/")
        while folder.is_relative_to(top):  # (from the process's group up to the mount's)
            free += cgroup_level_free(folder, limit_name, usage_name, cache_name)
            folder = folder.parent
    return min(free) if free else None


def cgroup_level_free(folder: Path, limit_name: str, usage_name: str, cache_name: str) -> list[int]:
    """[limit - (usage - droppable cache)] of one cgroup folder; [] where it has no limit ("max")
    or its files cannot be read (a group not visible in this mount)."""
    try:
        limit, usage = int((folder / limit_name).read_text()), int((folder / usage_name).read_text())
    except (OSError, ValueError):
        return []
    try:
        stats = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
        cache = int(stats.get(cache_name, 0))
    except (OSError, ValueError):
        cache = 0
    return [max(0, limit - (usage - cache))]
