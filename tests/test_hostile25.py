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
    from realtime_adain.file_identity import same_entry
    from realtime_adain.output_checks import refuse_shared_outputs

    same, bind = bind_mount
    assert same_entry(same / "x.png", bind / "x.png") and not same_entry(same / "x.png", bind / "y.png")
    with pytest.raises(UserError, match="would both be written to"):
        refuse_shared_outputs([same / "x.png", bind / "x.png"], [(Path("a.jpg"),), (Path("b.jpg"),)])


def test_a_hard_link_is_another_name_not_the_same_output(tmp_path):
    """Renaming over a hard link replaces that name only: the file behind the other name stays."""
    from realtime_adain.file_identity import same_entry

    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").hardlink_to(tmp_path / "a.mp4")
    assert not same_entry(tmp_path / "a.mp4", tmp_path / "b.mp4")


def test_a_live_recording_through_a_bind_mount_may_not_replace_its_source(bind_mount):
    from realtime_adain.settings import LiveSettings

    same, bind = bind_mount
    (same / "clip.mp4").write_bytes(b"not read")
    with pytest.raises(UserError, match="output would overwrite the input"):
        LiveSettings(styles=("s.jpg",), source=str(same / "clip.mp4"), output=str(bind / "clip.mp4"), window=False).check()


def quadrants(height: int = 64, width: int = 96):
    """Four flat colours, one per quadrant: any turn or mirror moves them."""
    import numpy as np

    image = np.zeros((height, width, 3), np.uint8)
    image[:height // 2, :width // 2], image[:height // 2, width // 2:] = (255, 0, 0), (0, 255, 0)
    image[height // 2:, :width // 2], image[height // 2:, width // 2:] = (0, 0, 255), (255, 255, 0)
    return image


def corners(image):
    height, width = image.shape[:2]
    return [tuple(int(v) // 64 for v in image[y, x]) for y, x in
            ((height // 4, width // 4), (height // 4, 3 * width // 4), (3 * height // 4, width // 4),
             (3 * height // 4, 3 * width // 4))]


@pytest.mark.parametrize("wide_gamut", [False, True])
@pytest.mark.parametrize("orientation", [2, 3, 6, 8])
def test_an_avif_is_turned_by_its_irot_and_imir_boxes(tmp_path, orientation, wide_gamut):
    """Pillow stores an EXIF orientation as AVIF's irot/imir boxes (as phones do); OpenCV applied
    only EXIF orientations, so a portrait AVIF was read sideways and a mirrored one unmirrored.
    Also on the wide-gamut path (Display P3 primaries in its nclx box, no ICC profile)."""
    import numpy as np
    from PIL import Image

    from realtime_adain.imageio import read_image
    from realtime_adain.still_orientation import ORIENT

    upright = quadrants()
    undo = {6: 8, 8: 6}.get(orientation, orientation)  # (2, 3: their own inverses)
    stored = Image.fromarray(np.ascontiguousarray(ORIENT[undo](upright)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(tmp_path / "photo.avif", exif=exif, quality=95)
    if wide_gamut:  # colour primaries 12 (Display P3): read by the HDR/wide-gamut path
        data = bytearray((tmp_path / "photo.avif").read_bytes())
        at = data.index(b"colrnclx") + 8
        data[at:at + 2] = (12).to_bytes(2, "big")
        (tmp_path / "photo.avif").write_bytes(bytes(data))
    read = read_image(tmp_path / "photo.avif")
    assert read.shape == upright.shape and corners(read) == corners(upright)


def jpeg_bytes() -> bytes:
    import cv2

    return cv2.imencode(".jpg", cv2.cvtColor(quadrants(256, 256), cv2.COLOR_RGB2BGR))[1].tobytes()


def test_a_jpeg_without_its_end_marker_is_read_whole(tmp_path, capsys):
    """OpenCV refused a JPEG missing only its last two bytes, which browsers and FFmpeg show."""
    import numpy as np

    from realtime_adain.imageio import read_image

    data = jpeg_bytes()
    (tmp_path / "whole.jpg").write_bytes(data)
    (tmp_path / "no_end.jpg").write_bytes(data[:-2])
    assert np.array_equal(read_image(tmp_path / "no_end.jpg"), read_image(tmp_path / "whole.jpg"))
    assert capsys.readouterr().err == ""


def test_a_jpeg_cut_short_is_read_with_a_note(tmp_path, capsys):
    from realtime_adain.imageio import read_image

    data = jpeg_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:len(data) * 2 // 3])
    assert read_image(tmp_path / "cut.jpg").shape == (256, 256, 3)
    assert "cut.jpg: the file ends before its picture does (cut short?)" in capsys.readouterr().err


@pytest.mark.parametrize("suffix, said", [(".png", "the PNG does not end with its IEND chunk: cut short?"),
                                          (".webp", "the WebP is shorter than its header says: cut short?")])
def test_a_file_cut_short_says_so_when_refused(tmp_path, suffix, said):
    import cv2
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)  # (no run is compressed away)
    data = cv2.imencode(suffix, noise, [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else [])[1].tobytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[:len(data) // 3])
    from realtime_adain.imageio import read_image

    with pytest.raises(UserError) as refused:
        read_image(tmp_path / f"cut{suffix}")
    assert str(refused.value) == f"{tmp_path / f'cut{suffix}'}: not a readable image ({said})"


def test_a_profile_named_srgb_that_is_not_srgb_is_converted(tmp_path):
    """A linear-light profile with sRGB's primaries ("GIMP built-in Linear sRGB") was taken for sRGB
    by its name and not converted: mid grey read 128 where a colour-managed viewer shows ~188."""
    import numpy as np
    from PIL import Image
    from test_image_cli import matrix_profile

    from realtime_adain.imageio import read_image

    linear = matrix_profile((0.9642, 1.0, 0.8249), (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971),
                            (0.1431, 0.0606, 0.7141), 1.0, name="GIMP built-in Linear sRGB")
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(tmp_path / "linear.png", icc_profile=linear)
    assert abs(int(read_image(tmp_path / "linear.png")[0, 0, 0]) - 188) <= 2


def test_pillow_warnings_stay_off_the_command_line(run_cli, weights_env, data_dir, tmp_path):
    """A corrupt EXIF block in an RGBA PNG printed Pillow's UserWarning, its source path and line, twice."""
    from PIL import Image

    Image.fromarray(quadrants()).convert("RGBA").save(
        tmp_path / "odd.png", exif=b"Exif\0\0MM\0\x2a\xff\xff\xff\xf0" + b"\0" * 20)
    code, _, err = run_cli("image", tmp_path / "odd.png", "-s", data_dir / "style" / "trial.jpg", "--size", "32",
                           "--style-size", "32", "-o", tmp_path / "out.png")
    assert code == 0 and "Warning" not in err and "PIL" not in err, err


def test_transparency_masks_and_links_are_said(run_cli, weights_env, data_dir, tmp_path):
    """Transparent areas read over white, a mask of one colour, a mask stretched to another shape
    and a link loop given as the mask: each was silent or misnamed."""
    import numpy as np

    from realtime_adain.imageio import write_image

    from PIL import Image

    rgba = np.zeros((64, 96, 4), np.uint8)
    rgba[:, :48, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "half.png")
    write_image(tmp_path / "white.png", np.full((30, 90, 3), 255, np.uint8))
    styles = ["-s", data_dir / "style" / "trial.jpg", "-s", data_dir / "style" / "mondrian.jpg"]
    code, _, err = run_cli("image", tmp_path / "half.png", *styles, "--mask", tmp_path / "white.png", "--size", "32",
                           "--style-size", "32", "-o", tmp_path / "out.png")
    assert code == 0, err
    assert f"note: {tmp_path / 'half.png'}: its transparent areas are read as over white" in err
    assert f"note: {tmp_path / 'white.png'}: the mask is all white: only the first style is used" in err
    assert f"note: {tmp_path / 'white.png'}: a 90x30 mask is stretched to fit photos of another shape" in err
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    code, _, err = run_cli("image", tmp_path / "half.png", *styles, "--mask", tmp_path / "a.png", "--size", "32",
                           "--style-size", "32", "-o", tmp_path / "out2.png")
    assert code == 2 and f"{tmp_path / 'a.png'}: a loop of symbolic links" in err, err


def test_an_r_recording_never_replaces_a_file_made_at_its_name_meanwhile(tmp_path):
    """`r` picks a free name when it starts; a file put there during the recording was replaced
    by the finished MP4 when it was renamed into place."""
    import numpy as np

    from realtime_adain.live.recorder import Recorder

    path = tmp_path / "live-20261203-120000-000.mp4"
    recorder = Recorder(path, (64, 48), 24, log=lambda *a, **f: None, replaces=False)
    for i in range(6):
        recorder.submit(np.full((48, 64, 3), 20 * i, np.uint8), i / 24)
    path.write_text("the user's notes")
    assert recorder.close() == tmp_path / "live-20261203-120000-000-2.mp4"
    assert path.read_text() == "the user's notes"
    assert (tmp_path / "live-20261203-120000-000-2.mp4").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "live-20261203-120000-000-2.mp4"])


def test_a_folder_that_cannot_be_made_says_what_is_in_the_way(tmp_path):
    """A dangling link or a FIFO where the folder should be was "it is a file"."""
    import os

    from realtime_adain.writable_folders import ensure_writable_dir

    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "deep")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UserError, match=r"dangling: output directory cannot be made \(.*dangling is a symbolic link "
                                        r"to .*nowhere/deep, which does not exist\)$"):
        ensure_writable_dir(tmp_path / "dangling")
    with pytest.raises(UserError, match=r"pipe: output directory is not writable \(it is a device, fifo or socket, "
                                        r"not a folder\)$"):
        ensure_writable_dir(tmp_path / "pipe")


def test_a_snapshot_folder_that_cannot_be_written_is_said_at_the_start(tmp_path, capsys):
    """A file as --snapshot-dir was found only when `s` was pressed, mid-session."""
    from realtime_adain.live.app import LiveSession
    from realtime_adain.settings import LiveSettings

    (tmp_path / "shots").write_text("a file")
    session = LiveSession(LiveSettings(styles=("s.jpg",), snapshot_dir=tmp_path / "shots", record_dir=tmp_path))
    session._note_unwritable_key_folders()
    assert capsys.readouterr().err == (f"note: --snapshot-dir {tmp_path / 'shots'}: folder is not writable (it is a "
                                       "file, not a folder); the s key will fail\n")
