"""Offline video stylization: PyAV decoding, a threaded stylize pipeline, PyAV encoding and remuxing."""
