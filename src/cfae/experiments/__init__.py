"""Experiments: each wires models, methods and metrics together and writes a report folder."""
