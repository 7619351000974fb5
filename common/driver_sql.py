"""Statements run straight on the database driver, for the few hot paths where SQLAlchemy's own cost shows.

SQLAlchemy's execution machinery costs about 0.15 ms of CPU per statement, twice the driver's own, and the
ORM's unit of work several times more (bench/mynapoint.py prints the CPU per application). A DriverStatement
is an ordinary Core statement, compiled once per dialect by SQLAlchemy. Its values go through the column
types' own bind and result processors, so the rows are the ones the ORM writes and reads. It runs on the
connection of the caller's session, inside that session's transaction; on PostgreSQL a batch of statements
is sent in one round trip (psycopg's pipeline mode).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    bind_processors: dict[str, Callable[[Any], Any]]
    result_processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool

    def parameters(self, values: dict[str, Any]) -> dict | tuple:
        processed = {name: self._bind(name, values[name]) for name in self.names}
        return tuple(processed[name] for name in self.names) if self.positional else processed

    def _bind(self, name: str, value: Any) -> Any:
        processor = self.bind_processors.get(name)
        return value if processor is None or value is None else processor(value)

    def row(self, raw: Sequence | None) -> tuple | None:
        if raw is None:
            return None
        return tuple(value if processor is None else processor(value)
                     for value, processor in zip(raw, self.result_processors, strict=True))


class DriverStatement:
    """`build(dialect_name)` gives the Core statement; its bind parameter names are the keyword values."""

    def __init__(self, build: Callable[[str], Executable]):
        self.build = build
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        if dialect.name not in self._compiled:
            self._compiled[dialect.name] = self._compile(dialect)
        return self._compiled[dialect.name]

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.build(dialect.name).compile(dialect=dialect)
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        bind_processors = {}
        for name in names:
            processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                bind_processors[name] = processor
        result_processors = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                                  for column in getattr(self.build(dialect.name), "exported_columns", ()))
        return _Compiled(str(compiled), names, bind_processors, result_processors, compiled.positional)


@dataclass(frozen=True)
class Outcome:
    """What one statement did: rows it touched, and its first row (RETURNING or SELECT), if any."""

    rowcount: int
    row: tuple | None


class DriverConnection:
    """The driver's own connection under a session, inside the session's transaction."""

    def __init__(self, connection: Any, dialect: Dialect):
        self.connection = connection
        self.dialect = dialect
        self.integrity_error = dialect.loaded_dbapi.IntegrityError

    @classmethod
    async def of(cls, session: AsyncSession) -> "DriverConnection":
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        return cls(raw.driver_connection, connection.dialect)

    async def run(self, statement: DriverStatement, **values: Any) -> Outcome:
        return (await self.run_all([(statement, values)]))[0]

    async def run_all(self, batch: Sequence[tuple[DriverStatement, dict[str, Any]]]) -> list[Outcome]:
        """Statements in order; on PostgreSQL in one round trip. The first failure raises, as the driver's
        own error (`self.integrity_error` for a constraint), and the transaction must then be rolled back."""
        prepared = [(statement.compiled(self.dialect), values) for statement, values in batch]
        if self.dialect.name == "postgresql":
            async with self.connection.pipeline():
                cursors = [await self.connection.execute(compiled.sql, compiled.parameters(values))
                           for compiled, values in prepared]
        else:
            cursors = [await self.connection.execute(compiled.sql, compiled.parameters(values))
                       for compiled, values in prepared]
        return [await self._outcome(compiled, cursor) for (compiled, _), cursor in zip(prepared, cursors, strict=True)]

    @staticmethod
    async def _outcome(compiled: _Compiled, cursor: Any) -> Outcome:
        # Only the columns the statement names: PostgreSQL's compiler adds RETURNING of a serial key by itself.
        row = await cursor.fetchone() if compiled.result_processors else None
        outcome = Outcome(cursor.rowcount, compiled.row(row))
        await cursor.close()
        return outcome
