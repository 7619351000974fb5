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


SEPARATED_MY_NUMBERS = [
    "1234-5678-9018",
    "1234 5678 9018",
    "1234.5678.9018",
    "1234_5678_9018",
    " 123456789018\n",
    "１２３４５６７８９０１８",
    "１２３４－５６７８－９０１８",
    "1234\u30005678\u30009018",
    "1234\u20135678\u20149018",
    "1234ー5678ー9018",
]


@pytest.mark.parametrize("written", SEPARATED_MY_NUMBERS)
def test_a_my_number_written_with_separators_or_full_width_is_refused(written):
    with pytest.raises(Unprocessable) as refused:
        myki_hash(written, b"k" * 32, field="myki_id")
    assert refused.value.code == "invalid_identity" and refused.value.field == "myki_id"
    assert "個人番号" in refused.value.message and "9018" not in refused.value.message


def test_twelve_separated_digits_failing_the_check_digit_are_an_identifier():
    assert myki_hash("1234-5678-9017", b"k" * 32)


@pytest.mark.parametrize(
    "variant", ["ABCD1234\n", " ABCD1234", "ABCD1234\r\n", "\tABCD1234 ", "ＡＢＣＤ１２３４", "ABCD1234\u3000"]
)
def test_one_resident_however_the_id_is_padded_or_widened(variant):
    assert myki_hash(variant, b"a" * 32) == myki_hash("ABCD1234", b"a" * 32)


def test_case_is_kept():
    assert myki_hash("abcd1234", b"a" * 32) != myki_hash("ABCD1234", b"a" * 32)


@pytest.mark.parametrize(
    "bad", ["ABC", "AB CD1234", "ABCD\n1234", "ABCD/1234", "マイキー1234", "A" * 65, "\n\n\n\n", "ABCD\u00001234"]
)
def test_outside_the_alphabet_is_refused_naming_the_field(bad):
    with pytest.raises(Unprocessable) as refused:
        myki_hash(bad, b"k" * 32, field="residents.0.myki_id")
    assert refused.value.code == "invalid_identity" and refused.value.field == "residents.0.myki_id"
