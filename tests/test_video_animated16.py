"""`realtime-adain video` on animated pictures as users hand them over: GIFs with transparency and
delays browsers stretch, APNGs with a default image outside the animation, animated AVIF (FFmpeg 8
reads its still primary image as a stream of its own) and animated WebP (which FFmpeg does not
decode). Files are made with Pillow and the FFmpeg CLI; timings are compared with what browsers
and ffprobe show."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from realtime_adain.errors import UserError
from realtime_adain.live.source_opening import open_source
from realtime_adain.rgb8 import over_white
from realtime_adain.unreadable_stills import is_animated_webp
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG, facts

W, H = 64, 48
BLUE = (20, 40, 200)


def ffmpeg(*args: str | Path) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, capture_output=True)


def moving_box(count: int) -> list[Image.Image]:
    """`count` RGBA pictures: a blue box moving over a transparent background."""
    pictures = []
    for i in range(count):
        picture = Image.new("RGBA", (W, H), (0, 0, 0, 0))
        ImageDraw.Draw(picture).rectangle([30 + i, 10, 45 + i, 30], fill=(*BLUE, 255))
        pictures.append(picture)
    return pictures


def transparent_gif(path: Path) -> Path:
    """A sticker-like GIF whose transparent colour is black (as most are): palette index 0."""
    palette = [0, 0, 0, *BLUE] + [0] * (256 * 3 - 6)
    frames = []
    for picture in moving_box(4):
        indexed = Image.fromarray((np.asarray(picture)[..., 3] > 0).astype(np.uint8), "P")
        indexed.putpalette(palette)
        frames.append(indexed)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0, transparency=0, disposal=2)
    return path


def transparent_apng(path: Path) -> Path:
    """An APNG whose transparent pixels store black (straight alpha 0)."""
    frames = moving_box(4)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def decoded(path: Path) -> list[Frame]:
    with VideoReader(path) as reader:
        return [item for item in reader.items() if isinstance(item, Frame)]


def timing(path: Path) -> list[tuple[float, float]]:
    """(start, duration) of each frame read, in seconds."""
    with VideoReader(path) as reader:
        return [(round(float(item.pts * reader.time_base), 3), round(float(item.duration * reader.time_base), 3))
                for item in reader.items() if isinstance(item, Frame)]


@pytest.mark.parametrize("make", [transparent_gif, transparent_apng], ids=["gif", "apng"])
def test_transparent_areas_read_as_white_as_the_image_command_reads_them(make, tmp_path, capsys):
    """The stored colour under transparent pixels was stylized: a sticker's background came out
    black (FFmpeg's GIF decoder stores transparent as black), where `realtime-adain image` reads
    the same picture over white. The note says what they are shown over, once."""
    source = make(tmp_path / f"sticker.{make.__name__.split('_')[1]}")
    frames = decoded(source)
    assert len(frames) == 4
    for frame in frames:
        assert tuple(frame.image[2, 2]) == (255, 255, 255)  # transparent
        assert np.abs(frame.image[20, 38].astype(int) - BLUE).max() <= 3  # opaque, as it is
    err = capsys.readouterr().err
    assert err.count("its transparency (alpha channel) is left out") == 1, err
    assert "shown over white" in err, err


def test_over_white_takes_a_video_frames_8_bit_alpha():
    rgb = np.zeros((2, 2, 3), np.uint8)
    alpha = np.array([[0, 255], [128, 255]], np.uint8)
    out = over_white(rgb, alpha)
    assert out[0, 0].tolist() == [255] * 3 and out[0, 1].tolist() == [0] * 3 and 126 <= out[1, 0, 0] <= 128
    assert over_white(rgb, np.full((2, 2), 255, np.uint8)) is rgb


def test_gif_delays_under_two_centiseconds_are_shown_for_ten_as_browsers_show_them(tmp_path, capsys):
    """FFmpeg 8 makes a delay of 0 its default 10 cs but keeps 1 cs: a GIF of 1 cs frames (which
    browsers, and FFmpeg 5's ffprobe, play at 10 fps) came out ten times too fast."""
    source = tmp_path / "fast.gif"
    pictures = [Image.fromarray(np.full((H, W, 3), 30 * i, np.uint8)) for i in range(6)]
    # delays 1, 0, 1, 5, 1, 20 cs (Pillow takes milliseconds)
    pictures[0].save(source, save_all=True, append_images=pictures[1:], duration=[10, 0, 10, 50, 10, 200], loop=0)
    assert timing(source) == [(0, 0.1), (0.1, 0.1), (0.2, 0.1), (0.3, 0.05), (0.35, 0.1), (0.45, 0.2)]
    assert "shown for 10, as browsers show them" in capsys.readouterr().err


def test_an_animated_avif_is_its_animation_not_its_still_picture(run_cli, weights_env, style, tmp_path):
    """FFmpeg 8 reads an animated AVIF's primary image as stream #0 (one frame, default) beside
    the animation's track: the 10-frame AVIF came out as one frame shown for a second."""
    source = tmp_path / "anim.avif"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate=10:duration=1", "-c:v", "libaom-av1", "-cpu-used", "8",
           source)
    assert len(decoded(source)) == 10
    out = tmp_path / "out.mp4"
    err = stylize(run_cli, source, style, out)
    got = facts(out)
    assert got.frames == 10 and got.increasing and abs(got.seconds - 1) < 0.01, got
    assert "taking #1 (64x48), the animation, not its still picture" in err, err


def test_live_plays_an_animated_avif_and_refuses_an_animated_webp_at_once(tmp_path):
    """`live --source anim.avif` showed the still picture once a second, for ever; `live --source
    anim.webp` retried for 15 s, then "no frames arrived"."""
    source = tmp_path / "anim.avif"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate=10:duration=0.5", "-c:v", "libaom-av1", "-cpu-used", "8",
           source)
    played = open_source(str(source), loop=False)
    try:
        assert len(list(played.frames())) == 5
    finally:
        played.close()
    webp = tmp_path / "anim.webp"
    frames = [picture.convert("RGB") for picture in moving_box(3)]
    frames[0].save(webp, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(UserError, match="an animated WebP, which FFmpeg cannot decode"):
        open_source(str(webp))


def test_an_animated_webp_is_one_line_saying_how_to_convert_it(run_cli, weights_env, style, tmp_path):
    """FFmpeg decodes none of an animated WebP's frames: "1 damaged video packet skipped", then
    "the video has no frames". Now one line naming the format and a conversion that works."""
    source = tmp_path / "reaction.webp"
    frames = [picture.convert("RGB") for picture in moving_box(5)]
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert is_animated_webp(source.read_bytes()[:32]) and not is_animated_webp(b"RIFF\0\0\0\0WEBPVP8 ")
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "out.mp4")
    assert code != 0 and err.count("\n") == 1 and err.startswith("error: ") and "note:" not in err, err
    assert "an animated WebP, which FFmpeg cannot decode" in err, err
    assert not (tmp_path / "out.mp4").exists()
    # the conversion it names keeps every frame and its time
    assert "Image.open(sys.argv[1]).save(sys.argv[2], save_all=True, disposal=2)" in err, err
    assert str(tmp_path / "reaction.gif") in err, err
    converted = tmp_path / "reaction.gif"
    Image.open(source).save(converted, save_all=True, disposal=2)
    assert timing(converted) == [(i / 10, 0.1) for i in range(5)]


def test_a_gif_whose_packets_all_fail_to_decode_is_one_line(run_cli, weights_env, style, tmp_path):
    """A GIF's logical screen of 20000x20000 (over FFmpeg's picture size limit) made every packet
    fail: a note, "8 damaged video packets skipped", then "the video has no frames"."""
    source = tmp_path / "huge.gif"
    pictures = [Image.fromarray(np.full((H, W, 3), 40 * i, np.uint8)) for i in range(3)]
    pictures[0].save(source, save_all=True, append_images=pictures[1:], duration=100, loop=0)
    data = bytearray(source.read_bytes())
    data[6:10] = (20000).to_bytes(2, "little") * 2  # the logical screen's width and height
    source.write_bytes(bytes(data))
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "out.mp4")
    assert code != 0 and err.count("\n") == 1 and err.startswith("error: "), err
    assert "has no frames: its 3 video packets do not decode as gif" in err, err


def test_an_apngs_default_image_outside_the_animation_is_left_out(run_cli, weights_env, style, tmp_path):
    """An APNG may show a default image to viewers without APNG support, not part of the
    animation: the frames and their own delays (blend and dispose operations) are what ffprobe
    reads, and the output decodes."""
    source = tmp_path / "ops.png"
    frames = moving_box(5)
    Image.new("RGBA", (W, H), (0, 255, 0, 255)).save(source, save_all=True, append_images=frames, default_image=True,
                                                     duration=[100, 100, 50, 100, 200, 100], loop=0,
                                                     disposal=[0, 0, 1, 2, 0, 1], blend=[0, 0, 1, 1, 0, 1])
    assert timing(source) == [(0, 0.1), (0.1, 0.1), (0.2, 0.05), (0.25, 0.1), (0.35, 0.2)]
    out = tmp_path / "out.mkv"
    stylize(run_cli, source, style, out)
    assert facts(out).frames == 5
    with av.open(str(out)) as written:  # (ffprobe 5.1 gives the last decoded frame its neighbour's duration)
        stream = written.streams.video[0]
        shown = sorted((round(float(p.pts * stream.time_base), 3), round(float(p.duration * stream.time_base), 3))
                       for p in written.demux(stream) if p.pts is not None)
    assert shown == [(0, 0.1), (0.1, 0.1), (0.2, 0.05), (0.25, 0.1), (0.35, 0.2)]
    # every frame decodes, with no error (`-f null` times frames at a guessed constant rate: it whines at VFR)
    played = subprocess.run([FFMPEG, "-v", "error", "-i", str(out), "-f", "framemd5", "-"], capture_output=True,
                            text=True)
    assert played.returncode == 0 and played.stderr == "", played.stderr
    assert len([line for line in played.stdout.splitlines() if not line.startswith("#")]) == 5
