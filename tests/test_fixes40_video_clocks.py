"""Pauses in variable-rate video read as a user expects (fortieth sweep): a Matroska with a pause
and B-frames (what screen recorders and `-vsync vfr` write) kept the picture before the pause
where it is, and an AVI whose pictures sit every other slot (`ffmpeg -c copy` of such video)
lasts as long as it states. Each clip is made with FFmpeg's CLI; the times are checked with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from test_video_realworld_inputs import style, stylize  # noqa: F401  (a fixture)
from test_video_timing19 import ffmpeg, frames_and_sound
from test_video_timing20 import cluster_timestamps


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fixes40_clocks")


@pytest.fixture(scope="module")
def paused(folder) -> Path:
    """1 s of 96x64 H.264 with B-frames at 25 fps, the last 13 pictures 2 s later (a pause)."""
    path = folder / "paused_bframes.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=1", "-vf", "setpts='if(gte(N,12),PTS+2/TB,PTS)'",
           "-c:v", "libx264", "-vsync", "vfr", path)
    return path


@pytest.fixture(scope="module")
def every_other_slot(folder) -> Path:
    """2 s of 96x64 MPEG-4 in AVI at 1/50 s slots, a picture in every other slot, 11 pictures
    dropped mid-way (their slots empty too)."""
    source = folder / "dropped_source.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=2,select='not(between(n,10,20))'", "-vsync", "vfr",
           "-c:v", "mpeg4", source)
    path = folder / "every_other_slot.avi"
    ffmpeg("-i", source, "-c:v", "copy", "-vsync", "cfr", path)
    return path


def display_times(path: Path) -> list[Fraction]:
    """The video's pictures' stored display times (s), sorted: what FFmpeg's tools show."""
    with av.open(str(path)) as container:
        return sorted(p.pts * p.time_base for p in container.demux(video=0) if p.size)


def output_times(path: Path) -> list[Fraction]:
    """Each decoded picture's time (s), in the order shown."""
    with av.open(str(path)) as container:
        return [f.pts * f.time_base for f in container.decode(video=0)]


def test_a_picture_before_a_pause_stays_before_it(paused, capsys):
    """B-frames around a 2 s pause: the picture shown last before it (0.44 s) is stored after
    the picture beyond it (2.52 s), and, judged against that, was taken for a damaged cluster:
    moved across the pause, out of order, with three notes. Every picture is at its stored time."""
    stored = display_times(paused)
    assert stored[10:13] == [Fraction(40, 100), Fraction(44, 100), Fraction(248, 100)]
    with av.open(str(paused)) as container:
        assert container.streams.video[0].codec_context.reorder_depth > 0  # (B-frames)
    frames, _ = frames_and_sound(paused)
    assert [f.pts * Fraction(1, 1000) for f in frames] == stored
    assert "note:" not in capsys.readouterr().err


@pytest.mark.slow
def test_a_matroska_with_a_pause_stylizes_to_its_times(run_cli, weights_env, style, paused, folder):
    """The whole run: the output's pictures at the input's times, and nothing noted."""
    out = folder / "paused_out.mkv"
    err = stylize(run_cli, paused, style, out)
    assert "note:" not in err, err
    assert output_times(out) == display_times(paused)


def test_an_avi_with_empty_slots_lasts_as_long_as_it_states(every_other_slot, folder, capsys):
    """Each picture followed by an empty slot: the last picture lasted one slot, and the frames
    ended at 1.98 s of the 2 s the stream states (and FFmpeg's output lasts). It lasts to the
    stated end; with no length stated (0 in the stream header), the step between the pictures."""
    with av.open(str(every_other_slot)) as container:
        stream = container.streams.video[0]
        assert stream.time_base == Fraction(1, 50) and stream.duration == 100
    frames, _ = frames_and_sound(every_other_slot)
    assert [f.pts for f in frames] == [2 * n for n in range(10)] + [2 * n for n in range(21, 50)]
    assert frames[-1].pts + frames[-1].duration == 100
    data = bytearray(every_other_slot.read_bytes())
    length = data.find(b"strh") + 8 + 32  # (the stream header's length, after 8 fields of 32 bits)
    assert int.from_bytes(data[length:length + 4], "little") == 100
    data[length:length + 4] = bytes(4)
    unstated = folder / "no_length.avi"
    unstated.write_bytes(data)
    frames, _ = frames_and_sound(unstated)
    assert len(frames) == 39 and frames[-1].pts + frames[-1].duration == 100
    assert "note:" not in capsys.readouterr().err


@pytest.mark.slow
def test_an_avi_with_empty_slots_stylizes_to_its_length(run_cli, weights_env, style, every_other_slot, folder):
    """The whole run into MP4: 2.000 s, as the input states and `ffmpeg -i in.avi out.mp4` gives (was 1.980 s)."""
    out = folder / "every_other_slot_out.mp4"
    err = stylize(run_cli, every_other_slot, style, out)
    assert "note:" not in err, err
    with av.open(str(out)) as container:
        assert container.duration == 2_000_000


def joined(folder: Path, pause_after: int) -> Path:
    """Two recordings joined into one Matroska, as a recorder that restarts its encoder writes
    them: 1 s of 96x64 H.264 without B-frames, then from 1.2 s on 1 s with B-frames and a 2 s
    pause after its `pause_after`th picture (each part's headers in its stream). The file's
    header is the first part's, which reorders no pictures."""
    first, second = folder / "joined_first.mkv", folder / f"joined_second_{pause_after}.mkv"
    path = folder / f"joined_{pause_after}.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=1", "-c:v", "libx264", "-x264-params",
           "bframes=0:repeat-headers=1", first)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=1", "-vf", f"setpts='if(gte(N,{pause_after}),PTS+2/TB,PTS)'",
           "-c:v", "libx264", "-x264-params", "bframes=3:b-pyramid=normal:repeat-headers=1", "-vsync", "vfr", second)
    with av.open(str(first)) as one, av.open(str(second)) as two, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(one.streams.video[0])
        for packet in one.demux(video=0):
            if packet.size:
                packet.dts, packet.stream = packet.pts, stream
                out.mux(packet)
        packets = [p for p in two.demux(video=0) if p.size]
        later = round(Fraction(6, 5) / packets[0].time_base)
        decoded = sorted(p.pts for p in packets)  # (decode times: the display times, two pictures late)
        for n, packet in enumerate(packets):
            packet.dts = later + (decoded[n - 2] if n >= 2 else decoded[0] - (2 - n) * 40)
            packet.pts += later
            packet.stream = stream
            out.mux(packet)
    return path


@pytest.mark.parametrize("pause_after", [3, 12])
def test_a_joined_recording_whose_header_reorders_nothing_keeps_its_pause(folder, capsys, pause_after):
    """The header says the decoder holds no picture, but the second part's B-frames are shown
    two pictures late: judged as if each was shown when decoded, the picture before the pause
    (1.64 s after 12 pictures) was moved across it (onto 3.76 s), as damage, with two notes.
    How many pictures the decoder holds is learnt from the pictures: every picture at its
    stored time, no note."""
    path = joined(folder, pause_after)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.reorder_depth == 0
    stored = display_times(path)
    before_pause = Fraction(6, 5) + Fraction(pause_after - 1, 25)
    assert stored[24 + pause_after:26 + pause_after] == [before_pause, before_pause + Fraction(1, 25) + 2]
    frames, _ = frames_and_sound(path)
    assert [f.pts * Fraction(1, 1000) for f in frames] == stored
    assert "note:" not in capsys.readouterr().err


@pytest.mark.parametrize("stays_back", [False, True], ids=["one cluster", "every cluster from it on"])
def test_a_cluster_of_pictures_alone_timed_back_is_put_back_exactly(folder, capsys, stays_back):
    """Video alone (no sound to take the cluster's place from), B-frames, one cluster's Timestamp
    0.9 s back (or every cluster's from it on: the times stay back). The cluster's first picture
    stored, a P-frame, is shown after the B-frames stored after it: it was left 0.9 s early and
    the rest moved 0.86 s onto pictures taken (the stretch moved on from the cluster's second
    picture). The stretch's earliest picture goes right after the pictures before it: the
    undamaged file's times."""
    source = folder / "pictures_alone.mkv"
    if not source.exists():
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=3", "-c:v", "libx264", "-bf", "3", "-g", "10",
               "-cluster_time_limit", "400", source)
    data = bytearray(source.read_bytes())
    clusters = cluster_timestamps(bytes(data))
    for at, length, value in clusters[3:] if stays_back else clusters[3:4]:
        data[at:at + length] = (value - 900).to_bytes(length, "big")
    path = folder / f"pictures_alone_back{'_for_good' if stays_back else ''}.mkv"
    path.write_bytes(data)
    frames, _ = frames_and_sound(path)
    assert [f.pts for f in frames] == [f.pts for f in frames_and_sound(source)[0]] == list(range(0, 3000, 40))
    err = capsys.readouterr().err
    assert err.count("note:") == 1
    assert ("stay back" if stays_back else "the times of a cluster go back") in err


def test_an_avi_cut_short_lasts_a_step_past_its_last_picture(every_other_slot, folder):
    """Half of the AVI with a picture every other slot: FFmpeg guesses its length from its size
    (1.00 s), before its last picture (1.08 s), which kept its one slot (the frames ended at
    1.10 s). The last picture lasts as long as the step between those before it, as in FFmpeg's
    output of the file (1.12 s)."""
    data = every_other_slot.read_bytes()
    cut = folder / "cut_short.avi"
    cut.write_bytes(data[:len(data) // 2])
    with av.open(str(cut)) as container:
        assert container.streams.video[0].duration == 50
    frames, _ = frames_and_sound(cut)
    assert [f.pts for f in frames[-2:]] == [52, 54]
    assert frames[-1].duration == 2
    out = folder / "cut_short_ffmpeg.mp4"
    ffmpeg("-i", cut, out)
    with av.open(str(out)) as container:
        assert container.duration == 1_120_000
