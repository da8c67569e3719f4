"""TensorFlow and Keras, imported once and quietly, with threads set for the cores this process may use.

TensorFlow's C++ runtime prints banner lines (oneDNN, CUDA probing) before its log level applies; they are
noise for a CLI user, so stderr is muted while the import runs. Python exceptions are not affected.

`VAE_SWEEPS_THREADS=n` (set by `sweep.launch --workers N` for each worker: cores // N) caps TensorFlow's
thread pools, so N workers do not oversubscribe the cores; unset, TensorFlow uses one thread per core.

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512-class features; on AVX2-only CPUs
they make a conv epoch faster too (mlp steps are XLA and unaffected), so they are on unless the user sets
`TF_ENABLE_ONEDNN_OPTS` themselves.
"""
from __future__ import annotations

import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _import_quietly():
    saved_stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras
        import tensorflow

        threads = int(os.environ.get("VAE_SWEEPS_THREADS", "0") or 0)
        if threads > 0:
            tensorflow.config.threading.set_intra_op_parallelism_threads(threads)
            tensorflow.config.threading.set_inter_op_parallelism_threads(threads)
        tensorflow.config.list_physical_devices()  # device probing logs happen here, still muted
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
    return tensorflow, keras


class _NoRetracingNotice(logging.Filter):
    """Each model of a sweep traces its own evaluation functions (one trace per batch shape): expected, and
    TensorFlow's "N out of the last M calls triggered tf.function retracing" counts across models."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf, keras = _import_quietly()
tf.get_logger().addFilter(_NoRetracingNotice())
