"""Session 43: `live --stabilize stats|both` with the default engine loads the eager one, as
`video` and `serve` do: on a CPU with a cached ONNX export, 'auto' took the export and the
statistics smoothing the session started with did nothing ("stats: eager engine only")."""
import pytest

from realtime_adain.settings import LiveSettings, ModelSettings


@pytest.mark.parametrize("mode, engine", [("stats", "eager"), ("both", "eager"), ("flow", "auto"), ("off", "auto")])
def test_the_default_engine_is_eager_where_the_session_starts_smoothing_statistics(mode, engine):
    settings = LiveSettings(styles=("a.jpg",), stabilize=mode, model=ModelSettings(device="cpu"))
    assert settings.engine_model.engine == engine


def test_an_engine_asked_for_is_kept():
    settings = LiveSettings(styles=("a.jpg",), stabilize="stats", model=ModelSettings(device="cpu", engine="onnx"))
    assert settings.engine_model.engine == "onnx"
