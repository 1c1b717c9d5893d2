"""The runtime: uint8 RGB frames in, stylized uint8 RGB frames out, on a chosen device and dtype.

Every front end (image, video, live) goes through `Stylizer`: styles are reduced to `StyleStats`
once (`style_stats`), frames are then stylized against those cached statistics (`stylize`).

A `Stylizer` may be shared by threads (its engine locks what it keeps between calls, see
`engines.base`), pickled (the engine is left behind and rebuilt on first use) and used in a
forked child (which runs one intra-op thread: see `_one_thread_after_fork`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from realtime_adain import engines, notes, weight_digests, weight_paths, weights
from realtime_adain.adain import StyleStats, check_stats
from realtime_adain.api_images import ImageLike, as_rgb, check_budget, image_sides
from realtime_adain.api_words import api_words, as_value_error, in_api_words
from realtime_adain.available_memory import refuse_beyond_memory
from realtime_adain.carried_errors import callers_errors_raised, errors_carried
from realtime_adain.checks import check_alpha, check_flag, check_kind, check_number, check_size, check_whole
from realtime_adain.color import recolored
from realtime_adain.devices import dtype_argument, pick_device, pick_dtype
from realtime_adain.engines.base import (CallLock, check_frame_shape, check_frames, check_frames_kind,
                                          check_pixels_per_call, frames_within, padded_pixels)
from realtime_adain.engines.frames import frames_to_images, images_to_frames
from realtime_adain.errors import UserError, as_given, out_of_memory_as_user_error
from realtime_adain.library_signals import signals_through_libraries
from realtime_adain.model import StyleTransferNet
from realtime_adain.picture_sizes import MAX_SIDE, fit_short_side, resize
from realtime_adain.settings import DEFAULT_MAX_PIXELS, ModelSettings, check_names


class OutOfMemory(UserError, MemoryError):
    """Frames too large for the memory left: one line, a UserError as `stylize_video`'s is, and a
    MemoryError, so that a command naming its input (`out_of_memory_as_user_error`: 'photo.jpg:
    out of memory; lower --size') still says it its own way."""


def _out_of_memory_said(what: str, hint: str) -> contextlib.AbstractContextManager[None]:
    """The allocator's error (onnxruntime's, over several lines; torch's) as `OutOfMemory`."""
    return out_of_memory_as_user_error(what, hint, OutOfMemory)


SMALLER = "pass smaller frames, or fewer at a time"


def _stream_out_of_memory_said(results: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """`results` of a stream, running out of memory said as `stylize` says it."""
    with _out_of_memory_said("batches", SMALLER):
        yield from results


def _named_batches(batches: Iterable[np.ndarray], fits: Callable[[np.ndarray], None]) -> Iterator[np.ndarray]:
    """`batches`, each one's kind and shape checked as the engine checks frames but named by its
    place (`batches[1] must be a uint8 numpy array, got int`: the engine said `frames`, no argument
    of `stylize_stream`), and whether it `fits` in memory before it is copied."""
    for index, frames in enumerate(batches):
        check_frames_kind(frames, f"batches[{index}]")
        fits(frames)
        yield frames


def _loaded_sha256(module: torch.nn.Module, path: str) -> str:
    """The SHA-256 of the weights file `path` as `module` was loaded from it (`weights.load_*` keep
    it): read again later, the file may hold other weights (a trainer saving to the same path), and
    an engine built from this network was cached as theirs. A module loaded otherwise: the file now."""
    return getattr(module, "loaded_sha256", None) or weight_digests.weights_sha256(path)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _one_thread_after_fork() -> None:
    """GNU OpenMP's thread pool does not survive `fork`: a child of a process that ran a parallel
    torch op hangs in its first one (gunicorn's workers forked from an app that loaded and warmed
    up a Stylizer), so the child runs one intra-op thread, as torch's DataLoader workers do."""
    if torch.get_num_threads() > 1:
        torch.set_num_threads(1)


_fork_guarded = False


def _given_paths(*values: object) -> list[Path]:
    """The weights paths among `values` as given, left as they are in a message said in the API's words."""
    return [Path(value) for value in values if isinstance(value, (str, os.PathLike))]


def _guard_forks() -> None:
    global _fork_guarded
    if not _fork_guarded and hasattr(os, "register_at_fork"):  # (Windows does not fork)
        os.register_at_fork(after_in_child=_one_thread_after_fork)
        _fork_guarded = True


def _within(size: int | None, max_pixels: int, name: str = "image") -> Callable[[int, int], None]:
    """`as_rgb`'s check of an image's size before it is copied: at `size` (its shorter side), at
    most `max_pixels` and MAX_SIDE a side (`check_budget`)."""
    return lambda height, width: check_budget((height, width), size, max_pixels, name)


def _copied_bytes(image: ImageLike, height: int, width: int) -> int:
    """Bytes `as_rgb`'s copy of `image` (height x width) takes: none for a file (decoded by the time
    its size is known) or an array it takes as it is, a contiguous (H, W, 3) uint8 one."""
    if isinstance(image, (str, os.PathLike)) or (
            isinstance(image, np.ndarray) and image.ndim == 3 and image.flags.c_contiguous):
        return 0
    return height * width * 3


def frame_batches(frames: Iterable[np.ndarray], batch: int, max_pixels: int) -> Iterator[np.ndarray]:
    """`frames` as (N, H, W, 3) batches of up to `batch` frames of one shape, each holding at most
    `max_pixels` pixels and the most one engine call takes (16384 x 16384: max_pixels=10**9 built
    300 frames of 1024x1024 into one batch, which the engine refused once they were copied). Each
    frame copied into its batch as it comes (a producer may reuse its buffer, as
    `cv2.VideoCapture.read(buf)` does: every frame of a batch was the last one); a frame of another
    size first sends the frames before it."""
    pending, count = np.empty((0,), np.uint8), 0
    for index, frame in enumerate(frames):
        name = f"frames[{index}]"
        frame = as_rgb(frame, name, _within(None, max_pixels, name))
        if count and frame.shape != pending.shape[1:]:
            yield pending[:count]
            count = 0
        if not count:  # a new array each batch: the engine may still be reading the last one
            pending = np.empty((frames_within(batch, frame.shape, max_pixels), *frame.shape), np.uint8)
        pending[count] = frame
        count += 1
        if count == len(pending):  # (memory grows with a batch's pixels)
            yield pending
            count = 0
    if count:
        yield pending[:count]


class Stylizer:
    """The style-transfer network bound to a device and dtype, with uint8 conversion around it."""

    def __init__(
        self,
        net: StyleTransferNet,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        weight_paths: Sequence[os.PathLike | str] = (),
        engine: str = "eager",
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self.net = net.eval().requires_grad_(False).to(self.device, dtype)  # engines pick the layout
        # absolute: a caller that changes its working directory later still names these files
        # (`stylize_video` compared outputs with them; a relative one wrote the video over the weights)
        self.weight_paths = tuple(os.path.abspath(p) for p in weight_paths)
        # The engine that runs `stylize` (realtime_adain.engines): checked now, built on first use.
        self.engine_asked = engine  # ('auto': chosen here, so `stylize_video` may choose eager for stats)
        self.engine_name = engines.resolve(engine, self.device, self.dtype, self.weights_id if engine == "auto" else None)
        self._engine: engines.Engine | None = None
        self._engine_lock = CallLock()
        # The style `_checked` last checked and its `StyleStats.snapshot` then, as one tuple: threads
        # sharing the Stylizer replace it whole, never one's style with another's snapshot.
        self._checked_style: tuple[StyleStats, tuple] | None = None
        _guard_forks()

    def __getstate__(self) -> dict:
        """Pickled without the engine (device streams, compiled graphs): the copy builds its own."""
        return {**self.__dict__, "_engine": None, "_checked_style": None}

    @classmethod
    def from_settings(cls, model: ModelSettings, sizes_vary: bool = False) -> "Stylizer":
        """The stylizer `model` asks for, its mistakes said as `load` says them (a ValueError
        naming the argument: `dtype fp16 needs a GPU`); the commands' (`for_command`) keep the
        CLI's words. With `sizes_vary` (images of any size, each seen once), 'auto' on a GPU is
        eager: compile and tensorrt build per frame size, minutes per new size."""
        check_kind(model, ModelSettings, "model")  # (None was an AttributeError)
        placed = as_value_error(lambda: cls._settings_placement(model, sizes_vary), _given_paths(model.vgg, model.decoder))
        return cls._in_api_words(model.vgg, model.decoder, placed)

    @classmethod
    def for_command(cls, model: ModelSettings, sizes_vary: bool = False) -> "Stylizer":
        """`from_settings` for a command, its mistakes in the CLI's words (`--dtype fp16 needs a
        GPU`), as its options name them."""
        device, dtype, engine = cls._settings_placement(model, sizes_vary)
        return cls._load(model.vgg, model.decoder, device, dtype, engine)

    @classmethod
    def load(
        cls,
        vgg: str | os.PathLike | None = None,
        decoder: str | os.PathLike | None = None,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        engine: str = "auto",
    ) -> "Stylizer":
        """Resolve and load the weights (see `weight_paths.resolve`), then bind to device and dtype (a
        name, or a torch.dtype: `dtype=st.dtype`). A mistaken argument is a ValueError (or
        TypeError) naming it in the API's words, as `stylize_video` says it (`dtype fp16 needs a
        GPU`, not the CLI's `--dtype`); a file problem is a UserError in those words too (`pass
        decoder=PATH`, not `--decoder PATH`)."""
        return cls._in_api_words(vgg, decoder, cls.checked_arguments(vgg, decoder, device, dtype, engine))

    @classmethod
    def checked_arguments(cls, vgg: str | os.PathLike | None, decoder: str | os.PathLike | None,
                          device: str | torch.device, dtype: str | torch.dtype,
                          engine: str) -> tuple[torch.device, torch.dtype, str]:
        """The (device, dtype, engine) `load`'s arguments ask for, checked as `load` checks them
        before it reads a file, a mistake said as it says it: the one check of `load` and of
        `ModelSettings.check` (which took a vgg of 123 or device 'abc' that `load` refuses)."""
        dtype = dtype_argument(dtype)
        return as_value_error(lambda: (*cls._placement(vgg, decoder, device, dtype, engine), engine),
                              _given_paths(vgg, decoder))

    @classmethod
    def _in_api_words(cls, vgg: str | os.PathLike | None, decoder: str | os.PathLike | None,
                      placed: tuple[torch.device, torch.dtype, str]) -> "Stylizer":
        """The weights loaded and bound to the (device, dtype, engine) `placed` (checked), a file
        problem a UserError in the API's words (`load`'s)."""
        paths = _given_paths(vgg, decoder)
        with api_words(paths), notes.worded(lambda line: in_api_words(line, paths)):  # (its notes too: --vgg)
            return cls._load(vgg, decoder, *placed)

    @classmethod
    def _settings_placement(cls, model: ModelSettings, sizes_vary: bool) -> tuple[torch.device, torch.dtype, str]:
        """The (device, dtype, engine) `model` asks for (`_placement`), 'auto' eager on a GPU where
        `sizes_vary`."""
        sizes_vary = check_flag(sizes_vary, "sizes_vary")  # ("no" was taken as True)
        engine = model.engine
        if engine == "auto" and sizes_vary and pick_device(model.device).type == "cuda":
            engine = "eager"
        return (*cls._placement(model.vgg, model.decoder, model.device, model.dtype, engine), engine)

    @staticmethod
    def _placement(vgg: str | os.PathLike | None, decoder: str | os.PathLike | None,
                   device: str | torch.device, dtype: str, engine: str) -> tuple[torch.device, torch.dtype]:
        """The device and dtype asked for, every argument checked before anything loads: a weights
        path that names no file, a device or dtype that cannot be had, an engine that cannot run
        on them are a UserError in the CLI's words (a value of the wrong type a TypeError)."""
        from realtime_adain.output_paths import name_too_long

        for value, name in ((vgg, "vgg"), (decoder, "decoder")):
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise TypeError(f"{name} must be a path (str or os.PathLike) or None, got {type(value).__name__}")
            if value is not None and (reason := name_too_long(Path(value))):
                raise UserError(f"{as_given(value)}: {reason}")
        device = str(device) if isinstance(device, torch.device) else device
        check_names(device=device, dtype=dtype, engine=engine)
        torch_device = pick_device(device)
        torch_dtype = pick_dtype(dtype, torch_device)
        engines.resolve(engine, torch_device, torch_dtype)  # a missing engine fails before loading
        for value, name in ((vgg, "vgg"), (decoder, "decoder")):
            if value is not None:  # (an empty path: an unset variable; or one that names no file)
                weight_paths.resolve(name, value)
        return torch_device, torch_dtype

    @classmethod
    def _load(cls, vgg: str | os.PathLike | None, decoder: str | os.PathLike | None,
              device: torch.device, dtype: torch.dtype, engine: str) -> "Stylizer":
        """The weights resolved and loaded, bound to a `_placement`."""
        # (a missing VGG beside a torchvision-trained decoder is pointed at torchvision's, not the download)
        vgg_path = weight_paths.resolve("vgg", vgg, weight_paths.paired_encoder_kind(decoder))
        decoder_path = weight_paths.resolve("decoder", decoder)
        decoder_net = weights.load_decoder(decoder_path)  # names the encoder it was trained against
        encoder = weights.load_encoder(vgg_path, decoder_net.encoder_kind)
        weights.note_other_vgg(decoder_net, vgg_path, encoder.loaded_sha256)
        net = StyleTransferNet(encoder, decoder_net)
        return cls(net, device, dtype, (vgg_path, decoder_path), engine)

    @cached_property
    def weights_id(self) -> str:
        """A short identity of the encoder and decoder files as loaded (of the parameters themselves
        for a network built in memory), for caches keyed by the network: engines, style statistics."""
        if self.weight_paths:
            modules = (self.net.encoder, self.net.decoder)
            return "-".join(_loaded_sha256(m, p)[:16] for m, p in zip(modules, self.weight_paths))
        return weight_digests.parameters_sha256(self.net)[:16]

    @cached_property
    def encoder_id(self) -> str:
        """A short identity of the encoder file alone: style statistics depend on nothing else."""
        if self.weight_paths:
            return _loaded_sha256(self.net.encoder, self.weight_paths[0])[:16]
        return weight_digests.parameters_sha256(self.net.encoder)[:16]

    @property
    def engine(self) -> engines.Engine:
        """The engine that runs `stylize`, built on first use (compile/tensorrt/onnx build lazily),
        once however many threads ask at the same time."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = engines.create(self.engine_name, self.net, self.device, self.dtype, self.weights_id)
        return self._engine

    def to_tensor(self, frames: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) or (H, W, 3) uint8 RGB -> (N, 3, H, W) in [0, 1] on the device (float
        0..255 values, a recoloured style, are scaled the same way and kept unclipped)."""
        return frames_to_images(frames, self.device, self.dtype)

    @staticmethod
    def to_uint8(images: torch.Tensor) -> np.ndarray:
        """(N, 3, H, W) in [0, 1] -> (N, H, W, 3) uint8 on the host; checked by its kind and shape
        only (it runs per frame): None was an AttributeError, a 3-D tensor torch's permute error."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch tensor, got {type(images).__name__}")
        if images.is_nested or images.layout != torch.strided:  # (torch's "Internal error", "add(sparse, dense)")
            raise TypeError("images must be a dense tensor, not a sparse or nested one")
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got shape {tuple(images.shape)}")
        return images_to_frames(images)

    @torch.inference_mode()
    def style_stats(
        self, image: ImageLike, size: int | None = None, color_reference: ImageLike | None = None
    ) -> StyleStats:
        """Encode a style image (a path, a PIL image or an (H, W, 3) uint8 array) once; frames then
        reuse these statistics.

        `size` scales it first (shorter side; None/0: as it is); with `color_reference`, the style
        is recoloured to that content first (the paper's colour preservation). Checked as `style`
        checks, bounded as `stylize` is (16384 pixels a side): unchecked, a float image was read as
        near-black and a 16-bit one as another style, without a word."""
        size = check_size(size)
        if color_reference is not None and not isinstance(color_reference, (str, os.PathLike)):
            image_sides(color_reference, "color_reference")  # (its mistakes said before the image is copied)
        image = fit_short_side(as_rgb(image, "image", _within(size, MAX_SIDE * MAX_SIDE)), size)
        pixels = image.shape[0] * image.shape[1]
        if color_reference is None:
            reference = None
            self._refuse_beyond_memory(pixels, "image", "lower size", "eager")  # (the encoder)
        else:  # (checked before it is copied, with the encoder: a 16000x16000 view was copied, 768 MB, unchecked)
            reference = as_rgb(color_reference, "color_reference", lambda height, width: self._style_and_reference_fit(
                pixels, _copied_bytes(color_reference, height, width)))
        with _out_of_memory_said("image", "lower size"):
            if reference is not None:
                image = recolored(image, reference)  # (float, unclipped)
            return self.net.style_stats(self.to_tensor(image))

    def style(self, image: ImageLike, size: int | None = 512, max_pixels: int = DEFAULT_MAX_PIXELS) -> StyleStats:
        """A style from a path, PIL image or (H, W, 3) uint8 array, encoded once at `size` (shorter
        side; None/0: as it is), refused above `max_pixels` there."""
        size, max_pixels = check_size(size), check_whole(max_pixels, "max_pixels", minimum=1)
        return self.style_stats(as_rgb(image, "image", _within(size, max_pixels)), size)

    def stylize_image(self, image: ImageLike, style: StyleStats, alpha: float = 1.0, size: int | None = 512,
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """Any image (path, PIL image, array) -> (H, W, 3) uint8 RGB at its own size, processed at
        `size` (refused above `max_pixels` there)."""
        size, max_pixels = check_size(size), check_whole(max_pixels, "max_pixels", minimum=1)
        style, alpha = check_stats(style), check_alpha(alpha)  # (before the image is read: said at once)
        original = as_rgb(image, "image", _within(size, max_pixels))
        # (one line, as stylize_video's; a MemoryError too, as `stylize`'s: `except MemoryError` missed it)
        with out_of_memory_as_user_error("image", "lower size", OutOfMemory):
            result = self.stylize(fit_short_side(original, size), style, alpha)
            return resize(result, original.shape[1::-1])

    def stylize_frames(self, frames: Iterable[np.ndarray], style: StyleStats, alpha: float = 1.0,
                       batch: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[np.ndarray]:
        """Frames streamed through the engine in order, `batch` at a time (one shape per batch;
        fewer where `batch` frames would hold more than `max_pixels` pixels in all, or than
        16384 x 16384, the most one engine call takes: `frame_batches`).

        The arguments are checked at the call; each frame when it is reached (`frames` may be endless)."""
        check_stats(style)
        alpha = check_alpha(alpha)
        batch = check_whole(batch, "batch", minimum=1)
        max_pixels = check_whole(max_pixels, "max_pixels", minimum=1)
        if isinstance(frames, np.ndarray) and frames.ndim != 4:
            raise ValueError(f"frames must be an (N, H, W, 3) array or an iterable of (H, W, 3) frames, "
                             f"got an array of shape {frames.shape}")
        if not isinstance(frames, Iterable) or isinstance(frames, (str, bytes, os.PathLike)):
            raise TypeError(f"frames must be an iterable of (H, W, 3) uint8 frames, got {type(frames).__name__}")

        def results() -> Iterator[np.ndarray]:
            with out_of_memory_as_user_error("frames", "lower batch, or pass smaller frames", OutOfMemory):
                for stylized in self.stylize_stream(frame_batches(errors_carried(frames), batch, max_pixels),
                                                    style, alpha):
                    yield from stylized

        return callers_errors_raised(results())

    def prepare(self, batch: int, height: int, width: int, say: Callable[[str], None] | None = None) -> None:
        """Compile or build the engine for this frame size before the first frame, saying so
        through `say` (default: stderr): a first inductor compile or TensorRT build takes minutes,
        which would look like a stalled run. The shape is checked as `stylize` checks frames."""
        batch, height, width = check_frame_shape(batch, height, width)
        if say is not None and not callable(say):
            raise TypeError(f"say must be a function taking a line of text, or None, got {type(say).__name__}")
        engine = self.engine
        if engine.builds_per_shape:
            (say or _to_stderr)(f"preparing the {engine.name} engine for {width}x{height}, batch {batch} "
                                "(the first time for a size takes minutes; later runs reuse it)")
        # (a signal to the process group stops a compile's compiler too: its error is the signal's)
        with engine.lock, signals_through_libraries():  # one build per shape, and none under another thread's step
            engine.prepare(batch, height, width)

    def _alpha(self, alpha: float) -> torch.Tensor:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        return torch.tensor(alpha, device=self.device, dtype=self.dtype)

    def stylize(self, frames: np.ndarray, style: StyleStats, alpha: float = 1.0) -> np.ndarray:
        """Stylize (N, H, W, 3) or (H, W, 3) uint8 frames; the result has the same shape."""
        checked = self._checked(style, alpha)
        self._frames_fit(frames, "frames")
        with _out_of_memory_said("frames", SMALLER):
            return self.engine.stylize(frames, *checked)

    def stylize_stream(
        self, batches: Iterable[np.ndarray], style: StyleStats, alpha: float = 1.0
    ) -> Iterator[np.ndarray]:
        """Stylize a sequence of (N, H, W, 3) batches (or single frames) in order, each result shaped
        as its input; on a GPU the copies of one batch overlap the compute of the next."""
        # (None was refused at the first result, as "'NoneType' object is not iterable")
        if not isinstance(batches, Iterable) or isinstance(batches, (str, bytes, os.PathLike)):
            raise TypeError(f"batches must be an iterable of (N, H, W, 3) uint8 arrays, got {type(batches).__name__}")
        return callers_errors_raised(_stream_out_of_memory_said(self.engine.stylize_stream(
            _named_batches(errors_carried(batches), lambda frames: self._frames_fit(frames, "batches")),
            *self._checked(style, alpha))))

    def _frames_fit(self, frames: np.ndarray, what: str) -> None:
        """Frames checked as the engine checks them (their pixels in one call: 'frames are 1 x
        ...'), and refused before they are copied where the engine's step cannot fit in memory."""
        batch = check_frames(frames)
        self._refuse_beyond_memory(len(batch) * padded_pixels(*batch.shape[1:3]), what, SMALLER)

    def _refuse_beyond_memory(self, pixels: int, what: str, hint: str, engine: str | None = None,
                              held: int = 0) -> None:
        """Refuse, before the work, a call of `pixels` (as the network runs them) whose peak cannot
        fit in the memory available now (`refuse_beyond_memory`: on the CPU, where the OOM killer
        ended the process), by the cost a pixel has in `engine` (default: the one `stylize` runs),
        and `held` bytes the call holds besides."""
        per_pixel = engines.REGISTRY[engine or self.engine_name].cpu_bytes_per_pixel
        refuse_beyond_memory(pixels * per_pixel + held, self.device, what, hint, OutOfMemory)

    def _style_and_reference_fit(self, pixels: int, copied: int) -> None:
        """`style_stats`' check with a colour reference: the encoder's `pixels` and the reference's
        RGB copy (`copied` bytes, held while the style is recoloured and encoded), said as the
        reference's where its copy is the larger part (only the style's were counted: a small
        style with a huge reference was copied unchecked, or refused as 'needs about 0 MiB; lower size')."""
        per_pixel = engines.REGISTRY["eager"].cpu_bytes_per_pixel
        what, hint = ("color_reference", "pass a smaller color_reference") if copied > pixels * per_pixel else (
            "image", "lower size")
        self._refuse_beyond_memory(pixels, what, hint, "eager", held=copied)

    def _checked(self, style: StyleStats, alpha: float) -> tuple[StyleStats, float]:
        """A call's style and alpha checked as the API's functions check them (a NaN style made a
        black picture, `None` an AttributeError); a style once per object, not once per frame
        (`live` calls per frame, and on a GPU each check of a tensor waits for the device)."""
        # (the snapshot: its values changed since; the engine sees that for its upload itself,
        # `Engine.style_inputs`, whatever style was checked between)
        last = self._checked_style
        if last is None or style is not last[0] or style.changed_since(last[1]):
            snapshot = check_stats(style).snapshot()
            self._checked_style = style, snapshot
        return style, check_number(alpha, "alpha")

    @torch.inference_mode()
    def stylize_masked(
        self, frame: np.ndarray, mask: np.ndarray, styles: Sequence[StyleStats], alpha: float = 1.0
    ) -> np.ndarray:
        """Spatial control: pixel (y, x) gets styles[mask[y, x]]; `mask` is (H, W) of indices."""
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:  # (was said as check_frames' "frames")
            got = f"{frame.dtype} values" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise TypeError(f"frame must be a uint8 numpy array, got {got}")
        if frame.ndim != 3 or frame.shape[-1] != 3 or 0 in frame.shape:
            raise ValueError(f"frame must be one (H, W, 3) uint8 RGB array, got {frame.shape}")
        check_pixels_per_call(1, *frame.shape[:2], what="frame")
        if isinstance(styles, StyleStats) or not isinstance(styles, Sequence):
            raise TypeError(f"styles must be a sequence of StyleStats, one per mask index, got {type(styles).__name__}")
        if not styles:
            raise ValueError("styles must be a non-empty sequence of StyleStats, one per mask index")
        styles = [check_stats(style, f"styles[{index}]") for index, style in enumerate(styles)]
        if not isinstance(mask, np.ndarray) or not (mask.dtype == bool or np.issubdtype(mask.dtype, np.integer)):
            raise TypeError(f"mask must be an integer numpy array of style indices, got {getattr(mask, 'dtype', type(mask).__name__)}")
        if mask.shape != frame.shape[:2]:
            raise ValueError(f"mask must be (H, W) like the frame, {frame.shape[:2]}, got {mask.shape}")
        if mask.size and (mask.min() < 0 or mask.max() >= len(styles)):
            raise ValueError(f"mask indices must be in [0, {len(styles) - 1}] (one per style), got {mask.min()} to {mask.max()}")
        alpha = self._alpha(check_alpha(alpha))
        self._refuse_beyond_memory(padded_pixels(*frame.shape[:2]), "frame", "pass a smaller frame", "eager")
        with _out_of_memory_said("frame", "pass a smaller frame"):
            labels = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64)).to(self.device)
            styles = [s.to(self.device, self.dtype) for s in styles]
            out = self.net.forward_masked(self.to_tensor(frame), labels, styles, alpha)
        return self.to_uint8(out)[0]
