"""Session 28's hostile findings, each where it failed: weights files that are not PyTorch files,
a legacy pickle with a harmful global, and whatever else this session found."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import pytest

from realtime_adain import weight_files
from realtime_adain.errors import UserError


def refusal(path) -> str:
    with pytest.raises(UserError) as caught:
        weight_files.read_weights(path)
    return str(caught.value).removeprefix(f"{path}: not a readable weights file (").removesuffix(")")


def test_files_that_are_not_pytorch_files_are_said_to_be_so(data_dir, tmp_path):
    """A photo, a web page and random bytes were "a PyTorch file holding more than weights" (a
    JPEG's bytes read as pickle opcodes) or pickle's own words ("pop from empty list")."""
    photo = tmp_path / "photo.pth"
    photo.write_bytes((data_dir / "content" / "sailboat.jpg").read_bytes())
    page = tmp_path / "page.pth"
    page.write_text("<!DOCTYPE html><html><body>Sign in to continue</body></html>\n" * 50)
    assert refusal(photo) == refusal(page) == "not a PyTorch or safetensors file"
    rng = random.Random(28)
    reasons = set()
    for i in range(200):
        junk = tmp_path / f"junk{i}.pth"
        junk.write_bytes(rng.randbytes(rng.randrange(1, 4096)))
        reasons.add(refusal(junk))
    assert reasons <= {"not a PyTorch or safetensors file", "not a PyTorch or safetensors file, or cut short",
                       "a PyTorch file holding more than weights (code or other objects), which is not loaded"}


def test_an_empty_pth_and_safetensors_named_pth_are_said_so(tmp_path):
    import torch
    from safetensors.torch import save_file

    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    named = tmp_path / "decoder.pth"
    save_file({"a": torch.zeros(2)}, str(named))
    assert refusal(empty) == "an empty file"
    assert refusal(named) == "a safetensors file named .pth: name it .safetensors"


@pytest.mark.parametrize("tail", [b"", b"\x02", b"\x02\x8a", b"\x04\x95\xff\xff", b"\x02]\x94(X\x05\x00\x00\x00ab"])
def test_a_pickle_cut_short_is_said_to_be_so(tmp_path, tail):
    cut = tmp_path / "cut.pth"
    cut.write_bytes(b"\x80" + tail)
    assert refusal(cut) == "not a PyTorch or safetensors file, or cut short"


def test_a_legacy_pickle_calling_code_is_said_to_hold_more_than_weights(tmp_path):
    path = tmp_path / "legacy.pth"
    path.write_bytes(pickle.dumps(print, protocol=2))  # a global: refused by weights_only, never called
    assert refusal(path) == "a PyTorch file holding more than weights (code or other objects), which is not loaded"


def test_the_printed_url_carries_any_allowed_token(capsys):
    """`--token 'pass+word#123'` was printed as is: the browser cut it at '#' and read '+' as a
    space, so the URL the server printed was refused."""
    import yarl

    from realtime_adain.serve.listening import print_url
    from realtime_adain.serve.settings import ServeSettings

    token = "pass+word#1%20&x=y/?"
    settings = ServeSettings(styles=("a.jpg",), token=token)
    settings.check()
    print_url(settings, 8080)
    url = capsys.readouterr().out.strip().removeprefix("serving on ")
    assert yarl.URL(url).query["token"] == token  # as aiohttp reads it (the page: URLSearchParams, the same)


@pytest.mark.parametrize("host, says", [("0", "write the address in full (--host 0.0.0.0)"),
                                        ("127.1", "write the address in full (--host 127.0.0.1)"),
                                        ("0x7f.1", "write the address in full (--host 127.0.0.1)"),
                                        ("::ffff:127.0.0.1", "give the IPv4 address itself (--host 127.0.0.1)"),
                                        ("2001:db8:0:0::1", "write the address in its short form (--host 2001:db8::1)"),
                                        ("010.0.0.1", "write the address in full (--host 8.0.0.1) (a part with a "
                                                      "leading 0 is octal)")])
def test_short_or_mapped_addresses_are_refused_with_their_plain_form(host, says):
    """`--host 0` listened everywhere and `--host 127.1` on loopback, but the Host checks took
    them for names: every request, the printed URL's too, was a 403."""
    from realtime_adain.serve.settings import ServeSettings

    with pytest.raises(UserError, match=f"--host {host}: " + says.replace("(", r"\(").replace(")", r"\)")):
        ServeSettings(styles=("a.jpg",), host=host).check()
    for fine in ("127.0.0.1", "::1", "0.0.0.0", "::", "localhost", "gpu-box", "fe80::1", "2001:db8::1"):
        ServeSettings(styles=("a.jpg",), host=fine, token=None if fine in ("127.0.0.1", "::1", "localhost") else
                      "a-token-for-it").check()


def test_every_api_refusal_is_json(stylizer, data_dir, tmp_path):
    """serve.md: errors are JSON {"error": ...}; aiohttp's own 404 and 405 were plain text. (A body
    in an encoding aiohttp cannot decode, brotli, is refused by its parser before any handler: plain
    text still.)"""
    import asyncio
    import json

    import aiohttp

    from realtime_adain.live.styles import StyleLibrary
    from realtime_adain.serve.styles import StyleRegistry
    from test_serve import served

    registry = StyleRegistry(StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path).load(), None)

    async def main():
        answers = {}
        async with served(stylizer, registry) as (_server, url), aiohttp.ClientSession() as session:
            for name, method, path, headers in (("no route", "GET", "/api/nothing", {}),
                                                ("method", "GET", "/api/offer", {})):
                async with session.request(method, url + path, headers=headers) as response:
                    answers[name] = (response.status, response.headers.get("Allow"), await response.text())
        return answers

    answers = asyncio.run(main())
    assert [status for status, _, _ in answers.values()] == [404, 405], answers
    assert answers["method"][1] == "POST"
    for status, _allow, text in answers.values():
        assert text.startswith("{") and isinstance(json.loads(text)["error"], str), answers


@pytest.mark.slow  # (default run's time: 3 s)
def test_doctor_names_a_cache_folder_it_cannot_read(tmp_path):
    """An engine cache folder without read permission was "check failed  PermissionError: ...
    -> this is a bug or a broken install": it is the setup. (As root, run with the override of
    permissions dropped, as an ordinary user.)"""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    as_user = (["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else [])
    if as_user and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux) to drop the override")
    home = tmp_path / "home"
    (home / "engines").mkdir(parents=True)
    (home / "engines" / "onnx-fp32-dynamic-0123456789abcdef0123.onnx").write_bytes(b"x")
    (home / "engines").chmod(0)
    code = ("from realtime_adain.doctor import run_checks, caches\n"
            "for section in run_checks({'caches': caches}).sections:\n"
            "    for finding in section.findings:\n        print(finding.level, '|', finding.value, '|', finding.fix)\n")
    try:
        done = subprocess.run([*as_user, sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              cwd=Path(__file__).resolve().parents[1],
                              env={**{k: v for k, v in os.environ.items() if k != "REALTIME_ADAIN_ENGINES"},
                                   "REALTIME_ADAIN_HOME": str(home)})
    finally:
        (home / "engines").chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert "permission denied" in done.stdout and "this is a bug" not in done.stdout, done.stdout


@pytest.mark.parametrize("ext, kept", [(".avi", "timecode"), (".ts", ""), (".mkv", "both")])
def test_a_timecode_and_chapters_the_output_cannot_hold_are_said_dropped(run_cli, weights_env, data_dir, tmp_path,
                                                                        ext, kept):
    """`--json` said a MOV's timecode track and chapter track were "carried another way" where the
    output (.avi, .ts, .gif) holds neither, and no note said they were lost."""
    import json

    from test_video_codecs17 import timecode
    from test_video_more_containers import CLIP, ffmpeg

    meta = tmp_path / "chapters.txt"
    meta.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=250\ntitle=one\n"
                    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=250\nEND=500\ntitle=two\n")
    source = tmp_path / "in.mov"
    ffmpeg(*CLIP, "-i", meta, "-map_metadata", "1", "-map", "0:v", "-timecode", "01:02:03:04", source)
    out = tmp_path / f"out{ext}"
    code, stdout, err = run_cli("video", source, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32",
                                "--style-size", "64", "--stabilize", "off", "--json", "-o", out)
    assert code == 0, err
    reasons = [s["reason"] for s in json.loads(stdout)["streams"]]
    with av_open(out) as container:
        chapters = len(container.chapters())
    assert (timecode(out) == "01:02:03:04", chapters == 2) == (kept in ("timecode", "both"), kept == "both")
    if kept == "both":
        assert "holds no" not in err and "its time is carried as the output's timecode tag" in reasons
    elif kept == "timecode":  # (AVI: the file's tag, its ISMP chunk)
        assert f"note: {source.name}: {ext} holds no chapters: the input's are dropped" in err
        assert "its time is carried as the output's timecode tag" in reasons
    else:
        assert f"note: {source.name}: {ext} holds no chapters or timecode: the input's are dropped" in err
        assert f"{ext} holds no timecode: dropped" in reasons  # (the chapters are the file's here: the note says it)


def av_open(path):
    import av

    return av.open(str(path))


@pytest.mark.parametrize("target, says", [
    ("closed", "cannot reach 127.0.0.1:{port}, where 127.0.0.1:{server} redirected (Connection refused)"),
    ("login", "cannot reach 127.0.0.1:{server}, where 127.0.0.1:{server} redirected (a redirect to an address with "
              "a login (user:password@) in it, which is not followed)")])
def test_a_redirect_whose_target_fails_names_the_target(tmp_path, target, says):
    """It said "cannot reach 127.0.0.1:SERVER (Connection refused)" naming the mirror, which answered."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from realtime_adain import download
    from weights_server import closed_port_url

    closed = closed_port_url()
    port = int(closed.rsplit(":", 1)[1].split("/")[0])

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(302)
            where = f"{closed}/w.pth" if target == "closed" else \
                f"http://evil:pw@127.0.0.1:{self.server.server_address[1]}/w.pth"
            self.send_header("Location", where)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with pytest.raises(UserError) as caught:
            download.download_file("decoder", f"http://127.0.0.1:{httpd.server_address[1]}/decoder.pth", tmp_path / "w",
                                   check_checksum=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert str(caught.value).startswith(says.format(port=port, server=httpd.server_address[1])), str(caught.value)
    assert "pw" not in str(caught.value)


class RangeServer:
    """Serves `body`: `mode` "whole as 206" answers a plain request with 206 bytes 0-N/N+1 (all of
    it), "part as 206" with 206 bytes 0-99/N+1 and that part; "half then elsewhere" sends half and
    drops the connection, and answers every resumed request from another byte than asked."""

    def __init__(self, body: bytes, mode: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                asked = self.headers.get("Range")
                if mode == "part as 206":
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes 0-99/{len(body)}")
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    self.wfile.write(body[:100])
                    return
                if mode == "whole as 206" or asked:
                    start = 0 if mode == "whole as 206" else 7
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                    self.send_header("Content-Length", str(len(body) - start))
                    self.end_headers()
                    self.wfile.write(body[start:])
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2])
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/decoder.pth"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_206_holding_part_of_the_file_asked_whole_is_refused_and_the_whole_file_taken(published_weights, tmp_path):
    """Only the start of the range was read: bytes 0-99 of a whole file passed as if all of it
    came (the size and structure checks then failed later, in other words)."""
    from realtime_adain import download

    body = published_weights[1].read_bytes()
    server = RangeServer(body, "part as 206")
    try:
        with pytest.raises(UserError, match=r"the server answered with part of the file \(HTTP 206\)"):
            download.download_file("decoder", server.url, tmp_path / "w", check_checksum=False)
    finally:
        server.close()
    server = RangeServer(body, "whole as 206")
    try:
        path, _ = download.download_file("decoder", server.url, tmp_path / "w", check_checksum=False)
    finally:
        server.close()
    assert path.read_bytes() == body


def test_resumes_answered_from_elsewhere_are_said_so(published_weights, tmp_path):
    """It ended "download interrupted 4 times before any data arrived": half the file came each time."""
    from realtime_adain import download

    server = RangeServer(published_weights[1].read_bytes(), "half then elsewhere")
    try:
        with pytest.raises(UserError, match=r"download interrupted 4 times, and the server answers a resumed request "
                                            r"with another part of the file \(asked from byte \d+, sent bytes 7-"):
            download.download_file("decoder", server.url, tmp_path / "w", check_checksum=False)
    finally:
        server.close()
    assert not list((tmp_path / "w").glob("*.pth"))


def test_uploaded_styles_stay_out_of_the_style_cache(stylizer, data_dir, tmp_path):
    """Each upload was cached in the user's style cache for good: remote clients grew it by 64
    images a run, run after run."""
    from realtime_adain.imageio import read_image
    from realtime_adain.live.styles import StyleLibrary
    from realtime_adain.serve.styles import StyleRegistry

    cache, uploads = tmp_path / "cache", tmp_path / "uploads"
    uploads.mkdir()
    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, cache).load()
    registry = StyleRegistry(library, uploads)
    before = sorted(p.name for p in cache.iterdir())
    served = registry.add_upload(read_image(data_dir / "style" / "asheville.jpg")[:96, :96], "ab" * 32)
    assert served.style.path.parent == uploads and len(registry) == 2
    assert sorted(p.name for p in cache.iterdir()) == before and len(before) == 1


@pytest.mark.parametrize("target", ["hard link", "sequence picture", "engine cache", "folder", "folder to make"])
def test_the_log_never_appends_to_an_input_however_named(run_cli, weights_env, data_dir, tmp_path, monkeypatch, target):
    """Only a path resolving to the source was refused: `--log frames/0003.png` (a picture of the
    sequence given as --source) and a hard link to the source were appended to; a log written into
    the engine cache damaged an ONNX export (then silently not used); a folder was "Is a directory"."""
    import os

    import numpy as np

    from live_support import copy_styles, write_video
    from realtime_adain.imageio import write_image

    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    source = write_video(tmp_path / "clip.mp4", frames=4, size=(96, 64))
    if target == "sequence picture":
        (tmp_path / "frames").mkdir()
        for i in range(1, 5):
            write_image(tmp_path / "frames" / f"{i:04d}.png", np.full((64, 96, 3), 40 * i, np.uint8))
        source, log = tmp_path / "frames" / "%04d.png", tmp_path / "frames" / "0003.png"
    elif target == "hard link":
        log = tmp_path / "hard.mp4"
        os.link(source, log)
    elif target == "engine cache":
        monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
        (tmp_path / "engines").mkdir()
        log = tmp_path / "engines" / "onnx-fp32-dynamic-0123456789abcdef0123.onnx"
        log.write_bytes(b"an export")
    elif target == "folder":
        log = tmp_path / "logs"
        log.mkdir()
    else:
        log = f"{tmp_path / 'new'}/"
    before = log.read_bytes() if Path(log).is_file() else None
    code, _, err = run_cli("live", "--source", source, "--styles", styles, "--no-window", "-o", tmp_path / "out.mp4",
                           "--max-frames", "2", "--log", log, "--size", "32", "--style-size", "64")
    says = {"hard link": "--log would write into", "sequence picture": "--log would write into a picture of the image "
            "sequence", "engine cache": "inside the engine cache", "folder": "a folder; give a file name",
            "folder to make": "a folder; give a file name"}[target]
    assert code == 2 and err.count("\n") == 1 and says in err, err
    assert (Path(log).read_bytes() if Path(log).is_file() else None) == before


@pytest.mark.slow  # (the 15 s wait for a first frame)
def test_a_source_lost_before_its_first_frame_names_why(run_cli, weights_env, data_dir, tmp_path):
    """An MP4 whose index is at its end, over HTTP without ranges (FFmpeg cannot play it either),
    ended "no frames arrived within 15 s", its cause (an I/O error each try) said only in the log."""
    import functools
    import shutil
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from live_support import copy_styles

    shutil.copy(data_dir / "videos" / "cutBunny.mp4", tmp_path / "bunny.mp4")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    try:
        code, _, err = run_cli("live", "--source", f"http://127.0.0.1:{httpd.server_address[1]}/bunny.mp4",
                               "--styles", styles, "--no-window", "-o", tmp_path / "out.mp4", "--no-loop",
                               "--size", "32", "--style-size", "64")
    finally:
        httpd.shutdown()
        httpd.server_close()
    last = err.strip().splitlines()[-1]
    assert code == 2 and "no frames arrived within 15 s (the source was lost and reopened: " in last, err


def test_an_http_error_from_a_redirects_target_names_the_target(tmp_path):
    """A 404 from where the mirror redirected named the mirror's own URL, which answered 302."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from realtime_adain import download

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/gone/"):
                self.send_error(404)
                return
            self.send_response(302)
            self.send_header("Location", "/gone/w.pth?token=secret")
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        with pytest.raises(UserError) as caught:
            download.download_file("decoder", f"http://user:pw@127.0.0.1:{httpd.server_address[1]}/decoder.pth",
                                   tmp_path / "w", check_checksum=False)
        with pytest.raises(UserError) as direct:  # no redirect (a login in the URL is not one): the URL asked
            download.download_file("decoder", f"{base}/gone/decoder.pth", tmp_path / "w", check_checksum=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert str(caught.value).startswith(f"{base}/gone/w.pth?token=***, where http://***@127.0.0.1:"), \
        str(caught.value)
    assert str(caught.value).endswith("/decoder.pth redirected: HTTP 404 Not Found")
    assert "secret" not in str(caught.value) and "pw" not in str(caught.value)
    assert str(direct.value) == f"{base}/gone/decoder.pth: HTTP 404 Not Found"
