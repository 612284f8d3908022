"""Core statements sent to the database driver itself, each compiled once.

SQLAlchemy's way from ``connection.execute(statement)`` to the driver (an execution
context, parameter processing, a result object, event dispatch) costs about 60 us a
statement here, where SQLite answers a read by primary key in 3. A switch's life is a
few hundred statements (the simulation counts about 300 a lifecycle), so that overhead
was a large part of every request. ``run`` keeps what matters of SQLAlchemy and skips
the rest:

- the statements are SQLAlchemy Core constructs, compiled by SQLAlchemy for the
  connection's dialect, once per statement (and per set of parameter names);
- they run on the connection SQLAlchemy holds, in its transaction (begun if none is,
  as SQLAlchemy's autobegin does), so pooling, commits and rollbacks stay its own;
- the engine's ``before_cursor_execute`` listeners hear them as any other statement
  (the simulation's kill points and the benchmark's statement count rely on that);
- a driver error comes out as SQLAlchemy's (``IntegrityError``, ``OperationalError``...,
  parameters hidden: a failed write must not print a key into a log), and a connection
  the error shows is dead is invalidated rather than pooled again;
- parameters and results get the types' processing (SQLite's booleans come back as
  ``bool``), and rows are named tuples (``row.id``).

Statements must be built once (module constants): each one is kept, compiled, for the
life of the process.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import Delete, Insert, Select, Update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

Params = Mapping[str, Any]
Statement = Select[Any] | Insert | Update | Delete


class Rows(list[Any]):
    """A statement's rows (named tuples), and how many rows it changed (``rowcount``)."""

    rowcount: int = -1

    def one(self) -> Any:
        if len(self) != 1:
            raise LookupError(f"expected one row, got {len(self)}")
        return self[0]

    def one_or_none(self) -> Any:
        if len(self) > 1:
            raise LookupError(f"expected at most one row, got {len(self)}")
        return self[0] if self else None

    def first(self) -> Any:
        return self[0] if self else None

    def scalar(self) -> Any:
        """The first row's first column (None without a row)."""
        return self[0][0] if self else None

    def scalars(self) -> list[Any]:
        """Every row's first column."""
        return [row[0] for row in self]


@dataclass(frozen=True, slots=True)
class _Plan:
    compiled: SQLCompiler
    sql: str
    order: tuple[str, ...] | None  # a positional driver's parameters, in order
    binds: Mapping[str, Callable[[Any], Any]]  # the types' parameter processing
    escaped: Mapping[str, str]  # a named driver's names for SQLAlchemy's
    expanding: bool  # IN (list) parameters: the SQL is rendered per call
    row: Callable[[Any], Any] | None  # a driver row -> a named tuple (None: no rows)
    results: tuple[Callable[[Any], Any] | None, ...] | None  # per column, if any


_PLANS: dict[tuple[Any, str, tuple[str, ...] | None, bool], _Plan] = {}
_MAX_PLANS = 2000  # a guard: statements are module constants, a few dozen of them


def _plan(statement: Statement, connection: Connection, names: tuple[str, ...] | None,
          many: bool) -> _Plan:  # fmt: skip
    key = (statement, connection.dialect.name, names, many)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    dialect = connection.dialect
    compiled = statement.compile(
        dialect=dialect, column_keys=list(names) if names else None, for_executemany=many
    )
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch:  # (SQLAlchemy computes them)
        missing = ", ".join(c.name for c in [*compiled.insert_prefetch, *compiled.update_prefetch])
        raise ValueError(f"sql.run sends no column defaults: give {missing} a value")
    columns = compiled._result_columns
    row = results = None
    if columns:
        fields = [entry.keyname for entry in columns]
        named: Any = collections.namedtuple("Row", fields, rename=True)  # type: ignore[misc]
        row = named._make
        processors = tuple(entry.type._cached_result_processor(dialect, None) for entry in columns)
        results = processors if any(processors) else None
    plan = _Plan(
        compiled=compiled,
        sql=compiled.string,
        order=tuple(compiled.positiontup or ()) if compiled.positional else None,
        binds=typing_cast(dict[str, Callable[[Any], Any]], dict(compiled._bind_processors)),
        escaped=dict(compiled.escaped_bind_names or {}),
        expanding=bool(compiled.post_compile_params or compiled.literal_execute_params),
        row=row,
        results=results,
    )
    if len(_PLANS) >= _MAX_PLANS:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _driver_params(plan: _Plan, values: Mapping[str, Any], order: Sequence[str] | None,
                   binds: Mapping[str, Callable[[Any], Any]]) -> Any:  # fmt: skip
    """SQLAlchemy's bind values as the driver takes them: a tuple in the statement's
    order, or a dict by the names in the SQL; processed by their types."""
    if order is not None:
        return tuple(binds[name](values[name]) if name in binds else values[name] for name in order)
    escaped = plan.escaped
    return {
        escaped.get(name, name): binds[name](value) if name in binds else value
        for name, value in values.items()
    }


def _bound(plan: _Plan, params: Params | None) -> Any:
    """The driver's parameters for a statement whose SQL does not depend on them."""
    values = plan.compiled.construct_params(params, escape_names=False)
    return _driver_params(plan, values, plan.order, plan.binds)


def run(connection: Connection, statement: Statement, params: Params | None = None) -> Rows:
    """Run ``statement`` once with ``params``; its rows (if it returns any)."""
    names = tuple(sorted(params)) if params and not isinstance(statement, Select) else None
    plan = _plan(statement, connection, names, False)
    sql, order, binds = plan.sql, plan.order, plan.binds
    if plan.expanding:  # the SQL itself depends on the parameters (IN lists)
        expanded = plan.compiled.construct_expanded_state(params, escape_names=False)
        sql, values = expanded.statement, expanded.parameters
        order = tuple(expanded.positiontup) if expanded.positiontup is not None else None
        binds = {**binds, **expanded.processors}
        return _execute(connection, plan, sql, _driver_params(plan, values, order, binds), False)
    return _execute(connection, plan, sql, _bound(plan, params), False)


def run_many(connection: Connection, statement: Insert | Update | Delete,
             params: Sequence[Params]) -> int:  # fmt: skip
    """Run ``statement`` once per parameter set (the driver's executemany); the number of
    rows changed. Every set must name the same parameters."""
    if not params:
        return 0
    plan = _plan(statement, connection, tuple(sorted(params[0])), len(params) > 1)
    batch = [_bound(plan, p) for p in params]
    if len(batch) == 1:
        return _execute(connection, plan, plan.sql, batch[0], False).rowcount
    return _execute(connection, plan, plan.sql, batch, True).rowcount


def _execute(connection: Connection, plan: _Plan, sql: str, parameters: Any, many: bool) -> Rows:
    if not connection.in_transaction():
        connection.begin()  # as SQLAlchemy's autobegin: the caller commits
    with driver(connection, sql, parameters, many) as raw:
        cursor = raw.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            fetched = cursor.fetchall() if cursor.description is not None else []
            rows = Rows()
            rows.rowcount = cursor.rowcount
        finally:
            cursor.close()
    make, results = plan.row, plan.results
    if make is not None and fetched:
        if results is None:
            rows.extend(map(make, fetched))
        else:
            rows.extend(
                make(v if p is None or v is None else p(v) for p, v in zip(results, r, strict=True))
                for r in fetched
            )
    return rows


@contextmanager
def driver(connection: Connection, what: str, parameters: Any = None,
           many: bool = False) -> Iterator[Any]:  # fmt: skip
    """The driver's connection under ``connection``, in its transaction, to send ``what``
    (announced first to the engine's statement listeners); the driver's errors come out
    as SQLAlchemy's would, and a connection the error shows is dead is invalidated."""
    raw: Any = connection.connection.driver_connection
    if connection._has_events or connection.engine._has_events:
        connection.dispatch.before_cursor_execute(connection, None, what, parameters, None, many)
    error = connection.dialect.loaded_dbapi.Error
    try:
        yield raw
    except error as exc:
        if connection.dialect.is_disconnect(exc, raw, None):
            connection.invalidate(exc)
        raise DBAPIError.instance(what, None, exc, error, hide_parameters=True) from exc
