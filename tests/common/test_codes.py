import csv

import pytest

from common.codes import check_digit, local_government_code_problem
from common.reference_data import MUNICIPALITIES_CSV


def test_check_digit_agrees_with_every_shipped_code():
    with MUNICIPALITIES_CSV.open(encoding="utf-8") as file:
        codes = [row["lg_code"] for row in csv.DictReader(file)]
    assert len(codes) == 1794
    assert [c for c in codes if check_digit(c[:5]) != c[5]] == []


@pytest.mark.parametrize("code", ["012092", "131016", "473812", "130001"])
def test_valid_codes_have_no_problem(code):
    assert local_government_code_problem(code) is None


@pytest.mark.parametrize(
    "code,expected", [("012093", "check digit"), ("01209", "6 digits"), ("01209a", "6 digits"), ("0120920", "6 digits")]
)
def test_malformed_codes_are_explained(code, expected):
    assert expected in local_government_code_problem(code)
