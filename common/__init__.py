"""Helpers shared by `sweep`, `analysis` and `benchmarks`: result keys, storage URLs, the one-line CLI parser.

A leaf package: it imports neither TensorFlow nor any package of this project, so every layer can use it.
"""
