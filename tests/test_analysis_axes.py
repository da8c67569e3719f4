"""analysis.show.axes: log ticks at the swept values (thinned to fit), and stacks of runs at the same spot."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.show.axes import log_ticks, stacks, tick_label


def test_ticks_are_swept_values_thinned_to_the_room_available():
    assert list(log_ticks([0.5, 1.0, 4.0, 1.0, 0.5])) == [0.5, 1.0, 4.0]
    # 3.8 decades on 3.2 inches: labels 0.6 inch apart leave 0.5, 4, 392, 3136 (1 and 784 would touch)
    assert list(log_ticks([0.5, 1, 4, 392, 784, 3136], room=3.2)) == [0.5, 4, 392, 3136]
    assert log_ticks(np.geomspace(1, 100, 40)) is None  # a continuous β: decades
    assert tick_label(3136.0) == "3\u202f136" and tick_label(0.0012755) == "0.00128" and tick_label(22.627) == "22.6"


def test_stacks_count_runs_within_a_marker_of_each_other():
    data = pd.DataFrame({"kl": [0.0, 0.001, 0.002, 5.0, 10.0, 0.0], "nll": [205.0, 205.1, 204.9, 180.0, 140.0, 205.0],
                         "reduction": ["mean"] * 5 + ["sum"]})
    found = stacks(data, "kl", "nll", by=("reduction",))
    assert list(found["n"]) == [3, 1, 1, 1] and list(found.index) == [0, 3, 4, 5]
    assert list(stacks(data, "kl", "nll")["n"]) == [4, 1, 1]
