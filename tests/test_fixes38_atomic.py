"""Session 38: a PendingOutput closes its folder's handle once published or removed."""
import os

import pytest

from realtime_adain.atomic import PendingOutput
from realtime_adain.errors import UserError


def handles_on(folder) -> int:
    """This process's descriptors open on `folder`, by its device and inode (others come and go
    as the worker's other tests' objects are collected: a count of all of them was flaky)."""
    wanted = os.stat(folder)
    count = 0
    for fd in range(1024):
        try:
            held = os.fstat(fd)
        except OSError:  # (not open)
            continue
        count += (held.st_dev, held.st_ino) == (wanted.st_dev, wanted.st_ino)
    return count


@pytest.mark.parametrize("end", ["publish", "discard", "failed publish"])
def test_kept_pending_outputs_hold_no_folder_handle(tmp_path, end):
    """A caller that keeps what it wrote with (an error's traceback holds the object) held one
    descriptor per output until garbage collection: under `ulimit -n 64`, after about 60 failed
    writes, every later write failed "Too many open files"."""
    kept = []
    for number in range(40):
        pending = PendingOutput(tmp_path / f"out{number}.bin")
        pending.path.write_bytes(b"data")
        if end == "publish":
            pending.publish()
        elif end == "discard":
            pending.discard()
        else:
            with pytest.raises(UserError):
                pending.publish(tmp_path / "missing" / "out.bin")  # (no such folder)
            assert not pending.path.exists()
        kept.append(pending)
    assert handles_on(tmp_path) == 0
    assert len(list(tmp_path.glob("*.part*"))) == 0


def test_a_folder_renamed_mid_write_is_still_named_and_swept(tmp_path):
    """The handle is still what finds the hidden file and tells a moved folder apart when a
    publish fails, before it is closed."""
    folder = tmp_path / "a"
    folder.mkdir()
    pending = PendingOutput(folder / "out.bin")
    pending.path.write_bytes(b"data")
    folder.rename(tmp_path / "b")
    with pytest.raises(UserError, match="removed or renamed during the run"):
        pending.publish()
    assert list((tmp_path / "b").iterdir()) == []
