"""The schema upgrade: what this version's tables have that an existing database lacks, and the
``ALTER TABLE``/``CREATE INDEX`` that add it (docs/design.md: schema changes are additive).

Its own module because it reads the database (the inspector) and changes it, where
:mod:`~sessionward._storage.schema` only defines the tables and their statements: the stores'
``create_tables`` run it after ``create_all``, and ``sessionward check`` reports from
:func:`missing_columns`, so both follow one rule.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.schema import CreateColumn


def missing_columns(present_names: Collection[str], table: Table) -> list[Column[Any]]:
    """The columns this version defines for ``table`` that are not among ``present_names`` (the
    column names the database has): the one rule for what ``check`` reports and
    ``create_tables`` adds."""
    return [column for column in table.columns if column.name not in present_names]


def add_missing_columns(conn: Connection, metadata: MetaData) -> list[str]:
    """Add to existing tables the columns this version defines and they lack (each nullable, or
    with a default that existing rows take: ``tenant_id``).

    Tables created by the original library, or by an older sessionward, then work as they are:
    new columns start as NULL, which every reader treats as "not recorded". Each ``ALTER`` is
    committed on its own; two processes adding the same column race harmlessly (the loser finds
    it present and goes on).
    """
    added = []
    preparer = conn.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspect(conn).get_columns(table.name)}
        conn.commit()
        for column in missing_columns(present, table):
            if not column.nullable and column.server_default is None:
                continue
            ddl = CreateColumn(column).compile(dialect=conn.dialect)
            statement = f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {ddl}"
            try:
                conn.execute(text(statement))
                conn.commit()
            except (OperationalError, ProgrammingError):
                conn.rollback()
                if column.name not in {c["name"] for c in inspect(conn).get_columns(table.name)}:
                    raise
                conn.commit()
                continue
            added.append(f"{table.name}.{column.name}")
    return added


def add_missing_indexes(conn: Connection, metadata: MetaData) -> list[str]:
    """Create the indexes this version defines on existing tables that lack them (the
    ``(tenant_id, user_id)`` index on a table of an earlier version). Two processes creating the
    same index race harmlessly, as for columns."""
    added = []
    for table in metadata.sorted_tables:
        present = {index["name"] for index in inspect(conn).get_indexes(table.name)}
        conn.commit()
        for index in table.indexes:
            if index.name in present:
                continue
            try:
                index.create(conn)
                conn.commit()
            except (OperationalError, ProgrammingError):
                conn.rollback()
                names = {found["name"] for found in inspect(conn).get_indexes(table.name)}
                conn.commit()
                if index.name not in names:
                    raise
                continue
            added.append(str(index.name))
    return added
