"""WebM VP8/VP9 with alpha (a sticker or overlay exported from a browser or an editor): the alpha
travels beside the picture, which FFmpeg's own vp8/vp9 decoders ignore, so the colour stored under
transparent pixels was stylized. Read with libvpx's decoders, transparent areas are white, as a
GIF's or APNG's are (tests/test_video_animated16.py). Clips are made with the FFmpeg CLI."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.live.source_opening import open_source
from realtime_adain.video import picture_extras
from realtime_adain.video.packets import TailPackets
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG, assert_kept, facts

W, H, FRAMES = 64, 48, 6
RED = (255, 0, 0)
# Red everywhere, its left half transparent: the hidden colour (red) must not show there.
HALF_TRANSPARENT = (f"color=c=red:s={W}x{H}:r=12:d=0.5,format=rgba,"
                    f"geq=r='255':g='0':b='0':a='if(lt(X,{W // 2}),0,255)'")
CODECS = {"vp9": ("libvpx-vp9", "libopus"), "vp8": ("libvpx", "libvorbis")}


def webm_with_alpha(folder: Path, codec: str, name: str = "") -> Path:
    """A clip whose left half is transparent, with 0.5 s of sound; `name`: its own (a note is
    said once per message, and the message names the file)."""
    video, audio = CODECS[codec]
    path = folder / (name or f"{codec}-alpha.webm")
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", HALF_TRANSPARENT, "-f", "lavfi",
                    "-i", "sine=duration=0.5", "-c:v", video, "-auto-alt-ref", "0", "-pix_fmt", "yuva420p", "-c:a",
                    audio, str(path)], check=True, capture_output=True)
    return path


def assert_over_white(image: np.ndarray) -> None:
    assert tuple(image[H // 2, 4]) == (255, 255, 255)  # transparent
    assert np.abs(image[H // 2, W - 4].astype(int) - RED).max() <= 4  # opaque, as it is


@pytest.mark.parametrize("codec", CODECS)
def test_webm_alpha_reads_as_white_with_every_frame_and_timestamp(codec, tmp_path, capsys):
    """VP9 and VP8 with alpha_mode 1 came out red where transparent, with a note that the alpha
    is left out; now white, the frames and timestamps those of FFmpeg's own decoder."""
    source = webm_with_alpha(tmp_path, codec)
    with av.open(str(source)) as container:  # FFmpeg's own decoder: the times every frame should keep
        expected = [f.pts for f in container.decode(video=0)]
    with VideoReader(source) as reader:
        items = list(reader.items())
        sound = [item for item in items if isinstance(item, av.Packet) and item.stream.type == "audio"]
    frames = [item for item in items if isinstance(item, Frame)]
    assert [f.pts for f in frames] == expected and len(frames) == FRAMES
    for frame in frames:
        assert_over_white(frame.image)
    assert sound
    err = capsys.readouterr().err
    assert err.count("its transparency (alpha channel) is left out") == 1 and "shown over white" in err, err


def test_the_frames_decoded_again_at_the_end_read_the_alpha_too(tmp_path):
    """`VideoDecoding._lost_at_end` decodes the last packets again in a container of its own: with FFmpeg's vp9
    decoder there, those frames would show the hidden colour."""
    source = webm_with_alpha(tmp_path, "vp9")
    with VideoReader(source) as reader:
        tail = TailPackets(1 << 20)
        with av.open(str(source)) as container:
            for packet in container.demux(video=0):
                if packet.size:
                    tail.add(packet)
            again = list(reader._decoding._lost_at_end(tail, -1))
    assert len(again) == FRAMES and all(frame.format.name == "yuva420p" for frame in again)


def test_webm_alpha_is_stylized_with_its_frames_timing_and_sound(run_cli, weights_env, style, tmp_path):
    source = webm_with_alpha(tmp_path, "vp9", "overlay.webm")
    out = tmp_path / "out.mp4"
    err = stylize(run_cli, source, style, out)
    assert_kept(facts(out), facts(source))
    assert "shown over white" in err, err


def test_live_plays_webm_alpha_over_white_and_on_looping(tmp_path):
    """`live --source clip.webm` showed the hidden colour, where `video` shows white; the frames
    after a loop (a seek back to the start) are read the same way."""
    played = open_source(str(webm_with_alpha(tmp_path, "vp8")))
    try:
        images = list(itertools.islice(played.frames(), FRAMES + 2))
    finally:
        played.close()
    assert len(images) == FRAMES + 2
    for image in images:
        assert_over_white(image)


def test_without_libvpx_the_alpha_is_left_out_as_before(tmp_path, capsys, monkeypatch):
    """An FFmpeg built without libvpx: FFmpeg's own decoder, every frame, and the note that says
    the transparency is not read."""
    monkeypatch.setattr(picture_extras, "ALPHA_DECODERS", {})
    source = webm_with_alpha(tmp_path, "vp9", "no-libvpx.webm")
    with VideoReader(source) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
    assert len(frames) == FRAMES and reader.decoder.name == "vp9"
    assert "left out: the pictures are stylized and written opaque" in capsys.readouterr().err
