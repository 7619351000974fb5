"""The 個人番号 check digit (official formula) and the keyed hash of マイキーIDs."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import Unprocessable
from services.mynapoint.identity import is_my_number, my_number_check_digit, myki_hash

eleven_digits = st.text(alphabet="0123456789", min_size=11, max_size=11)


def test_a_hand_worked_number_is_recognised():
    # Worked by hand for 123456789018: Σ Pn·Qn = 212, 212 mod 11 = 3, check = 11 − 3 = 8.
    assert my_number_check_digit("12345678901") == 8
    assert is_my_number("123456789018") and not is_my_number("123456789017")


@given(eleven_digits)
def test_exactly_one_check_digit_completes_eleven_digits(first):
    assert [d for d in "0123456789" if is_my_number(first + d)] == [str(my_number_check_digit(first))]


@given(eleven_digits)
def test_a_valid_my_number_is_never_hashed(first):
    number = first + str(my_number_check_digit(first))
    with pytest.raises(Unprocessable) as refused:
        myki_hash(number, b"k" * 32)
    assert number not in refused.value.message


def test_the_hash_depends_on_the_server_secret():
    assert myki_hash("ABCD1234", b"a" * 32) != myki_hash("ABCD1234", b"b" * 32)
    assert myki_hash("ABCD1234", b"a" * 32) == myki_hash("ABCD1234", b"a" * 32)
    assert "ABCD1234" not in myki_hash("ABCD1234", b"a" * 32)
