"""How many worker processes `--workers auto` starts: one per core, fewer if the memory one worker is estimated
to need (`vae.memory`, from the data headers and the models the sweep builds) does not fit that many times in
what the machine has available."""
from __future__ import annotations

import itertools
import os

from common.machine import usable_cores
from sweep.config import Range, SweepConfig
from vae.config import VALUE_ONLY_KEYS, TrialConfig

GB = 1e9


def auto_workers(cores: int, available_bytes: int, per_worker_bytes: int) -> int:
    """One worker per core, fewer if their memory would not fit in what is available (at least one)."""
    return max(1, min(cores, available_bytes // per_worker_bytes))


def candidate_trials(config: SweepConfig) -> list[TrialConfig]:
    """The trials a worker may run, as far as memory goes: every grid point; every boundary group and include
    point; for tpe/random every combination of the listed values (a range takes the trial default)."""
    if config.search.method == "grid":
        points = config.grid_points()
    elif config.search.method == "boundary":
        points = [*config.boundary_groups(), *config.grid_points()]
    else:
        lists = {key: dim for key, dim in config.dimensions().items() if not isinstance(dim, Range)}
        points = [dict(zip(lists, values)) for values in itertools.product(*lists.values())]
    defaults = config.trial_defaults()
    return [TrialConfig(**{**defaults, **point}) for point in points]


def worker_memory(config: SweepConfig) -> tuple[int, str]:
    """Peak bytes one worker needs for this sweep (`vae.memory`'s estimate from the data headers and the models),
    and what it is made of, in words."""
    from vae.memory import CACHE_SIZE, SETUP_BYTES, process_bytes, setups, trains_classifier, trial_bytes

    trials = candidate_trials(config)
    kept = setups(trials)
    if any(isinstance(dim, Range) and key not in VALUE_ONLY_KEYS for key, dim in config.dimensions().items()):
        kept = min(CACHE_SIZE, config.search.n_trials or CACHE_SIZE)  # a drawn structure can be a new setup
    largest = max(trials, key=trial_bytes)
    words = (f"largest trial {trial_bytes(largest) / GB:.1f} GB ({largest.dataset}, {largest.arch}"
             + (", classifier training included" if trains_classifier(largest) else "") + ")"
             + (f" + {kept - 1} more model setup{'s' if kept > 2 else ''} × {SETUP_BYTES / GB:.2f} GB"
                if kept > 1 else ""))
    return process_bytes(trials, kept), words


def available_memory() -> int:
    """Bytes the kernel reports as available for new processes (`MemAvailable`), else the free pages."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def resolve_workers(workers: int | str, config: SweepConfig) -> int:
    """`--workers`: the number given, or the number `auto` chooses, said in one line with the reason."""
    if workers != "auto":
        return workers
    cores, available = usable_cores(), available_memory()
    per_worker, why = worker_memory(config)
    chosen = auto_workers(cores, available, per_worker)
    print(f"--workers auto: {chosen} ({cores} core{'s' if cores > 1 else ''}; {available / GB:.1f} GB available ÷ "
          f"{per_worker / GB:.1f} GB estimated per worker: {why})", flush=True)
    return chosen
