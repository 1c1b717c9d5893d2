"""Temporaries of live runs in another PID namespace, and outputs whose names differ only in case or
composition on file systems that ignore it (session 57, h2's report).

1. A temporary was swept once its writer's process id could not be seen and it was 2 minutes
   untouched; a run in another PID namespace (another container sharing the folder) sees no process
   of that id, while our writers leave a live temporary untouched for minutes: the whole result was
   lost. Names now carry the id's space (stale_temporaries.pid_space): ids of another space are not
   judged, such a temporary goes only once untouched a day. The namespace is made with `unshare`
   (the tests run as root here; as another user, with a user namespace too).
2. Outputs were compared by name as given (os.path.normcase is a no-op on POSIX): `image a/Photo.jpg
   b/photo.jpg -o out/` on APFS wrote one file twice. No file system that ignores case can be mounted
   here (this kernel has no casefold support: ext4 -O casefold and tmpfs -o casefold both fail), so
   the probe's real answer is checked on this Linux file system, and the refusal with the probe made
   to say "ignores case".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from realtime_adain import file_identity, stale_temporaries
from realtime_adain.atomic import PendingOutput
from realtime_adain.engines.cache import EngineCache
from realtime_adain.errors import UserError
from realtime_adain.file_identity import entry_key, ignores_case
from realtime_adain.live.recorder import keep_killed_recordings
from realtime_adain.output_checks import refuse_shared_outputs
from realtime_adain.userdirs import remove_stale_temporary_caches, temporary_cache
from test_signals import dead_pid
from test_stale21 import store_an_engine

REPO = Path(__file__).resolve().parents[1]
MINUTES_10, HOURS_2, DAYS_2 = 600, 2 * 3600, 2 * 86400  # (how long ago a temporary was touched)


def in_another_pid_namespace(code: str, *args: str) -> subprocess.CompletedProcess:
    """Python `code` run in a new PID namespace, with /proc of it (as h2 ran the second run)."""
    # (util-linux's unshare: Essential in Debian and Ubuntu, so no skip)
    user = [] if os.geteuid() == 0 else ["-r"]  # (a user namespace lets another user make one)
    return subprocess.run(["unshare", *user, "-p", "-f", "--mount-proc", sys.executable, "-c", code, *args],
                          capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def aged(path: Path, seconds: float) -> Path:
    when = time.time() - seconds
    os.utime(path, (when, when), follow_symlinks=False)
    return path


SWEEP = ("import sys; from pathlib import Path; from realtime_adain import stale_temporaries as s; "
         "print(s.pid_space()); print([p.name for p in s.remove_stale_temporaries(Path(sys.argv[1]))])")


def test_a_live_runs_temporary_is_kept_by_a_run_in_another_pid_namespace(tmp_path):
    """h2: a video's temporary stayed 48 bytes (x264 and the muxer holding frames) for minutes; an
    `image` run in another container into the same folder removed it, and the video was lost."""
    pending = PendingOutput(tmp_path / "r.mp4")
    pending.path.write_bytes(b"\0" * 48)
    live = aged(pending.path, MINUTES_10)  # untouched for long, its process running
    leftover = tmp_path / f".old.realtime-adain-{stale_temporaries.process_tag()}-abcd1234.part.mp4"
    leftover.write_bytes(b"x")
    aged(leftover, DAYS_2)  # (named by this process too, but a day untouched: a leftover, whoever judges it)
    try:
        space, removed = in_another_pid_namespace(SWEEP, str(tmp_path)).stdout.splitlines()
        assert space != stale_temporaries.pid_space()  # another namespace: ids there are not ours
        assert removed == repr([leftover.name]) and live.is_file() and not leftover.exists()
        pending.publish()
    finally:
        pending.discard()
    assert (tmp_path / "r.mp4").read_bytes() == b"\0" * 48
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.mp4"]


def test_the_id_space_is_the_same_for_every_process_of_a_namespace():
    """Another process of this namespace (a run beside this one) judges our ids: it names the same
    space; `process_tag` is what names carry."""
    here = subprocess.run([sys.executable, "-c", "from realtime_adain import stale_temporaries as s; "
                           "print(s.pid_space())"], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}).stdout.strip()
    space = stale_temporaries.pid_space()
    assert here == space and len(space) == 8 and stale_temporaries.process_tag() == f"{os.getpid()}-{space}"


def other_space() -> str:
    return "00000000" if stale_temporaries.pid_space() != "00000000" else "11111111"


# (the writer's process and its space, how long it was untouched, whether it is removed)
CASES = {
    "gone, this space": ("gone", "this", HOURS_2, True),
    "gone, this space, just written": ("gone", "this", 0, False),
    "running, this space, days old": ("alive", "this", DAYS_2, False),  # a live run's is never removed
    "another space": ("gone", "other", HOURS_2, False),
    "another space, days old": ("gone", "other", DAYS_2, True),
    "an older version's (no space)": ("gone", None, HOURS_2, False),
    "an older version's, days old": ("gone", None, DAYS_2, True),
}

# (what removes, the name of a temporary of process TAG, whether it is a folder)
REMOVERS = {
    "outputs": (stale_temporaries.remove_stale_temporaries, ".clip.realtime-adain-{tag}-abcd1234.part.mp4", False),
    "picture folders": (stale_temporaries.remove_stale_temporaries, ".f_0001.realtime-adain-{tag}-abcd1234.part", True),
    "engine builds": (store_an_engine, ".build-{tag}-abcd1234", True),
    "per-run caches": (lambda folder: remove_stale_temporary_caches("engines"), "realtime-adain-engines-{tag}-abcd1234",
                       True),
}


@pytest.mark.parametrize("what", REMOVERS)
@pytest.mark.parametrize("case", CASES)
def test_a_writers_id_is_judged_only_in_its_own_space(what, case, tmp_path, monkeypatch):
    """Every remover (one rule: stale_temporaries.remove_stale) judges an id by its process only
    where the name says it is of this space; one of another space or of none named goes once a day
    untouched."""
    remove, name, is_folder = REMOVERS[what]
    process, space, untouched, removed = CASES[case]
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # where per-run caches are made
    pid = dead_pid() if process == "gone" else os.getpid()
    tag = {"this": f"{pid}-{stale_temporaries.pid_space()}", "other": f"{pid}-{other_space()}", None: str(pid)}[space]
    path = tmp_path / name.format(tag=tag)
    if is_folder:
        path.mkdir()
        (path / "inside").write_bytes(b"x")
    else:
        path.write_bytes(b"x")
    aged(path, untouched)
    remove(tmp_path)
    assert path.exists() != removed


def test_names_written_carry_the_id_space(tmp_path, monkeypatch):
    """Outputs (and picture folders: atomic.temporary_prefix), builds and per-run caches are named
    with `process_tag`, which the removers' patterns read back."""
    tag = stale_temporaries.process_tag()
    with PendingOutput(tmp_path / "a.png") as pending:
        named = stale_temporaries.temporary_names(suffix=r"\.png").fullmatch(pending.path.name)
        assert named["space"] == tag.split("-")[1]
        assert f".realtime-adain-{tag}-" in pending.path.name
    seen = []
    store = EngineCache(tmp_path / "engines")
    store.store(store.entry({"kind": "onnx"}, ".onnx"),
                lambda path: seen.append(path.parent.name) or path.write_bytes(b"g"))
    assert seen[0].startswith(f".build-{tag}-")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    folder = temporary_cache.__wrapped__("f57test", "a note")
    try:
        assert folder.name.startswith(f"realtime-adain-f57test-{tag}-")
    finally:
        shutil.rmtree(folder)


def test_a_killed_recording_of_another_space_is_not_taken(tmp_path):
    """`live`'s `r` keeps what a killed recording of the same name left as NAME.partial.mp4, removing
    one that does not play: it did so to a recording of another namespace (its id unseen here),
    perhaps running. Only ids of this space whose process is gone are taken."""
    gone = dead_pid()
    theirs = tmp_path / f".rec.realtime-adain-{gone}-{other_space()}-abcd1234.part.mp4"
    older = tmp_path / f".rec.realtime-adain-{gone}-efgh5678.part.mp4"  # (no space: unknown)
    ours = tmp_path / f".rec.realtime-adain-{gone}-{stale_temporaries.pid_space()}-ijkl9012.part.mp4"
    for path in (theirs, older, ours):
        path.write_bytes(b"not a video yet")
    assert keep_killed_recordings(tmp_path / "rec.mp4") == []
    assert theirs.exists() and older.exists() and not ours.exists()  # (ours: killed before it played)


# --- 2. names that differ only in case or composition


def test_the_probe_says_this_file_system_keeps_case(tmp_path):
    """The probe's real answer here (Linux, case kept): for a folder with entries, an empty one (its
    own name looked up) and one not made yet (its nearest parent); as the file system answers."""
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "Photo.png").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    real = (tmp_path / "full" / "pHOTO.png").exists()
    assert real is False
    for folder in (tmp_path / "full", tmp_path / "empty", tmp_path / "not" / "yet", Path("/")):
        assert ignores_case(folder) is real
    first, second = entry_key(tmp_path / "full" / "Photo.png"), entry_key(tmp_path / "full" / "photo.png")
    assert first != second  # two files here


PAIRS = {
    "case": ("Photo", "photo"),
    "composition": (unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")),
}


@pytest.mark.parametrize("made", [True, False], ids=["folder made", "folder not made yet"])
@pytest.mark.parametrize("pair", PAIRS)
def test_names_one_in_a_file_system_ignoring_case_are_refused(pair, made, tmp_path, monkeypatch):
    """h2: on APFS `image a/Photo.jpg b/photo.jpg -o out/` wrote out/Photo_... then out/photo_...,
    one file: the second replaced the first. Here they are two files, and both are written."""
    first, second = PAIRS[pair]
    out = tmp_path / "out"
    if made:
        out.mkdir()
    outputs = [out / f"{first}_stylized_s.png", out / f"{second}_stylized_s.png"]
    sources = [(Path(f"a/{first}.png"), Path("s.png")), (Path(f"b/{second}.png"), Path("s.png"))]
    refuse_shared_outputs(outputs, sources)  # (this file system: two names)
    monkeypatch.setattr(file_identity, "ignores_case", lambda folder: True)
    with pytest.raises(UserError, match="would both be written to"):
        refuse_shared_outputs(outputs, sources)


def test_the_command_refuses_them_before_any_work(run_cli, weights_env, data_dir, tmp_path, monkeypatch):
    for folder, name in (("a", "Photo.jpg"), ("b", "photo.jpg")):
        (tmp_path / folder).mkdir()
        shutil.copy(data_dir / "content" / "lenna.jpg", tmp_path / folder / name)
    monkeypatch.setattr(file_identity, "ignores_case", lambda folder: True)
    code, _, err = run_cli("image", tmp_path / "a" / "Photo.jpg", tmp_path / "b" / "photo.jpg",
                           "-s", data_dir / "style" / "mondrian.jpg", "--size", "32", "-o", f"{tmp_path / 'out'}/")
    assert code == 2 and err.startswith("error: ") and "would both be written to" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


# --- 3. leftovers whose writer cannot be looked up are named (h11's report, items 3, 4 and 6)


def test_a_recording_of_another_space_is_named_where_a_new_one_starts(tmp_path, capsys):
    """h11: a live -o recording killed in a container, which restarts with a new PID namespace, was
    neither kept nor named by the next recording of its name; a day later any output into the
    folder removed it without a word. It is named (path, size, what to do) and left in place."""
    theirs = tmp_path / f".rec.realtime-adain-{dead_pid()}-{other_space()}-abcd1234.part.mp4"
    theirs.write_bytes(b"\0" * 2_000_000)
    assert keep_killed_recordings(tmp_path / "rec.mp4") == []
    said = capsys.readouterr().err
    assert f"note: {theirs} (2.0 MB), a recording of another container" in said
    assert "rename it to keep it" in said and theirs.exists()


def test_a_day_old_temporary_of_another_space_is_named_as_it_goes(tmp_path, capsys):
    """The sweep's day rule for ids it cannot judge removed a killed container's recording unseen."""
    theirs = tmp_path / f".rec.realtime-adain-{dead_pid()}-{other_space()}-abcd1234.part.mp4"
    theirs.write_bytes(b"\0" * 3_000_000)
    aged(theirs, DAYS_2)
    assert stale_temporaries.remove_stale_temporaries(tmp_path) == [theirs]
    assert f"note: removed {theirs} (3.0 MB), left untouched a day by a run of another container" in capsys.readouterr().err


def test_engines_clear_names_the_builds_it_cannot_judge(tmp_path, capsys):
    """h11: `engines clear` left interrupted builds of another space (or of an older version, no
    space), two hours old, and said `removed 0 engines (0.0 MB)`: each is named, with its size."""
    store = EngineCache(tmp_path / "engines")
    store.directory.mkdir()
    gone = dead_pid()
    names = {"older": f".build-{gone}-abcdefgh", "theirs": f".build-{gone}-{other_space()}-abcdefgh",
             "ours": f".build-{gone}-{stale_temporaries.pid_space()}-abcdefgh"}
    for name in names.values():
        (store.directory / name).mkdir()
        (store.directory / name / "model.onnx").write_bytes(b"\0" * 1_500_000)
        aged(store.directory / name, HOURS_2)
    assert store.clear() == (0, 0)
    said = capsys.readouterr().err
    assert not (store.directory / names["ours"]).exists()  # its process gone: removed
    for key in ("older", "theirs"):
        assert (store.directory / names[key]).is_dir()
        assert f"note: {store.directory / names[key]} (1.5 MB), left: an interrupted build of another" in said
    assert said.count("remove it by hand if no build runs there") == 2


@pytest.mark.parametrize("path", ["/proc/1/root", "/proc/1/cwd", "/proc/1/root/x"])
def test_the_probe_never_errs_on_a_link_it_cannot_read(path):
    """h11: `ignores_case("/proc/1/root")` raised PermissionError from realpath (as root too)."""
    assert ignores_case(path) in (True, False)
    entry_key(path)
    assert file_identity.real_path(path).is_absolute()
