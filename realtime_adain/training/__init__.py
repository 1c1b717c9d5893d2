"""Training decoders with the paper's objective (`tools/train.py`, `tools/evaluate.py`)."""
