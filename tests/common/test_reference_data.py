from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlmodel import select

from common.models import FieldOfWork, Municipality
from common.models.municipality import MunicipalityPublic
from common.reference_data import load_reference_data, municipality_rows


async def test_every_prefecture_and_municipality_is_loaded(session):
    count = (await session.exec(select(func.count()).select_from(Municipality))).one()
    prefectures = (
        await session.exec(select(func.count()).select_from(Municipality).where(Municipality.type == "prefecture"))
    ).one()
    assert (count, prefectures) == (1794, 47)


async def test_municipal_populations_add_up_to_the_census_total(session):
    total = (
        await session.exec(select(func.sum(Municipality.population_2020)).where(Municipality.type != "prefecture"))
    ).one()
    assert total == 126_146_099


@pytest.mark.parametrize(
    "code,name,population,fsi,fsi_fy,kaso,metro",
    [
        ("012092", "夕張市", 7334, "0.2", 2022, "full", None),
        ("131016", "千代田区", 66680, "0.87", 2022, None, "tokyo"),
        ("473812", "竹富町", 3942, "0.14", 2022, None, None),
        ("234273", "飛島村", 4575, "2.02", 2022, None, "nagoya"),
        ("130001", "東京都", 14_047_594, "1.07301", 2021, None, "tokyo"),
        ("012025", "函館市", 251_084, "0.48", 2022, "partial", None),
    ],
)
async def test_spot_checks_from_the_provenance_file(session, code, name, population, fsi, fsi_fy, kaso, metro):
    row = MunicipalityPublic.model_validate(await session.get(Municipality, code), from_attributes=True)
    assert (row.name, row.population_2020, row.fiscal_strength_index, row.fiscal_strength_index_fy) == (
        name,
        population,
        Decimal(fsi),
        fsi_fy,
    )
    assert row.kaso_type == kaso and row.is_kaso == (kaso is not None)
    assert row.metro_area == metro and row.in_three_metro_area == (metro is not None)


async def test_northern_territories_villages_have_no_population(session):
    villages = (await session.exec(select(Municipality).where(Municipality.is_northern_territories))).all()
    assert len(villages) == 6
    assert all(v.population_2020 is None and v.fiscal_strength_index is None for v in villages)


async def test_loading_again_changes_nothing(session):
    results = await load_reference_data(session)
    assert [(r.inserted, r.updated) for r in results] == [(0, 0), (0, 0)]
    assert results[0].unchanged == 1794 and results[1].unchanged == len((await session.exec(select(FieldOfWork))).all())


async def test_loading_repairs_a_row_that_drifted(session):
    yubari = await session.get(Municipality, "012092")
    yubari.population_2020 = 1
    await session.flush()
    results = await load_reference_data(session)
    assert (results[0].inserted, results[0].updated) == (0, 1)
    await session.refresh(yubari)
    assert yubari.population_2020 == 7334


def test_rows_keep_codes_as_text_with_leading_zeros():
    rows = {row["code"]: row for row in municipality_rows()}
    assert rows["012092"]["code5"] == "01209" and rows["012092"]["pref_code"] == "01"
