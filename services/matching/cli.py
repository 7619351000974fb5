"""`chiiki matching …`: commands of the matching service."""

import asyncio
from functools import partial
from typing import Annotated

import typer

from common.settings import get_settings

app = typer.Typer(help="Matching: municipalities, companies and advisers.", no_args_is_help=True)


@app.command("demo-data")
def demo_data(
    size: Annotated[
        str,
        typer.Option(
            help="small: 100 companies, 60 advisers, 80 hosts; large: 2,000 companies, "
            "500 advisers, needs of every 過疎 municipality"
        ),
    ] = "small",
) -> None:
    """Load a synthetic market (companies in Tokyo, Osaka and Nagoya; advisers; needs of 過疎 municipalities).

    Idempotent: fixed ids, loading again changes nothing. Run `chiiki data load` first."""
    from common.db import run_in_session
    from services.matching.demo import SIZES, load_demo_data

    if size not in SIZES:
        typer.secho(f"error: --size is one of {', '.join(SIZES)}", fg="red", err=True)
        raise typer.Exit(2)
    try:
        counts = asyncio.run(run_in_session(get_settings().database_url, partial(load_demo_data, size=size)))
    except RuntimeError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"demo market ({size}): {counts['companies']} companies, {counts['advisers']} advisers, "
        f"{counts['needs']} needs of {counts['municipalities_with_needs']} municipalities"
    )
    typer.echo(f"try: GET /matching/recommendations?market=kigyojin&for=municipality:{counts['example_municipality']}")
