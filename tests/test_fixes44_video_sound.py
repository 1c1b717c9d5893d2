"""Session 44 fixes: ADPCM sound copied into .avi (it was re-encoded to MP3), the note for sound not
copied into .mkv, and the animated-WebP refusal's Pillow command (path as given, quoted, no trails)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageSequence

from realtime_adain.video.stream_copy import adpcm_block_bytes
from test_video_leftovers import ffmpeg, samples
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)


def adpcm_clip(path: Path, codec: str, channels: int, *options: str) -> Path:
    """A 0.5 s clip with `codec` sound, made as h7 made it (FFmpeg 5 states 128 kbit/s for it);
    `options` before the sound's (-itsoffset 2: it starts 2 s in)."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=0.5", *options, "-f", "lavfi", "-i",
           "sine=440:sample_rate=22050:duration=0.5", "-map", "0:v", "-map", "1:a", "-ac", str(channels),
           "-c:v", "mjpeg", "-c:a", codec, path)
    return path


def sound_packets(path: Path) -> list[tuple[float, bytes]]:
    """(time in s, bytes) of each audio packet of `path`."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(float(packet.pts * stream.time_base), bytes(packet)) for packet in container.demux(stream)
                if packet.size]


@pytest.mark.slow_cases("adpcm_ima_wav-2-avi", "adpcm_ms-1-nut")
@pytest.mark.parametrize("codec, channels, given", [("adpcm_ms", 1, "avi"), ("adpcm_ima_wav", 2, "avi"),
                                                     ("adpcm_ms", 1, "nut")])
def test_adpcm_is_copied_into_an_avi(run_cli, weights_env, style, tmp_path, codec, channels, given):
    """Was ".avi cannot hold adpcm_ms audio whose frame size FFmpeg does not know; re-encoding it to
    mp3": its blocks are copied now, each at the input's time (`ffmpeg -c copy` put the sixth of
    these at 0.32 s for 0.46, timing them by the byte at the 128 kbit/s stated), decoding the same;
    from a .nut, which keeps no block size, too (copied from its template, no decoder read it)."""
    source = adpcm_clip(tmp_path / f"camera.{given}", codec, channels)
    out = tmp_path / "out.avi"
    err = stylize(run_cli, source, style, out)
    assert "re-encoding" not in err, err
    given_packets, copied = sound_packets(source), sound_packets(out)
    assert [data for _, data in copied] == [data for _, data in given_packets]
    assert np.allclose([time for time, _ in copied], [time for time, _ in given_packets], atol=1e-4, rtol=0)
    assert np.array_equal(samples(out), samples(source))


@pytest.mark.slow
def test_adpcm_that_starts_late_is_preceded_by_silent_blocks_of_its_size(run_cli, weights_env, style, tmp_path):
    """AVI plays sound from the file's start: ADPCM 2 s in gets 2 s of silent blocks first, of the
    stream's 512 bytes (its encoder's default 1024 made 4 s of it)."""
    source = adpcm_clip(tmp_path / "late.nut", "adpcm_ms", 1, "-itsoffset", "2")
    ffmpeg("-i", tmp_path / "late.nut", "-map", "0", "-c:v", "copy", "-c:a", "adpcm_ms", "-block_size", "512",
           source := tmp_path / "late512.nut")
    out = tmp_path / "out.avi"
    assert "re-encoding" not in stylize(run_cli, source, style, out)
    assert {len(data) for _, data in sound_packets(out)} == {512}
    sound, rate = samples(out), 22050
    assert np.abs(sound[:int(1.9 * rate)]).max() == 0 and np.abs(sound[int(2.1 * rate):int(2.4 * rate)]).max() > 1000


def test_adpcm_block_bytes_from_the_samples_a_block_holds(tmp_path):
    """MS ADPCM's 2036 samples a mono block: 1024 bytes; IMA's 1017 a stereo block: 1024; other
    sound has none."""
    with av.open(str(adpcm_clip(tmp_path / "ms.avi", "adpcm_ms", 1))) as container:
        assert adpcm_block_bytes(container.streams.audio[0]) == 1024
        assert adpcm_block_bytes(container.streams.video[0]) is None
    with av.open(str(adpcm_clip(tmp_path / "ima.avi", "adpcm_ima_wav", 2))) as container:
        assert adpcm_block_bytes(container.streams.audio[0]) == 1024
    with av.open(str(adpcm_clip(tmp_path / "mp3.avi", "mp3", 1))) as container:
        assert adpcm_block_bytes(container.streams.audio[0]) is None


def test_adpcm_into_an_mkv_is_said_not_copied_not_unholdable(run_cli, weights_env, style, tmp_path):
    """Was ".mkv cannot hold adpcm_ms audio", though Matroska holds it (as a Windows ACM track,
    which FFmpeg writes only when told to break the standard). It is still re-encoded, losslessly."""
    source = adpcm_clip(tmp_path / "camera.avi", "adpcm_ms", 1)
    err = stylize(run_cli, source, style, tmp_path / "out.mkv")
    assert ("adpcm_ms audio is not copied into .mkv: not one of Matroska's own codecs (FFmpeg writes others only "
            "as Windows ACM tracks, when told to break the standard); re-encoding it to flac, losslessly") in err, err
    assert "cannot hold" not in err, err


@pytest.mark.slow
def test_adpcm_into_a_mov_is_re_encoded(run_cli, weights_env, style, tmp_path):
    """MOV's muxer takes no MS ADPCM: re-encoded to AAC, as before (no crash)."""
    source = adpcm_clip(tmp_path / "camera.avi", "adpcm_ms", 1)
    err = stylize(run_cli, source, style, tmp_path / "out.mov")
    assert ".mov cannot hold adpcm_ms audio; re-encoding it to aac" in err, err


def transparent_moving_webp(path: Path) -> None:
    """An animated WebP of a box moving over transparency under a still stripe (a sticker; with
    the box alone, Pillow's GIF needed no disposal)."""
    frames = []
    for step in range(6):
        frame = np.zeros((32, 48, 4), np.uint8)
        frame[:4] = (30, 200, 60, 255)
        frame[8:24, 6 * step:6 * step + 10] = (200, 30, 30, 255)
        frames.append(Image.fromarray(frame, "RGBA"))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)


@pytest.mark.parametrize("name", ["clips/sticker.webp", "clips/it's a $sticker.webp"])
def test_the_webp_refusal_command_converts_the_file_where_it_is(run_cli, weights_env, style, tmp_path,
                                                                 monkeypatch, name):
    """The command named the file alone (`video in/anim.webp` printed Image.open('anim.webp'):
    not found), a quote in the name broke its quoting, and the GIF kept each frame's box under the
    next (no disposal: trails). Pasted where `video` ran, it now makes a GIF beside the WebP whose
    every frame is the WebP's."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clips").mkdir()
    transparent_moving_webp(tmp_path / name)
    code, _, err = run_cli("video", name, "-s", style, "-o", "out.mp4")
    assert code != 0 and err.count("\n") == 1 and err.startswith("error: "), err
    command = err.strip().split("with Pillow: ", 1)[1]
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True, capture_output=True)
    gif = (tmp_path / name).with_suffix(".gif")
    with Image.open(tmp_path / name) as webp, Image.open(gif) as converted:
        given = [np.asarray(frame.convert("RGBA")) for frame in ImageSequence.Iterator(webp)]
        made = [np.asarray(frame.convert("RGBA")) for frame in ImageSequence.Iterator(converted)]
    assert len(made) == len(given) == 6
    assert all(np.array_equal(a, b) for a, b in zip(made, given))


def test_the_webp_refusal_never_converts_onto_its_input(tmp_path):
    """A download named .gif that is an animated WebP: the command wrote the GIF over it."""
    from realtime_adain.errors import UserError
    from realtime_adain.video.probing import refuse_animated_webp

    given = tmp_path / "dl.gif"
    transparent_moving_webp(tmp_path / "dl.webp")
    (tmp_path / "dl.webp").rename(given)
    with pytest.raises(UserError) as refused:
        refuse_animated_webp(given)
    assert str(refused.value).endswith(f"{given} {tmp_path / 'dl.converted.gif'}")
