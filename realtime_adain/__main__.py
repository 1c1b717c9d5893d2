from realtime_adain.cli import entry

entry()
