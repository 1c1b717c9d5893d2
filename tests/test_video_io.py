"""The video reader and writer on their own: channel order, rotation, pixel formats, bad files."""

from __future__ import annotations

import subprocess
import time
from fractions import Fraction

import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.video.pipeline import Pipeline
from realtime_adain.video.pictures import Colour
from realtime_adain.video.picture_orientation import upright
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.audio_encoding import encodable_layout
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.pixel_formats import choose_pix_fmt
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from video_samples import audio_packets, gradient_frames, probe, rgb_frames, write_video

RED, BLUE = (230, 20, 30), (25, 35, 220)


def two_colour_frame(width: int = 64, height: int = 48) -> np.ndarray:
    """Red on the left half, blue on the right: a swap of R and B moves the colours."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = RED
    image[:, width // 2:] = BLUE
    return image


def test_reader_gives_rgb_not_bgr(tmp_path):
    path = write_video(tmp_path / "rb.mkv", [two_colour_frame()] * 3, codec="ffv1", pix_fmt="bgr0")
    with VideoReader(path) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
    assert len(frames) == 3
    assert tuple(frames[0].image[10, 5]) == RED
    assert tuple(frames[0].image[10, 60]) == BLUE


def test_writer_takes_rgb_and_keeps_it_through_yuv420(tmp_path):
    out = tmp_path / "out.mp4"
    spec = VideoFormatOut(64, 48, Fraction(1, 25), Fraction(25))
    writer = VideoWriter(out, EncodeSettings("libx264", crf=0), spec, passthrough=[])
    for pts in range(3):
        writer.write_frame(two_colour_frame(), pts, 1)
    writer.close()
    decoded = rgb_frames(out)[0].astype(int)
    assert np.abs(decoded[10, 5] - RED).max() <= 6  # only 4:2:0 chroma rounding
    assert np.abs(decoded[10, 60] - BLUE).max() <= 6


def test_rgb_coded_input_gives_bt709_yuv_not_a_yuv_stream_tagged_rgb(tmp_path):
    """PNG/APNG/libx264rgb frames carry the "RGB" matrix; copied onto YUV H.264 it made a stream
    players misread and zscale refuses. The output is BT.709, limited range, and tagged so."""
    import av

    source = write_video(tmp_path / "png.mov", [two_colour_frame()] * 3, codec="png", pix_fmt="rgb24")
    with VideoReader(source) as reader:
        assert reader.colour.colorspace == 0  # FFmpeg's AVCOL_SPC_RGB
        spec = VideoFormatOut(64, 48, reader.time_base, reader.frame_rate, reader.colour)
        out = tmp_path / "out.mp4"
        writer = VideoWriter(out, EncodeSettings("libx264", crf=0), spec, passthrough=[])
        for frame in reader.items():
            writer.write_frame(frame.image, frame.pts, frame.duration)
        writer.close()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        assert (frame.colorspace, frame.color_range, stream.pix_fmt) == (1, 1, "yuv420p")
    decoded = rgb_frames(out)[0].astype(int)
    assert np.abs(decoded[10, 5] - RED).max() <= 6 and np.abs(decoded[10, 60] - BLUE).max() <= 6


def test_rotation_metadata_gives_upright_frames(tmp_path):
    # A 64x32 frame shown rotated 90 degrees counter-clockwise: the display is 32 wide, 64 tall.
    image = two_colour_frame(64, 32)
    path = write_video(tmp_path / "rot.mp4", [image] * 2, rotation=90, codec="libx264rgb",
                       pix_fmt="rgb24", options={"crf": "0"})
    assert probe(path).rotation == 90
    with VideoReader(path) as reader:
        assert (reader.width, reader.height, reader.rotation) == (32, 64, 90)
        first = reader.first_frame.image
    np.testing.assert_array_equal(first, np.rot90(image))
    # Counter-clockwise: the left (red) half ends up at the bottom.
    assert tuple(first[60, 10]) == RED and tuple(first[5, 10]) == BLUE
    np.testing.assert_array_equal(upright(image, -90), np.rot90(image, 3))
    np.testing.assert_array_equal(upright(image, 180), image[::-1, ::-1])


def test_pixel_format_choice_for_odd_sizes():
    assert choose_pix_fmt(EncodeSettings(), 640, 360) == "yuv420p"
    assert choose_pix_fmt(EncodeSettings(), 641, 361) == "yuv444p"
    assert choose_pix_fmt(EncodeSettings("libx264rgb"), 641, 361) in ("bgr0", "bgr24", "rgb24")
    with pytest.raises(UserError, match="even width and height"):
        choose_pix_fmt(EncodeSettings(pix_fmt="yuv420p"), 641, 361)
    with pytest.raises(UserError, match="does not take pixel format"):
        choose_pix_fmt(EncodeSettings(pix_fmt="gbrp"), 64, 64)
    # 1x1 is odd too: a 4:2:0 chroma plane of one pixel still halves it ("Generic error in an
    # external library" from x264); FFmpeg takes yuv444p there.
    assert choose_pix_fmt(EncodeSettings(), 1, 1) == "yuv444p"
    assert choose_pix_fmt(EncodeSettings(), 1, 2) == "yuv444p"


def test_an_encoder_that_takes_no_yuv420p_gets_the_closest_format(tmp_path):
    """MJPEG lists yuv420p but opens only with yuvj420p at the usual (limited) range, which FFmpeg
    picks: `--codec mjpeg` was "cannot open encoder mjpeg: Invalid argument". The frames are
    converted at full range (JPEG's), so the colours come back."""
    assert choose_pix_fmt(EncodeSettings("mjpeg"), 64, 48) == "yuvj420p"
    assert choose_pix_fmt(EncodeSettings("mjpeg"), 63, 47) == "yuvj444p"
    assert choose_pix_fmt(EncodeSettings("dnxhd"), 64, 48) == "yuv422p"  # (it takes no 4:2:0)
    check_encoder(EncodeSettings("mjpeg"), tmp_path / "o.mkv")
    out = tmp_path / "out.mkv"
    writer = VideoWriter(out, EncodeSettings("mjpeg"), VideoFormatOut(64, 48, Fraction(1, 25), Fraction(25),
                                                                        Colour(1, 1, 1, 1)), passthrough=[])
    for pts in range(3):
        writer.write_frame(two_colour_frame(), pts, 1)
    writer.close()
    result = probe(out)
    assert (result.codec, result.pix_fmt, len(result.pts)) == ("mjpeg", "yuvj420p", 3)
    decoded = rgb_frames(out)[1].astype(int)
    assert np.abs(decoded[10, 5] - RED).max() <= 8 and np.abs(decoded[10, 60] - BLUE).max() <= 8


def test_the_default_encoder_follows_the_container(tmp_path):
    """No --codec: H.264, except in WebM, which holds no H.264 (`.webm files cannot hold libx264
    video` for every default run): VP9, as `ffmpeg -i in out.webm` picks."""
    assert EncodeSettings().for_container("webm").codec == "libvpx-vp9"
    assert EncodeSettings().for_container("mp4").codec == "libx264"
    assert EncodeSettings("libx265").for_container("webm").codec == "libx265"  # named: kept (and refused)
    check_encoder(EncodeSettings(), tmp_path / "o.webm")
    with pytest.raises(UserError, match=r"^\.webm files cannot hold libx264 video \(try \.mkv\)$"):
        check_encoder(EncodeSettings("libx264"), tmp_path / "o.webm")


@pytest.mark.parametrize(
    "settings, output, message",
    [
        (EncodeSettings("nosuchcodec"), "o.mp4", "unknown video encoder 'nosuchcodec'"),
        (EncodeSettings("aac"), "o.mp4", "not a video encoder"),
        (EncodeSettings("libx264"), "o.xyz", "unknown video format '.xyz' \\(written: .mp4 .m4v .mov .mkv"),
        # (`--ext png`, a folder run: as `-o x.png` says it, less numbered pictures, which hold one result)
        (EncodeSettings("libx264"), "o.png", "unknown video format '.png' \\(written: [^;]*\\)$"),
        (EncodeSettings("ffv1", crf=20), "o.mkv", "no constant-quality"),
        (EncodeSettings("libx264", crf=99), "o.mp4", "outside libx264's range 0 \\(best\\) to 51"),
        (EncodeSettings("libx264", crf=-1), "o.mp4", "--crf -1 is outside"),
        (EncodeSettings("libvpx-vp9", crf=64), "o.webm", "range 0 \\(best\\) to 63"),
        (EncodeSettings("libx264", bitrate=0), "o.mp4", "--bitrate must be positive"),
        # x264 counts kbit/s: 1 bit/s was "Generic error in an external library".
        (EncodeSettings("libx264", bitrate=1), "o.mp4", "^--bitrate 1 is below the least taken, 10k \\(bits per second"),
        (EncodeSettings("libx264", bitrate=9_999), "o.mp4", "--bitrate 9999 is below"),
        # Never the container asked for: ".mkv files cannot hold dnxhd video (try .mkv)".
        (EncodeSettings("dnxhd"), "o.mkv", "^\\.mkv files cannot hold dnxhd video \\(try \\.mov\\)$"),
        (EncodeSettings("libvpx-vp9"), "o.ts", "^\\.ts files cannot hold libvpx-vp9 video \\(try \\.mkv\\)$"),
        # (QuickTime's own codecs: .mov, where .mkv was offered first)
        (EncodeSettings("prores_ks"), "o.mp4", "^\\.mp4 files cannot hold prores_ks video \\(try \\.mov\\)$"),
    ],
)
def test_check_encoder_rejects_bad_requests(tmp_path, settings, output, message):
    with pytest.raises(UserError, match=message):
        check_encoder(settings, tmp_path / output)


def test_reader_errors_are_user_errors(tmp_path, data_dir):
    (tmp_path / "notes.mp4").write_text("not a video at all\n" * 50)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((data_dir / "videos" / "cutBunny.mp4").read_bytes()[:200_000])
    (tmp_path / "empty.mp4").write_bytes(b"")
    for name, message in [("missing.mp4", "no such file"), ("notes.mp4", "not a readable video"),
                          ("truncated.mp4", "without its index .no moov box.: a recording that was not finished, or a file cut short"), ("empty.mp4", "empty")]:
        with pytest.raises(UserError, match=message):
            VideoReader(tmp_path / name)


def test_an_avi_written_to_a_pipe_is_read_whole(tmp_path):
    """`ffmpeg ... -f avi - > piped.avi` cannot go back to fill in the header: it says 2**30 frames
    (and a duration guessed from the bit rate). FFmpeg plays all 24; the count was believed and
    the whole file refused at the end as "truncated or corrupt: only 24 of 1073741824 frames"."""
    import av

    piped = tmp_path / "piped.avi"
    with piped.open("wb") as sink:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=1",
                        "-f", "lavfi", "-i", "sine=duration=1", "-c:v", "mpeg4", "-c:a", "libmp3lame", "-f", "avi", "-"],
                       stdout=sink, check=True)
    with av.open(str(piped)) as container:
        assert container.streams.video[0].frames == 2**30  # the placeholder
    with VideoReader(piped) as reader:
        assert reader.expected_frames == 0  # not believed
        items = list(reader.items())
    assert len([item for item in items if isinstance(item, Frame)]) == 24 == len(probe(piped).pts)
    assert len([item for item in items if isinstance(item, av.Packet)]) == len(audio_packets(piped)) > 30


def test_truncated_streamable_file_is_read_as_ffmpeg_plays_it_and_said(tmp_path, capsys):
    """A file with its index first and its data cut short (a half-downloaded MP4) decodes fewer
    frames than it declares: those are read, and a note says so. It was refused once read to
    its end, after all the work (`video` kept nothing)."""
    full = write_video(tmp_path / "full.mp4", gradient_frames(30, 64, 48),
                       container_options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    with VideoReader(cut) as reader:
        frames = sum(isinstance(item, Frame) for item in reader.items())
    shown_by_ffmpeg = subprocess.run(["ffmpeg", "-v", "quiet", "-i", cut, "-map", "0:v", "-f", "framecrc", "-"],
                                     capture_output=True, text=True).stdout.splitlines()
    assert 0 < frames == len([line for line in shown_by_ffmpeg if not line.startswith("#")]) < 30
    assert (f"note: cut.mp4: only {frames} of the 30 frames its index states decode: the file looks cut short or "
            "damaged (what decodes is stylized, as FFmpeg plays it)") in capsys.readouterr().err


def lagging_stream(batches):
    """Like the GPU engine's double buffering: result k comes out after batch k+1 went in."""
    held = None
    for batch in batches:
        if held is not None:
            yield held
        held = batch + 100
    if held is not None:
        yield held


def test_pipeline_keeps_order_and_interleaving():
    """Frames are batched for the network, but every item leaves in the order it came."""
    items: list[object] = []
    for i in range(7):
        items.append(Frame(np.full((4, 4, 3), i, np.uint8), i, 1, i))
        items.append(f"packet-{i}")
    written: list[object] = []
    Pipeline(
        iter(items),
        stylize_stream=lagging_stream,
        write_frame=lambda frame: written.append(int(frame.image[0, 0, 0])),
        write_packet=written.append,
        batch_size=3,
        queue_frames=2,
    ).run()
    assert written == [x for i in range(7) for x in (100 + i, f"packet-{i}")]


def test_pipeline_gives_the_stream_one_batch_shape():
    """7 frames in batches of 3: the short last batch is filled up, so a compiled graph or a
    TensorRT engine (one per shape) is not rebuilt for the tail; only real frames are written."""
    shapes: list[tuple[int, ...]] = []

    def recording_stream(batches):
        for batch in batches:
            shapes.append(batch.shape)
            yield batch + 100

    items = [Frame(np.full((4, 4, 3), i, np.uint8), i, 1, i) for i in range(7)]
    written: list[int] = []
    Pipeline(iter(items), stylize_stream=recording_stream, batch_size=3,
             write_frame=lambda frame: written.append(int(frame.image[0, 0, 0])), write_packet=print).run()
    assert shapes == [(3, 4, 4, 3)] * 3
    assert written == [100 + i for i in range(7)]


def test_pipeline_cuts_a_batch_where_the_picture_size_changes():
    """A stream that changes resolution mid-batch (5 frames of 16x16, then 4 of 24x16, batches of 3):
    no batch mixes shapes, and every frame is written in order. With a pixel budget the larger
    frames go fewer at a time (`video --batch` stacked them whatever their size)."""
    shapes: list[tuple[int, ...]] = []

    def recording_stream(batches):
        for batch in batches:
            shapes.append(batch.shape)
            yield batch + 100

    items = [Frame(np.full((16, 16, 3) if i < 5 else (16, 24, 3), i, np.uint8), i, 1, i) for i in range(9)]
    written: list[int] = []
    Pipeline(iter(items), stylize_stream=recording_stream, batch_size=3,
             write_frame=lambda frame: written.append(int(frame.image[0, 0, 0])), write_packet=print).run()
    assert shapes == [(3, 16, 16, 3), (3, 16, 16, 3), (3, 16, 24, 3), (3, 16, 24, 3)]
    assert written == [100 + i for i in range(9)]
    shapes.clear()  # a network that keeps state across frames (smoothed statistics) gets no copies
    Pipeline(iter(items), stylize_stream=recording_stream, batch_size=3, fill_short_batches=False,
             write_frame=lambda frame: None, write_packet=print).run()
    assert shapes == [(3, 16, 16, 3), (2, 16, 16, 3), (3, 16, 24, 3), (1, 16, 24, 3)]
    shapes.clear()  # at most 800 pixels a batch: 3 of 16x16 (768), 2 of 24x16 (768); the last one filled up
    written.clear()
    items = [Frame(np.full((16, 16, 3) if i < 5 else (16, 24, 3), i, np.uint8), i, 1, i) for i in range(9)]
    Pipeline(iter(items), stylize_stream=recording_stream, batch_size=3, batch_pixels=800,
             write_frame=lambda frame: written.append(int(frame.image[0, 0, 0])), write_packet=print).run()
    assert shapes == [(3, 16, 16, 3), (3, 16, 16, 3), (2, 16, 24, 3), (2, 16, 24, 3)]
    assert written == [100 + i for i in range(9)]


def test_pipeline_keeps_frames_in_flight_bounded():
    """However fast decoding is, at most `depth` frames wait between decoder and encoder."""
    decoded, written, in_flight = [0], [0], []

    def items():
        for i in range(60):
            decoded[0] += 1
            in_flight.append(decoded[0] - written[0])
            yield Frame(np.zeros((4, 4, 3), np.uint8), i, 1, i)
            yield f"packet-{i}"

    def slow_write(_frame):
        time.sleep(0.002)
        written[0] += 1

    pipeline = Pipeline(items(), stylize_stream=lagging_stream, write_frame=slow_write, write_packet=lambda _: None,
                        batch_size=2, queue_frames=4)
    pipeline.run()
    assert written[0] == 60
    assert max(in_flight) <= pipeline.depth + 1  # + the frame the decoder holds while it waits


def test_pipeline_reports_a_failing_stage():
    def broken(_):
        raise UserError("boom")

    items = [Frame(np.zeros((4, 4, 3), np.uint8), i, 1, i) for i in range(5)]
    with pytest.raises(UserError, match="boom"):
        Pipeline(iter(items), stylize_stream=lambda batches: batches, write_frame=broken, write_packet=print).run()


def test_pipeline_never_builds_a_batch_bigger_than_the_clip():
    """--batch 100000 on 12 frames: one batch of 12, not 12 padded with 99988 copies."""
    shapes: list[tuple[int, ...]] = []

    def recording_stream(batches):
        for batch in batches:
            shapes.append(batch.shape)
            yield batch

    items = [Frame(np.full((4, 4, 3), i, np.uint8), i, 1, i) for i in range(12)]
    written: list[int] = []
    Pipeline(iter(items), stylize_stream=recording_stream, batch_size=100_000,
             write_frame=lambda frame: written.append(int(frame.image[0, 0, 0])), write_packet=print).run()
    assert shapes == [(12, 4, 4, 3)]
    assert written == list(range(12))


def test_writer_keeps_timestamps_increasing(tmp_path, capsys):
    """A timestamp that does not increase would make the muxer fail (EINVAL): moved one tick on."""
    out = tmp_path / "out.mp4"
    writer = VideoWriter(out, EncodeSettings(), VideoFormatOut(64, 48, Fraction(1, 25), Fraction(25)), passthrough=[])
    for pts in (0, 2, 1, 3):
        writer.write_frame(two_colour_frame(), pts, 1)
    writer.close()
    result = probe(out)
    assert [p * result.time_base for p in result.pts] == [Fraction(t, 25) for t in (0, 2, 3, 4)]
    assert capsys.readouterr().err.count("note: ") == 1



def test_a_muxer_that_cannot_finish_the_file_is_one_line(tmp_path):
    """The MP4 muxer refuses, only when finishing the file, a timecode at 60000 fps (what FFmpeg 8
    read as a DV file's rate): that was a traceback from PyAV's close."""
    out = tmp_path / "out.mp4"
    spec = VideoFormatOut(64, 48, Fraction(1, 60000), Fraction(60000), tags={"timecode": "00:00:00:00"})
    writer = VideoWriter(out, EncodeSettings(), spec, passthrough=[])
    writer.write_frame(two_colour_frame(), 0, 2400)
    with pytest.raises(UserError, match=r"out.mp4: the .mp4 muxer could not finish the file \(Invalid argument\)"):
        writer.close()

def copy_through(reader: VideoReader, out, spec: VideoFormatOut | None = None) -> None:
    """Write what `reader` gives to `out` (pictures as they are, packets copied), in `spec` (the
    reader's size, time base and rate where not given)."""
    spec = spec or VideoFormatOut(reader.width, reader.height, reader.time_base, reader.frame_rate)
    writer = VideoWriter(out, EncodeSettings(), spec, reader.passthrough)
    for item in reader.items():
        if isinstance(item, Frame):
            writer.write_frame(item.image, item.pts, item.duration)
        else:
            writer.write_packet(item)
    writer.close()


def test_copied_audio_whose_timestamps_stand_still_is_played_by_its_lengths(tmp_path, capsys):
    """AVI audio copied by PyAV without its bit rate reads back with ten packets at each dts (its
    32 ms tick counted by blocks): the writer moved them one tick apart (the sound of 1 s piled
    into its first 96 ms). The reader now plays them one after another by their lengths
    (`SoundClock`), the clean file's times, so the writer has nothing to move."""
    import av

    clean = tmp_path / "clean.avi"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1",
                    "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1", "-c:v", "mpeg4", "-c:a", "ac3",
                    str(clean)], check=True)
    broken = tmp_path / "broken.avi"
    with av.open(str(clean)) as src, av.open(str(broken), "w") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        streams[0].time_base = src.streams[0].time_base
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    with av.open(str(broken)) as container:
        assert [p.dts for p in container.demux(audio=0) if p.size][:11] == [0] * 10 + [1]
    read = {}
    for path in (clean, broken):
        with VideoReader(path) as reader:
            read[path] = [p.dts for p in reader.items() if isinstance(p, av.Packet)]
    assert read[broken] == read[clean]
    out = tmp_path / "out.mp4"
    with VideoReader(broken) as reader:
        copy_through(reader, out)
    with av.open(str(out)) as result:
        dts = [p.dts for p in result.demux(audio=0) if p.dts is not None]
    assert len(dts) > 1 and all(b > a for a, b in zip(dts, dts[1:]))
    assert "packet timestamps that do not increase" not in capsys.readouterr().err


def test_copied_audio_with_a_repeated_timestamp_is_moved_on(tmp_path, capsys):
    """One FLV sound tag at the time of the one before (two are not a clock that stands still:
    sound joined with an overlap reads so; the reader keeps them): the writer moves it a tick on
    (as FFmpeg does) instead of handing the muxer timestamps it refuses, and says so once."""
    import av

    source = tmp_path / "clip.flv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1",
                    "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1", "-c:v", "flv1", "-c:a", "aac",
                    str(source)], check=True)
    data = bytearray(source.read_bytes())
    at, before = 13, None  # (FLV tags: type, size, time, ...; the 20th sound tag takes the 19th's time)
    sound = 0
    while at + 11 <= len(data):
        if data[at] == 8:
            sound += 1
            if sound == 20:
                data[at + 4:at + 8] = before
                break
            before = bytes(data[at + 4:at + 8])
        at += 11 + int.from_bytes(data[at + 1:at + 4], "big") + 4
    broken = tmp_path / "repeat.flv"
    broken.write_bytes(data)
    with VideoReader(broken) as reader:
        audio_dts = [p.dts for p in reader.items() if isinstance(p, av.Packet)]
        assert len(set(audio_dts)) == len(audio_dts) - 1
    out = tmp_path / "out.mp4"
    with VideoReader(broken) as reader:
        copy_through(reader, out)
    with av.open(str(out)) as result:
        dts = [p.dts for p in result.demux(audio=0) if p.dts is not None]
    assert len(dts) > 1 and all(b > a for a, b in zip(dts, dts[1:]))
    assert capsys.readouterr().err.count("packet timestamps that do not increase") == 1


@pytest.mark.parametrize("sar, where, display", [("3/2", "codec", (96, 48)), ("8/9", "codec", (64, 54)),
                                                 ("4/3", "container", (86, 48)), ("100", "codec", (64, 48))])
def test_anamorphic_frames_are_read_with_square_pixels(tmp_path, capsys, sar, where, display):
    """Stored pixels that are not square (HDV 1440x1080 at 4:3, DVD 720x480 at 8:9) are resampled
    to the display's shape, the growing side stretched (no pixel lost), as FFmpeg shows them; the
    container's ratio wins over the codec's, as in FFmpeg; an implausible one (100:1) is ignored
    with a note instead of inflating every frame."""
    import subprocess

    import av

    made = tmp_path / "made.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.25",
                    "-vf", f"setsar={sar if where == 'codec' else 3}", "-c:v", "libx264", "-pix_fmt", "yuv444p",
                    str(made)], check=True)
    if where == "container":  # the codec says 3:1, the container (a copy with -aspect) `sar`
        remuxed = tmp_path / "remuxed.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(made), "-c", "copy", "-aspect",
                        str(Fraction(sar) * Fraction(64, 48)), str(remuxed)], check=True)
        made = remuxed
    with VideoReader(made) as reader:
        frames = [item.image for item in reader.items() if isinstance(item, Frame)]
        assert (reader.width, reader.height) == display and frames[0].shape == (display[1], display[0], 3)
    if sar == "100":
        assert "made.mp4: ignoring its sample aspect ratio 100" in capsys.readouterr().err
        return
    with av.open(str(made)) as container:  # FFmpeg's own square-pixel picture, bilinear as ours
        reference = [f.reformat(width=display[0], height=display[1], format="rgb24").to_ndarray()
                     for f in container.decode(video=0)]
    assert len(frames) == len(reference) == 3
    assert np.abs(frames[0].astype(int) - reference[0]).mean() < 1.0


def test_a_damaged_packet_is_skipped_as_ffmpeg_skips_it(tmp_path, capsys):
    """A file FFmpeg plays is a file we process: a slice whose header is garbled makes the decoder
    reject that packet (InvalidDataError); FFmpeg conceals it and plays on, and so does the reader,
    with a note. Frames as many as ffprobe decodes (it used to stop: "corrupt video data")."""
    import subprocess

    import av

    clean = write_video(tmp_path / "clean.ts", gradient_frames(24, 64, 48)).read_bytes()
    slices = [i for i in range(len(clean) - 4) if clean[i:i + 3] == b"\x00\x00\x01" and clean[i + 3] & 0x1F == 1]
    damaged = tmp_path / "damaged.ts"
    for start in slices[2:12]:  # the first P-slice whose garbled header the decoder rejects
        data = bytearray(clean)
        data[start + 4:start + 10] = np.random.default_rng(0).integers(0, 256, 6, dtype=np.uint8).tobytes()
        damaged.write_bytes(bytes(data))
        with av.open(str(damaged)) as container:
            try:
                for packet in container.demux(video=0):
                    packet.decode()
            except av.error.InvalidDataError:
                break
    else:
        pytest.fail("no garbled slice header made the decoder reject a packet")
    expected = subprocess.run(["ffprobe", "-v", "quiet", "-count_frames", "-select_streams", "v:0", "-show_entries",
                               "stream=nb_read_frames", "-of", "csv=p=0", str(damaged)],
                              capture_output=True, text=True, check=True).stdout.split()[0]  # (TS: once per program too)
    with VideoReader(damaged) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        assert reader.damaged >= 1
    assert len(frames) == int(expected) >= 20
    assert "damaged video packet" in capsys.readouterr().err


@pytest.mark.parametrize("default_first", [False, True])
def test_the_video_stream_ffmpeg_takes_among_several(tmp_path, capsys, default_first):
    """Of several video streams `ffmpeg` takes the one with the most pixels, one marked default
    counting 5000000 more (cover art aside); the reader took the first. A note names the one taken."""
    source = tmp_path / "two.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5",
                    "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=12:duration=0.25", "-map", "0", "-map", "1",
                    "-c:v", "libx264", *([] if default_first else ["-disposition:v:0", "0"]), str(source)], check=True)
    reference = tmp_path / "ffmpeg.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), "-c:v", "ffv1", str(reference)], check=True)
    taken = probe(reference)
    with VideoReader(source) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        assert (reader.width, reader.height) == (taken.width, taken.height) == ((64, 48) if default_first else (160, 120))
    assert len(frames) == len(taken.pts) == (6 if default_first else 3)
    index = 0 if default_first else 1
    assert f"note: two.mkv: 2 video streams; taking #{index} ({taken.width}x{taken.height})" in capsys.readouterr().err


def test_a_lone_frame_gets_a_decode_time_the_muxer_takes(tmp_path, capsys):
    """x265 given fewer frames than its B-frame delay derives the decode time from timestamps it
    never received (uninitialised memory: -4378314912683108556 refused by the muxer, "Invalid
    argument", or -1170 taken): `--frames 1 --codec libx265` failed. One frame decodes when it
    shows. And x265 prints nothing (some 40 "x265 [info]" lines a run)."""
    import av

    for ext in ("mp4", "mkv"):
        out = tmp_path / f"one.{ext}"
        writer = VideoWriter(out, EncodeSettings("libx265"), VideoFormatOut(64, 48, Fraction(1, 12288), Fraction(24)),
                             passthrough=[])
        writer.write_frame(two_colour_frame(), 0, 512)
        writer.close()
        with av.open(str(out)) as container:
            assert [(p.pts, p.dts or 0) for p in container.demux(video=0) if p.size] == [(0, 0)]  # (MKV: keyframes' None)
        assert len(probe(out).pts) == 1
    assert capsys.readouterr().err == ""


def test_reencoded_audio_gets_a_layout_its_encoder_takes():
    """MP2 takes mono and stereo only (5.1 into .ts was "cannot start encoding (Invalid
    argument)"), AC-3 up to 5.1: mixed down as `ffmpeg` does; AAC keeps 7.1."""
    import av

    assert encodable_layout("mp2", av.AudioLayout("5.1"), 48000).name == "stereo"
    assert encodable_layout("libmp3lame", av.AudioLayout("7.1"), 48000).name == "stereo"
    assert encodable_layout("mp2", av.AudioLayout("mono"), 48000).name == "mono"
    assert encodable_layout("ac3", av.AudioLayout("7.1"), 48000).nb_channels == 6
    assert encodable_layout("aac", av.AudioLayout("7.1"), 48000).name == "7.1"


def test_pictures_one_after_another_are_a_clip_and_one_picture_an_image(tmp_path):
    """A raw MJPEG stream (.mjpeg) is a clip FFmpeg plays (48 frames at 25 fps); it was refused as
    "an image". One JPEG still is, also when only the start is read (`max_frames=1`)."""
    import cv2

    pictures = [np.full((16, 24, 3), 20 * i, np.uint8) for i in range(5)]
    stream = tmp_path / "camera.mjpeg"
    stream.write_bytes(b"".join(cv2.imencode(".jpg", picture)[1].tobytes() for picture in pictures))
    with VideoReader(stream) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        assert reader.frame_rate == 25
    assert [round(float(frame.image.mean()) / 20) for frame in frames] == [0, 1, 2, 3, 4]
    with VideoReader(stream, max_frames=1) as reader:
        assert len([item for item in reader.items() if isinstance(item, Frame)]) == 1
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(cv2.imencode(".jpg", pictures[0])[1].tobytes())
    for max_frames in (0, 1):
        with pytest.raises(UserError, match="this is an image, not a video"):
            VideoReader(photo, max_frames=max_frames)
