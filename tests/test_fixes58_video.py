"""`realtime-adain video` on h2's findings (session 58): a damaged first keyframe that FFmpeg
conceals was dropped without a word; a first GOP that decodes to nothing began the video late,
said nowhere; MPEG-TS files joined with `cat` gave two sound packets one time at the join (DTS
that does not increase, said to be "moved on"); a corrupt last AAC packet of a file cut short was
copied; --start in a fragmented MP4 cut short made a first picture half a frame long."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.carried_timing import CarriedTiming, rescale
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)

SOURCE = ["-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=2", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=2"]


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def first_video_packet(path: Path, stream: str = "v", number: int = 0) -> tuple[int, int]:
    """(place in the file, size) of the first video packet (or `stream`'s packet `number`), as ffprobe reads it."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_packets", "-show_entries",
                          "packet=pos,size", "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    packet = json.loads(out)["packets"][number]
    return int(packet["pos"]), int(packet["size"])


def ffmpeg_frames(path: Path) -> int:
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "quiet", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
                         capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.startswith("0,"))


def read(path: Path, **segment) -> tuple[list[Frame], Fraction]:
    with VideoReader(path, **segment) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        return frames, reader.stream.time_base


def test_a_concealed_first_keyframe_is_kept(tmp_path, capsys):
    """The first keyframe's middle zeroed: FFmpeg conceals it and shows it (key_frame, corrupt);
    it was dropped as if it were a picture before a cut stream's first keyframe."""
    plain, damaged = tmp_path / "plain.mp4", tmp_path / "zero1.mp4"
    ffmpeg(*SOURCE, "-c:v", "libx264", "-g", "12", "-c:a", "aac", plain)
    place, size = first_video_packet(plain)
    data = bytearray(plain.read_bytes())
    data[place + size // 4:place + size * 3 // 4] = bytes(size * 3 // 4 - size // 4)
    damaged.write_bytes(bytes(data))
    frames, _ = read(damaged)
    assert len(frames) == ffmpeg_frames(damaged) == 50
    assert frames[0].pts == 0
    assert "1 picture decoded with errors concealed" in capsys.readouterr().err


def zeroed_first_gop(tmp_path: Path) -> Path:
    """An MPEG-TS whose first video packet is zeroed past its first 200 bytes (the TS packets'
    headers kept): its GOP, 12 pictures, decodes to nothing, in FFmpeg too."""
    plain, damaged = tmp_path / "plain.ts", tmp_path / "zero1.ts"
    ffmpeg(*SOURCE, "-c:v", "libx264", "-g", "12", "-c:a", "aac", plain)
    place, size = first_video_packet(plain)
    data = bytearray(plain.read_bytes())
    for at in range(place + 200, place + size):
        if at % 188 >= 12:
            data[at] = 0
    damaged.write_bytes(bytes(data))
    return damaged


def test_a_first_gop_that_decodes_to_nothing_is_said(tmp_path, capsys):
    damaged = zeroed_first_gop(tmp_path)
    frames, time_base = read(damaged)
    assert len(frames) == ffmpeg_frames(damaged) == 38
    assert round(float(frames[0].pts * time_base), 2) == 0.5
    err = capsys.readouterr().err
    assert ("zero1.ts: the first 11 video packets decode to no picture: the video starts at 0.50 s "
            "(what decodes is stylized, as FFmpeg plays it)") in err, err


def test_a_segment_says_the_pictures_it_lacks_at_its_start_only(tmp_path, capsys):
    """A segment from 0.2 s (its end before the file's, which is not read to its end) lacks the
    pictures up to 0.5 s; one from 1.1 s lacks none."""
    damaged = zeroed_first_gop(tmp_path)
    frames, time_base = read(damaged, start=Fraction(1, 5), duration=Fraction(1))
    assert round(float(frames[0].pts * time_base), 2) == 0.3
    assert "the first 7 video packets decode to no picture: the video starts at 0.30 s" in capsys.readouterr().err
    frames, time_base = read(damaged, start=Fraction(11, 10), duration=Fraction(1))
    assert frames[0].pts == 0 and len(frames) == 23
    assert "decode to no picture" not in capsys.readouterr().err


def test_a_clean_file_says_nothing_of_its_start(tmp_path, capsys):
    plain = tmp_path / "plain.ts"
    ffmpeg(*SOURCE, "-c:v", "libx264", "-g", "12", "-bf", "2", "-c:a", "aac", plain)
    read(plain)
    assert "decode to no picture" not in capsys.readouterr().err


def test_a_sound_packet_that_goes_back_is_moved_past_the_last_in_matroska(tmp_path):
    """`cat a.ts b.ts`: b's first sound packet landed 20 ms before a's last; Matroska takes a
    repeated decode time, so it was "moved on" onto the last one's time, and `ffmpeg -i out.mkv`
    said "non monotonically increasing dts". It goes a tick after; a repeated time stays."""
    said = []
    with av.open(str(tmp_path / "out.mkv"), "w") as container:
        out = container.add_stream("aac", rate=44100)
        timing = CarriedTiming(container, said.append, lambda packet: None)
        container.start_encoding()
        times = []
        for dts in (1997, 2020, 2020, 2000, 2023):
            packet = av.Packet(b"\0" * 8)
            packet.time_base, packet.dts, packet.pts, packet.duration = Fraction(1, 1000), dts, dts, 23
            timing.keep_increasing(packet, out, 1)
            times.append(rescale(packet.dts, packet.time_base, out.time_base))
    assert times == [1997, 2020, 2020, 2021, 2023]
    assert said == ["stream #1: packet timestamps that do not increase (at 2000); moving them on"]


@pytest.mark.slow  # (a run of the command: 30 s on a loaded machine)
def test_a_sound_packet_cut_short_where_the_file_ends_is_left_out(run_cli, weights_env, style, tmp_path):
    """A fragmented MP4 cut off mid-recording: the demuxer flags its last AAC packet (where the file
    ends) corrupt, and it was copied byte for byte, silently (`ffmpeg -i` of the output: "Input
    buffer exhausted before END element found")."""
    whole, cut = tmp_path / "frag.mp4", tmp_path / "frag_cut.mp4"
    ffmpeg(*SOURCE, "-c:v", "libx264", "-g", "12", "-c:a", "aac", "-movflags", "+frag_keyframe+empty_moov", whole)
    place, size = first_video_packet(whole, "a", 50)  # (of 88: in the second half)
    cut.write_bytes(whole.read_bytes()[:place + size // 2])
    with av.open(str(cut)) as container:
        sound = [packet for packet in container.demux(audio=0) if packet.size]
    assert [packet.is_corrupt for packet in sound[-2:]] == [False, True]
    err = stylize(run_cli, cut, style, tmp_path / "out.mkv")
    assert "stream #1: 1 damaged sound packet left out (at " in err and "the demuxer flags it corrupt" in err, err
    with av.open(str(tmp_path / "out.mkv")) as container:
        assert sum(1 for packet in container.demux(audio=0) if packet.size) == len(sound) - 1
    decoded = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(tmp_path / "out.mkv"), "-f", "null", "-"],
                             capture_output=True, text=True)
    assert not decoded.stderr, decoded.stderr


def test_grey_output_shows_at_the_levels_of_the_colour_one(run_cli, weights_env, data_dir, tmp_path, one_thread):
    """`--pix-fmt gray` with libx264: FFmpeg's scaler wrote full-range samples tagged limited (or not
    at all in .mp4), shown too bright, whites clipped (26 dB from the picture's grey; now ~38)."""
    clip = tmp_path / "rgb.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x36:r=24:d=0.2", "-c:v", "png", str(clip)],
                   check=True)
    common = ["-s", data_dir / "style" / "trial.jpg", "--style-size", "32", "--size", "0", "--stabilize", "off", "--alpha", "0"]
    assert run_cli("video", clip, *common, "--codec", "png", "-o", tmp_path / "ref.mov")[0] == 0
    assert run_cli("video", clip, *common, "--pix-fmt", "gray", "-o", tmp_path / "grey.mp4")[0] == 0
    with av.open(str(tmp_path / "ref.mov")) as ref, av.open(str(tmp_path / "grey.mp4")) as grey:
        rgb = next(ref.decode(video=0)).to_ndarray(format="rgb24").astype(float)
        shown = next(grey.decode(video=0)).to_ndarray(format="rgb24")[..., 1].astype(float)
    expected = 0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]
    assert 10 * np.log10(255 ** 2 / np.mean((shown - expected) ** 2)) > 33
