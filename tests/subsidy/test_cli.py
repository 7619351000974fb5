"""`chiiki subsidy calc` in a terminal and as CSV."""

import csv
import io
import json

from typer.testing import CliRunner

from common.cli import app
from common.settings import get_settings


def run(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_calc_prints_amount_breakdown_and_trace():
    result = run(
        "subsidy",
        "calc",
        "distributed_energy",
        "--fiscal-year",
        "2023",
        "plan_cost=30000000",
        "fiscal_strength_index=0.25",
    )
    assert result.exit_code == 0, result.output
    # 0.25 → 2/3 of the 20,000,000 cap = 13,333,333
    assert "amount 13,333,333 yen" in result.output
    assert "cost_cap = 20000000 (FY2022–FY2023)" in result.output
    assert "「分散型エネルギーインフラプロジェクト」" in result.output


def test_calc_csv_and_what_if():
    result = run(
        "subsidy",
        "calc",
        "tokutei_kumiai",
        "--fiscal-year",
        "2023",
        "operating_cost=8000000",
        "--csv",
        "--override",
        "national_grant_share=1/8",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    values = {(row[0], row[1]): row[2] for row in rows[1:]}
    # national 8,000,000 × 1/8 = 1,000,000; 特別交付税 1,000,000
    assert values[("result", "amount")] == "2000000"
    assert values[("breakdown", "national_grant")] == "1000000"


def test_calc_with_a_municipality_from_the_database(database_url, monkeypatch):
    monkeypatch.setenv("CHIIKI_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = run(
            "subsidy",
            "calc",
            "kaso_bond",
            "--fiscal-year",
            "2023",
            "--municipality",
            "131016",
            "--json",
            "project_cost=1000",
            "category=soft",
            "annual_interest_rate=0",
            "term_years=3",
            "method=level_principal",
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["eligible"], body["reasons"][0]["code"]) == (False, "not_kaso")  # 千代田区 is not 過疎


def test_calc_errors_name_the_field():
    result = run("subsidy", "calc", "local10000", "--fiscal-year", "2022", "lender_type=jfc")
    assert result.exit_code == 2
    assert "inputs.initial_investment" in result.output
    assert run("subsidy", "check-rules").exit_code == 0
