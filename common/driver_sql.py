"""Statements run straight on the database driver, for the few hot paths where SQLAlchemy's own cost shows.

SQLAlchemy's execution machinery costs about 0.15 ms of CPU per statement, twice the driver's own, and the
ORM's unit of work several times more (bench/mynapoint.py prints the CPU per application). A DriverStatement
is an ordinary Core statement, compiled once per dialect by SQLAlchemy. Its values go through the column
types' own bind and result processors, so the rows are the ones the ORM writes and reads. It runs on the
connection of the caller's session, inside that session's transaction. On PostgreSQL a batch of statements is
sent as one query string, values bound by psycopg on the client, so it costs one message and one round trip,
and it may begin and end its transaction in that same round trip. (psycopg's pipeline mode costs about five
times the CPU for a batch of eight, and sends BEGIN in a round trip of its own.) Each statement is prepared
once per connection and the batch EXECUTEs them, so the server does not parse and plan them at every run.
"""

import contextlib
import hashlib
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    literals: dict[str, Any]  # values written into the statement itself, e.g. the 1 of `budget + 1`
    bind_processors: dict[str, Callable[[Any], Any]]
    result_processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool
    preparation: "_Preparation | None"  # PostgreSQL's: `sql` executes the prepared statement

    def parameters(self, values: dict[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        values = {**self.literals, **values}
        processed = {name: self._bind(name, values[name]) for name in self.names}
        return tuple(processed[name] for name in self.names) if self.positional else processed

    def _bind(self, name: str, value: Any) -> Any:
        processor = self.bind_processors.get(name)
        return value if processor is None or value is None else processor(value)

    async def first_row(self, cursor: Any) -> tuple[Any, ...] | None:
        # Only the columns the statement names: PostgreSQL's compiler adds RETURNING of a serial key by itself.
        raw = await cursor.fetchone() if self.result_processors else None
        if raw is None:
            return None
        return tuple(
            value if processor is None else processor(value)
            for value, processor in zip(raw, self.result_processors, strict=True)
        )


class DriverStatement:
    """`build(dialect_name)` gives the Core statement; its bind parameter names are the keyword values."""

    def __init__(self, build: Callable[[str], ClauseElement]):
        self.build = build
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        if dialect.name not in self._compiled:
            self._compiled[dialect.name] = self._compile(dialect)
        return self._compiled[dialect.name]

    def _compile(self, dialect: Dialect) -> _Compiled:
        statement = self.build(dialect.name)
        if dialect.name == "postgresql":  # $n parameters, for PREPARE
            dialect = type(dialect)(paramstyle="numeric_dollar")  # type: ignore[call-arg]  # psycopg's dialect takes it
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
        bind_processors: dict[str, Callable[[Any], Any]] = {}
        for name in names:
            processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                bind_processors[name] = processor
        result_processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(statement, "exported_columns", ())
        )
        literals = {name: bind.value for name, bind in compiled.binds.items() if bind.value is not None}
        sql, preparation = str(compiled), None
        if dialect.name == "postgresql":
            preparation = _Preparation.of(sql)
            sql = preparation.execute(len(names))
        return _Compiled(sql, names, literals, bind_processors, result_processors, compiled.positional, preparation)


@dataclass(frozen=True)
class _Preparation:
    """A PostgreSQL statement runs as `EXECUTE name(values)`, its values bound on the client, so a batch is
    still one query string, while the server parses and plans the statement once per connection."""

    name: str
    prepare: str

    @classmethod
    def of(cls, sql: str) -> "_Preparation":
        name = "chiiki_" + hashlib.sha256(sql.encode()).hexdigest()[:24]
        return cls(name, f"PREPARE {name} AS {sql}")

    def execute(self, parameter_count: int) -> str:
        return (
            f"EXECUTE {self.name}({', '.join(['%s'] * parameter_count)})" if parameter_count else f"EXECUTE {self.name}"
        )


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class BulkUpsert:
    """An upsert of many rows into `table`: `key` names its primary key's columns, `columns` every column the
    rows give (the key's included); the others of `columns` are updated on a row whose key exists, except
    `insert_only` ones (an id the row keeps for life)."""

    def __init__(
        self, table: Table, key: tuple[str, ...], columns: tuple[str, ...], *, insert_only: tuple[str, ...] = ()
    ):
        self.table, self.key, self.columns = table, key, columns
        self.kept = key + insert_only
        self.upsert = DriverStatement(self._upsert)
        quote = _quoted
        names = ", ".join(quote(name) for name in columns)
        updates = ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in columns if name not in self.kept)
        staging = quote(f"staging_{table.name}")
        self._postgresql = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {quote(table.name)}) ON COMMIT DROP",
            f"COPY {staging} ({names}) FROM STDIN",
            f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM {staging} "
            f"ON CONFLICT ({', '.join(quote(name) for name in key)}) DO UPDATE SET {updates}",
            f"TRUNCATE {staging}",
        )

    def _upsert(self, dialect: str) -> ClauseElement:
        values = {name: bindparam(name, type_=self.table.c[name].type) for name in self.columns}
        statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(self.table).values(values)
        return statement.on_conflict_do_update(
            index_elements=list(self.key),
            set_={name: statement.excluded[name] for name in self.columns if name not in self.kept},
        )

    async def copy_on_postgresql(self, driver: psycopg.AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        create, copy, move, empty = self._postgresql
        async with psycopg.AsyncCursor(driver) as cursor:
            await cursor.execute(create)
            async with cursor.copy(copy) as writer:
                for row in rows:
                    await writer.write_row(tuple(row[name] for name in self.columns))
            await cursor.execute(move)
            await cursor.execute(empty)  # a second upload in the same transaction starts from nothing


NO_FLUSH_AT_COMMIT = "SET LOCAL synchronous_commit TO OFF"  # for this transaction only

# The statements each PostgreSQL connection has prepared, as read from the server at its first batch.
_PREPARED_ON: "weakref.WeakKeyDictionary[psycopg.AsyncConnection, set[str]]" = weakref.WeakKeyDictionary()


async def _prepare_missing(driver: psycopg.AsyncConnection, preparations: list[_Preparation]) -> None:
    """Prepares the statements this connection lacks, in a round trip of its own (a connection's first batches
    only). PREPARE is not transactional, so a failure may leave some prepared: the server is asked again."""
    done = _PREPARED_ON.get(driver)
    if done is not None and all(each.name in done for each in preparations):
        return
    idle = driver.info.transaction_status == TransactionStatus.IDLE
    if idle:  # psycopg would otherwise begin a transaction, which the batch behind may want to begin itself
        await driver.set_autocommit(True)
    try:
        async with psycopg.AsyncRawCursor(driver) as cursor:
            if done is None:
                await cursor.execute("SELECT name FROM pg_prepared_statements")
                done = _PREPARED_ON[driver] = {name for (name,) in await cursor.fetchall()}
            missing = {each.name: each.prepare for each in preparations if each.name not in done}
            if missing:
                await cursor.execute("; ".join(missing.values()))
                done.update(missing)
    except BaseException:
        _PREPARED_ON.pop(driver, None)
        raise
    finally:
        if idle:
            await driver.set_autocommit(False)


@asynccontextmanager
async def undone_on_failure(session: AsyncSession) -> AsyncIterator[None]:
    """A part of the request's transaction that is undone alone when it raises (a savepoint), for the few
    writes that may be refused by a constraint (the budget's CHECK) while the request still answers, and
    commits, what happened instead: a charge webhook's recorded outcome, a re-link refused for budget."""
    async with session.begin_nested():
        yield


@dataclass(frozen=True)
class Outcome:
    """What one statement did: rows it touched, and its first row (RETURNING or SELECT), if any."""

    rowcount: int
    row: tuple[Any, ...] | None


Batch = Sequence[tuple["DriverStatement", dict[str, Any]]]
_Prepared = list[tuple[_Compiled, dict[str, Any]]]


class DriverConnection:
    """The driver's own connection under a session, inside the session's transaction."""

    def __init__(self, session: AsyncSession):
        self.session = session
        self.dialect = session.get_bind().dialect
        self.integrity_error = self.dialect.loaded_dbapi.IntegrityError

    async def run(self, statement: DriverStatement, **values: Any) -> Outcome:
        return (await self.run_all([(statement, values)]))[0]

    async def run_all(self, batch: Batch) -> list[Outcome]:
        """Statements in order, in the session's transaction (which the request's session dependency commits);
        on PostgreSQL in one round trip. ORM changes pending in the session are flushed first, so the
        statements see them. The first failure raises, as the driver's own error (`self.integrity_error` for a
        constraint), and leaves the transaction to be rolled back (by the dependency, or `undone_on_failure`)."""
        if self.session.new or self.session.dirty or self.session.deleted:
            await self.session.flush()
        return await self._run(batch, commit=False)

    async def upsert_many(self, bulk: "BulkUpsert", rows: Sequence[dict[str, Any]]) -> None:
        """Many rows into one table in the session's transaction, a row whose key is there already updating it:
        for bulk writes (a roster upload). On PostgreSQL the rows are COPied into a temporary table and moved
        by one INSERT … SELECT … ON CONFLICT; on SQLite one executemany of the upsert, which loops in C.
        bench/roster.py measures it (COPY costs about half of executemany's pipeline on PostgreSQL)."""
        if not rows:
            return
        if self.session.new or self.session.dirty or self.session.deleted:
            await self.session.flush()
        connection = await self.session.connection()
        driver: Any = (await connection.get_raw_connection()).driver_connection
        if self.dialect.name == "postgresql":
            await bulk.copy_on_postgresql(driver, rows)
        else:
            compiled = bulk.upsert.compiled(self.dialect)
            await (await driver.executemany(compiled.sql, [compiled.parameters(values) for values in rows])).close()

    async def commit_with(self, batch: Batch, *, discard_pending: bool = False, durable: bool = True) -> list[Outcome]:
        """The one early commit: the batch ends the session's transaction, in its own round trip.

        Everywhere else the request's session dependency commits (common/db.py). A request commits early here
        only where it must: the Idempotency-Key claim (a concurrent request with the key must find it before
        this one's work begins, and a failed request's claim must be released whatever becomes of its work),
        and the point-issuance hot paths (an application, a provider's grant.credited), whose COMMIT goes in
        the batch's round trip so that the program row they lock is held only while the server runs them.
        A failure rolls the session's transaction back before it is raised, so callers never roll back.

        discard_pending: roll back what the transaction holds first (the work of a request that failed).
        durable=False: on PostgreSQL the COMMIT does not wait until its WAL is on disk (`synchronous_commit`
        off for this one transaction), saving a disk flush. Only for a commit that a crash may undo without
        harm because nothing durable depends on it yet: the WAL is written in order, so any later durable
        commit that builds on it (the work behind an Idempotency-Key claim) flushes it too.
        """
        if discard_pending:
            await self.session.rollback()
        try:
            return await self._run(batch, commit=True, durable=durable)
        except Exception:
            await self.session.rollback()
            raise

    async def _run(self, batch: Batch, *, commit: bool, durable: bool = True) -> list[Outcome]:
        """commit: the COMMIT goes in the batch's own round trip. On SQLite the session is then told, and
        begins afresh at its next statement. On PostgreSQL the session keeps its connection (psycopg begins
        the next transaction by itself), rather than hand it back to the pool and take it out again for the
        next batch: that cost a tenth of the point issuance service's CPU. Inside a savepoint (a session joined
        to an outer transaction, as the tests' `db` fixture's are) the session ends its part as usual: a COMMIT
        on the driver would end the outer transaction.
        """
        connection = await self.session.connection()
        driver: Any = (await connection.get_raw_connection()).driver_connection  # psycopg's or aiosqlite's
        prepared = [(statement.compiled(self.dialect), values) for statement, values in batch]
        commit_on_driver = commit and not connection.in_nested_transaction()
        if self.dialect.name == "postgresql":
            outcomes = await self._run_on_postgresql(driver, prepared, commit_on_driver, durable)
        else:
            outcomes = [
                await self._outcome(compiled, await self._execute(driver, compiled, values))
                for compiled, values in prepared
            ]
            if commit_on_driver:
                await driver.commit()
        if commit and (not commit_on_driver or self._session_must_be_told()):
            await self.session.commit()  # nothing left to send when the driver committed
        return outcomes

    def _session_must_be_told(self) -> bool:
        """SQLite's transactions begin through the session (BEGIN IMMEDIATE), and ORM changes still pending in
        the session are committed with the batch, as they were before it."""
        session = self.session
        return self.dialect.name != "postgresql" or bool(session.new or session.dirty or session.deleted)

    async def _run_on_postgresql(
        self, driver: psycopg.AsyncConnection, prepared: _Prepared, commit: bool, durable: bool
    ) -> list[Outcome]:
        try:
            return await self._send_on_postgresql(driver, prepared, commit, durable)
        except psycopg.errors.InvalidSqlStatementName:
            _PREPARED_ON.pop(driver, None)  # dropped under us (DISCARD ALL, a pooler's reset): ask the server again
            if driver.info.transaction_status != TransactionStatus.IDLE:
                raise  # the batch joined a transaction: only its owner can roll it back and start again
            return await self._send_on_postgresql(driver, prepared, commit, durable)  # it began its own, rolled back

    async def _send_on_postgresql(
        self, driver: psycopg.AsyncConnection, prepared: _Prepared, commit: bool, durable: bool
    ) -> list[Outcome]:
        await _prepare_missing(driver, [compiled.preparation for compiled, _ in prepared if compiled.preparation])
        # With no transaction open yet, the query begins its own: psycopg would send BEGIN in a round trip
        # of its own, so the connection is in autocommit mode for the length of this one query.
        begin = commit and driver.info.transaction_status == TransactionStatus.IDLE
        lazy = commit and not durable
        query = "; ".join(
            ["BEGIN"] * begin
            + [NO_FLUSH_AT_COMMIT] * lazy
            + [compiled.sql for compiled, _ in prepared]
            + ["COMMIT"] * commit
        )
        parameters = [value for compiled, values in prepared for value in compiled.parameters(values)]
        cursor = psycopg.AsyncClientCursor(driver)
        if begin:
            await driver.set_autocommit(True)
        try:
            await cursor.execute(query, parameters)
            for _ in range(begin + lazy):
                cursor.nextset()  # the results of BEGIN and SET
            return [await self._next_outcome(compiled, cursor) for compiled, _ in prepared]
        except BaseException:
            if begin:
                with contextlib.suppress(psycopg.Error):
                    await driver.rollback()  # our BEGIN's transaction, failed: end it, as a session would
            raise
        finally:
            if begin:
                await driver.set_autocommit(False)
            await cursor.close()

    @staticmethod
    async def _next_outcome(compiled: _Compiled, cursor: psycopg.AsyncClientCursor) -> Outcome:
        outcome = Outcome(cursor.rowcount, await compiled.first_row(cursor))
        cursor.nextset()
        return outcome

    @staticmethod
    async def _execute(driver: Any, compiled: _Compiled, values: dict[str, Any]) -> Any:
        return await driver.execute(compiled.sql, compiled.parameters(values))

    def violated_constraint(self, error: Exception) -> str | None:
        """The name of the CHECK or other named constraint an integrity error reports, if it names one."""
        diagnostics = getattr(error, "diag", None)
        if diagnostics is not None:  # psycopg
            return cast(str | None, diagnostics.constraint_name)
        _, found, name = str(error).partition("CHECK constraint failed: ")  # SQLite names only CHECKs
        return name.strip() if found else None

    @staticmethod
    async def _outcome(compiled: _Compiled, cursor: Any) -> Outcome:
        outcome = Outcome(cursor.rowcount, await compiled.first_row(cursor))
        await cursor.close()
        return outcome
