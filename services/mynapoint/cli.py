"""`chiiki mynapoint …`: the delivery worker and the ledger reconciliation."""

import asyncio
import signal

import typer

from common.settings import get_settings

app = typer.Typer(help="Point issuance: webhook delivery and ledger checks.", no_args_is_help=True)


@app.command("worker")
def worker() -> None:
    """Deliver outbox webhooks to providers until stopped (SIGTERM or Ctrl-C); several may run at once."""
    from common.db import Database
    from common.logging import configure_logging
    from services.mynapoint.worker import DeliveryWorker

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        db = Database.from_settings(settings)
        delivery = DeliveryWorker(db, settings)
        try:
            await delivery.run_forever(stop)
        finally:
            await delivery.client.aclose()
            await db.dispose()

    asyncio.run(main())


@app.command("reconcile")
def reconcile() -> None:
    """Check that every program's committed totals equal its ledger and its grants; exit 1 on any difference."""
    from common.db import Database
    from services.mynapoint.settlement import reconcile as find_differences

    async def main() -> list[str]:
        db = Database.from_settings(get_settings())
        try:
            async with db.sessionmaker() as session:
                return await find_differences(session)
        finally:
            await db.dispose()

    problems = asyncio.run(main())
    for problem in problems:
        typer.secho(problem, fg="red", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("ledger reconciles: every program's totals equal its ledger and its live grants")
