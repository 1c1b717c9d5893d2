"""A name too long for any file (3,000 bytes) is quoted short in the one line that refuses it:
--vgg/--decoder and their variables, an output the system refuses to create, and the API's path
checks (each echoed the whole name)."""

from __future__ import annotations

import pytest

import realtime_adain as ra
from realtime_adain import weight_paths
from realtime_adain.errors import UserError

LONG = "9" * 3000


def test_a_too_long_weights_name_is_quoted_short(monkeypatch):
    for given, environment in ((LONG, None), (None, LONG)):
        monkeypatch.delenv("REALTIME_ADAIN_DECODER", raising=False)
        if environment:
            monkeypatch.setenv("REALTIME_ADAIN_DECODER", environment)
        with pytest.raises(UserError, match=r"\(3000 characters\).*file name too long") as caught:
            weight_paths.resolve("decoder", given)
        assert len(str(caught.value)) < 300


def test_an_image_path_too_long_is_quoted_short():
    with pytest.raises(UserError, match=r"\(3000 characters\): file name too long") as caught:
        ra.read_image(LONG)
    assert len(str(caught.value)) < 300


def test_an_output_name_the_system_refuses_is_quoted_short(run_cli, weights_env, data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("image", str(data_dir / "content" / "lenna.jpg"), "-s", str(data_dir / "style" / "trial.jpg"),
                             "--size", "32", "-o", LONG + ".png")
    assert code == 2 and err.count("\n") == 1 and "(3004 characters)" in err and len(err) < 300, err[:300]
