"""The style library's on-disk cache of statistics, its rescan, and the active style's maths."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from live_support import copy_styles  # noqa: F401  (fixture)
from realtime_adain.adain import StyleStats
from realtime_adain.imageio import read_image, write_image
from realtime_adain.live.controller import Controller
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.picture_sizes import fit_short_side

SIZE = 64


@pytest.fixture
def counting(stylizer, monkeypatch):
    """Count encoder runs by wrapping the real `style_stats`."""
    calls = []
    real = stylizer.style_stats

    def style_stats(image, size=None, color_reference=None):
        calls.append(image.shape)
        return real(image, size, color_reference)

    monkeypatch.setattr(stylizer, "style_stats", style_stats)
    return calls


def library(stylizer, folder, cache, log=None, size=SIZE):
    return StyleLibrary([folder], stylizer, size, cache, log or (lambda *a, **k: None)).load()


def test_second_start_reuses_the_cache(stylizer, counting, data_dir, tmp_path, one_thread):
    folder = copy_styles(data_dir, tmp_path / "styles")
    first = library(stylizer, folder, tmp_path / "cache")
    assert (first.computed, first.reused, len(counting)) == (3, 0, 3)
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 3
    second = library(stylizer, folder, tmp_path / "cache")
    assert (second.computed, second.reused, len(counting)) == (3 - 3, 3, 3)  # encoder not called again
    for a, b in zip(first.styles, second.styles):
        assert torch.equal(a.stats.mean, b.stats.mean) and torch.equal(a.stats.std, b.stats.std)
    # The cached statistics are exactly what the encoder gives for the image at the style size.
    direct = stylizer.style_stats(fit_short_side(read_image(folder / "trial.jpg"), SIZE))
    cached = second[second.by_name("trial")].stats
    assert torch.allclose(cached.mean, direct.mean) and torch.allclose(cached.std, direct.std)
    assert second[0].thumbnail.shape == (64, 64, 3)
    for a, b in zip(first.styles, second.styles):  # thumbnails come from the cache too
        np.testing.assert_array_equal(a.thumbnail, b.thumbnail)


def test_warm_start_decodes_no_image(stylizer, data_dir, tmp_path, one_thread, monkeypatch):
    """A warm start reads only the cache files (and hashes the images): nothing is decoded."""
    import realtime_adain.live.styles as styles_module

    folder = copy_styles(data_dir, tmp_path / "styles")
    library(stylizer, folder, tmp_path / "cache")

    def no_decoding(path):
        raise AssertionError(f"{path} decoded on a warm start")

    monkeypatch.setattr(styles_module, "read_image", no_decoding)
    assert library(stylizer, folder, tmp_path / "cache").reused == 3


def test_cache_is_keyed_by_style_size_and_content(stylizer, counting, data_dir, tmp_path, one_thread):
    folder = copy_styles(data_dir, tmp_path / "styles")
    library(stylizer, folder, tmp_path / "cache")
    assert library(stylizer, folder, tmp_path / "cache", size=48).computed == 3
    # Same bytes under another name: reused; a changed file: recomputed.
    shutil.copy(folder / "trial.jpg", folder / "trial_copy.jpg")
    image = read_image(folder / "brushstrokes.jpg")
    write_image(folder / "brushstrokes.jpg", np.ascontiguousarray(image[::-1]))
    again = library(stylizer, folder, tmp_path / "cache")
    assert (again.computed, again.reused) == (1, 3)
    assert again.names == ["brushstrokes", "en_campo_gris", "trial", "trial_copy"]


def test_corrupt_cache_file_is_ignored_and_rebuilt(stylizer, counting, data_dir, tmp_path, one_thread):
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    lib = library(stylizer, folder, tmp_path / "cache")
    cache_file = lib.cache_path(lib[0].digest)
    good = lib[0].stats
    cache_file.write_bytes(b"\x00not safetensors at all")
    events = []
    rebuilt = library(stylizer, folder, tmp_path / "cache", log=lambda event, **f: events.append((event, f)))
    assert rebuilt.computed == 1 and events[0][0] == "style-cache-rebuild"
    assert torch.equal(rebuilt[0].stats.mean, good.mean)
    assert library(stylizer, folder, tmp_path / "cache").reused == 1  # the rebuilt file is good again


def test_rescan_picks_up_new_and_changed_images(stylizer, counting, data_dir, tmp_path, one_thread):
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    lib = library(stylizer, folder, tmp_path / "cache")
    assert lib.rescan() == [] and len(counting) == 1  # nothing new: no encoder run
    shutil.copy(data_dir / "style" / "en_campo_gris.jpg", folder / "en_campo_gris.jpg")
    assert lib.rescan() == ["en_campo_gris"]
    assert lib.names == ["en_campo_gris", "trial"] and len(counting) == 2


def test_an_unwritable_cache_is_said_once_and_costs_nothing_else(stylizer, data_dir, tmp_path, one_thread):
    folder = copy_styles(data_dir, tmp_path / "styles")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    events = []
    styles = library(stylizer, folder, blocker, log=lambda event, **fields: events.append((event, fields)))
    assert len(styles) == 3 and styles.computed == 3
    (event, fields), = events
    assert event == "style-cache-unwritable" and "is a file, not a folder" in fields["reason"]


def test_missing_style_path_is_a_user_error(stylizer, tmp_path):
    from realtime_adain.errors import UserError

    with pytest.raises(UserError, match="no such style"):
        library(stylizer, tmp_path / "nope", tmp_path / "cache")


def test_active_style_mixes_for_free_and_recolours_once_per_toggle(stylizer, counting, data_dir, tmp_path, one_thread):
    folder = copy_styles(data_dir, tmp_path / "styles", names=("en_campo_gris.jpg", "trial.jpg"))
    lib = library(stylizer, folder, tmp_path / "cache")
    active = ActiveStyle(lib)
    controller = Controller(lib.names)
    frame = read_image(data_dir / "content" / sorted(p.name for p in (data_dir / "content").iterdir())[0])
    frame = fit_short_side(frame, 48)
    calls = len(counting)
    assert active.stats(controller.state, frame) is lib[0].stats
    controller.apply("mix")
    mixed = active.stats(controller.state, frame)
    expected = StyleStats.mix([lib[0].stats, lib[1].stats], [0.75, 0.25])
    assert torch.allclose(mixed.mean, expected.mean) and torch.allclose(mixed.std, expected.std)
    controller.apply("mix"), controller.apply("mix"), controller.apply("mix")  # back to off
    controller.apply("color")
    for _ in range(3):  # several frames: one encoder run, with the first frame as reference
        recoloured = active.stats(controller.state, frame)
    assert len(counting) == calls + 1
    direct = stylizer.style_stats(lib.image(0), color_reference=frame)
    assert torch.allclose(recoloured.mean, direct.mean)
    controller.apply("next")
    active.stats(controller.state, frame)
    assert len(counting) == calls + 3  # style switch with colour on: one more encoder run (+1 direct)


def test_a_style_edited_on_disk_is_used_after_the_rescan(stylizer, data_dir, tmp_path, one_thread):
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    lib = library(stylizer, folder, tmp_path / "cache")
    active, controller = ActiveStyle(lib), Controller(lib.names)
    frame = np.zeros((32, 32, 3), np.uint8)
    before = active.stats(controller.state, frame)
    shutil.copy(data_dir / "style" / "en_campo_gris.jpg", folder / "trial.jpg")  # same name, new picture
    assert lib.rescan() == []  # (an edited style is not new: logged as rescan-changed)
    controller.set_styles(lib.names)
    after = active.stats(controller.state, frame)
    assert after is lib[0].stats and not torch.allclose(after.mean, before.mean)


def test_an_animated_style_is_said_to_give_its_first_frame(stylizer, tmp_path, one_thread, capsys):
    """`image` and `video` said so; the style libraries of `live`, `serve` and `sheet` dropped the
    other frames silently."""
    from PIL import Image

    folder = tmp_path / "styles"
    folder.mkdir()
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "green", "blue")]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:], duration=100)
    Image.new("RGB", (32, 32), "white").save(folder / "still.png")
    library(stylizer, folder, tmp_path / "cache")
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {folder / 'moving.gif'} has 3 frames; only the first is used"]
