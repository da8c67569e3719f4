"""The machine the numbers come from, its float32 matmul peak, and the statistics every benchmark shares."""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import time


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def describe() -> str:
    from vae.tf_runtime import tf

    return f"{cpu_model()}, {os.cpu_count()} cores, TF {tf.__version__}"


def today() -> str:
    return datetime.date.today().isoformat()


def median(values) -> float:
    values = [value for value in values if value == value]
    return statistics.median(values) if values else float("nan")


def matmul_peak(size: int = 2048, repetitions: int = 5, seconds: float = 0.4) -> float:
    """Median float32 FLOP/s of a large `tf.matmul` (2·n³ FLOPs), each repetition ~`seconds` long."""
    from vae.tf_runtime import tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    matmul = tf.function(tf.matmul)
    matmul(a, b).numpy()
    started = time.perf_counter()
    matmul(a, b).numpy()
    calls = max(1, int(seconds / max(time.perf_counter() - started, 1e-4)))
    rates = []
    for _ in range(repetitions):
        started = time.perf_counter()
        for _ in range(calls):
            product = matmul(a, b)
        product.numpy()
        rates.append(2.0 * size**3 * calls / (time.perf_counter() - started))
    return median(rates)
