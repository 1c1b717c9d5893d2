"""`realtime-adain serve`: the webcam of a browser stylized over WebRTC (aiohttp + aiortc).

app.py (routes, limits, shutdown; guards.py the checks before them, process.py the run) ->
peers.py (one peer connection per client) ->
batcher.py (one shared Stylizer on a worker thread; each client's newest frame; ready frames as
one batch). client.py is an aiortc client for the tests and `bench serve`.
"""
