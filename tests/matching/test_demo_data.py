"""`chiiki matching demo-data`: a market a new user can query at once, loaded idempotently."""

from sqlalchemy import create_engine, func, select
from sqlmodel import Session
from typer.testing import CliRunner

from common.cli import app
from common.models import Adviser, Company, Municipality, Need
from common.settings import get_settings
from services.matching.demo import load_demo_data
from tests.harness import bearer


def test_the_command_loads_the_market_once_however_often_it_runs(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("CHIIKI_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        assert runner.invoke(app, ["data", "load"]).exit_code == 0
        outputs = [runner.invoke(app, ["matching", "demo-data"]) for _ in range(2)]
    finally:
        get_settings.cache_clear()
    first, second = outputs
    assert first.exit_code == second.exit_code == 0, first.output
    assert first.output == second.output
    engine = create_engine(url)
    with Session(engine) as session:
        counts = {
            model.__name__: session.exec(select(func.count()).select_from(model)).scalar()
            for model in (Company, Adviser, Need)
        }
    engine.dispose()
    assert counts["Company"] == 100 and counts["Adviser"] == 60 and counts["Need"] >= 80


async def test_demo_companies_sit_in_the_metro_areas_and_hosts_see_recommendations(db, client, app_key):
    async with db.sessionmaker() as session:
        counts = await load_demo_data(session)
        await session.commit()
        heads = (
            (
                await session.exec(
                    select(Municipality.metro_area).join(Company, Company.municipality_code == Municipality.code)
                )
            )
            .scalars()
            .all()
        )
    assert set(heads) == {"tokyo", "osaka", "nagoya"}
    response = await client.get(
        "/matching/recommendations",
        headers=bearer(app_key),
        params={"market": "kigyojin", "for": f"municipality:{counts['example_municipality']}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"], "a demo host should see companies at once"


async def test_demo_company_names_are_unique(session):
    await load_demo_data(session)
    names = (await session.exec(select(Company.name))).scalars().all()
    assert len(names) == len(set(names)) == 100


async def test_the_large_market_holds_the_small_one_and_every_kaso_municipality(session):
    small = await load_demo_data(session)
    first_small = await session.get(Company, "co_demo_001")
    small_name = first_small.name
    large = await load_demo_data(session, size="large")
    kaso = (
        await session.exec(select(func.count()).select_from(Municipality).where(Municipality.kaso_type.is_not(None)))
    ).scalar()
    assert (large["companies"], large["advisers"], large["municipalities_with_needs"]) == (2000, 500, kaso)
    assert large["example_municipality"] == small["example_municipality"]
    assert (await session.get(Company, "co_demo_001")).name == small_name  # the small market is part of it
    counts = {
        model: (await session.exec(select(func.count()).select_from(model))).scalar()
        for model in (Company, Adviser, Need)
    }
    assert counts == {Company: 2000, Adviser: 500, Need: large["needs"]}
    names = (await session.exec(select(Company.name))).scalars().all()
    assert len(set(names)) == 2000
    again = await load_demo_data(session, size="large")
    assert again == large
