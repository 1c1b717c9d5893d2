"""Partial outputs: what an interrupted `video` run keeps (NAME.partial.EXT, or its numbered
pictures' pattern), refused before any work where it would replace an input, finished and named on
Ctrl-C or SIGTERM; an output that failed otherwise is discarded."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from realtime_adain import interrupts
from realtime_adain.atomic import PendingOutput
from realtime_adain.errors import UserError, mark_said
from realtime_adain.notes import write_line
from realtime_adain.output_checks import refuse_overwriting_inputs
from realtime_adain.output_paths import partial_path
from realtime_adain.video.picture_output import PictureOutput
from realtime_adain.video.writer import VideoWriter


def refuse_partial_over_inputs(outputs: Sequence[Path], inputs: Sequence[Path]) -> None:
    """Before any work: what an interrupted run keeps, NAME.partial.EXT (numbered pictures: their
    pattern's), is an output too, and may replace no input: `-o out.mp4` over an input named
    out.partial.mp4, or `-o 'g_%04d.png'` over g_0001.partial.png, had replaced it on Ctrl-C."""
    for output in outputs:
        partial = partial_path(output)
        try:
            refuse_overwriting_inputs([partial], inputs)
        except UserError as exc:
            reason = str(exc).removeprefix(f"{partial}: ")
            raise UserError(f"{output}: an interrupted run keeps its frames as {partial} ({reason}); give another "
                            "output name") from None


def keep_partial(writer: VideoWriter | PictureOutput, pending: PendingOutput | PictureOutput,
                 interrupt: KeyboardInterrupt) -> None:
    """Finish the file with the frames encoded so far and name it as partial (none: remove it),
    said in the signal's word (`terminated:` after SIGTERM): the stop's one line, so the CLI adds
    no `terminated` of its own after it (`errors.mark_said`)."""
    try:
        writer.close(whole=False)
    except BaseException as exc:  # (a full disk: said of the output, as without a signal, not its hidden name)
        pending.discard()
        raise pending.failed(exc) from None
    if writer.frames_written:
        kept = pending.publish_partial()
        count = writer.frames_written
        write_line(f"{interrupts.message(interrupt)}: {count} frame{'s' if count != 1 else ''} kept in {kept}")
        mark_said(interrupt)
    else:
        pending.discard()


def discard(writer: VideoWriter | PictureOutput, pending: PendingOutput | PictureOutput) -> None:
    try:
        writer.close(whole=False)
    except Exception:  # the original error is the one to report
        pass
    pending.discard()
