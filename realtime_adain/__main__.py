"""`python -m realtime_adain`, and the `realtime-adain` console script (pyproject.toml names
`entry` here): a signal while the command's modules import ends it with its one line, as any
later one does (`interrupts.stop_while_starting`); `cli.main` takes signals over from there."""

from realtime_adain.interrupts import stop_while_starting

with stop_while_starting():
    from realtime_adain.cli import entry

if __name__ == "__main__":
    entry()
