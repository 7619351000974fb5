import pytest

from services.subsidy.rulebook import get_rulebook
from services.subsidy.service import compute


@pytest.fixture(scope="session")
def rulebook():
    return get_rulebook()


def calc(program: str, inputs: dict, fiscal_year: int = 2023, overrides: dict | None = None) -> dict:
    """A calculation without the database: municipality attributes are given in `inputs`."""
    return compute(get_rulebook(), program, fiscal_year, inputs, overrides or {}, None)
