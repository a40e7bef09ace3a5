"""How numbers look to a reader: fixed decimals, separators, intervals, "—" for missing."""

import math

import pandas as pd

from fedlib.display import MISSING, for_reader, interval, number


def test_numbers_have_fixed_decimals_separators_and_a_dash_for_missing():
    assert number(1234.56) == "1,234.6" and number(6.0, 0) == "6"
    assert number(1.25, 1, signed=True) == "+1.2" and number(-0.04, 1, signed=True) == "-0.0"
    assert number(None) == number(math.nan) == MISSING


def test_intervals_read_mean_then_bounds():
    assert interval(78.74, 75.66, 81.98) == "78.7 [75.7, 82.0]"
    assert interval(1.8, -1.1, 5.3, signed=True) == "+1.8 [-1.1, +5.3]"
    assert interval(math.nan, 1, 2) == MISSING


def test_reader_tables_hide_the_index_and_show_no_nan():
    table = pd.DataFrame({"phonological_to_en": [0.51234, math.nan], "rounds": [6.0, 30.0]})
    html = for_reader(table, columns={"phonological_to_en": "phonological distance to English"}).to_html()
    assert "phonological distance to English" in html and "0.5" in html and "nan" not in html.lower()
    assert "row_heading" not in html  # no index column
