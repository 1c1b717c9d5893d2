"""Benchmarks behind `realtime-adain bench TARGET`; each module has add_arguments(parser) and run(args)."""
