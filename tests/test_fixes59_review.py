"""Session 59, a review of session 58's fixes: names that are not UTF-8 given to OpenCV (a
segmentation fault), C1 characters printed as raw bytes are, grey old-style JPEG TIFFs, a SIGTERM
while `--engine compile` prepares, and `StyleStats.mix`'s words for a bad weight."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from live_support import FAST, copy_styles
from live_support import write_video as write_clip

NOT_UTF8 = os.fsdecode(b"v\xfe")  # (a name's byte that is not UTF-8, as PEP 383 carries it: "v\udcfe")


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` in a fresh Python: a segmentation fault there is a return code, not a lost test run."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


@pytest.mark.slow
def test_bench_video_reads_a_clip_whose_name_is_not_utf8(weights_env, data_dir, tmp_path):
    """Before: "Segmentation fault" (rc 139) in the reference loop's cv2.VideoCapture, which reads a
    str as UTF-8 and crashed on the name's lone surrogate; its temporary folder was left behind."""
    clip = write_clip(tmp_path / f"{NOT_UTF8}.mp4", frames=3, size=(32, 24))
    done = subprocess.run([sys.executable, "-m", "realtime_adain", "bench", "video", "--video", os.fsencode(clip),
                           "--style", data_dir / "style" / "trial.jpg", "--frames", "2", "--size", "32",
                           "--style-size", "32", "--repeats", "1", "--threads", "1"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "clip: v\\xfe.mp4 32x24, 2 of 3 frames" in done.stdout
    reference = next(line for line in done.stdout.splitlines() if line.startswith("reference loop"))
    assert reference.split()[-3] == "2"  # (frames: the reference loop read the clip)
    assert not list(tmp_path.glob("bench-video-*"))


def test_a_camera_link_whose_name_is_not_utf8_is_opened_without_a_crash(tmp_path):
    """Before: a segmentation fault in cv2.VideoCapture (a camera's device reached by a link so
    named). The link leads to /dev/null here, taken for a camera: OpenCV opens it by an ASCII name
    and refuses it, said in our one line."""
    link = tmp_path / f"{NOT_UTF8}0"
    link.symlink_to("/dev/null")
    done = _python(f"""
        import os
        from realtime_adain.live import camera
        from realtime_adain.live.sources import SourceError
        camera._is_video4linux = lambda path: True  # (no camera here: /dev/null stands for one)
        device = os.fsdecode({bytes(link)!r})
        try:
            camera.CameraSource(device).open()
        except SourceError as exc:
            print(ascii(str(exc)), str(exc) == f"camera {{device}}: cannot open it (no such camera, or in use by another program)")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(" True"), done.stdout


def test_live_reads_a_file_whose_name_is_not_utf8(run_cli, weights_env, data_dir, tmp_path, one_thread):
    """`live --source` with such a name: read (by FFmpeg, not OpenCV), no crash."""
    clip = write_clip(tmp_path / f"{NOT_UTF8}.mp4", frames=4, size=(48, 32))
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window", "-o", tmp_path / "out.mp4",
                           "--max-frames", "3", *FAST)
    assert code == 0, err
    assert (tmp_path / "out.mp4").is_file()


def test_a_radiance_picture_is_read_under_a_temporary_folder_whose_name_is_not_utf8(tmp_path):
    """Before: a segmentation fault: OpenCV reads a Radiance picture from a temporary copy, named
    under $TMPDIR, by cv2.imread."""
    folder = tmp_path / NOT_UTF8
    folder.mkdir()
    picture = tmp_path / "a.hdr"
    done = _python(f"""
        import numpy as np, cv2
        cv2.imwrite({str(picture)!r}, np.full((4, 6, 3), 0.5, np.float32))
        from realtime_adain.imageio import read_image
        print(read_image({str(picture)!r}).shape)
    """, TMPDIR=os.fsdecode(folder))
    assert (done.returncode, done.stdout.strip()) == (0, "(4, 6, 3)"), done.stderr
    assert not list(folder.iterdir())


def test_a_c1_character_and_a_byte_that_is_not_utf8_print_apart():
    """Before: both as `\\x85` (a C1 control written as a byte), two names alike on stdout."""
    from realtime_adain.errors import escaped_name, one_line, shell_quoted

    character, byte = "a\x85.png", os.fsdecode(b"a\x85.png")
    assert (escaped_name(character), escaped_name(byte)) == ("a\\u0085.png", "a\\x85.png")
    assert (one_line(f"error: {character}"), one_line(f"error: {byte}")) == ("error: a\\u0085.png", "error: a\\x85.png")
    assert one_line("\x1b\x7f\x80\x9f\xa0") == "\\x1b\\x7f\\u0080\\u009f\xa0"  # (C0 and DEL stay \\xNN; U+00A0 is shown)
    assert (shell_quoted(character), shell_quoted(byte)) == ("$'a\\u0085.png'", "$'a\\x85.png'")


def test_image_prints_an_output_named_with_a_c1_character_apart_from_one_named_with_that_byte(
        run_cli, weights_env, data_dir, tmp_path, one_thread):
    content, style = data_dir / "content" / "lenna.jpg", data_dir / "style" / "trial.jpg"
    printed = []
    for name in ("a\x85.png", os.fsdecode(b"a\x85.png")):
        code, out, err = run_cli("image", content, "-s", style, "--size", "32", "--style-size", "32",
                                 "-o", tmp_path / name)
        assert code == 0, err
        printed.append(out.strip())
    assert printed == [f"{tmp_path}/a\\u0085.png", f"{tmp_path}/a\\x85.png"]


def _grey_old_style_jpeg_tiff() -> bytes:
    """A grey TIFF compressed with old-style JPEG (6): its strip and JPEGInterchangeFormat (513,
    514) both a baseline JPEG of Pillow's."""
    import io

    import numpy as np
    from PIL import Image
    from tiff_samples import tiff_fields

    grey = (np.arange(16 * 24).reshape(16, 24) % 200).astype(np.uint8)
    saved = io.BytesIO()
    Image.fromarray(grey, "L").save(saved, "JPEG")
    jpeg = saved.getvalue()

    def tiff(at: int) -> bytes:
        return tiff_fields(grey[..., None], 1, compression=6, strip=jpeg, more=((513, 4, [at]), (514, 4, [len(jpeg)])))

    return tiff(tiff(0).index(jpeg))  # (its offset, which the field's value does not move)


def test_a_grey_old_style_jpeg_tiff_is_refused_in_plain_words(tmp_path):
    """Before: "not a readable image (TIFFReadDirectory: Unknown field with tag 513 (0x201)
    encountered)": libtiff's words. Pillow and OpenCV decode none, FFmpeg all black."""
    from realtime_adain.errors import UserError
    from realtime_adain.imageio import read_image

    picture = tmp_path / "grey.tif"
    picture.write_bytes(_grey_old_style_jpeg_tiff())
    with pytest.raises(UserError) as refused:
        read_image(picture)
    assert str(refused.value) == (f"{picture}: a grey TIFF compressed with old-style JPEG cannot be read here; "
                                  "save it with LZW, Deflate or no compression")


@pytest.mark.parametrize("weights, words", [
    ([0.5, float("nan")], "weights[1] must be a finite number, 0 or more, got nan"),
    ([-1, 2], "weights[0] must be a finite number, 0 or more, got -1"),
    ([0, 0.0], "weights must have a positive sum, got [0.0, 0.0]"),
])
def test_stylestats_mix_names_the_weight_as_stylize_videos_mix_does(weights, words):
    """Before: "mix weights must be finite and non-negative with a positive sum", no weight named,
    where `stylize_video(mix=)` said "mix[1] must be a finite number, 0 or more"."""
    import torch

    from realtime_adain.adain import StyleStats
    from realtime_adain.api import check_mix

    style = StyleStats(torch.zeros(512), torch.ones(512))
    with pytest.raises(ValueError) as refused:
        StyleStats.mix([style, style], weights)
    assert str(refused.value) == words
    with pytest.raises(ValueError) as refused:
        check_mix(weights, 2)
    assert str(refused.value) == words.replace("weights[", "mix[").replace("weights must", "mix weights must")


def test_sigterm_to_the_process_alone_while_live_builds_its_engine_stops_the_build(
        run_cli, weights_env, data_dir, tmp_path, monkeypatch, one_thread):
    """Before: the signal only set the session's stop flag; a build that goes on (torch.compile,
    whose compiler a `kill PID` does not reach) ran to its end, minutes, and the session then
    began and ended (exit 0). Now the build stops at once, as `video`'s does: `terminated`, 143."""
    import signal
    import time

    from realtime_adain.stylizer import Stylizer

    def long_build(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        until = time.monotonic() + 8
        while time.monotonic() < until:  # (a compile that the signal does not end)
            time.sleep(0.02)

    monkeypatch.setattr(Stylizer, "prepare", long_build)
    clip = write_clip(tmp_path / "clip.mp4", frames=6)
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    began = time.monotonic()
    code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window", "-o", tmp_path / "out.mp4",
                           "--log", tmp_path / "live.log", *FAST)
    assert time.monotonic() - began < 6
    assert (code, err.strip().splitlines()[-1]) == (143, "terminated"), err
    assert "live:" not in err and "Traceback" not in err
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "live.log").exists()


def test_an_engine_error_after_a_signal_it_swallowed_is_the_signal(stylizer, monkeypatch):
    """A compiler killed by a signal to the process group: the build's error, raised while the
    signal's KeyboardInterrupt was handled, is that signal (`Stylizer.prepare`), not a traceback."""
    import signal

    from realtime_adain.interrupts import Terminated, sigterm_raises

    def compiler_killed(batch, height, width):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:
            raise RuntimeError("CppCompileError: C++ compile error")

    monkeypatch.setattr(stylizer.engine, "prepare", compiler_killed)
    with sigterm_raises(), pytest.raises(Terminated):
        stylizer.prepare(1, 32, 32, say=lambda text: None)
