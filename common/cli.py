"""The `chiiki` command: migrations, reference data, API keys, and running the suite."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

from common.settings import get_settings

if TYPE_CHECKING:  # the commands import these lazily, so that `chiiki --help` starts fast
    from sqlmodel.ext.asyncio.session import AsyncSession

    from common.models import ApiKey

Result = TypeVar("Result")

app = typer.Typer(
    help="chiiki: regional-vitality policies as services.", no_args_is_help=True, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
data_app = typer.Typer(help="Reference data.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(data_app, name="data")
app.add_typer(keys_app, name="keys")

SERVICES = ("subsidy", "matching", "mynapoint")
# Each service may bring its own subcommands (`chiiki subsidy …`) as a Typer app named `app` in services/<name>/cli.py.
SERVICE_COMMANDS = {name: f"services.{name}.cli" for name in SERVICES}
PROCESSES = ("gateway", *SERVICES)


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


async def _in_session(work: Callable[["AsyncSession"], Awaitable[Result]]) -> Result:
    from common.db import run_in_session

    return await run_in_session(get_settings().database_url, work)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply migrations (alembic upgrade) to CHIIKI_DATABASE_URL."""
    from common.migrations import upgrade

    upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@data_app.command("load")
def data_load() -> None:
    """Load municipalities and the fields-of-work vocabulary from data/ (idempotent)."""
    from common.reference_data import load_reference_data

    for result in asyncio.run(_in_session(load_reference_data)):
        typer.echo(str(result))


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="ops, municipality, provider or app")],
    municipality: Annotated[str | None, typer.Option(help="municipality code, for the municipality role")] = None,
    provider: Annotated[str | None, typer.Option(help="provider id, for the provider role")] = None,
    label: Annotated[str, typer.Option(help="a note to recognise the key by")] = "",
    replace: Annotated[bool, typer.Option(help="revoke earlier active keys with the same label")] = False,
) -> None:
    """Create an API key and print it once: it is stored only as a hash."""
    from common.auth import create_api_key, revoke_keys_with_label
    from common.errors import ChiikiError

    async def work(session: "AsyncSession") -> tuple["ApiKey", str, int]:
        revoked = await revoke_keys_with_label(session, label) if replace and label else 0
        api_key, plaintext = await create_api_key(
            session, role, municipality_code=municipality, provider_id=provider, label=label
        )
        return api_key, plaintext, revoked

    try:
        api_key, plaintext, revoked = asyncio.run(_in_session(work))
    except ChiikiError as exc:
        _fail(exc.message)
    binding = api_key.municipality_code or api_key.provider_id
    typer.echo(
        f"created {api_key.role} key {api_key.id}"
        + (f" for {binding}" if binding else "")
        + (f" (revoked {revoked} earlier '{label}' key(s))" if revoked else ""),
        err=True,
    )
    typer.echo(plaintext)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@keys_app.command("list")
def keys_list(
    all_keys: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
) -> None:
    """List keys: id, role, tenant, label, created, last used, and revoked or expiring. Never a secret."""
    from common.auth import list_api_keys

    async def work(session: "AsyncSession") -> list["ApiKey"]:
        return await list_api_keys(session, include_revoked=all_keys)

    keys = asyncio.run(_in_session(work))
    typer.echo(f"{'id':16}  {'role':12}  {'tenant':24}  {'label':20}  {'created':16}  {'last used':16}  state")
    for key in keys:
        state = (
            f"revoked {_when(key.revoked_at)}"
            if key.revoked_at
            else f"expires {_when(key.expires_at)}"
            if key.expires_at
            else "active"
        )
        tenant = key.municipality_code or key.provider_id or "-"
        typer.echo(
            f"{key.id:16}  {key.role:12}  {tenant:24}  {key.label or '-':20}  {_when(key.created_at):16}  "
            f"{_when(key.last_used_at):16}  {state}"
        )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key id (the part after chk_)")]) -> None:
    """Revoke a key: the gateway refuses it from the next request on."""
    from common.auth import revoke_api_key
    from common.errors import ChiikiError

    try:
        asyncio.run(_in_session(lambda session: revoke_api_key(session, key_id)))
    except ChiikiError as exc:
        _fail(exc.message)
    typer.echo(f"revoked key {key_id}", err=True)


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="the key id (the part after chk_)")],
    grace_minutes: Annotated[int, typer.Option(help="keep the old key working this long (0: refuse it now)")] = 0,
) -> None:
    """Replace a key with a new one of the same role, tenant and label; print the new key once."""
    from common.auth import rotate_api_key
    from common.errors import ChiikiError

    try:
        new_key, plaintext = asyncio.run(
            _in_session(lambda session: rotate_api_key(session, key_id, grace_seconds=grace_minutes * 60))
        )
    except ChiikiError as exc:
        _fail(exc.message)
    until = f"in {grace_minutes} minute(s)" if grace_minutes else "now"
    typer.echo(f"rotated {key_id} → {new_key.id}; the old key stops working {until}", err=True)
    typer.echo(plaintext)


@app.command("service")
def service(
    name: Annotated[str, typer.Argument(help="gateway, subsidy, matching or mynapoint")],
    workers: Annotated[
        int, typer.Option(min=1, envvar="CHIIKI_WORKERS", help="processes serving this service's port (one per core)")
    ] = 1,
) -> None:
    """Run one service of the suite (what each container runs), in one process or several."""
    if name not in PROCESSES:
        _fail(f"unknown service {name!r}; use one of {', '.join(PROCESSES)}")
    from common.serve import run_one

    run_one(name, workers)


@app.command("serve")
def serve() -> None:
    """Run the gateway, the three services and the delivery worker together; Ctrl-C stops them all."""
    from common.serve import COMMANDS, run_all

    raise typer.Exit(run_all((*PROCESSES, *COMMANDS)))


def _add_service_commands() -> None:
    import importlib
    import importlib.util

    for name, module in SERVICE_COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            app.add_typer(importlib.import_module(module).app, name=name)


_add_service_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
