"""Shared fixtures: real test material from ../shared/data and weights in the published formats."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
import torch

from realtime_adain.cli import main as cli_main
from realtime_adain.stylizer import Stylizer
from realtime_adain.synthetic import write_published_weights
from video_samples import process_stat

REPO = Path(__file__).resolve().parents[1]
# The shared test material beside the repository (REALTIME_ADAIN_TEST_DATA: a copy elsewhere, e.g.
# carried to a GPU machine by tools/gpu_check.sh).
DATA = Path(os.environ.get("REALTIME_ADAIN_TEST_DATA") or REPO.parent / "shared" / "data")

# One intra-op thread in each pytest-xdist worker (.ci/run runs one more than the cores): two OpenMP threads
# per worker on a shared machine spin waiting for each other, and the default run took twice as
# long (tests/test_video_cli.py and two others side by side: 182 s with 2 threads, 85 s with 1).
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))

# A shell without job control starts a background command (`(bash .ci/run &)`, some CI runners)
# with SIGINT ignored, and an ignored signal stays ignored across exec: every command the Ctrl-C
# tests start would shrug off their SIGINT, as it should for a background job (11 tests failed so,
# 2026-12-03). Handled, it is reset to the default in each child, as a terminal starts them.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def private_engine_cache(tmp_path_factory):
    """The tests' own engine cache: on the CPU `--engine auto` takes an ONNX export once one of
    the weights is cached, so an export left in the checkout's `engines/` by an earlier manual run
    (the test weights are deterministic) would make the reference stylizer run onnx, not eager."""
    patch = pytest.MonkeyPatch()
    patch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path_factory.mktemp("engines")))
    yield
    patch.undo()


@pytest.hookimpl(tryfirst=True)  # (before `-m` deselects by marks)
def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.slow_cases("id", ...)`: those cases of a parametrized test are `slow`, the rest
    stay in the default run (one mark beside the test instead of `pytest.param` around each case).
    The names are checked against the cases collected, so not where some were asked by node id
    (`pytest 'tests/x.py::test[a]'` was a usage error where slow_cases named case b)."""
    by_node_id = any("::" in arg for arg in config.args)
    cases_of: dict[tuple, set[str]] = {}
    for item in items:
        if hasattr(item, "callspec"):
            cases_of.setdefault((item.module, item.originalname), set()).add(item.callspec.id)
    for item in items:
        slow = item.get_closest_marker("slow_cases")
        if slow is None or not hasattr(item, "callspec"):
            continue
        unknown = set(slow.args) - cases_of[item.module, item.originalname]
        if unknown and not by_node_id:  # (a renamed case would silently join the default run again)
            raise pytest.UsageError(f"{item.nodeid}: slow_cases names no such case: {sorted(unknown)}")
        if item.callspec.id in slow.args:
            item.add_marker(pytest.mark.slow)


def _children() -> set[int]:
    """Process ids whose parent is this process (Linux /proc), but not multiprocessing's own
    helpers (its resource tracker lives from the first test that starts it to the end).

    Read from each thread's `children` list: scanning every process in /proc took 15-45 ms, twice
    a test, a tenth of the default run's time (2026-12-07); the scan stays where the kernel has no
    such lists."""
    me = os.getpid()
    lists = [Path(task.path, "children") for task in os.scandir(f"/proc/{me}/task")]
    if lists and lists[0].exists():
        candidates = set()
        for children in lists:
            with contextlib.suppress(OSError):  # (a thread that ended meanwhile)
                candidates.update(int(pid) for pid in children.read_text().split())
    else:
        candidates = {int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()}
    found = set()
    for pid in candidates:
        try:
            parent = int(process_stat(pid)[1])
            if parent == me and b"multiprocessing" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except (OSError, IndexError, ValueError):
            continue
    return found


@pytest.fixture(autouse=True)
def notes_said_afresh():
    """Each test's notes said as in a fresh process: `note(..., once=True)` remembers its words for
    the process, so a note a test expects went unsaid where an earlier test on the same worker
    said the same words (two.mkv's "2 video streams; taking #0 (64x48)", 2026-12-06)."""
    from realtime_adain import notes

    notes._said.clear()
    yield


@pytest.fixture(autouse=True)
def no_process_left_running():
    """Kills what a test started and left running: a test that failed while waiting on a command
    (a `live` on a looping file, a server) would otherwise leave it taking a core for the rest of
    the run (one did, for 44 minutes, 2026-12-03). Fixtures of wider scope start theirs before."""
    if not Path("/proc/self/stat").exists():
        yield
        return
    before = _children()
    yield
    for pid in _children() - before:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:  # the leader of its own group (start_new_session): its helpers too
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"test material missing: {DATA} (the shared data beside the repository)")
    return DATA


@pytest.fixture
def docs_pictures(data_dir, tmp_path) -> Path:
    """The pictures the docs' examples name (photo.jpg, starry.jpg, b.jpg), from the shared photos
    made 160 pixels a side: the examples run as written in a fraction of the time at 512-933."""
    import cv2

    for name, source in {"photo.jpg": "content/sailboat.jpg", "starry.jpg": "style/brushstrokes.jpg",
                         "b.jpg": "style/mondrian.jpg"}.items():
        image = cv2.imread(str(data_dir / source))
        scale = 160 / max(image.shape[:2])
        cv2.imwrite(str(tmp_path / name), cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    return tmp_path


@pytest.fixture(scope="session")
def published_weights(tmp_path_factory) -> tuple[Path, Path]:
    """(vgg_normalised.pth, decoder.pth), deterministic, written with torch.save."""
    return write_published_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="session")
def stylizer(published_weights) -> Stylizer:
    vgg, decoder = published_weights
    return Stylizer.load(vgg, decoder, device="cpu")


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine it is several times faster for tiny inputs
    (two OpenMP threads spin waiting for each other whenever one is descheduled)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def weights_env(published_weights, monkeypatch, tmp_path):
    """Point the CLI at the generated weights through the environment, as a user might."""
    vgg, decoder = published_weights
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(vgg))
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(decoder))
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    return vgg, decoder


@pytest.fixture
def run_cli(capsys):
    """Run `realtime-adain ARGS...` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str | os.PathLike) -> tuple[int, str, str]:
        try:
            code = cli_main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
