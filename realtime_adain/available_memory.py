"""How much memory a process may still take: free on a GPU, or available on the CPU within any
memory cgroup's limit. Shared by the benchmarks', the trainer's and the `Stylizer`'s checks that
refuse, before any work, what cannot fit (Linux overcommits: the OOM killer, not an allocation
error, ends such runs).
"""

from __future__ import annotations

from pathlib import Path

import torch

from realtime_adain.errors import UserError, out_of_memory_error


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


# Calls needing less go unchecked: reading what is available takes milliseconds (a cgroup's
# statistics), a noticeable share of a small frame's time, where a small call fits anyway.
UNCHECKED_BYTES = 64 * 2**20


def refuse_beyond_memory(need: int, device: torch.device, what: str, hint: str, error: type[UserError]) -> None:
    """Raise `error` ('frames: out of memory (needs about 9.6 GiB, and 3.1 GiB is available); pass
    smaller frames, or fewer at a time') where a call on the CPU needing `need` bytes at its peak
    cannot fit in what is available now, before it starts: past it, the OOM killer ended the
    process, with nothing to catch. A GPU's allocator raises its own error; a shortfall is kept on
    the error (`shortfall`) for those who say it again their way (`out_of_memory_as_user_error`)."""
    if device.type != "cpu" or need < UNCHECKED_BYTES:
        return
    free = free_memory(device)
    if free is None or need <= free:
        return
    raise out_of_memory_error(error, what, _shortfall(need, free), hint)  # (no local holds it: a cycle)


def _shortfall(need: int, free: int) -> str:
    return f" (needs about {_amount(need)}, and {_amount(free)} is available)"


def _amount(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


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
