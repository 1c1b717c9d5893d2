"""Typed settings at the library boundary: what the commands build from their options, once.

`commands/*` turn argparse's namespace into these frozen dataclasses and check them there (as
`TrainConfig` is for the trainer); library code (image, video, live, serve, the Python API) takes
them and never sees the CLI (`benchmarks/` are commands too: `bench`'s subcommands). A command's
check (`check_for_command()` of the public ones, `check()` of the commands' own) raises `UserError`
with the option's name, so a value that argparse let through is one clear line; the public ones'
(`ra.ModelSettings`, `ra.StyleSettings`, `ra.VideoSettings`) `check()` says it as the API does, a
ValueError (or TypeError) naming the argument (`alpha must be in [0, 1], got 2`, not `--alpha`).
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from realtime_adain.descriptors import STANDARD_INPUT, descriptor_number, descriptor_path, unreadable_descriptor
from realtime_adain.errors import UserError, shown_number
from realtime_adain.file_identity import is_inside, same_entry
from realtime_adain.times import check_time, is_finite

DTYPE_CHOICES = ("auto", "fp32", "fp16", "bf16")
MAX_STYLE_SIZE = 8192  # shorter side a style is encoded at; 0 = native
DEFAULT_MAX_PIXELS = 4096 * 4096  # the processing budget (--max-pixels): a few GiB of features on a CPU
# The flow stabiliser's default strength by passes: each the steadiness the issue asks for (E_warp
# under 40 % of the per-frame video's) at the best fidelity measured (docs/temporal.md).
STABILIZE_STRENGTH = {1: 0.7, 2: 0.5}
FLOW_MODES = ("flow", "both")  # the --stabilize modes that run the flow stabiliser (passes and strength apply)


@dataclass(frozen=True)
class ModelSettings:
    """Which weights, on which device, in which precision and engine ("auto": as the CLI)."""

    vgg: str | None = None
    decoder: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    engine: str = "auto"

    def check(self) -> None:
        """These settings checked for a caller of the API as `Stylizer.load` checks them before it
        reads a file, by its own check: a vgg of 123, device 'abc' or a vgg path that names no file
        are refused as it refuses them (a TypeError or ValueError naming the field)."""
        from realtime_adain.stylizer import Stylizer  # (the API's: torch, not at the CLI's startup)

        Stylizer.checked_arguments(self.vgg, self.decoder, self.device, self.dtype, self.engine)

    def check_for_command(self) -> None:
        """These settings checked for a command: a mistake said as its options (`--dtype`)."""
        from realtime_adain import engines

        check_names(dtype=self.dtype, engine=self.engine)  # (device may also be a torch.device)
        if self.dtype not in DTYPE_CHOICES:
            raise UserError(f"--dtype {self.dtype}: use one of {', '.join(DTYPE_CHOICES)}")
        if self.engine not in engines.CHOICES:
            raise UserError(f"--engine {self.engine}: use one of {', '.join(engines.CHOICES)}")


@dataclass(frozen=True)
class StyleSettings:
    """How styles are applied: alpha, a mix of several, colour preservation, encoding size."""

    alpha: float = 1.0
    mix: tuple[float, ...] | None = None
    preserve_color: bool = False
    style_size: int = 512

    def check(self, style_count: int | None = None) -> None:
        """These settings checked for a caller of the API, as `stylize_video` checks its arguments
        (`alpha must be in [0, 1], got 2`; `style_count`: the styles `mix` must match)."""
        from realtime_adain.api_words import as_value_error  # (the API's: numpy, not at the CLI's startup)
        from realtime_adain.checks import check_alpha, check_whole

        check_field_kinds(self)
        check_weights(self.mix)
        check_alpha(self.alpha)
        check_whole(self.style_size, "style_size")
        if self.mix is not None:
            scaled_weights(weight_values(self.mix))
        as_value_error(lambda: self.check_for_command(style_count))

    def check_for_command(self, style_count: int | None = None) -> None:
        """These settings checked for a command: a mistake said as its options (`--alpha`)."""
        check_field_kinds(self)
        check_weights(self.mix)
        if not (math.isfinite(self.alpha) and 0.0 <= self.alpha <= 1.0):
            raise UserError(f"--alpha {shown_number(self.alpha)} is outside [0, 1]")
        if not 0 <= self.style_size <= MAX_STYLE_SIZE:
            raise UserError(f"--style-size {self.style_size} is outside 0 (native) to {MAX_STYLE_SIZE}")
        if self.mix is not None:
            # As floats: a numpy integer array's own sum wraps ([128, 128] as uint8 is 0). A positive
            # sum of non-negative weights is one positive weight, and a sum too large for a float is
            # fine ('1e308,1e308' is an even mix: `StyleStats.mix` scales the weights first).
            weights = [float(w) for w in self.mix]
            if not weights or not all(math.isfinite(w) and w >= 0 for w in weights) or not any(w > 0 for w in weights):
                raise UserError("--mix weights must be finite, non-negative numbers with a positive sum")
            if style_count is not None and len(self.mix) != style_count:
                raise UserError(f"--mix has {len(self.mix)} weight{'s' * (len(self.mix) != 1)} for {style_count} "
                                f"style{'s' * (style_count != 1)}")


def check_weights(mix: object, name: str = "mix", optional: bool = True) -> None:
    """`mix` (StyleSettings' and `stylize_video`'s; `StyleStats.mix`'s `weights`, not `optional`)
    None, or real numbers in a tuple, list or 1-D numpy array, else a TypeError naming `name`: the
    one kind check of them all (they disagreed on an array, a range, an array.array, and a str
    failed as math.isfinite's "must be real number, not str"). The values are the callers'."""
    kinds = f"{name} must be a tuple of numbers (or a list or 1-D numpy array), one weight per style"
    kinds += ", or None" if optional else ""
    if mix is None and optional:
        return
    shape = _array_shape(mix)
    if not isinstance(mix, (tuple, list)) and (shape is None or len(shape) != 1):
        raise TypeError(f"{kinds}, got {type(mix).__name__}" if shape is None else  # (a 2-D one: its shape)
                        f"{kinds}, got a {len(shape)}-D numpy array of shape {shape}")
    for index, weight in enumerate(mix):
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):  # (numpy's bool_ is no Real)
            raise TypeError(f"{kinds}, got a {type(mix).__name__} holding {type(weight).__name__} ({name}[{index}])")
        try:  # (numpy's timedelta64 passes as Integral; 10**400 as Real; longdouble 1e4000 is a float's inf)
            if math.isinf(float(weight)) and is_finite(weight):
                raise OverflowError
        except OverflowError:
            raise ValueError(f"{name}[{index}] is too large for a float") from None
        except (TypeError, ValueError):
            raise TypeError(f"{kinds}, got a {type(mix).__name__} holding {type(weight).__name__} ({name}[{index}])") from None


def weight_values(weights: Sequence[float], name: str = "mix") -> tuple[float, ...]:
    """Each weight (its kind checked by `check_weights`) as a float, finite and 0 or more, else a
    ValueError naming it: the one rule and wording of `stylize_video`'s `mix` and `StyleStats.mix`'s
    `weights` (which said "mix weights must be finite and non-negative ..." of no weight in particular)."""
    values = tuple(float(w) + 0.0 for w in weights)  # (-0.0 as 0.0)
    for index, (value, given) in enumerate(zip(values, weights)):
        if not 0.0 <= value < float("inf"):  # (nan too; "in [0, inf]" said of nan read as if inf were taken)
            raise ValueError(f"{name}[{index}] must be a finite number, 0 or more, got {shown_number(given)}")
    return values


def scaled_weights(values: tuple[float, ...], what: str = "mix weights") -> tuple[float, ...]:
    """`values` (`weight_values`) scaled to at most 1, so that their sum cannot overflow ([1e308,
    1e308] is an even mix, not a sum too large), else a ValueError where their sum is not positive."""
    largest = max(values, default=0.0)
    if not largest > 0:
        raise ValueError(f"{what} must have a positive sum, got {list(values)}")
    return tuple(value / largest for value in values)


def _array_shape(value: object) -> tuple[int, ...] | None:
    """The shape of `value` where it is a numpy array, else None. numpy is not imported for it
    (settings stay light for the command line's parsing): an array exists only once numpy is loaded."""
    numpy = sys.modules.get("numpy")
    return value.shape if numpy is not None and isinstance(value, numpy.ndarray) else None


def check_names(**values: object) -> None:
    """Model settings given by name ('auto', 'fp16', 'cuda:0') are text: a TypeError naming the one
    that is not (`ModelSettings(dtype=None)` was a ValueError through `stylize_video` and a TypeError
    through `Stylizer.load`)."""
    for name, value in values.items():
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str such as 'auto', got {type(value).__name__}")


_KINDS = {"int": (numbers.Integral, "a whole number"), "float": (numbers.Real, "a number"), "bool": (bool, "True or False")}


def check_field_kinds(settings: object) -> None:
    """A settings dataclass's numbers and switches of the right kind, else a TypeError naming the
    field: the CLI's parser gives them so, but a library caller's `style_size=1.5` or `batch=1.5`
    passed `check` (to fail deep inside later), and `keep_size="no"` read as True."""
    for item in fields(settings):  # (annotations are text here: "int", "float | None", ...)
        kind, _, rest = str(item.type).partition(" | ")
        value = getattr(settings, item.name)
        if kind in _PARTS and not isinstance(value, _PARTS[kind]):  # (its check was an AttributeError)
            raise TypeError(f"{item.name} must be {kind}, got {type(value).__name__}")
        if kind not in _KINDS or rest not in ("", "None"):
            continue
        wanted, words = _KINDS[kind]
        switch = isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b"  # (numpy's too)
        if (value is None and rest) or (switch if kind == "bool" else not switch and isinstance(value, wanted)):
            continue
        raise TypeError(f"{item.name} must be {words}{' or None' if rest else ''}, got {type(value).__name__}")


_PARTS = {"ModelSettings": ModelSettings, "StyleSettings": StyleSettings}  # settings held by other settings

STATS_MODES = ("stats", "both")  # the stabiliser modes that smooth statistics inside the network (eager only)
STATS_NEED_EAGER = "smooths statistics inside the network, which only the eager engine can do"


def model_for_stabilizer(model: "ModelSettings", stabilize: str) -> "ModelSettings":
    """The model to load: `stats`/`both` smooth statistics inside the network, which only the
    eager engine can do, so there 'auto' means eager."""
    return replace(model, engine="eager") if stabilize in STATS_MODES and model.engine == "auto" else model


def check_stats_engine(model: "ModelSettings", stabilize: str) -> None:
    """`stats`/`both` with another engine asked for is one line, not a stabiliser that does nothing."""
    if stabilize in STATS_MODES and model.engine not in ("auto", "eager"):
        raise UserError(f"--stabilize {stabilize} {STATS_NEED_EAGER} (use --engine eager or --stabilize flow)")


@dataclass(frozen=True)
class VideoSettings:
    """One `video` run's processing: everything but which files go where."""

    model: ModelSettings = field(default_factory=ModelSettings)
    style: StyleSettings = field(default_factory=StyleSettings)
    size: int = 0  # processing size (shorter side), 0 = native
    keep_size: bool = True  # scale back to the input's display size
    batch: int | None = None  # frames per network call; None: 1 on a CPU, 4 on a GPU
    frames: int = 0  # only the first N frames, 0 = all
    threads: int | None = None  # CPU threads for the network; None: torch's default
    stabilize: str = "flow"  # temporal stabilisation: off, flow, stats, both (docs/temporal.md)
    stabilize_strength: float | None = None  # None: STABILIZE_STRENGTH for the number of passes
    stabilize_passes: int | None = None  # 2: forward and backward along the flow (holds frames); None: `passes`
    max_pixels: int = DEFAULT_MAX_PIXELS  # refuse frames larger than this at the processing size
    # auto: frames flagged interlaced; on: every frame; off; film: inverse telecine (video/deinterlace.py)
    deinterlace: str = "auto"
    framerate: Fraction | None = None  # an image sequence's frames per second; None: 25, as FFmpeg
    start: Fraction = Fraction(0)  # the segment's start in the file (s): its first frame is the one shown then
    duration: Fraction | None = None  # the segment's length (s); None: to the end (`frames` may end it first)

    @property
    def has_flow(self) -> bool:
        """Whether the mode runs the flow stabiliser (`passes` and `strength` apply)."""
        return self.stabilize in FLOW_MODES

    @property
    def passes(self) -> int:
        """The flow stabiliser's passes: as given, else two where there is one (flow, both): at its
        default strength it is steadier and sharper than one pass on every clip measured
        (docs/temporal.md)."""
        if self.stabilize_passes is not None:
            return self.stabilize_passes
        return 2 if self.has_flow else 1

    @property
    def strength(self) -> float:
        """The flow stabiliser's strength: as given, else the default for the number of passes."""
        return self.stabilize_strength if self.stabilize_strength is not None else STABILIZE_STRENGTH[self.passes]

    @property
    def engine_model(self) -> ModelSettings:
        return model_for_stabilizer(self.model, self.stabilize)

    def check(self) -> None:
        """These settings checked for a caller of the API, as `stylize_video` checks its arguments
        (`size must be at least 0, got -1`, not `--size -1 is negative`)."""
        from realtime_adain.api_words import as_value_error  # (the API's: numpy, not at the CLI's startup)
        from realtime_adain.checks import check_number, check_whole

        check_field_kinds(self)  # (first: model={} failed inside model.check)
        self.model.check()
        self.style.check()
        for name, least in (("size", 0), ("frames", 0), ("max_pixels", 1), ("batch", 1), ("threads", 1)):
            check_whole(getattr(self, name), name, minimum=least, none_ok=True)  # (None: kinds checked it)
        if self.stabilize_strength is not None:
            check_number(self.stabilize_strength, "stabilize_strength")
        as_value_error(self.check_for_command)

    def check_for_command(self) -> None:
        """These settings checked for a command: a mistake said as its options (`--size`)."""
        from realtime_adain.temporal import MODES

        check_field_kinds(self)  # (first: model={} failed inside model.check)
        self.model.check_for_command()
        self.style.check_for_command()
        if self.stabilize not in MODES:
            raise UserError(f"--stabilize {self.stabilize}: use one of {', '.join(MODES)}")
        if self.passes not in STABILIZE_STRENGTH:
            raise UserError(f"--stabilize-passes {self.passes}: use 1 or 2")
        if self.stabilize_passes is not None and not self.has_flow:
            raise UserError(f"--stabilize-passes is the flow stabiliser's; --stabilize {self.stabilize} has none "
                            f"(use --stabilize flow or both)")
        if self.stabilize_strength is not None and not self.has_flow:
            raise UserError(f"--stabilize-strength is the flow stabiliser's; --stabilize {self.stabilize} has none "
                            f"(use --stabilize flow or both)")
        if not (math.isfinite(self.strength) and 0.0 <= self.strength <= 1.0):
            raise UserError(f"--stabilize-strength {shown_number(self.strength)} is outside [0, 1]")
        check_stats_engine(self.model, self.stabilize)
        if self.size < 0:
            raise UserError(f"--size {self.size} is negative")
        if self.batch is not None and self.batch < 1:
            raise UserError(f"--batch {self.batch} must be at least 1")
        if self.frames < 0:
            raise UserError(f"--frames {self.frames} is negative")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"--threads {self.threads} must be at least 1")
        if self.max_pixels < 1:
            raise UserError(f"--max-pixels {self.max_pixels} must be at least 1")
        if self.framerate is not None:
            from realtime_adain.video.sequence import check_framerate

            check_framerate(self.framerate)
        if self.deinterlace not in DEINTERLACE_MODES:
            raise UserError(f"--deinterlace {self.deinterlace}: use one of {', '.join(DEINTERLACE_MODES)}")
        check_time(self.start, "--start")
        if self.duration is not None:
            check_time(self.duration, "--duration", positive=True)


@dataclass(frozen=True)
class ImageSettings:
    """One `image` run's processing (and its contact sheet's): everything but which files go
    where, the mask aside (it says where each style goes)."""

    model: ModelSettings = field(default_factory=ModelSettings)
    style: StyleSettings = field(default_factory=StyleSettings)
    size: int = 512  # processing size (shorter side), 0 = native
    keep_size: bool = True  # scale the result back to the content's size
    max_pixels: int = DEFAULT_MAX_PIXELS  # refuse a picture larger than this at its processing size
    mask: str | None = None  # as given: white areas get the first of two styles, black the second

    def check(self) -> None:
        check_field_kinds(self)
        self.model.check_for_command()
        self.style.check_for_command()
        if self.size < 0:
            raise UserError(f"--size {self.size} is negative")
        if self.max_pixels < 1:
            raise UserError(f"--max-pixels {self.max_pixels} must be at least 1")


MAX_RESOLUTION = (7680, 4320)  # 8K UHD: beyond it a frame is gigabytes, no camera delivers it
RECORDING_SUFFIXES = (".mp4", ".m4v", ".mov")
STABILIZE_MODES = ("off", "flow", "stats", "both")  # temporal.MODES (not imported: it loads torch and OpenCV)
DEINTERLACE_MODES = ("auto", "on", "off", "film")  # video.deinterlace.MODES (not imported: it loads PyAV)
# engines.CHOICES and devices.DTYPES, named here without importing torch, so the command line is
# parsed (and a mistyped option refused) in well under a second (tests/test_cli_startup.py).
ENGINE_CHOICES = ("auto", "eager", "compile", "tensorrt", "onnx")
DTYPE_NAMES = ("fp32", "fp16", "bf16")
# A CPU runs the network at this shorter side at interactive rates; a GPU runs the camera's own size.
LIVE_CPU_SIZE = 160
LIVE_SIZE_TEXT = f"{LIVE_CPU_SIZE} on a CPU, native on a GPU"


@dataclass(frozen=True)
class LiveSettings:
    """One `live` session: source, styles, window and outputs, temporal stage, model."""

    styles: tuple[str, ...]
    model: ModelSettings = field(default_factory=ModelSettings)
    source: str = "0"
    resolution: tuple[int, int] | None = None  # asked of the camera; files are scaled to it
    fps: float | None = None
    loop: bool = True
    alpha: float = 1.0
    preserve_color: bool = False
    style_size: int = 512
    style_cache: Path | None = None  # None: the per-user cache
    size: int | None = None  # processing size; None: the device's default
    window: bool = True
    fullscreen: bool = False
    output: str | None = None  # a recording of the whole session (MP4)
    stream: str | None = None
    virtual_cam: bool = False
    max_frames: int | None = None
    snapshot_dir: Path = Path(".")
    record_dir: Path = Path(".")
    log: str | None = None
    stabilize: str = "flow"  # temporal stabiliser mode at the start (key t cycles it)
    stabilize_strength: float = STABILIZE_STRENGTH[1]
    carry_motion: bool = False  # show the last stylized frame carried onto each newer camera frame

    @property
    def engine_model(self) -> ModelSettings:
        """(a cached ONNX export, the CPU's 'auto', turned the `stats` smoothing it started with off)"""
        return model_for_stabilizer(self.model, self.stabilize)

    def check(self) -> None:
        check_field_kinds(self)
        self.model.check_for_command()
        StyleSettings(self.alpha, None, self.preserve_color, self.style_size).check_for_command()
        if not self.styles:
            raise UserError("--styles needs at least one style image or folder")
        if self.size is not None and self.size < 0:
            raise UserError(f"--size {self.size} is negative")
        if self.max_frames is not None and self.max_frames < 1:
            raise UserError(f"--max-frames {self.max_frames} must be at least 1")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise UserError(f"--fps {shown_number(self.fps)} must be a positive number")
        if self.resolution and (max(self.resolution) > max(MAX_RESOLUTION) or min(self.resolution) > min(MAX_RESOLUTION)):
            raise UserError("--resolution %dx%d: at most %dx%d, either way up" % (*self.resolution, *MAX_RESOLUTION))
        if self.stabilize not in STABILIZE_MODES:
            raise UserError(f"--stabilize {self.stabilize}: use one of {', '.join(STABILIZE_MODES)}")
        if not (math.isfinite(self.stabilize_strength) and 0.0 <= self.stabilize_strength <= 1.0):
            raise UserError(f"--stabilize-strength {shown_number(self.stabilize_strength)} is outside [0, 1]")
        if unreadable := unreadable_descriptor(self.source):
            raise UserError(unreadable)
        self._check_outputs()

    @property
    def source_file(self) -> str:
        """The path the source is read from: standard input or a descriptor (pipe:3, /dev/fd/3)
        redirected from a file is that file (`-o` replaced a `pipe:3` source's `3< clip.mp4`)."""
        if self.source in STANDARD_INPUT:
            return os.path.realpath("/dev/stdin")
        return os.path.realpath(descriptor_path(self.source)) if descriptor_number(self.source) is not None else self.source

    def _check_outputs(self) -> None:
        if self.output:
            from realtime_adain.output_checks import folder_ending  # (here, not at startup: it loads numpy)

            if ending := folder_ending(self.output):  # (Path drops '/' and '/.': `-o rec.mp4/` wrote rec.mp4)
                whole = self.output in (os.curdir, os.pardir)  # (`-o .`: no slash typed)
                said = "is a folder's name" if whole else f"ends with {ending}, a folder"
                raise UserError(f"-o {self.output}: {said}; -o records the session to one file: "
                                "give its name (.mp4, .m4v or .mov)")
            out = Path(self.output)
            if not out.suffix and Path(f"out{out.name}").suffix.lower() in RECORDING_SUFFIXES:  # (`-o .mp4`)
                raise UserError(f"{out}: a name that is only an extension; name the file (e.g. out{out.name})")
            if out.suffix.lower() not in RECORDING_SUFFIXES:
                raise UserError(f"{out}: -o writes MP4; use a .mp4, .m4v or .mov name")
            from realtime_adain.weight_paths import files_used  # (torch: as the session loads)

            if os.path.exists(source := self.source_file) and same_entry(out, Path(source)):
                raise UserError(f"{out}: output would overwrite the input")
            for path in files_used(self.model.vgg, self.model.decoder):
                if same_entry(out, path):
                    raise UserError(f"{out}: -o would write into {path}, the weights the session loads; give another file")
            for option, folder in (("--record-dir", self.record_dir), ("--snapshot-dir", self.snapshot_dir)):
                # (`r` or `s` made a folder of that name: the session's recording was lost at exit)
                if same_entry(folder, out) or is_inside(folder, out):
                    raise UserError(f"{option} {folder}: the file -o records the session to, or inside it; give another folder")
        if not self.window and not self.has_output:
            raise UserError("--no-window needs somewhere to send frames: -o FILE, --stream URL or --virtual-cam")
        if self.stream:
            from realtime_adain.live.streamer import Streamer

            Streamer.checked_scheme(self.stream)

    @property
    def has_output(self) -> bool:
        """Whether frames go anywhere but the window."""
        return bool(self.output or self.stream or self.virtual_cam)
