"""The settings that carry secrets, and where they come from (:mod:`pitchrec.settings`
uses these; its docstring gives the precedence of the database sources).

- the legacy ``MYSQL_*`` variables, one source of the database (spec 5.2), and the demo
  SQLite file, the last;
- a URL's ``*_FILE`` form (a mounted secret), read here; setting both forms is an error;
- the dashboard token, which must be long, URL-safe and not the admin token.

Errors are :class:`ConfigurationError` that name the variable and never quote its value.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from pitchrec.errors import ConfigurationError

#: Where ``make run`` keeps the demo world (relative to the working directory).
DEMO_DATABASE_PATH = Path("var") / "pitchrec-demo.db"

#: Shortest dashboard token accepted: 16 random characters of the URL-safe set carry
#: about 96 bits (16 hex digits: 64); ``openssl rand -hex 32`` gives 64 hex digits, 256 bits.
DASHBOARD_TOKEN_MIN_LENGTH = 16
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
_BOTH = "set {name} or {name}_FILE, not both"


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


def demo_database_url(path: Path = DEMO_DATABASE_PATH) -> str:
    """The SQLite URL of the embedded demo database."""
    return f"sqlite:///{path}"


def read_secret_file(variable: str, path: Path) -> SecretStr:
    """The stripped content of ``path`` (named by ``variable`` in errors, never quoted)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(f"{variable}: cannot read {path}: {reason}") from None
    if not text:
        raise ConfigurationError(f"{variable}: {path} is empty")
    return SecretStr(text)


def read_url_file(name: str, url: SecretStr | None, path: Path) -> SecretStr:
    """The URL in ``path``, named by ``{name}_FILE``; an error when ``url`` (the variable
    ``name``) is set too."""
    if url is not None:
        raise ConfigurationError(_BOTH.format(name=name))
    return read_secret_file(f"{name}_FILE", path)


def check_dashboard_token(dashboard: SecretStr, admin: SecretStr | None) -> None:
    """Refuse a dashboard token that is short, not URL-safe (it is typed into a
    ``?token=`` URL once) or equal to the admin token (a read-only token that opens the
    admin routes is not read-only). :class:`ConfigurationError`, never quoting it."""
    token = dashboard.get_secret_value()
    if len(token) < DASHBOARD_TOKEN_MIN_LENGTH or not _URL_SAFE.fullmatch(token):
        raise ConfigurationError(
            f"PITCHREC_DASHBOARD_TOKEN: use at least {DASHBOARD_TOKEN_MIN_LENGTH} "
            "characters among A-Z a-z 0-9 . _ ~ - (e.g. openssl rand -hex 32)"
        )
    if admin is not None and hmac.compare_digest(token.encode(), admin.get_secret_value().encode()):
        raise ConfigurationError(
            "PITCHREC_DASHBOARD_TOKEN must differ from PITCHREC_ADMIN_TOKEN: the "
            "dashboard token is read-only, the admin token is not"
        )
