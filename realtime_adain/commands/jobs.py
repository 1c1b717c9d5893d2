"""Job planning and output naming shared by `image` and `video`: every input x every style (or one
job per input when the styles are combined), and where each result goes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from realtime_adain.errors import UserError, as_given
from realtime_adain.output_checks import output_extension, output_is_one_file, refuse_shared_outputs
from realtime_adain.video.sequence import stem as source_stem


@dataclass(frozen=True)
class Job:
    source: Path
    styles: list[Path]
    name: str  # what the output is called after the source's stem: a style's stem, "mix" or "mask"


def plan_jobs(sources: list[Path], styles: list[Path], combined: str | None = None) -> list[Job]:
    """Every source x style; with `combined` ("mix", "mask"), one job per source using every style."""
    if combined:
        return [Job(source, styles, combined) for source in sources]
    return [Job(source, [style], style.stem) for source in sources for style in styles]


def output_paths(output: str, jobs: list[Job], formats: Sequence[str], what: str,
                 ext: str | None, own_suffix: Callable[[str], str] = str) -> list[Path]:
    """One file when `output` names one (ending in one of `formats`, and there is one result);
    else `output` is a folder and each result is SOURCE_stylized_NAME.EXT (`ext` None:
    `own_suffix` of the source's). Two jobs that would share a name are refused before any work,
    naming both."""
    if not output.strip() or output == "-":  # "" would be the current folder; "-" is no stream here
        raise UserError(f"-o {output!r}: give {'an' if what[0] in 'aeiou' else 'a'} {what} file or a folder for the results")
    if output_is_one_file(output, lambda path: path.suffix.lower() in formats, len(jobs), what, formats):
        if ext is not None:  # (an option that does nothing is refused, not ignored)
            raise UserError(f"--ext {as_given(ext)}: --ext applies to a folder -o; {output} names one file, in its own format")
        return [Path(output)]
    suffix = output_extension(ext, formats) if ext is not None else None
    outputs = [Path(output) / f"{source_stem(job.source)}_stylized_{job.name}{suffix or own_suffix(job.source.suffix)}"
               for job in jobs]
    refuse_shared_outputs(outputs, [(job.source, *job.styles) for job in jobs])
    return outputs
