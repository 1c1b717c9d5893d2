"""`realtime-adain doctor`: what this installation can do, on one screen to paste into a bug report."""

from __future__ import annotations

import argparse
import json

from realtime_adain import doctor
from realtime_adain.commands.common import JsonOnStdout, say
from realtime_adain.errors import UserError, one_line
from realtime_adain.standard_streams import closed_at_start


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the installation: versions, devices, engines, weights, caches, cameras, display",
        description="Check what this installation can do and say what to fix. Problems are reported, "
                    "not errors: the exit status is 0 whenever the checks ran.",
    )
    parser.add_argument("--json", action=JsonOnStdout, one_object="report.json", help="print one JSON object instead of the text report")
    parser.set_defaults(func=run, prints_result=True)


def render(report: doctor.Report) -> str:
    """The report as aligned text: one block per section, then the problems with what to do.
    A newline in a value (a path may hold one) is shown as \\n, so a finding stays one line."""
    lines = [f"realtime-adain {report.version} doctor"]
    for section in report.sections:
        lines.append(f"{section.title}:")
        width = max((len(f.name) for f in section.findings), default=0)
        for finding in section.findings:
            mark = {"ok": " ", "note": "-", "problem": "!"}[finding.level]
            hint = f"; {finding.fix}" if finding.level == "note" and finding.fix else ""
            lines.append(one_line(f" {mark} {finding.name.ljust(width)}  {finding.value}{hint}"))
    problems = report.problems()
    lines.append(f"problems: {len(problems) or 'none'}")
    lines += [f"  {one_line(f'{title}/{f.name}: {f.value}')}\n    -> {one_line(str(f.fix))}" for title, f in problems]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from realtime_adain.utf8_names import names_as_utf8

    if closed_at_start(1):  # (`--json` says it as it is read: `common.JsonOnStdout`)
        raise UserError("standard output is closed, so the report would be lost; send it to a file (doctor > report.txt)")
    report = doctor.run_checks()
    say(json.dumps(names_as_utf8(report.to_json()), indent=2) if args.json else render(report))
    return 0
