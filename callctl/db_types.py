"""The slice of asyncpg's pool and connection that callctl uses, typed (asyncpg ships no
type information): a query returns records read by column name, by position or by slice.

``Queryable`` is what a repository function needs when each statement may run on its own
or inside the caller's transaction (a pool or a connection); ``Connection`` adds the
transaction, COPY and cursors; ``Pool`` hands out connections. ``close``/``terminate``
are for the few places that own a connection or a pool of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, overload


class Record(Protocol):
    """An asyncpg record: by column name or position, a slice as a tuple; ``dict(row)``
    works, and iterating it yields the values (like a tuple)."""

    @overload
    def __getitem__(self, key: str | int) -> Any: ...

    @overload
    def __getitem__(self, key: slice) -> tuple[Any, ...]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> Iterable[str]: ...

    def values(self) -> Iterable[Any]: ...

    def items(self) -> Iterable[tuple[str, Any]]: ...

    def get(self, key: str, default: Any = None) -> Any: ...


class Queryable(Protocol):
    """A pool or a connection: each query on its own, or inside the connection's transaction."""

    async def fetch(self, query: str, *args: object) -> list[Record]: ...

    async def fetchrow(self, query: str, *args: object) -> Record | None: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...

    async def execute(self, query: str, *args: object) -> str: ...

    async def executemany(self, command: str, args: Iterable[Sequence[object]]) -> None: ...


class Connection(Queryable, Protocol):
    def transaction(
        self, *, isolation: str | None = None, readonly: bool = False, deferrable: bool = False
    ) -> AbstractAsyncContextManager[Any]: ...

    def is_in_transaction(self) -> bool: ...

    def cursor(
        self, query: str, *args: object, prefetch: int | None = None
    ) -> AsyncIterator[Record]: ...

    async def copy_records_to_table(
        self, table_name: str, *, records: Iterable[Sequence[object]], columns: Sequence[str]
    ) -> str: ...

    def is_closed(self) -> bool: ...

    async def close(self) -> None: ...

    def terminate(self) -> None: ...


class Pool(Queryable, Protocol):
    def acquire(self) -> AbstractAsyncContextManager[Connection]: ...

    async def close(self) -> None: ...

    def terminate(self) -> None: ...


async def fetch_one(db: Queryable, query: str, *args: object) -> Record:
    """The row of a statement that always returns one (an aggregate without ``GROUP BY``,
    an ``INSERT ... RETURNING``)."""
    row = await db.fetchrow(query, *args)
    if row is None:
        raise RuntimeError(f"no row from a statement that always returns one: {query[:80]}")
    return row
