"""How every input is opened with PyAV, in one place.

Metadata that is not UTF-8 (a Latin-1 title) is read with replacement characters rather than
stopping the video. PyAV 19 dropped that option from `av.open` (a TypeError on every file, seen
on the first GPU machine, which fetched 19 for Python 3.12); pyproject.toml keeps PyAV below 19,
and where 19 is installed anyway the file is opened without it.
"""

from __future__ import annotations

import av

from realtime_adain.video.picture_shape import check_stated_y4m

OPEN_OPTIONS: dict[str, str] = {"metadata_errors": "replace"} if int(av.__version__.split(".")[0]) < 19 else {}


def open_input(name, **options):
    """`av.open(name, **options)` for reading, with the metadata option where PyAV has it; a
    YUV4MPEG2 file FFmpeg refuses for its stated picture size refused naming that size."""
    try:
        return av.open(name, **OPEN_OPTIONS, **options)
    except av.error.OSError:  # (FFmpeg's EBUSY, "Device or resource busy", for "Picture size ... is invalid")
        check_stated_y4m(name)
        raise
