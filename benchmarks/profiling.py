"""Where the time of a training epoch goes: the TensorFlow profiler's trace, summed by kind of work.

`profile_call(fn, logdir)` runs `fn` under `tf.profiler.experimental` and reads the XPlane it wrote (the same
file TensorBoard's profile plugin reads) with TensorFlow's own protobuf, so no plugin is needed. Events on the
TensorFlow executor threads (graph mode) and on XLA's thread pool (compiled code) are classified by op name;
`wall_ms` is the time `fn` took, `busy_ms` the summed kernel time over all threads (> wall when ops overlap).
"""
from __future__ import annotations

import collections
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES = (  # first match wins; matched against the op type (graph mode) or XLA's kernel name
    ("conv", re.compile(r"conv", re.I)),
    ("layout transposes", re.compile(r"transpose", re.I)),
    ("matmul", re.compile(r"matmul|dot|gemm", re.I)),
    ("optimizer", re.compile(r"assign|adam|resourceapply", re.I)),
    ("input (gather/tf.data)", re.compile(r"gather|iterator|dataset|slice", re.I)),
)
KERNEL_THREADS = re.compile(r"^(tf_Compute|tf_numa|tf_XLA|XLA|Eigen|tf_data)", re.I)
CONTAINERS = re.compile(r"^(ExecutorState|ExecuteAsyncOnStream|ThunkExecutor|CpuExecutable|Execute$|Start$|Done$|"
                        r"Process$|Await|SlinkyThreadPool|ThreadpoolListener|BlockUntilReady|PrefetchProduce)")


@dataclass
class Profile:
    wall_ms: float
    by_category: dict[str, float] = field(default_factory=dict)

    @property
    def busy_ms(self) -> float:
        return sum(self.by_category.values())

    def shares(self) -> dict[str, float]:
        busy = self.busy_ms or 1.0
        return {name: ms / busy for name, ms in sorted(self.by_category.items(), key=lambda kv: -kv[1])}

    def summary(self) -> str:
        parts = ", ".join(f"{name} {share:.0%}" for name, share in self.shares().items() if share >= 0.01)
        return f"{self.wall_ms:.0f} ms wall, {self.busy_ms:.0f} ms kernel time: {parts}"


def classify(kernel: str) -> str:
    for name, pattern in CATEGORIES:
        if pattern.search(kernel):
            return name
    return "elementwise/other"


def profile_call(fn, logdir: str | Path) -> Profile:
    from vae.tf_runtime import tf

    logdir = Path(logdir)
    shutil.rmtree(logdir, ignore_errors=True)
    tf.profiler.experimental.start(str(logdir))
    started = time.perf_counter()
    try:
        fn()
    finally:
        wall = time.perf_counter() - started
        tf.profiler.experimental.stop()
    return read_xplane(logdir, wall * 1e3)


def read_xplane(logdir: Path, wall_ms: float, top: int = 8) -> Profile:
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = sorted(Path(logdir).rglob("*.xplane.pb"))
    if not files:
        return Profile(wall_ms)
    space = xplane_pb2.XSpace()
    space.ParseFromString(files[-1].read_bytes())
    by_category: collections.Counter = collections.Counter()
    kernels: collections.Counter = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if not KERNEL_THREADS.match(line.name):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                kernel = name.rpartition(":")[2] if ":" in name else name
                if CONTAINERS.match(kernel) or CONTAINERS.match(name):
                    continue
                kernel = re.sub(r"\.\d+$", "", kernel)
                ms = event.duration_ps / 1e9
                by_category[classify(kernel)] += ms
                kernels[kernel] += ms
    return Profile(wall_ms, dict(by_category), kernels.most_common(top))


def profile_both(arch: str, workdir: Path, epochs_before: int = 2) -> dict[str, Profile]:
    """One steady-state training epoch of ours (`Trainer.run_epoch`) and of the reference (one more `fit` epoch)."""
    import numpy as np

    from benchmarks.reference import build_reference
    from vae.config import TrialConfig
    from vae.data import load_splits
    from vae.fit import trainer_for

    config = TrialConfig(arch=arch)
    splits = load_splits(config)
    trainer = trainer_for(config, splits.image_shape, len(splits.train))
    images, train = splits.train, np.asarray(splits.train)
    for _ in range(epochs_before):
        trainer.run_epoch(images)
    results = {"ours": profile_call(lambda: trainer.run_epoch(images), workdir / f"{arch}-ours")}
    reference = build_reference(config, splits.image_shape)
    reference.fit(train, epochs=epochs_before, batch_size=config.batch_size, verbose=0)
    results["reference (incl. Keras' per-fit data set-up)"] = profile_call(
        lambda: reference.fit(train, epochs=1, batch_size=config.batch_size, verbose=0),
        workdir / f"{arch}-reference")
    return results
