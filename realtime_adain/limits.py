"""The limit on processes and threads (`ulimit -u`, RLIMIT_NPROC), shared by the console command
and the trainer: who it applies to, how much of it is used, raising the soft limit, and fitting
the libraries' thread pools under it. Light (os and resource only): it runs before numpy, torch
and OpenCV load, since they size their thread pools when they load.
"""

from __future__ import annotations

import os

# Capabilities that exempt a process from `ulimit -u`: CAP_SYS_ADMIN, CAP_SYS_RESOURCE.
NPROC_EXEMPT_CAPABILITIES = (1 << 21) | (1 << 24)
# Thread pools the libraries start at their first use, each with about one thread per CPU:
# OpenMP (torch), OpenBLAS (numpy; MKL where numpy or torch is built on it), OpenCV, and FFmpeg's
# video decoder and encoder (x264 takes about 1.5 a CPU). One that cannot start all its threads
# kills the process: libgomp exits 1 ("Thread creation failed"), OpenBLAS raises SIGINT, OpenCV
# prints "Can't spawn new thread" per thread, x264 does not open. `video` on 2 CPUs peaks at 22.
THREAD_POOL_SETTINGS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")
THREAD_POOLS = 6
SPARE_THREADS = 12  # the pipeline's stages and motion workers, the progress bar's monitor, a command's own


def raise_soft_limit(which: int, needed: int, hard: int) -> bool:
    """Raise a soft resource limit to `needed`, if the hard limit allows it: True if done."""
    import resource

    if hard != resource.RLIM_INFINITY and hard < needed:
        return False
    try:
        resource.setrlimit(which, (needed, hard))
    except (OSError, ValueError):
        return False
    return True


def count_tasks(uid: int) -> int:
    """Processes and threads whose real user is `uid`, as `ulimit -u` counts them (Linux's /proc)."""
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
        except (OSError, KeyError, ValueError, IndexError):  # ended meanwhile, or hidden
            continue
    return count


def user_tasks() -> int | None:
    """This user's processes and threads, or None where `ulimit -u` does not apply (root,
    CAP_SYS_RESOURCE) or they cannot be counted (no /proc)."""
    try:
        with open("/proc/self/status") as handle:
            own = dict(line.split(":", 1) for line in handle if ":" in line)
        if os.getuid() == 0 or int(own["CapEff"], 16) & NPROC_EXEMPT_CAPABILITIES:
            return None
        return max(count_tasks(os.getuid()), int(own["Threads"]))  # this process at least (hidepid)
    except (OSError, KeyError, ValueError):
        return None


pools_reduced = False  # set by `fit_thread_pools`: FFmpeg's codecs then run one thread each too


def machine_tasks() -> int | None:
    """Every process and thread on the machine (the fourth field of /proc/loadavg): a bound on one
    user's that costs one read, where counting theirs reads every process's status."""
    try:
        with open("/proc/loadavg") as handle:
            return int(handle.read().split()[3].split("/")[1])
    except (OSError, IndexError, ValueError):
        return None


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def process_room(extra: int) -> tuple[int, int, int] | None:
    """None where `extra` more processes and threads fit under `ulimit -u` (the soft limit raised
    as far as the hard one allows, if need be), or the limit does not apply here; else (the soft
    limit, this user's tasks now, the tasks needed)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    except (ImportError, AttributeError, OSError, ValueError):  # Windows, or no such limit
        return None
    everyone = machine_tasks()
    if soft == resource.RLIM_INFINITY or (everyone is not None and soft >= everyone + extra):
        return None  # room even if every task on the machine were this user's: no scan of /proc
    if (used := user_tasks()) is None:
        return None
    needed = used + extra
    if soft >= needed or raise_soft_limit(resource.RLIMIT_NPROC, needed, hard):
        return None
    return soft, used, needed


def fit_thread_pools() -> str | None:
    """Make the thread pools fit `ulimit -u`, before the libraries load: raise the soft limit as
    far as they want if the hard one allows, else give each pool one thread (the settings in
    THREAD_POOL_SETTINGS). Returns a note saying so, or None where nothing was reduced."""
    short = process_room(THREAD_POOLS * usable_cpus() + SPARE_THREADS)
    if short is None:
        return None
    soft, used, needed = short
    global pools_reduced
    pools_reduced = True
    for name in THREAD_POOL_SETTINGS:
        os.environ[name] = "1"
    return (f"note: the limit on processes and threads is {soft} (`ulimit -u`) and {used} of them run now, too few "
            f"for the thread pools (about {needed} wanted): they run one thread each (slower); raise the limit for "
            "full speed")
