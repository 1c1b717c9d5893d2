"""Bad input as a hostile user would give it, one table row per case (issue #10).

Each row: argv (with {placeholders}), the exit code, and text the one `error:` line must hold.
Every row also checks: no traceback, no Python warning, nothing but that line on stderr, and no
file or folder left behind (no output, no temporary, no empty output directory).
"""

from __future__ import annotations

import os
import pickle
import shutil
import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest

from realtime_adain.imageio import write_image

IMAGE = ["image", "{content}", "-s", "{style}"]
VIDEO = ["video", "{video}", "-s", "{style}"]


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with almost no pixel data (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


CASES = {
    # Decoding: sizes claimed by a header are checked before any memory is taken.
    "png header 100000x100000": (["image", "{tmp}/bomb.png", "-s", "{style}", "-o", "{tmp}/out/"], 2, "bomb.png: 100000x100000 is larger than"),
    "png header 20000x20000": (["image", "{tmp}/big.png", "-s", "{style}", "-o", "{tmp}/out/"], 2, "big.png: 20000x20000 is larger than"),
    "style with a huge header": (IMAGE[:3] + ["{tmp}/bomb.png", "-o", "{tmp}/out/"], 2, "bomb.png: 100000x100000 is larger than"),
    "mask with a huge header": (IMAGE + ["-s", "{style2}", "--mask", "{tmp}/bomb.png", "-o", "{tmp}/o.png"], 2, "bomb.png: 100000x100000 is larger than"),
    # --size / --style-size / --max-pixels.
    "size 1e20": (IMAGE + ["-o", "{tmp}/o.png", "--size", "99999999999999999999"], 2, "is outside 0..16384"),
    "style-size 1e20": (IMAGE + ["-o", "{tmp}/o.png", "--style-size", "99999999999999999999"], 2, "is outside 0 (native) to 8192"),
    "style-size over 8192": (IMAGE + ["-o", "{tmp}/o.png", "--style-size", "9000"], 2, "--style-size: 9000 is outside 0 (native) to 8192"),
    "size negative": (IMAGE + ["-o", "{tmp}/o.png", "--size=-1"], 2, "is outside 0..16384"),
    "size fractional": (IMAGE + ["-o", "{tmp}/o.png", "--size", "1.5"], 2, "is not a whole number"),
    "size nan": (IMAGE + ["-o", "{tmp}/o.png", "--size", "nan"], 2, "is not a whole number"),
    "size with a newline": (IMAGE + ["-o", "{tmp}/o.png", "--size", "12\n34"], 2, "is not a whole number"),
    "size 5000 digits": (IMAGE + ["-o", "{tmp}/o.png", "--size", "9" * 5000], 2, "is far out of range (more than 4300 digits)"),
    "video size 1e20": (VIDEO + ["-o", "{tmp}/o.mp4", "--size", "99999999999999999999"], 2, "is outside 0..16384"),
    "strip upscaled past a side": (["image", "{tmp}/strip.png", "-s", "{style}", "-o", "{tmp}/o.png", "--size", "128"], 2, "longer than 16384 pixels on a side"),
    "over the pixel budget": (IMAGE + ["-o", "{tmp}/o.png", "--size", "4100", "--style-size", "64"], 2, "over the budget of 16777216 pixels"),
    "style over the pixel budget": (IMAGE + ["-o", "{tmp}/o.png", "--style-size", "4100", "--size", "48"], 2, "at --style-size 4100"),
    "small pixel budget": (IMAGE + ["-o", "{tmp}/o.png", "--max-pixels", "1000"], 2, "over the budget of 1000 pixels"),
    "max-pixels zero": (IMAGE + ["-o", "{tmp}/o.png", "--max-pixels", "0"], 2, "--max-pixels: 0 is outside 1.."),
    "max-pixels negative": (IMAGE + ["-o", "{tmp}/o.png", "--max-pixels=-5"], 2, "is outside 1.."),
    "max-pixels words": (IMAGE + ["-o", "{tmp}/o.png", "--max-pixels", "lots"], 2, "'lots' is not a whole number"),
    "max-pixels 1e20": (IMAGE + ["-o", "{tmp}/o.png", "--max-pixels", "99999999999999999999"], 2, "is outside 1.."),
    "max-pixels float": (IMAGE + ["-o", "{tmp}/o.png", "--max-pixels", "1e6"], 2, "is not a whole number"),
    # --device: every name checked up front.
    "device meta": (IMAGE + ["-o", "{tmp}/out/", "--device", "meta"], 2, "unknown --device 'meta'"),
    "device mps": (IMAGE + ["-o", "{tmp}/out/", "--device", "mps"], 2, "no Apple GPU (MPS) is available"),
    "device xpu": (IMAGE + ["-o", "{tmp}/out/", "--device", "xpu"], 2, "unknown --device 'xpu'"),
    "device cuda:99": (IMAGE + ["-o", "{tmp}/out/", "--device", "cuda:99"], 2, "device 'cuda:99' asked for"),
    "device garbage": (IMAGE + ["-o", "{tmp}/out/", "--device", "garbage"], 2, "unknown --device 'garbage'"),
    "device empty": (IMAGE + ["-o", "{tmp}/out/", "--device", ""], 2, "--device '': an empty name (an unset variable?)"),
    "device cpu:3": (IMAGE + ["-o", "{tmp}/out/", "--device", "cpu:3"], 2, "unknown --device 'cpu:3'"),
    "device cuda:-1": (IMAGE + ["-o", "{tmp}/out/", "--device", "cuda:-1"], 2, "unknown --device 'cuda:-1'"),
    "video device meta": (VIDEO + ["-o", "{tmp}/out/", "--device", "meta"], 2, "unknown --device 'meta'"),
    # Two inputs that would write one output.
    "same name in two folders": (["image", "{tmp}/a/photo.jpg", "{tmp}/b/photo.jpg", "-s", "{style}", "-o", "{tmp}/out/"], 2,
                                 "a/photo.jpg and {tmp}/b/photo.jpg would both be written to"),
    "same stem, --ext": (["image", "{tmp}/same", "-s", "{style}", "-o", "{tmp}/out/", "--ext", "jpg"], 2, "would both be written to"),
    "same file twice": (["image", "{content}", "{content}", "-s", "{style}", "-o", "{tmp}/out/"], 2,
                        "trial.jpg is given twice: give each once"),
    "styles named alike": (["image", "{content}", "-s", "{tmp}/a/photo.jpg", "-s", "{tmp}/b/photo.jpg", "-o", "{tmp}/out/"], 2,
                           "would both be written to"),
    "video same name in two folders": (["video", "{tmp}/v1/clip.mp4", "{tmp}/v2/clip.mp4", "-s", "{style}", "-o", "{tmp}/out/"], 2,
                                       "v1/clip.mp4 and {tmp}/v2/clip.mp4 would both be written to"),
    "video same stem": (["video", "{tmp}/v1/clip.mp4", "{tmp}/v1/clip.mkv", "-s", "{style}", "-o", "{tmp}/out/"], 2,
                        "would both be written to"),
    # Unreadable inputs: all named at once, before any work.
    "folder with bad files": (["image", "{tmp}/mixed", "-s", "{style}", "-o", "{tmp}/out/"], 2,
                              "2 inputs cannot be used, nothing done: {tmp}/mixed/bad.jpg: not a readable image; {tmp}/mixed/empty.png: the file is empty"),
    "bad style in a new folder": (["image", "{content}", "-s", "{tmp}/mixed/bad.jpg", "-o", "{tmp}/new/deeper/"], 2, "bad.jpg: not a readable image"),
    "bad weights in a new folder": (IMAGE + ["-o", "{tmp}/new/deeper/", "--vgg", "{tmp}/mixed/bad.jpg"], 2, "not a readable weights file"),
    "plain pickle weights": (IMAGE + ["-o", "{tmp}/new/", "--vgg", "{tmp}/pickle.pth"], 2, "pickle.pth: not a readable weights file"),
    "download from an empty url": (["weights", "download", "--dir", "{tmp}/w", "--base-url", ""], 2,
                                   "--base-url is empty: give a URL"),
    "download from ftp": (["weights", "download", "--dir", "{tmp}/w", "--base-url", "ftp://example.org/w"], 2,
                          "ftp://example.org/w/vgg_normalised.pth (from --base-url): not an https, http or file URL"),
    # --mix.
    "mix overflowing to inf": (IMAGE + ["-s", "{style2}", "-o", "{tmp}/o.png", "--mix", "1e309,1"], 2, "is not a comma-separated list of numbers"),
    "mix nan": (IMAGE + ["-s", "{style2}", "-o", "{tmp}/o.png", "--mix", "nan,1"], 2, "is not a comma-separated list of numbers"),
    "mix all zero": (IMAGE + ["-s", "{style2}", "-o", "{tmp}/o.png", "--mix", "0,0"], 2, "positive sum"),
    "mix negative": (IMAGE + ["-s", "{style2}", "-o", "{tmp}/o.png", "--mix=-1,2"], 2, "non-negative"),
    "mix underflowing to zero": (IMAGE + ["-s", "{style2}", "-o", "{tmp}/o.png", "--mix", "1e-400,1e-400"], 2, "positive sum"),
    "mix only commas": (IMAGE + ["-s", "{style2}", "-o", "{tmp}/o.png", "--mix", ",,"], 2, "positive sum"),
    "video bitrate of 400 digits": (VIDEO + ["-o", "{tmp}/o.mp4", "--bitrate", "9" * 400], 2, "is above 10000M"),
    # Output names.
    "ext empty": (IMAGE + ["-o", "{tmp}/out/", "--ext", ""], 2, "--ext '': give a format's extension"),
    "ext climbing out": (IMAGE + ["-o", "{tmp}/out/", "--ext", "../x"], 2, "give a format's extension"),
    "ext unknown": (IMAGE + ["-o", "{tmp}/out/", "--ext", "xyz"], 2, "cannot write '.xyz' images; use one of .jpg"),
    "ext read only": (IMAGE + ["-o", "{tmp}/out/", "--ext", "pgm"], 2, "cannot write '.pgm' images"),
    "output grey only": (IMAGE + ["-o", "{tmp}/r.pgm"], 2, "r.pgm: unknown image format '.pgm'"),
    "sheet grey only": (IMAGE + ["--sheet", "{tmp}/s.pgm"], 2, "s.pgm: unknown image format '.pgm'"),
    "empty content path": (["image", "", "-s", "{style}", "-o", "{tmp}/out/"], 2, "an empty content path"),
    "empty style path": (["image", "{content}", "-s", "", "-o", "{tmp}/out/"], 2, "an empty style path"),
    "empty output": (IMAGE + ["-o", ""], 2, "-o '': give an image file or a folder"),
    "output is a dash": (VIDEO + ["-o", "-"], 2, "-o '-': give a video file or a folder"),
    "empty mask": (IMAGE + ["-s", "{style2}", "--mask", "", "-o", "{tmp}/o.png"], 2, "--mask needs an image file's name"),
    "mask is a folder": (IMAGE + ["-s", "{style2}", "--mask", "{tmp}/a", "-o", "{tmp}/o.png"], 2, "a: a folder, not an image file"),
    "video ext empty": (VIDEO + ["-o", "{tmp}/out/", "--ext", "."], 2, "--ext '.': give a format's extension"),
    "output under a file": (IMAGE + ["-o", "{tmp}/mixed/bad.jpg/deeper/o.png"], 2, "mixed/bad.jpg is a file, not a folder"),
    # Paths that exist but are no file or folder, or that hold a newline (attack campaign, tools/attack.py).
    "content is a device": (["image", "/dev/zero", "-s", "{style}", "-o", "{tmp}/o.png"], 2,
                            "/dev/zero: a device, fifo or socket, not a content file or directory"),
    "style is a fifo": (["image", "{content}", "-s", "{tmp}/fifo.jpg", "-o", "{tmp}/o.png"], 2,
                        "fifo.jpg: a device, fifo or socket, not a style file"),
    "content is a symlink loop": (["image", "{tmp}/loop.jpg", "-s", "{style}", "-o", "{tmp}/o.png"], 2,
                                  "loop.jpg: a symbolic link loop, not a content file"),
    "name with a newline": (["image", "{tmp}/new\nline.jpg", "-s", "{style}", "-o", "{tmp}/o.png"], 2,
                            "new\\nline.jpg: no such content file"),
    "video ext with a newline": (VIDEO + ["-o", "{tmp}/out/", "--ext", "m\nkv"], 2, "give a format's extension"),
    "ext with a space": (IMAGE + ["-o", "{tmp}/out/", "--ext", "p g"], 2, "give a format's extension"),
    "output is a fifo": (IMAGE + ["-o", "{tmp}/fifo.jpg"], 2, "fifo.jpg: is a device, fifo or socket; give a regular file's name"),
    "bench json is a fifo": (["bench", "model", "--device", "cpu", "--iters", "1", "--json", "{tmp}/fifo.jpg"], 2,
                             "fifo.jpg: is a device, fifo or socket"),
    "bench json is a folder": (["bench", "video", "--json", "{tmp}/a"], 2, "a: is a folder; give a file name"),
    "codec empty": (VIDEO + ["-o", "{tmp}/o.mp4", "--codec", ""], 2, "argument --codec: an empty name"),
    "bench live seconds huge": (["bench", "live", "--seconds", "1e20"], 2, "1e20 is outside [1, 86400] seconds"),
    "serve idle-timeout huge": (["serve", "--idle-timeout", "1e30"], 2, "is outside [1, 86400] seconds"),
    "serve idle-timeout tiny": (["serve", "-s", "{style}", "--idle-timeout", "1e-9"], 2, "1e-9 is outside [1, 86400] seconds"),
    "threads huge": (VIDEO + ["-o", "{tmp}/o.mp4", "--threads", "99999999999"], 2, "99999999999 is outside 1..1024"),
    "bench video resolution 0x0": (["bench", "video", "--resolution", "0x0"], 2, "both sides must be 16 to"),
    "bench video unknown codec": (["bench", "video", "--codec", "bogus"], 2, "unknown video encoder 'bogus'"),
    "bench live seconds nan": (["bench", "live", "--seconds", "nan"], 2, "'nan' is not a finite number"),
    "vgg is a device": (IMAGE + ["-o", "{tmp}/o.png", "--vgg", "/dev/zero"], 2, "/dev/zero: a device, fifo or socket, not a weights file"),
    "decoder is a folder": (IMAGE + ["-o", "{tmp}/o.png", "--decoder", "{tmp}/a"], 2, "a: a folder, not a weights file"),
    "resolution too large": (["live", "-s", "{style}", "--resolution", "99999999x720"], 2, "both sides must be 16 to 7680 pixels"),
    # Contact sheets (image --sheet, issue #13).
    "no output at all": (IMAGE, 2, "one of the arguments -o/--output --sheet is required"),
    "sheet and -o": (IMAGE + ["--sheet", "{tmp}/s.png", "-o", "{tmp}/o.png"], 2, "argument -o/--output: not allowed with argument --sheet"),
    "sheet of two contents": (["image", "{content}", "{tmp}/a/photo.jpg", "-s", "{style}", "--sheet", "{tmp}/s.png"], 2,
                              "--sheet takes one content image, got 2"),
    "sheet over its content": (["image", "{tmp}/a/photo.jpg", "-s", "{style}", "--sheet", "{tmp}/a/photo.jpg"], 2,
                               "a/photo.jpg: output would overwrite an input"),
    "weights base-url bad IPv6": (["weights", "download", "--dir", "{tmp}/wd", "--base-url", "http://[::1/x"], 2,
                                  "http://[::1/x (from --base-url): Invalid IPv6 URL"),
    "sheet empty name": (IMAGE + ["--sheet", ""], 2, "--sheet needs a file name"),
    "sheet unknown format": (IMAGE + ["--sheet", "{tmp}/s.gif"], 2, "s.gif: unknown image format '.gif'"),
    "sheet without extension": (IMAGE + ["--sheet", "{tmp}/sheet"], 2, "the name says no image format; add one, e.g. sheet.jpg"),
    "sheet under a file": (IMAGE + ["--sheet", "{tmp}/mixed/bad.jpg/s.png"], 2, "mixed/bad.jpg: output directory is not writable (it is a file"),
    "output into /proc": (IMAGE + ["-o", "/proc/x.png"], 2, "/proc: output directory is not writable (files cannot be created there)"),
    "sheet-columns 0": (IMAGE + ["--sheet", "{tmp}/s.png", "--sheet-columns", "0"], 2, "--sheet-columns: 0 must be at least 1"),
    "sheet-columns negative": (IMAGE + ["--sheet", "{tmp}/s.png", "--sheet-columns=-1"], 2, "-1 must be at least 1"),
    "sheet-columns huge": (IMAGE + ["--sheet", "{tmp}/s.png", "--sheet-columns", "9" * 30], 2, "is over 64 columns"),
    "sheet with mix": (IMAGE + ["-s", "{style2}", "--sheet", "{tmp}/s.png", "--mix", "1,1"], 2,
                       "--mix cannot be combined with --sheet (one tile per style, at --size)"),
    "sheet with mask": (IMAGE + ["-s", "{style2}", "--sheet", "{tmp}/s.png", "--mask", "{style}"], 2,
                        "--mask cannot be combined with --sheet"),
    "sheet-columns without sheet": (IMAGE + ["-o", "{tmp}/o.png", "--sheet-columns", "3"], 2,
                                    "--sheet-columns applies to a contact sheet: give --sheet FILE"),
    "style-cache without sheet": (IMAGE + ["-o", "{tmp}/o.png", "--style-cache", "{tmp}/cache"], 2, "--style-cache applies to a contact sheet"),
    "sheet style-cache is a file": (IMAGE + ["--sheet", "{tmp}/s.png", "--style-cache", "{tmp}/mixed/bad.jpg"], 2,
                                    "--style-cache {tmp}/mixed/bad.jpg: folder is not writable (it is a file, not a folder)"),
    "live style-cache under a file": (["live", "-s", "{style}", "--style-cache", "{tmp}/mixed/bad.jpg/cache"], 2,
                                      "--style-cache {tmp}/mixed/bad.jpg/cache: folder is not writable"),
    "sheet of bad styles in a new folder": (["image", "{content}", "-s", "{tmp}/mixed", "--sheet", "{tmp}/new/s.png"], 2,
                                            "2 inputs cannot be used, nothing done"),
    "sheet over the pixel budget": (IMAGE + ["--sheet", "{tmp}/s.png", "--size", "48", "--style-size", "32", "--max-pixels", "2500"], 2,
                                    "a sheet of 2 tiles does not fit in 2500 pixels (--max-pixels)"),
}


@pytest.fixture
def material(tmp_path, data_dir):
    """Inputs for the table, all inside tmp_path (so anything written there is seen)."""
    content = data_dir / "content" / "lenna.jpg"
    small = cv2.resize(cv2.imread(str(content)), (40, 30))
    (tmp_path / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (tmp_path / "big.png").write_bytes(png_header(20_000, 20_000))
    cv2.imwrite(str(tmp_path / "strip.png"), np.full((10, 10_000, 3), 128, np.uint8))
    for folder in ("a", "b", "same", "mixed", "v1", "v2"):
        (tmp_path / folder).mkdir()
    for path in ("a/photo.jpg", "b/photo.jpg", "same/photo.jpg", "same/photo.png", "mixed/good.jpg"):
        cv2.imwrite(str(tmp_path / path), small)
    (tmp_path / "mixed" / "bad.jpg").write_text("hello, I am not a JPEG")
    (tmp_path / "mixed" / "empty.png").write_bytes(b"")
    (tmp_path / "pickle.pth").write_bytes(pickle.dumps({"0.weight": [1, 2, 3]}, protocol=4))
    os.mkfifo(tmp_path / "fifo.jpg")
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")
    (tmp_path / "v1/clip.mp4").symlink_to(data_dir / "videos" / "cutBunny.mp4")
    for path in ("v2/clip.mp4", "v1/clip.mkv"):  # other files of the same names (links to one file: "given twice")
        shutil.copy(data_dir / "videos" / "cutBunny.mp4", tmp_path / path)
    return {"tmp": tmp_path, "content": content, "style": data_dir / "style" / "trial.jpg",
            "style2": data_dir / "style" / "mondrian.jpg", "video": data_dir / "videos" / "cutBunny.mp4"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, material, weights_env, run_cli):
    argv, expected_code, expected = CASES[case]
    tmp = material["tmp"]
    before = set(tmp.rglob("*"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run_cli(*[a.format(**material) for a in argv])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == expected_code, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert expected.format(**material) in lines[0], err
    assert not [str(w.message) for w in caught], "warnings shown to the user"
    assert set(tmp.rglob("*")) == before  # no output, temporary file or empty folder left


def test_device_names_against_the_gpus_present(monkeypatch):
    """cuda:N is accepted only for a GPU that exists, mps only where MPS is available (hardware mocked)."""
    import torch

    from realtime_adain.errors import UserError
    from realtime_adain.devices import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert [str(pick_device(name)) for name in ("cuda", "cuda:1", "mps", "cpu")] == ["cuda", "cuda:1", "mps", "cpu"]
    with pytest.raises(UserError, match=r"only 2 CUDA GPUs \(cuda:0 to cuda:1\)"):
        pick_device("cuda:2")


def test_outputs_write_through_symbolic_links(tmp_path):
    """A finished output replaces a symbolic link's target, as cp and ffmpeg write through one;
    renaming it over the link would have replaced the link (and, as root, a link to a device
    would have replaced the device)."""
    from realtime_adain.atomic import atomic_write_bytes

    (tmp_path / "link.json").symlink_to(tmp_path / "target.json")
    atomic_write_bytes(tmp_path / "link.json", b"{}")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "target.json").read_bytes() == b"{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "target.json"]  # no temporary left



def test_a_link_into_a_missing_folder_is_refused_not_followed(run_cli, weights_env, data_dir, tmp_path):
    """The folders a dangling link points into were made, wherever it pointed (/nonexistent/...)."""
    (tmp_path / "out.png").symlink_to(tmp_path / "elsewhere" / "deep" / "x.png")
    code, _, err = run_cli("image", data_dir / "content" / "golden_gate.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--size", "32", "--style-size", "32", "-o", tmp_path / "out.png")
    assert code == 2 and "a symbolic link to" in err and "in a folder that does not exist" in err, err
    assert not (tmp_path / "elsewhere").exists()


def test_a_loop_of_links_as_the_output_is_refused(run_cli, weights_env, data_dir, tmp_path):
    """a.png -> b.png -> a.png: the finished image replaced the link (ffmpeg says "Too many levels
    of symbolic links"); it is refused, the links left as they were."""
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    code, _, err = run_cli("image", data_dir / "content" / "golden_gate.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--size", "32", "--style-size", "32", "-o", tmp_path / "a.png")
    assert code == 2 and err == f"error: {tmp_path / 'a.png'}: is a loop of symbolic links; remove it or give another name\n"
    assert (tmp_path / "a.png").is_symlink() and (tmp_path / "b.png").is_symlink()

def test_a_file_named_like_an_option_gets_a_hint(run_cli, tmp_path, monkeypatch):
    """`video -x.mp4 ...` said only that INPUT was missing: argparse takes the name for an option."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-x.mp4").write_bytes(b"\0")
    code, _, err = run_cli("video", "-x.mp4", "-s", "style.jpg", "-o", "o.mp4")
    assert code == 2 and err.count("\n") == 1, err
    assert "INPUT; -x.mp4 is a file: write ./-x.mp4, or put -- before it (see `realtime-adain video --help`)" in err
    code, _, err = run_cli("video", "-s", "style.jpg", "-o", "o.mp4", "--bogus")  # no such file: no hint
    assert code == 2 and "is a file" not in err, err


@pytest.mark.slow  # (default run's time: 3 s)
def test_an_output_named_with_a_newline_is_one_line_on_stdout(run_cli, weights_env, data_dir, tmp_path):
    """stdout lists one finished output a line; a name holding a newline made two lines of one."""
    out = tmp_path / "new\nline.png"
    code, stdout, err = run_cli("image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                                "--size", "64", "-o", out)
    assert code == 0, err
    assert stdout == str(out).replace("\n", "\\n") + "\n" and out.exists()


def test_a_folder_names_what_it_leaves_out(tmp_path, capsys):
    """A FIFO or a dangling link named like an image in an input folder was skipped without a word
    (a FIFO is never opened: it would block)."""
    from realtime_adain.input_paths import expand_images

    folder = tmp_path / "styles"
    folder.mkdir()
    write_image(folder / "good.png", np.zeros((8, 8, 3), np.uint8))
    os.mkfifo(folder / "pipe.png")
    (folder / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    assert expand_images([folder], "style") == [folder / "good.png"]
    err = capsys.readouterr().err
    assert f"note: {folder / 'gone.jpg'}: left out, a symbolic link to {tmp_path / 'missing.jpg'}, which does not exist" in err
    assert f"note: {folder / 'pipe.png'}: left out, a device, fifo or socket" in err
