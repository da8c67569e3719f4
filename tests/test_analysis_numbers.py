"""analysis.numbers: one format for every number the report prints."""
import numpy as np
import pandas as pd

from analysis.numbers import THIN, fmt, fmt_info, values


def test_number_format_is_one_format():
    assert fmt(392) == "392" and fmt(784.0) == "784" and fmt(3136) == f"3{THIN}140"
    assert fmt(0.000035) == "3.50e-05" and fmt(float("nan")) == "n/a"
    assert fmt_info(-3.5e-05) == "≈ 0" and fmt_info(2.5) == "2.5"
    assert values(pd.Series(np.geomspace(1, 100, 50))) == "50 values, 1–100"
    assert values(pd.Series([4.0, 1.0, 0.1])) == "0.1, 1, 4"


def test_a_number_that_rounds_up_to_a_thousand_keeps_the_format():
    assert fmt(999.7) == f"1{THIN}000" and fmt(-999.7) == f"-1{THIN}000" and fmt(999.4) == "999"
    assert fmt(999_999.7) == f"1{THIN}000{THIN}000" and fmt(0.9996) == "1"
