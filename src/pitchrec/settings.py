"""One validated settings object, built at the edge (CLI, app factory) and passed down.

Environment variables use the ``PITCHREC_`` prefix. For the database the legacy names are
accepted too (spec 5.2), in this order of precedence:

1. ``PITCHREC_DATABASE_URL``;
2. ``MYSQL_HOST``, ``MYSQL_PORT``, ``MYSQL_USER``, ``MYSQL_PASSWORD``, ``MYSQL_DB``;
3. the demo SQLite file ``var/pitchrec-demo.db`` (the embedded default).

No ``.env`` file is read implicitly: the legacy service crashed at import when its
``credentials/.env`` was missing (D-R13), and secrets belong in the environment or a
secret store, not in files next to the code.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

#: Where ``make run`` keeps the demo world (relative to the working directory).
DEMO_DATABASE_PATH = Path("var") / "pitchrec-demo.db"


class LegacyMySQLSettings(BaseSettings):
    """The legacy ``MYSQL_*`` variables, read without prefix (spec 5.2)."""

    model_config = SettingsConfigDict(env_prefix="MYSQL_", extra="ignore")

    host: str | None = None
    port: int = 3306
    user: str | None = None
    password: SecretStr = SecretStr("")
    db: str | None = None

    def url(self) -> URL | None:
        """The SQLAlchemy URL these variables describe, or None when incomplete."""
        if not (self.host and self.user and self.db):
            return None
        return URL.create(
            "mysql+pymysql",
            username=self.user,
            password=self.password.get_secret_value() or None,
            host=self.host,
            port=self.port,
            database=self.db,
            query={"charset": "utf8mb4"},
        )


class Settings(BaseSettings):
    """Everything pitchrec can be configured with."""

    model_config = SettingsConfigDict(env_prefix="PITCHREC_", extra="ignore")

    database_url: SecretStr | None = None
    #: Blacklist of media URLs, one per line (spec 1.2.7). None: the packaged empty file.
    blacklist_path: Path | None = None
    redis_url: SecretStr | None = None

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def resolved_database_url(self) -> str | URL:
        """The database to use, by the precedence in the module docstring."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        legacy = LegacyMySQLSettings().url()
        if legacy is not None:
            return legacy
        return demo_database_url()


def demo_database_url(path: Path = DEMO_DATABASE_PATH) -> str:
    """The SQLite URL of the embedded demo database."""
    return f"sqlite:///{path}"
