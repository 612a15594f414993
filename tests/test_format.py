"""Numbers for people: exact strings, rounding at each unit's edge."""

import pytest

from wizard.faces import format as fmt


@pytest.mark.parametrize("value, text", [
    (0, "0"), (1585.04, "1,585"), (1262125.6, "1,262,126"), (81.81, "81.8"), (1.49, "1.49"),
    (0.012345, "0.0123"), (99.96, "100"), (1.5, "1.5"), (-738.59, "-739"),
    (float("inf"), "∞"), (float("-inf"), "-∞"), (float("nan"), "n/a"),
])
def test_number_keeps_three_significant_digits_and_whole_numbers_whole(value, text):
    assert fmt.number(value) == text


def test_number_takes_other_precisions():
    assert fmt.number(3.14159, digits=2) == "3.1"
    assert fmt.number(3.14159, digits=5) == "3.1416"


@pytest.mark.parametrize("ms, text", [
    (0, "0 ms"), (0.9, "0.9 ms"), (812.4, "812 ms"), (999.6, "1 s"), (1229, "1.23 s"),
    (101532.3, "102 s"), (119_400, "119 s"), (119_999, "2 min"), (1262125.6, "21 min"),
    (7_200_000, "2 h"), (233_638_500, "64.9 h"),
])
def test_durations_scale_from_ms_to_hours(ms, text):
    assert fmt.duration_ms(ms) == text


@pytest.mark.parametrize("value, text", [(0.62, "0.62 GiB"), (23.55, "23.6 GiB"), (759.79, "760 GiB"),
                                         (1023.9, "1 TiB"), (1536, "1.5 TiB")])
def test_memory_scales_from_gib_to_tib(value, text):
    assert fmt.gib(value) == text


@pytest.mark.parametrize("rate, text", [(1.49, "1.49 tok/s"), (1585.04, "1,585 tok/s"), (9999.4, "9,999 tok/s"),
                                        (9999.6, "10k tok/s"), (99868, "99.9k tok/s"), (1.2e7, "12M tok/s")])
def test_token_rates_switch_to_thousands_past_ten_thousand(rate, text):
    assert fmt.tokens_per_s(rate) == text


def test_token_counts_are_whole_and_separated():
    assert fmt.tokens(1_001_000) == "1,001,000 tokens"
    assert fmt.tokens(1) == "1 token"
    assert fmt.tokens(2.74) == "3 tokens"  # never ".74 tokens"
    assert fmt.count(1_001_000.4) == "1,001,000"


@pytest.mark.parametrize("n, text", [(5, "5"), (999, "999"), (1000, "1k"), (1500, "1.5k"), (131072, "131k"),
                                     (999_999, "1M"), (1_024_000, "1.02M"), (5e9, "5B")])
def test_compact_labels_for_ticks(n, text):
    assert fmt.compact(n) == text


def test_percentages_from_fractions():
    assert fmt.percent(0.873) == "87.3%"
    assert fmt.percent(1.0) == "100%"
    assert fmt.percent(36.3) == "3,630%"
    assert fmt.percent(0.0005) == "0.05%"


def test_pick_unit_gives_the_size_and_suffix_for_axis_ticks():
    assert fmt.pick_unit(4119.0, fmt.DURATION_UNITS_MS) == (1000.0, " s")
    assert fmt.pick_unit(999.4, fmt.DURATION_UNITS_MS) == (1.0, " ms")
    assert fmt.scaled(2048, fmt.MEMORY_UNITS_GIB) == "2 TiB"


def test_setting_values_read_as_words_and_numbers():
    assert [fmt.setting(v) for v in (None, True, False, 131072, 0.92, 2, "fp8")] == [
        "none", "on", "off", "131,072", "0.92", "2", "fp8"]


@pytest.mark.parametrize("n, text", [(1, "1 request"), (0, "0 requests"), (16, "16 requests"), (1600, "1,600 requests")])
def test_requests_are_counted_in_words(n, text):
    assert fmt.requests(n) == text


def test_a_run_of_one_token_answers_has_no_time_per_token():
    """bench reports TPOT 0 when every request samples one token: there was no decode step to time."""
    assert fmt.per_token(7.384) == "7.38 ms per token"
    assert fmt.per_token(0.0) == "no decode step (one output token each)"
