"""`realtime-adain live`: capture -> stylize -> window/outputs, driven by one key table."""
