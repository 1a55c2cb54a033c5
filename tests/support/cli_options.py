"""The command-line options that point ``sessionward`` at a test's database and tables."""

from __future__ import annotations

from sessionward import Config


def table_options(config: Config) -> list[str]:
    return [
        "--database-url",
        config.database_url,
        "--signing-key-table",
        config.signing_key_table,
        "--refresh-token-table",
        config.refresh_token_table,
        "--revocation-table",
        config.revocation_table,
    ]
