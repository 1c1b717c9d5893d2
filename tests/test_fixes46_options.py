"""Options refused as the others are (tester h7, session 46): an empty --snapshot-dir/--record-dir,
--device mistakes that named no option, ranges checked only once torch had loaded, and options
ignored without a word where nothing uses them."""

import pytest

from cli_support import one_error_line
from realtime_adain.cli import build_parser
from realtime_adain.devices import device_argument, pick_device
from realtime_adain.errors import UserError


def parse_error(capsys, *argv: str) -> str:
    """The one error line argparse gives for `argv` (nothing runs: a range it let through would)."""
    with pytest.raises(SystemExit) as stopped:
        build_parser(list(argv)).parse_args(list(argv))
    return one_error_line(capsys.readouterr().err, stopped.value.code)


@pytest.mark.parametrize("option", ["--snapshot-dir", "--record-dir"])
def test_an_empty_key_folder_is_refused_as_other_paths_are(capsys, option):
    """`--snapshot-dir ''` (an unset variable) was the current folder: `s` wrote there."""
    said = parse_error(capsys, "live", "--styles", "s.jpg", option, "")
    assert said == (f"error: realtime-adain live: argument {option}: an empty path (an unset variable?) "
                    "(see `realtime-adain live --help`)")


@pytest.mark.parametrize("command", [["image", "c.png", "-s", "s.png", "-o", "o.png"], ["export", "--format", "onnx"]])
@pytest.mark.parametrize("device", ["", " "])
def test_an_empty_device_is_said_as_an_unset_variable(run_cli, tmp_path, command, device):
    """It was "unknown device ''", and export's "--device : the onnx export is made ... on the CPU"."""
    code, _, err = run_cli(*command, "--device", device)
    assert one_error_line(err, code) == (f"error: --device '{device}': an empty name (an unset variable?); give a "
                                         "device such as cpu or cuda, or leave --device out")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("device", ["é✓", "-1", "meta"])
def test_an_unknown_device_names_the_option(run_cli, device):
    code, _, err = run_cli("video", "v.mp4", "-s", "s.png", "-o", "o.mp4", "--device", device)
    assert one_error_line(err, code) == f"error: unknown --device '{device}' (use auto, cpu, cuda, cuda:N or mps)"


def test_the_api_says_device_as_its_argument():
    """pick_device says --device, as the CLI; the API its argument, device, as before."""
    with pytest.raises(UserError, match=r"^unknown --device 'cpu:3' \(the CPU is 'cpu'\)$"):
        pick_device("cpu:3")
    with pytest.raises(ValueError, match=r"^unknown device 'bogus' \(use auto, cpu, cuda, cuda:N or mps\)$"):
        device_argument("bogus")
    with pytest.raises(ValueError, match=r"^device '': an empty name \(an unset variable\?\); give a device such as "
                                         r"cpu or cuda, or leave device out$"):
        device_argument("")


@pytest.mark.parametrize("argv, said", [
    # (--port was refused only once torch had loaded, 15 s, in other words than --max-clients)
    (["serve", "--styles", "s.jpg", "--port", "70000"], "argument --port: 70000 is outside 0..65535"),
    (["serve", "--styles", "s.jpg", "--port", "-1"], "argument --port: -1 is outside 0..65535"),
    # (bench live said "measure at least 1 s" only once running; bench serve measured 0.5 s)
    (["bench", "live", "--seconds", "0.5"], "argument --seconds: 0.5 is outside [1, 86400] seconds"),
    (["bench", "serve", "--seconds", "0.5"], "argument --seconds: 0.5 is outside [1, 86400] seconds"),
])
def test_fixed_ranges_are_refused_as_parsed(capsys, argv, said):
    command = " ".join(argv[:2] if argv[0] == "bench" else argv[:1])
    assert parse_error(capsys, *argv) == f"error: realtime-adain {command}: {said} (see `realtime-adain {command} --help`)"


@pytest.mark.parametrize("option, said", [
    (["--fullscreen"], "--fullscreen is for the window"),
    (["--snapshot-dir", "shots"], "--snapshot-dir is for the window's s key"),
    (["--record-dir", "recordings"], "--record-dir is for the window's r key"),
])
def test_window_options_without_a_window_are_refused(run_cli, tmp_path, option, said):
    """They were ignored without a word: headless, no window opens and no key is read."""
    code, _, err = run_cli("live", "--styles", "s.jpg", "--no-window", "-o", tmp_path / "o.mp4", *option)
    assert one_error_line(err, code) == f"error: {said}, and --no-window opens no window: leave one of them out"
    assert not any(tmp_path.iterdir())


def test_an_upload_limit_without_uploads_is_refused(run_cli):
    code, _, err = run_cli("serve", "--styles", "s.jpg", "--max-upload-mb", "16")
    assert one_error_line(err, code) == ("error: --max-upload-mb limits style uploads, which are off: give "
                                         "--allow-uploads too, or leave --max-upload-mb out")
