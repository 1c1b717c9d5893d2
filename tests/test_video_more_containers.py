"""`realtime-adain video` on containers and codecs beyond tests/video_corpus.py: Windows Media,
Flash, 3GP, Ogg, MPEG-1 program streams, MXF, QuickTime Animation, WebM with alpha, MP4 edit
lists that skip the start, bare elementary streams (.h264, .m2v, .m1v), and what a folder of them
picks up. Each is compared with what FFmpeg makes of the file."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.video.probing import is_video_path
from video_corpus import FFMPEG, FFPROBE, assert_kept, encoders, facts

CLIP = ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5")
SOUND = ("-f", "lavfi", "-i", "sine=sample_rate=48000:duration=0.5")


def ffmpeg(*args: str | Path, needs: tuple[str, ...] = ()) -> None:
    """Run the FFmpeg CLI; fail saying so where this build lacks an encoder in `needs` (Debian's
    ffmpeg, which `bash .ci/run` installs, has them all)."""
    missing = [name for name in needs if name not in encoders()]
    if missing:
        pytest.fail(f"this FFmpeg has no encoder {', '.join(missing)}: install Debian's ffmpeg (bash .ci/run does)")
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, capture_output=True)


def packet_times(path: Path, kind: str) -> list[float]:
    """The presentation times (seconds) of `kind` ('v' or 'a') packets, sorted."""
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", kind, "-show_entries", "packet=pts_time",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return sorted(float(p["pts_time"]) for p in json.loads(out)["packets"] if "pts_time" in p)


def frame_count(path: Path) -> int:
    """Pictures ffprobe decodes (`facts` needs timestamps, which a bare stream's frames lack)."""
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                          "stream=nb_read_frames", "-of", "json", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return int(json.loads(out)["streams"][0]["nb_read_frames"])


def video_rate(path: Path) -> Fraction:
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=avg_frame_rate",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return Fraction(json.loads(out)["streams"][0]["avg_frame_rate"])


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


def stylize(run_cli, source: Path, style: Path, out: Path) -> str:
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                           "--stabilize", "off", "-o", out)
    assert code == 0, err
    assert "Traceback" not in err
    return err


def test_an_edit_list_that_skips_the_first_second_keeps_sound_and_picture_together(run_cli, weights_env, style,
                                                                                tmp_path):
    """`ffmpeg -ss 1 -i in.mp4 -c copy cut.mp4` (a cut between keyframes) keeps the GOP and the
    sound before the cut, flagged discard, behind an edit list that starts at 1 s. The sound
    before the cut was copied: in a .mkv (no edit lists) the picture then began 1 s after it."""
    full, cut = tmp_path / "full.mp4", tmp_path / "cut.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=2", "-f", "lavfi", "-i", "sine=duration=2",
           "-c:v", "libx264", "-g", "48", "-bf", "2", "-c:a", "aac", full, needs=("libx264", "aac"))
    ffmpeg("-ss", "1", "-i", full, "-c", "copy", cut)
    assert facts(cut).frames == 12
    out = tmp_path / "out.mkv"
    stylize(run_cli, cut, style, out)
    video, audio = packet_times(out, "v"), packet_times(out, "a")
    # (the AAC frame just before the cut stays, as the decoder needs it: 23 ms, as with any AAC's priming)
    assert len(video) == 12 and video[0] < 0.03, video[:3]
    assert abs(audio[0] - video[0]) < 0.03 and audio[-1] < 1.05, (audio[0], audio[-1])


def test_h264_with_b_frames_in_asf_keeps_its_first_picture_in_an_mp4(run_cli, weights_env, style, tmp_path):
    """ASF stores no presentation times for B-frame streams; FFmpeg makes them up as it reads, and
    takes the file's start time from the sound: the first picture came 40 ms before it, and an
    MP4's edit list hid it (11 of 12 frames shown)."""
    source = tmp_path / "camera.asf"
    ffmpeg(*CLIP, *SOUND, "-c:v", "libx264", "-bf", "2", "-c:a", "wmav2", source, needs=("libx264", "wmav2"))
    out = tmp_path / "out.mp4"
    err = stylize(run_cli, source, style, out)
    assert frame_count(out) == frame_count(source) == 6
    assert "before the file's start time" in err
    assert packet_times(out, "v")[0] == 0


# Bare video streams (no container: FFmpeg's parser guesses every timestamp): (extension, ffmpeg
# arguments, encoder, frame rate). FFmpeg 8 gave them all its raw demuxer's 25 fps and the
# parser's guesses: MPEG-2 started one frame late, MPEG-1 skipped its second frame slot (0, 0.08,
# 0.12, ...), and a 12 fps H.264 stream was a .mkv declaring 25 fps.
BARE = {
    "h264": ("-c:v", "libx264", "-bf", "2", "-f", "h264"),
    "m2v": ("-c:v", "mpeg2video", "-bf", "2", "-f", "mpeg2video"),
    "m1v": ("-r", "25", "-c:v", "mpeg1video", "-f", "mpeg1video"),
}


@pytest.mark.parametrize("ext", BARE)
@pytest.mark.slow_cases('m1v')  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_bare_video_stream_is_timed_from_zero_at_its_own_rate(ext, run_cli, weights_env, style, tmp_path):
    args = BARE[ext]
    source = tmp_path / f"clip.{ext}"
    ffmpeg(*CLIP, *args, source, needs=(args[args.index("-c:v") + 1],))
    rate = Fraction(25 if "-r" in args else 12)
    frames = frame_count(source)
    out = tmp_path / "out.mkv"
    stylize(run_cli, source, style, out)
    times = packet_times(out, "v")
    assert len(times) == frames == round(rate / 2)
    assert all(abs(t - i / rate) < 0.0011 for i, t in enumerate(times)), times
    assert video_rate(out) == rate


# What a folder of clips holds: each extension must be found (a file named directly is opened
# whatever its name). RealVideo and bare H.264 were skipped; so was Theora saved as .ogg.
FOLDER = {
    "real.rm": (*CLIP, *SOUND, "-c:v", "rv20", "-c:a", "ac3"),
    "theora.ogg": (*CLIP, *SOUND, "-c:v", "libtheora", "-c:a", "libvorbis"),
    "camera.264": (*CLIP, "-c:v", "libx264", "-f", "h264"),
}


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_folder_finds_realvideo_bare_streams_and_theora_in_ogg_but_not_songs(run_cli, weights_env, style,
                                                                                tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name, args in FOLDER.items():
        ffmpeg(*args, folder / name, needs=tuple(args[i + 1] for i, a in enumerate(args) if a.startswith("-c:")))
    ffmpeg(*SOUND, "-c:a", "libvorbis", folder / "song.ogg", needs=("libvorbis",))
    assert not is_video_path(folder / "song.ogg")  # Ogg that holds only sound is a song, not a clip
    for ext in (".wmv", ".asf", ".flv", ".f4v", ".3gp", ".3g2", ".ogv", ".ogm", ".mpg", ".mpeg", ".m1v", ".m2v",
                ".mxf", ".mov", ".qt", ".webm", ".mkv", ".rm", ".rmvb", ".h264", ".264", ".hevc", ".ivf", ".nut"):
        assert is_video_path(Path("x" + ext.upper())), ext
    out = tmp_path / "out"
    stylize(run_cli, folder, style, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "camera_stylized_brushstrokes.mp4", "real_stylized_brushstrokes.mp4", "theora_stylized_brushstrokes.mp4"]
    for result in out.iterdir():
        assert facts(result).frames == 6


# Containers and codecs that already came out right (frames, timing, sound) when this sweep was
# made, kept so they stay that way: (file name, ffmpeg arguments).
KEPT = {
    "wmv2-wmav2.wmv": (*CLIP, *SOUND, "-c:v", "wmv2", "-c:a", "wmav2"),
    "flv1-mp3.flv": (*CLIP, "-f", "lavfi", "-i", "sine=sample_rate=44100:duration=0.5", "-c:v", "flv", "-c:a",
                     "libmp3lame"),
    "h264-aac.flv": (*CLIP, *SOUND, "-c:v", "libx264", "-bf", "2", "-c:a", "aac"),
    "h263-aac.3gp": ("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=12:duration=0.5", "-f", "lavfi", "-i",
                     "sine=sample_rate=8000:duration=0.5", "-c:v", "h263", "-c:a", "aac", "-ac", "1"),
    "theora-vorbis.ogv": (*CLIP, *SOUND, "-c:v", "libtheora", "-c:a", "libvorbis"),
    "mpeg1-mp2.mpg": ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.5", *SOUND, "-c:v",
                      "mpeg1video", "-c:a", "mp2", "-f", "mpeg"),
    "mpeg2-pcm.mxf": ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.5", *SOUND, "-c:v",
                      "mpeg2video", "-c:a", "pcm_s16le"),
    "qtrle-pcm.mov": (*CLIP, *SOUND, "-c:v", "qtrle", "-c:a", "pcm_s16le"),
    "png-aac.mov": (*CLIP, *SOUND, "-c:v", "png", "-c:a", "aac"),
    "vp8-alpha.webm": ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5,format=yuva420p", *SOUND,
                       "-c:v", "libvpx", "-auto-alt-ref", "0", "-pix_fmt", "yuva420p", "-c:a", "libvorbis"),
    "h264-mbaff.mkv": (*CLIP, *SOUND, "-c:v", "libx264", "-flags", "+ildct+ilme", "-x264-params", "tff=1",
                       "-c:a", "aac"),
}


@pytest.mark.parametrize("name", KEPT)
@pytest.mark.slow_cases('vp8-alpha.webm', 'mpeg2-pcm.mxf')  # (default run's time: 1 s)
def test_more_containers_keep_frames_timing_and_sound(name, run_cli, weights_env, style, tmp_path):
    args = KEPT[name]
    source = tmp_path / name
    ffmpeg(*args, source, needs=tuple(args[i + 1] for i, a in enumerate(args) if a.startswith("-c:")))
    if source.suffix == ".ogv":  # ffprobe gives Ogg no average rate (0/0): measure the streams copied to .mkv
        ffmpeg("-i", source, "-c", "copy", tmp_path / "copied.mkv")
    expected = facts(tmp_path / "copied.mkv" if source.suffix == ".ogv" else source)
    out = tmp_path / "out.mp4"
    stylize(run_cli, source, style, out)
    assert_kept(facts(out), expected)


def test_a_repeated_timestamp_stays_apart_in_a_matroska_file(run_cli, weights_env, style, tmp_path):
    """A frame whose timestamp repeats the one before (MPEG-TS, 1/90000 s) is moved one tick on;
    one tick of 1/90000 s is the same millisecond in a .mkv, which then held two frames at one time."""
    clean, source = tmp_path / "clean.mp4", tmp_path / "repeat.ts"
    ffmpeg(*CLIP, "-c:v", "libx264", "-bf", "0", clean, needs=("libx264",))
    with av.open(str(clean)) as src, av.open(str(source), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for index, packet in enumerate(p for p in src.demux() if p.dts is not None):
            at = round(packet.pts * packet.time_base * 90000) + 15000
            packet.stream, packet.time_base, packet.dts = stream, Fraction(1, 90000), at - 15000
            packet.pts = at - 7500 if index == 3 else at  # the fourth frame at the third's time
            dst.mux(packet)
    out = tmp_path / "out.mkv"
    stylize(run_cli, source, style, out)
    times = packet_times(out, "v")
    assert len(times) == 6 and all(b > a for a, b in zip(times, times[1:])), times
