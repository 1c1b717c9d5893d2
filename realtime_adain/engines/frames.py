"""Moving uint8 frames to the model and back: host<->device copies and conversions.

The model step takes (N, 3, H, W) images in [0, 1] whose sides are multiples of 8; frames arrive
as (N, H, W, 3) uint8 RGB of any size. `HostFrames` converts on the CPU. `CudaFrames` keeps the
frames uint8 over PCIe (4x fewer bytes than float), converts, pads and rounds on the GPU, and
reuses pinned host buffers and device buffers allocated once per shape, with uploads and downloads
on a side stream, so a steady stream of frames allocates nothing per frame.
"""

from __future__ import annotations

import numpy as np
import torch

from realtime_adain.model import pad_to_multiple, padded_size, padding_mode


def to_uint8_(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats -> 0..255, rounded as torchvision's save_image, in place (float32 input)."""
    return images.mul_(255.0).add_(0.5).clamp_(0.0, 255.0)


def frames_to_images(frames: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) uint8 RGB -> (N, 3, H, W) in [0, 1] on `device`, unpadded.

    The result is a permuted view of the NHWC data, which oneDNN's kernels run faster than a
    contiguous NCHW copy.
    """
    array = np.ascontiguousarray(frames)
    if not array.flags.writeable:  # a read-only array (a broadcast, a buffer): torch warns on sharing it
        array = array.copy()
    batch = torch.from_numpy(array)
    if batch.ndim == 3:
        batch = batch.reshape(1, *batch.shape)  # reshape (not [None]): a real stride for oneDNN
    # Not non_blocking on Apple GPUs: a CPU->MPS copy from pageable memory released before the
    # copy runs silently corrupts the data there (pytorch/pytorch#139550, #189690).
    moved = batch.to(device, non_blocking=device.type == "cuda")
    return moved.permute(0, 3, 1, 2).to(dtype).div_(255.0)


def images_to_frames(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] -> (N, H, W, 3) uint8 on the host; `images` is left untouched.
    A meta tensor (torch's NotImplementedError), a complex one (its imaginary part dropped with a
    warning) and an integer or bool one (uint8 200 was taken as 200.0 and came back 255) are refused."""
    if images.is_meta:
        raise ValueError("images are on the meta device: they hold no values")
    if images.is_complex():
        raise TypeError(f"images must be a real tensor, got {images.dtype}")
    if not images.is_floating_point():
        raise TypeError(f"images must be a floating tensor of values in [0, 1], got {images.dtype}")
    scaled = to_uint8_(images.to(torch.float32, copy=True)).to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).contiguous().cpu().numpy()


class HostFrames:
    """CPU conversions around the model step: pad up to multiples of 8, crop back."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device, self.dtype = device, dtype

    def upload(self, frames: np.ndarray) -> torch.Tensor:
        return pad_to_multiple(frames_to_images(frames, self.device, self.dtype))

    def download(self, images: torch.Tensor, height: int, width: int) -> np.ndarray:
        return images_to_frames(images[..., :height, :width])


def padding_index(size: int, target: int, mode: str, device: torch.device) -> torch.Tensor:
    """Source positions along one axis that `F.pad(..., mode)` reads for a side padded to `target`."""
    positions = torch.arange(target)
    if mode == "reflect":
        positions = torch.where(positions < size, positions, 2 * (size - 1) - positions)
    else:
        positions = positions.clamp(max=size - 1)
    return positions.to(device)


class FramePadder:
    """Pads (N, H, W, 3) uint8 frames as `pad_to_multiple` does, into buffers made once per shape.

    Two `index_select`s into preallocated buffers replace `F.pad`, which would allocate a new
    tensor per frame; on uint8 frames they are also 4x less memory traffic than padding floats.
    """

    def __init__(self, shape: tuple[int, ...], device: torch.device) -> None:
        n, h, w, c = shape
        self.height, self.width = padded_size(h, w)
        self.needed = (self.height, self.width) != (h, w)
        if self.needed:
            mode = padding_mode(h, w)
            self.rows = padding_index(h, self.height, mode, device)
            self.columns = padding_index(w, self.width, mode, device)
            self.tall = torch.empty((n, self.height, w, c), dtype=torch.uint8, device=device)
            self.padded = torch.empty((n, self.height, self.width, c), dtype=torch.uint8, device=device)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """The padded frames: a buffer overwritten by the next call (or `frames` when none is needed)."""
        if not self.needed:
            return frames
        torch.index_select(frames, 1, self.rows, out=self.tall)
        return torch.index_select(self.tall, 2, self.columns, out=self.padded)


class _Slot:
    """The buffers of one frame batch in flight (two slots give double buffering)."""

    def __init__(self, shape: tuple[int, ...], device: torch.device) -> None:
        self.host_in = torch.empty(shape, dtype=torch.uint8).pin_memory()
        self.device_in = torch.empty(shape, dtype=torch.uint8, device=device)
        self.device_out = torch.empty(shape, dtype=torch.uint8, device=device)
        self.host_out = torch.empty(shape, dtype=torch.uint8).pin_memory()
        self.uploaded = torch.cuda.Event()
        self.computed = torch.cuda.Event()
        self.downloaded = torch.cuda.Event()
        self.used = False  # whether the events above were ever recorded


class CudaFrames:
    """GPU conversions with pinned memory, a copy stream and double-buffered slots."""

    def __init__(self, device: torch.device, dtype: torch.dtype, memory_format: torch.memory_format) -> None:
        self.device, self.dtype, self.memory_format = device, dtype, memory_format
        self.copy_stream = torch.cuda.Stream(device)
        self.shape: tuple[int, ...] | None = None
        self.slots: list[_Slot] = []

    def _prepare(self, shape: tuple[int, ...]) -> None:
        if shape == self.shape:
            return
        torch.cuda.synchronize(self.device)  # buffers of the old shape may still be in use
        n, h, w, _ = shape
        padded = padded_size(h, w)
        self.slots = [_Slot(shape, self.device) for _ in range(2)]
        self.padder = FramePadder(shape, self.device)
        self.images = torch.empty((n, 3, *padded), dtype=self.dtype, device=self.device).contiguous(
            memory_format=self.memory_format
        )
        self.scratch = torch.empty((n, 3, h, w), dtype=torch.float32, device=self.device)
        self.shape = shape

    def upload(self, frames: np.ndarray, slot_index: int = 0) -> torch.Tensor:
        """Copy frames into pinned memory, upload them on the copy stream, convert on the GPU.

        The returned tensor is a persistent buffer: it is overwritten by the next upload.
        """
        self._prepare(frames.shape)
        slot = self.slots[slot_index]
        if slot.used:
            slot.uploaded.synchronize()  # the previous upload from this pinned buffer is done
        np.copyto(slot.host_in.numpy(), frames)
        with torch.cuda.stream(self.copy_stream):
            if slot.used:
                self.copy_stream.wait_event(slot.computed)  # device_in is no longer being read
            slot.device_in.copy_(slot.host_in, non_blocking=True)
            slot.uploaded.record(self.copy_stream)
        compute = torch.cuda.current_stream(self.device)
        compute.wait_event(slot.uploaded)
        # Padded NHWC uint8 viewed as NCHW: one cast-and-scale kernel into the model's input buffer.
        torch.div(self.padder(slot.device_in).permute(0, 3, 1, 2), 255.0, out=self.images)
        return self.images

    def submit_download(self, images: torch.Tensor, slot_index: int = 0) -> None:
        """Round to uint8 on the GPU and start the download; `collect` waits for it."""
        slot = self.slots[slot_index]
        compute = torch.cuda.current_stream(self.device)
        n, h, w, _ = self.shape
        if slot.used:
            compute.wait_event(slot.downloaded)  # device_out's previous contents are on the host
        self.scratch.copy_(images[..., :h, :w])
        slot.device_out.permute(0, 3, 1, 2).copy_(to_uint8_(self.scratch))
        slot.computed.record(compute)
        with torch.cuda.stream(self.copy_stream):
            self.copy_stream.wait_event(slot.computed)
            slot.host_out.copy_(slot.device_out, non_blocking=True)
            slot.downloaded.record(self.copy_stream)
        slot.used = True

    def collect(self, slot_index: int = 0) -> np.ndarray:
        """Wait for a slot's download; the caller gets its own copy of the frames."""
        slot = self.slots[slot_index]
        slot.downloaded.synchronize()
        return slot.host_out.numpy().copy()

    def download(self, images: torch.Tensor, height: int, width: int) -> np.ndarray:
        self.submit_download(images, 0)
        return self.collect(0)


def frames_for(
    device: torch.device, dtype: torch.dtype, memory_format: torch.memory_format = torch.channels_last
) -> HostFrames | CudaFrames:
    return CudaFrames(device, dtype, memory_format) if device.type == "cuda" else HostFrames(device, dtype)
