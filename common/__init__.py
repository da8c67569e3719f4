"""Helpers shared by `sweep`, `analysis` and `benchmarks`: result keys, storage URLs, the one-line CLI parser,
the usable cores.

A leaf package: it imports neither TensorFlow nor any package of this project, so every layer can use it.
"""
