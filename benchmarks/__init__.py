"""Benchmarks of the VAE training harness against a keras-io-style reference: `python -m benchmarks`."""
