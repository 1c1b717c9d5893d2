"""Session 57: a piped source's lines follow the session's `start`; `live --resolution` takes
360p, 720p and 1080p and says so; serve's access options are refused before torch loads."""
import subprocess
import sys

import pytest

from live_support import FAST, REPO, cli_env, copy_styles, live_command, read_video, write_video


def lines_of(log) -> list[str]:
    return [line.split()[1] for line in log.read_text().splitlines()]


@pytest.mark.slow  # (a live session in a process of its own: 15 s)
def test_a_piped_source_ended_during_the_start_is_said_after_it(published_weights, data_dir, tmp_path):
    """A short clip piped in was read to its end while the model loaded: `source-ended` was the
    log's first line, before `styles` and `start`."""
    clip = write_video(tmp_path / "clip.mp4", frames=12)
    mpegts = subprocess.run(["ffmpeg", "-v", "error", "-i", clip, "-c", "copy", "-f", "mpegts", "-"],
                            capture_output=True, check=True).stdout
    done = subprocess.run(live_command("--source", "-", "--styles", data_dir / "style" / "mondrian.jpg",
                                       "--no-window", "-o", tmp_path / "out.mp4", "--log", tmp_path / "log.txt", *FAST),
                          input=mpegts, capture_output=True, env=cli_env(published_weights, tmp_path / "home"),
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    events = lines_of(tmp_path / "log.txt")
    assert events[:3] == ["styles", "start", "source-ended"] and events.count("source-ended") == 1, events
    assert read_video(tmp_path / "out.mp4")[0] >= 1


def test_held_source_lines_are_said_once_released_in_their_order():
    from realtime_adain.live.events import HeldLines

    said = []
    held = HeldLines(lambda event, **fields: said.append((event, fields)))
    held("source-lost", reason="a")
    held("source-ended", frames=3)
    assert said == []
    held.release()
    held("source-resumed")
    held.release()  # (again: nothing more)
    assert said == [("source-lost", {"reason": "a"}), ("source-ended", {"frames": 3}), ("source-resumed", {})]


def test_the_live_resolution_names_are_in_the_help_and_the_docs(run_cli):
    code, out, _err = run_cli("live", "--help")
    assert code == 0 and "360p/720p/1080p" in " ".join(out.split()), out
    docs = (REPO / "docs" / "live.md").read_text()
    assert "`--resolution WxH` (or `360p`, `720p`, `1080p`" in docs


def test_a_file_source_plays_at_a_named_resolution(run_cli, weights_env, data_dir, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", frames=6)
    styles = copy_styles(data_dir, tmp_path / "styles", names=("mondrian.jpg",))
    code, _out, err = run_cli("live", "--source", clip, "--resolution", "360p", "--styles", styles, "--no-window",
                              "-o", tmp_path / "out.mp4", "--max-frames", "2", *FAST)
    assert code == 0 and "resolution=640x360 size=114x64" in err, err
    assert read_video(tmp_path / "out.mp4") == (2, 114, 64)


# Any of these imported fails the command: its options must be refused before them.
BLOCK_HEAVY_IMPORTS = """\
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'aiohttp', 'aiortc'):
            raise ImportError(f'{name} imported before the options were checked')
sys.meta_path.insert(0, Block())
"""


@pytest.mark.parametrize("args, says", [
    (["--token", "short"], "error: --token must be 8 to 256 printable ASCII characters"),
    (["--token-file", "{tmp}/missing"], "error: --token-file {tmp}/missing: no such file or directory"),
    (["--host", "0"], "error: --host 0: write the address in full (--host 0.0.0.0)"),
    (["--host", "127.0.0.1:8080"], "error: --host 127.0.0.1:8080: give the port with --port"),
    (["--allow-host", "https://x.example/"], "error: --allow-host 'https://x.example/' is not a host name"),
], ids=["token", "token file", "host 0", "host with a port", "allow-host"])
def test_serve_refuses_its_access_options_before_the_heavy_imports(published_weights, data_dir, tmp_path, args, says):
    """A short --token was refused only after torch, aiohttp and aiortc loaded: 11 s, a minute on a
    busy machine, where a mistake argparse finds took 2 s."""
    (tmp_path / "sitecustomize.py").write_text(BLOCK_HEAVY_IMPORTS)
    env = cli_env(published_weights, tmp_path / "home")
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    args = [arg.format(tmp=tmp_path) for arg in args]
    done = subprocess.run([sys.executable, "-m", "realtime_adain", "serve", "-s", data_dir / "style" / "mondrian.jpg",
                           *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith(says.format(tmp=tmp_path)), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_serve_still_checks_its_model_options_and_says_a_missing_extra(run_cli, weights_env, data_dir):
    code, _out, err = run_cli("serve", "-s", data_dir / "style" / "mondrian.jpg", "--device", "nosuch")
    assert code == 2 and err.startswith("error:") and "nosuch" in err and len(err.strip().splitlines()) == 1, err
