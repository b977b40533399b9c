"""The slice of asyncpg's pool and connection that callctl uses, typed (asyncpg ships no
type information): a query returns records read by column name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Record = Mapping[str, Any]


class Queryable(Protocol):
    """A pool or a connection: each query on its own, or inside the connection's transaction."""

    async def fetch(self, query: str, *args: object) -> Sequence[Record]: ...

    async def fetchrow(self, query: str, *args: object) -> Record | None: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...

    async def execute(self, query: str, *args: object) -> str: ...


class Connection(Queryable, Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


class Pool(Queryable, Protocol):
    def acquire(self) -> AbstractAsyncContextManager[Connection]: ...
