"""`chiiki matching …`: commands of the matching service."""

import asyncio

import typer

from common.settings import get_settings

app = typer.Typer(help="Matching: municipalities, companies and advisers.", no_args_is_help=True)


@app.command("demo-data")
def demo_data() -> None:
    """Load a synthetic market (companies in Tokyo, Osaka and Nagoya; advisers; needs of 過疎 municipalities).

    Idempotent: fixed ids, loading again changes nothing. Run `chiiki data load` first."""
    from common.db import run_in_session
    from services.matching.demo import load_demo_data

    try:
        counts = asyncio.run(run_in_session(get_settings().database_url, load_demo_data))
    except RuntimeError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"demo market: {counts['companies']} companies, {counts['advisers']} advisers, "
               f"{counts['needs']} needs")
    typer.echo("try: GET /matching/recommendations?market=kigyojin&for=municipality:"
               f"{counts['example_municipality']}")
