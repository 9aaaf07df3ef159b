"""``ALTER TABLE`` statements SQLAlchemy has no construct for, as DDL elements.

:mod:`pitchrec.sources.migrations` runs them (and names them in its errors, compiled for
the server at hand). Each is compiled by the dialect's DDL compiler, so identifiers are
quoted and column types rendered by SQLAlchemy, as in ``CREATE TABLE``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ExecutableDDLElement
from sqlalchemy.sql.compiler import DDLCompiler


class AddColumn(ExecutableDDLElement):
    """``ALTER TABLE <table> ADD COLUMN <column spec>`` for a column of our own metadata.

    Compiled by the dialect's DDL compiler, so the identifiers are quoted and the type is
    rendered by SQLAlchemy. Identifiers cannot be bound parameters, so DDL is always text in
    the end; here the only names in it are our own constants from ``schema.py``, never
    input.
    """

    inherit_cache = False

    def __init__(self, table: Table, column: Column[Any]) -> None:
        self.table = table
        self.column = column


@compiles(AddColumn)
def _compile_add_column(element: AddColumn, compiler: DDLCompiler, **_kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    return f"ALTER TABLE {table} ADD COLUMN {compiler.get_column_specification(element.column)}"


class ModifyColumn(ExecutableDDLElement):
    """``ALTER TABLE <table> MODIFY <column spec>`` (MySQL/MariaDB), for a column of our own
    metadata; ``online`` appends ``ALGORITHM=INPLACE, LOCK=NONE``, so the server refuses
    (error 1846) instead of copying the table under a lock."""

    inherit_cache = False

    def __init__(self, table: Table, column: Column[Any], *, online: bool = False) -> None:
        self.table = table
        self.column = column
        self.online = online


@compiles(ModifyColumn)
def _compile_modify_column(element: ModifyColumn, compiler: DDLCompiler, **_kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    spec = compiler.get_column_specification(element.column)
    if element.column.nullable and not spec.endswith(" NULL"):
        spec += " NULL"  # MODIFY restates the whole column
    online = ", ALGORITHM=INPLACE, LOCK=NONE" if element.online else ""
    return f"ALTER TABLE {table} MODIFY {spec}{online}"
