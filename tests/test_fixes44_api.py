"""Session 44: the API's type hints say what docs/api.md passes (the package ships py.typed)."""
import inspect

from realtime_adain.stylizer import Stylizer


def test_style_stats_is_typed_to_take_a_path_or_a_picture_as_documented():
    """docs/api.md calls `st.style_stats("starry.jpg", 512, color_reference="photo.jpg")`; its
    hints said np.ndarray only, so a type checker flagged the documented call."""
    parameters = inspect.signature(Stylizer.style_stats).parameters
    assert parameters["image"].annotation == "ImageLike"
    assert parameters["color_reference"].annotation == "ImageLike | None"
