"""Fixes of the training findings of session 48 (tester h5): a data folder that cannot be read
was "empty" (a subfolder left out without a word), a checkpoint's name holding a fifo, folder or
device was "missing beside itself", loss weights that overflow the loss were taken, and damage
found while the trainer state is restored, or a device setting kept from the checkpoint, was
said without the hint or the source the rest get."""

from __future__ import annotations

import ctypes
import json
import os
import threading

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from realtime_adain.errors import UserError
from realtime_adain.training import checkpoint, checkpoint_files, image_listing
from cli_support import training_error_line
from train_support import checkpointed_run, copy_run, one_photo_dataset, tiny_args, train_tool  # noqa: F401  (fixtures)

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522


class CapabilityHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapabilitySet(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_effective_capabilities(*capabilities: int) -> None:
    """This thread (capabilities are a thread's on Linux) without `capabilities` in effect."""
    libc = ctypes.CDLL(None, use_errno=True)
    header, sets = CapabilityHeader(LINUX_CAPABILITY_VERSION_3, 0), (CapabilitySet * 2)()
    if libc.capget(ctypes.byref(header), sets) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    for capability in capabilities:
        sets[capability // 32].effective &= ~(1 << (capability % 32))
    if libc.capset(ctypes.byref(header), sets) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def as_a_user(function, unreadable):
    """`function()` where permissions hold: as root, in a thread of its own that lacks the
    capabilities that read any folder (the test's own thread keeps them). `unreadable` must then
    really be unreadable."""
    result = {}

    def run() -> None:
        try:
            if os.geteuid() == 0:
                drop_effective_capabilities(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)
            with pytest.raises(PermissionError):
                os.listdir(unreadable)
            result["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture
def locked(tmp_path):
    """A folder with pictures in it, `chmod 000` (opened again for pytest's clean-up)."""
    folder = tmp_path / "content" / "locked"
    folder.mkdir(parents=True)
    (folder / "photo.jpg").write_bytes(b"x")
    folder.chmod(0)
    yield folder
    folder.chmod(0o755)


def test_a_data_folder_that_cannot_be_read_is_said_so_not_empty(locked):
    """`chmod 000` on --content: "the content directory is empty"."""
    with pytest.raises(UserError) as refused:
        as_a_user(lambda: image_listing.list_images(locked, "content"), locked)
    assert str(refused.value) == f"{locked}: cannot read the content directory (Permission denied)"


def test_a_subfolder_that_cannot_be_read_is_left_out_with_a_note(locked, capsys):
    """A subfolder of --content that cannot be listed was left out without a word."""
    root = locked.parent
    (root / "open").mkdir()
    (root / "open" / "photo.jpg").write_bytes(b"x")
    assert as_a_user(lambda: image_listing.list_images(root, "content"), locked) == [root / "open" / "photo.jpg"]
    assert f"note: {locked}: left out, the folder cannot be read (Permission denied)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, data_dir):
    return one_photo_dataset(tmp_path_factory.mktemp("data"), data_dir)


@pytest.fixture(scope="module")
def two_checkpoints(dataset, published_weights, tmp_path_factory):
    """A run of two iterations with a checkpoint at each, to copy and spoil."""
    return checkpointed_run(dataset, published_weights[0], tmp_path_factory.mktemp("runs") / "run", 2)


def put_in_place_of(path, kind: str) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")


EARLIER_HINT = ("; to resume from the checkpoint before it, decoder_iter_0000001.safetensors, move "
                "decoder_iter_0000002.safetensors and trainer_iter_0000002.safetensors away")


@pytest.mark.parametrize("kind, said", [("fifo", "a fifo"), ("folder", "a folder"), ("device", "a device")])
def test_a_decoder_name_that_holds_no_file_is_said_with_the_earlier_checkpoint(two_checkpoints, tmp_path, kind,
                                                                               said):
    """decoder_iter_N a fifo, folder or link to /dev/zero: "incomplete checkpoint,
    decoder_iter_N.safetensors is missing beside it", of itself, and no word of the checkpoint before."""
    run = copy_run(two_checkpoints, tmp_path)
    decoder = checkpoint_files.decoder_file(run / "checkpoints", 2)
    put_in_place_of(decoder, kind)
    with pytest.raises(UserError) as refused:
        checkpoint.load_checkpoint(run)
    assert str(refused.value) == f"{decoder}: {said}, not a checkpoint file{EARLIER_HINT}"


def test_a_trainer_state_name_that_holds_no_file_is_said_not_passed_over(two_checkpoints, tmp_path):
    """trainer_iter_N a fifo: the run resumed from the checkpoint before it without a word."""
    run = copy_run(two_checkpoints, tmp_path)
    put_in_place_of(checkpoint_files.state_file(run / "checkpoints", 2), "fifo")
    with pytest.raises(UserError) as refused:
        checkpoint.load_checkpoint(run)
    assert str(refused.value) == (f"{checkpoint_files.decoder_file(run / 'checkpoints', 2)}: damaged checkpoint, "
                                  f"trainer_iter_0000002.safetensors beside it is a fifo, not a file{EARLIER_HINT}")


@pytest.mark.parametrize("flag", ["--style-weight", "--content-weight", "--temporal-weight"])
def test_a_loss_weight_that_overflows_the_loss_is_refused_before_the_run(train_tool, dataset,  # noqa: F811
                                                                         published_weights, tmp_path, flag):
    """1e300 trained an iteration, then "the loss became inf at iteration 1", and left a run folder."""
    out = tmp_path / "out"
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], out, 1), flag, "1e300")
    assert f"argument {flag}: 1e300 is outside 0..1e+12" in training_error_line(code, err)
    assert not out.exists()


def edit_state(run, change) -> None:
    """Rewrite the trainer state of iteration 2 with `change(document)` applied."""
    path = checkpoint_files.state_file(run / "checkpoints", 2)
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = handle.metadata()
    document = json.loads(metadata["state"])
    change(document)
    save_file(tensors, str(path), {**metadata, "state": json.dumps(document)})


def test_damage_found_restoring_the_state_names_the_checkpoint_before_it(train_tool, two_checkpoints,  # noqa: F811
                                                                       tmp_path, one_thread):
    """A numpy RNG state cut short: "damaged trainer state (IndexError: ...)" without the hint that
    damage found reading the files gets."""
    run = copy_run(two_checkpoints, tmp_path)
    edit_state(run, lambda document: document["rng"].update(numpy=["MT19937", [1, 2, 3], 0, 0, 0.0]))
    code, _, err = train_tool("--resume", run, "--iterations", "3")
    line = training_error_line(code, err)
    assert line.startswith(f"error: {checkpoint_files.state_file(run / 'checkpoints', 2)}: damaged trainer state "
                           "(IndexError: "), line
    assert line.endswith(EARLIER_HINT), line


@pytest.mark.parametrize("setting, message", [
    ({"amp": "bf16"}, "error: --amp bf16 needs a CUDA device; use --amp off on the CPU (--amp bf16 is the run's own "
                      "setting, kept in its checkpoint decoder_iter_0000002.safetensors)"),
    pytest.param({"device": "cuda:99"}, "(--device cuda:99 is the run's own setting, kept in its checkpoint "
                 "decoder_iter_0000002.safetensors; give --device cpu, or another, to resume it here)",
                 marks=pytest.mark.slow),  # (the same path as --amp's, which the default run checks)
])
def test_a_device_setting_kept_from_the_checkpoint_is_said_to_come_from_it(train_tool, two_checkpoints,  # noqa: F811
                                                                          tmp_path, setting, message):
    """A run started with --amp bf16 (on a GPU) resumed on the CPU: "--amp bf16 needs a CUDA
    device", an option the user never typed."""
    run = copy_run(two_checkpoints, tmp_path)
    edit_state(run, lambda document: document["config"].update(setting))
    code, _, err = train_tool("--resume", run, "--iterations", "3")
    line = training_error_line(code, err)
    assert line.startswith("error: --"), line
    assert line.endswith(message), line


@pytest.mark.parametrize("named", ["decoder", "trainer"])
def test_resume_naming_a_checkpoint_that_is_a_folder_names_the_one_before(two_checkpoints, tmp_path, named):
    """(Session 49) `--resume run/checkpoints/X_iter_0000002.safetensors`, a folder: "no trainer checkpoint in
    this directory", where `--resume run` named the checkpoint before it to resume from."""
    run = copy_run(two_checkpoints, tmp_path)
    folder = (checkpoint_files.decoder_file if named == "decoder" else checkpoint_files.state_file)(run / "checkpoints",
                                                                                                    2)
    folder.unlink()
    folder.mkdir()
    with pytest.raises(UserError) as refused:
        checkpoint.load_checkpoint(folder)
    assert str(refused.value) == (
        f"{folder}: a folder, not a checkpoint file; to resume from the checkpoint before it, "
        "decoder_iter_0000001.safetensors, move decoder_iter_0000002.safetensors and "
        "trainer_iter_0000002.safetensors away")


def test_a_run_folder_named_like_a_checkpoint_still_resumes(two_checkpoints, tmp_path):
    """A folder with a checkpoint's name that holds a run is still that run."""
    run = copy_run(two_checkpoints, tmp_path).rename(tmp_path / "decoder_iter_0000009.safetensors")
    assert checkpoint_files.find_checkpoint(run) == (checkpoint_files.decoder_file(run / "checkpoints", 2),
                                                     checkpoint_files.state_file(run / "checkpoints", 2))
