"""What the twenty-fifth session's hostile users found: outputs replacing inputs through bind
mounts, pictures read in the wrong orientation or colours, files cut short, warnings leaking."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from realtime_adain.errors import UserError


@pytest.fixture
def bind_mount(tmp_path):
    """`tmp_path/same` mounted again at `tmp_path/bind`: one folder, two real paths."""
    same, bind = tmp_path / "same", tmp_path / "bind"
    same.mkdir()
    bind.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "--bind", same, bind], capture_output=True).returncode:
        pytest.skip("bind mounts need root (mount --bind)")
    yield same, bind
    subprocess.run(["umount", bind], check=True)


def test_an_output_through_a_bind_mount_may_not_replace_an_input(run_cli, weights_env, data_dir, bind_mount):
    """`-o bind/in.jpg` with `same/in.jpg` as the content (bind/ mounts same/): the names'
    real paths differ, so the check let the finished picture replace the photo."""
    same, bind = bind_mount
    photo = same / "in.jpg"
    shutil.copy(data_dir / "content" / "golden_gate.jpg", photo)
    before = photo.read_bytes()
    code, _, err = run_cli("image", photo, "-s", data_dir / "style" / "trial.jpg", "--size", "32",
                           "--style-size", "32", "-o", bind / "in.jpg")
    assert (code, err) == (2, f"error: {bind / 'in.jpg'}: output would overwrite an input\n")
    assert photo.read_bytes() == before


def test_two_outputs_through_a_bind_mount_are_one_file(bind_mount):
    from realtime_adain.paths import refuse_shared_outputs, same_entry

    same, bind = bind_mount
    assert same_entry(same / "x.png", bind / "x.png") and not same_entry(same / "x.png", bind / "y.png")
    with pytest.raises(UserError, match="would both be written to"):
        refuse_shared_outputs([same / "x.png", bind / "x.png"], [(Path("a.jpg"),), (Path("b.jpg"),)])


def test_a_hard_link_is_another_name_not_the_same_output(tmp_path):
    """Renaming over a hard link replaces that name only: the file behind the other name stays."""
    from realtime_adain.paths import same_entry

    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").hardlink_to(tmp_path / "a.mp4")
    assert not same_entry(tmp_path / "a.mp4", tmp_path / "b.mp4")


def test_a_live_recording_through_a_bind_mount_may_not_replace_its_source(bind_mount):
    from realtime_adain.settings import LiveSettings

    same, bind = bind_mount
    (same / "clip.mp4").write_bytes(b"not read")
    with pytest.raises(UserError, match="output would overwrite the input"):
        LiveSettings(styles=("s.jpg",), source=str(same / "clip.mp4"), output=str(bind / "clip.mp4"), window=False).check()
