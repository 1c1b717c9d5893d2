"""Session 53 fixes: lossless sound into .avi stays lossless (PCM of its depth; it was made MP3), and
the animated-WebP refusal's command writes its GIF under a name not taken (it wrote over anim.gif)."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.video.probing import refuse_animated_webp
from test_fixes44_video_sound import transparent_moving_webp
from test_video_leftovers import audio_of, ffmpeg, samples
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG

# (input, its audio options) -> the PCM it becomes in .avi
LOSSLESS = {
    "pcm_s32be": ("mov", ("-c:a", "pcm_s32be"), "pcm_s32le"),  # (MOV's big-endian PCM, as `ffmpeg` writes it)
    "flac-24": ("mkv", ("-c:a", "flac", "-sample_fmt", "s32"), "pcm_s24le"),  # (FLAC's frames AVI cannot time; its STREAMINFO states 24 bits)
    "pcm_f32be-5.1": ("mov", ("-c:a", "pcm_f32be", "-ac", "6"), "pcm_f32le"),  # (was AC-3: 5.1 kept, lossy)
}


@pytest.mark.slow_cases("flac-24", "pcm_f32be-5.1")  # (6-9 s each on a shared machine)
@pytest.mark.parametrize("name", list(LOSSLESS))
def test_lossless_sound_an_avi_cannot_copy_becomes_pcm_of_its_depth(name, run_cli, weights_env, style, tmp_path):
    """Was ".avi cannot hold pcm_s32be audio; re-encoding it to mp3" (and flac, and AC-3 for 5.1),
    though AVI holds little-endian PCM: the same samples now, in a file that plays cleanly."""
    ext, options, codec = LOSSLESS[name]
    source = tmp_path / f"{name}.{ext}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", "-f", "lavfi", "-i",
           "sine=f=440:sample_rate=44100:duration=0.5,volume=0.01", "-c:v", "libx264", *options, source)
    out = tmp_path / "out.avi"
    err = stylize(run_cli, source, style, out)
    assert f"re-encoding it to {codec}, losslessly" in err, err
    given, got = audio_of(source), audio_of(out)
    assert (got["codec_name"], got["sample_rate"], got["channels"]) == (codec, given["sample_rate"], given["channels"])
    assert np.array_equal(samples(out), samples(source))
    played = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(out), "-f", "null", "-"],
                            capture_output=True, text=True, check=True)
    assert played.stderr == ""


@pytest.mark.parametrize("taken", [["anim.gif"], ["anim.gif", "anim.converted.gif"],
                                   ["anim.gif", "anim.converted.gif", "anim.converted-2.gif"]])
def test_the_webp_refusal_command_writes_no_gif_over_one_beside_it(tmp_path, monkeypatch, taken):
    """The command wrote `anim.gif` beside `anim.webp`, over a GIF of the user's of that name: it
    names one not taken, and run, leaves the GIFs there as they were."""
    monkeypatch.chdir(tmp_path)
    transparent_moving_webp(tmp_path / "anim.webp")
    for number, name in enumerate(taken):
        (tmp_path / name).write_bytes(b"GIF89a the user's own %d" % number)
    with pytest.raises(UserError) as refused:
        refuse_animated_webp(tmp_path.joinpath("anim.webp").relative_to(tmp_path))
    command = str(refused.value).split("with Pillow: ", 1)[1]
    made = f"anim.converted-{len(taken)}.gif" if len(taken) > 1 else "anim.converted.gif"
    assert command.endswith(f" anim.webp {made}"), command
    subprocess.run(["bash", "-c", command], check=True, capture_output=True)
    assert (tmp_path / made).read_bytes().startswith(b"GIF8")
    assert all((tmp_path / name).read_bytes() == b"GIF89a the user's own %d" % number
               for number, name in enumerate(taken))


def test_the_webp_refusal_names_no_gif_where_a_dangling_link_is(tmp_path):
    """A dangling symbolic link named anim.gif is taken too: the command would write through it."""
    transparent_moving_webp(tmp_path / "anim.webp")
    (tmp_path / "anim.gif").symlink_to(tmp_path / "gone" / "x.gif")
    with pytest.raises(UserError) as refused:
        refuse_animated_webp(tmp_path / "anim.webp")
    assert str(refused.value).endswith("anim.converted.gif"), str(refused.value)[-80:]
