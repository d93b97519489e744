"""``PointRead``: the shape of every look-up on the request path (a key, a number, a
route), so that a cache (``statecache``) can load any of them the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from renvoi.store.database import AnySelect, Database

V = TypeVar("V")


class PointRead(Generic[V]):
    """A read of at most one row by one key: a prebuilt SELECT (a module constant) and
    what its row means. Called as a function, ``principal_of(db, key_hash)``, it reads in
    the calling thread; awaited, ``await principal_of.read(db, key_hash)``, for a
    coroutine (``Database.fetch_one_async``).

    Args:
        statement: the SELECT, with one bound parameter.
        parameter: that parameter's name.
        build: the answer for a key and its row.
    """

    def __init__(
        self,
        statement: AnySelect,
        parameter: str,
        build: Callable[[str, tuple[Any, ...]], V],
    ) -> None:
        self.statement = statement
        self.parameter = parameter
        self.build = build

    def __call__(self, db: Database, key: str) -> V | None:
        row = db.fetch_one(self.statement, {self.parameter: key})
        return None if row is None else self.build(key, row)

    async def read(self, db: Database, key: str) -> V | None:
        row = await db.fetch_one_async(self.statement, {self.parameter: key})
        return None if row is None else self.build(key, row)
