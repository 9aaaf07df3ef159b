"""Hardening (issue 15, item 13): the database and Redis URLs stay off command lines.

``pitchrec archive`` and ``pitchrec serve`` read them from ``PITCHREC_DATABASE_URL`` /
``PITCHREC_REDIS_URL`` or from a file named by ``*_FILE`` (a mounted secret). The options
still work for local use, but a URL with a password given as an option is visible to
every local user in ``ps``: the command logs a warning, which never contains the password.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pitchrec.cli import app
from pitchrec.errors import ConfigurationError
from pitchrec.settings import Settings

runner = CliRunner()

PASSWORD = "s3cretPassw0rd"  # a test value
URL_VARIABLES = (
    "PITCHREC_DATABASE_URL",
    "PITCHREC_DATABASE_URL_FILE",
    "PITCHREC_REDIS_URL",
    "PITCHREC_REDIS_URL_FILE",
)


@pytest.fixture(autouse=True)
def clean_process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``serve`` writes os.environ and both commands reconfigure the root logger: restore
    both after each test."""
    saved_env = dict(os.environ)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    for name in (*URL_VARIABLES, "MYSQL_HOST", "MYSQL_USER", "MYSQL_DB"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``run_archiver`` and ``uvicorn.run`` replaced by recorders."""
    import uvicorn

    import pitchrec.archive.runner as archive_runner

    calls: dict[str, Any] = {}

    def fake_run_archiver(*args: Any, **kwargs: Any) -> None:
        calls["archive"] = (args, kwargs)

    def fake_uvicorn_run(*args: Any, **kwargs: Any) -> None:
        calls["serve"] = (args, kwargs, dict(os.environ))

    monkeypatch.setattr(archive_runner, "run_archiver", fake_run_archiver)
    monkeypatch.setattr(uvicorn, "run", fake_uvicorn_run)
    return calls


def _secret_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")  # `echo` adds a newline: it is ignored
    path.chmod(0o600)
    return path


# -- the settings ----------------------------------------------------------------------------


def test_settings_read_the_urls_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = f"mysql://app:{PASSWORD}@db.internal:3306/interacpedia"
    redis = f"rediss://:{PASSWORD}@redis.internal:6379/1"
    monkeypatch.setenv("PITCHREC_DATABASE_URL_FILE", str(_secret_file(tmp_path, "db", database)))
    monkeypatch.setenv("PITCHREC_REDIS_URL_FILE", str(_secret_file(tmp_path, "redis", redis)))
    settings = Settings()
    assert settings.database_url is not None and settings.redis_url is not None
    assert settings.database_url.get_secret_value() == database
    assert settings.redis_url.get_secret_value() == redis
    assert settings.resolved_database_url() == database
    assert PASSWORD not in repr(settings)


def test_settings_refuse_both_forms_and_unusable_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _secret_file(tmp_path, "redis", f"redis://:{PASSWORD}@h:6379/0")
    monkeypatch.setenv("PITCHREC_REDIS_URL_FILE", str(path))
    monkeypatch.setenv("PITCHREC_REDIS_URL", f"redis://:{PASSWORD}@other:6379/0")
    with pytest.raises(ConfigurationError, match="not both") as both:
        Settings()
    assert PASSWORD not in str(both.value)

    monkeypatch.delenv("PITCHREC_REDIS_URL")
    monkeypatch.setenv("PITCHREC_REDIS_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="PITCHREC_REDIS_URL_FILE: cannot read"):
        Settings()
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    monkeypatch.setenv("PITCHREC_REDIS_URL_FILE", str(empty))
    with pytest.raises(ConfigurationError, match="is empty"):
        Settings()


def test_which_urls_carry_a_password() -> None:
    from pitchrec.cli import url_has_password

    assert url_has_password(f"mysql://app:{PASSWORD}@db/x")
    assert url_has_password(f"mysql+pymysql://app:{PASSWORD}@db:3306/x?charset=utf8mb4")
    assert url_has_password(f"redis://:{PASSWORD}@h:6379/0")
    assert url_has_password(f"rediss://user:{PASSWORD}@h:6379/1?ssl_ca_certs=/ca.pem")
    assert url_has_password(f"redis://h:6379/0?password={PASSWORD}")
    assert not url_has_password("mysql://root@127.0.0.1/pitchrec")
    assert not url_has_password("redis://127.0.0.1:6379/0")
    assert not url_has_password("sqlite:///var/world.db")


# -- pitchrec archive ------------------------------------------------------------------------


def test_archive_reads_both_urls_from_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    database = f"sqlite:///{tmp_path / 'w.db'}"
    redis = f"redis://:{PASSWORD}@127.0.0.1:6379/0"
    monkeypatch.setenv("PITCHREC_DATABASE_URL_FILE", str(_secret_file(tmp_path, "db", database)))
    monkeypatch.setenv("PITCHREC_REDIS_URL_FILE", str(_secret_file(tmp_path, "redis", redis)))
    result = runner.invoke(app, ["archive"])
    assert result.exit_code == 0, result.output
    args, _ = captured["archive"]
    assert args[:2] == (database, redis)
    assert "holds a password" not in result.output  # nothing on the command line
    assert PASSWORD not in result.output


def test_archive_reads_the_urls_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    database = f"sqlite:///{tmp_path / 'w.db'}"
    monkeypatch.setenv("PITCHREC_DATABASE_URL", database)
    monkeypatch.setenv("PITCHREC_REDIS_URL", "redis://127.0.0.1:6379/0")
    result = runner.invoke(app, ["archive"])
    assert result.exit_code == 0, result.output
    assert captured["archive"][0][:2] == (database, "redis://127.0.0.1:6379/0")


def test_archive_warns_when_an_option_holds_a_password(
    tmp_path: Path, captured: dict[str, Any]
) -> None:
    database = f"sqlite:///{tmp_path / 'w.db'}"
    redis = f"redis://:{PASSWORD}@127.0.0.1:6379/0"
    result = runner.invoke(app, ["archive", "--database-url", database, "--redis-url", redis])
    assert result.exit_code == 0, result.output
    assert captured["archive"][0][:2] == (database, redis)  # still works for local use
    assert "--redis-url holds a password" in result.output
    assert "PITCHREC_REDIS_URL" in result.output
    assert "--database-url holds" not in result.output  # a SQLite file has none
    assert PASSWORD not in result.output


def test_an_option_replaces_the_file_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    monkeypatch.setenv("PITCHREC_REDIS_URL_FILE", str(tmp_path / "missing"))
    database = f"sqlite:///{tmp_path / 'w.db'}"
    result = runner.invoke(
        app, ["archive", "--database-url", database, "--redis-url", "redis://127.0.0.1/0"]
    )
    assert result.exit_code == 0, result.output
    assert captured["archive"][0][1] == "redis://127.0.0.1/0"


def test_archive_without_redis_names_the_variables(captured: dict[str, Any]) -> None:
    result = runner.invoke(app, ["archive"])
    assert result.exit_code == 2
    assert "PITCHREC_REDIS_URL_FILE" in result.output
    assert "archive" not in captured


def test_archive_metrics_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    from pitchrec.archive.runner import Monitoring

    monkeypatch.setenv("PITCHREC_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("PITCHREC_REDIS_URL", "redis://127.0.0.1:6379/0")
    result = runner.invoke(app, ["archive", "--metrics-host", "0.0.0.0", "--metrics-port", "8001"])
    assert result.exit_code == 0, result.output
    monitoring = captured["archive"][1]["monitoring"]
    assert isinstance(monitoring, Monitoring)
    assert monitoring.address == ("0.0.0.0", 8001) and monitoring.stale_after_s == 120.0

    result = runner.invoke(app, ["archive", "--stale-after", "300"])
    assert result.exit_code == 0, result.output
    monitoring = captured["archive"][1]["monitoring"]
    assert monitoring.address is None and monitoring.stale_after_s == 300.0


# -- pitchrec serve --------------------------------------------------------------------------


def test_serve_warns_when_an_option_holds_a_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    monkeypatch.setenv("PITCHREC_REDIS_URL_FILE", str(tmp_path / "missing"))
    database = f"mysql://app:{PASSWORD}@db.internal/interacpedia"
    redis = f"redis://:{PASSWORD}@127.0.0.1:6379/0"
    result = runner.invoke(app, ["serve", "--database-url", database, "--redis-url", redis])
    assert result.exit_code == 0, result.output
    assert "--database-url holds a password" in result.output
    assert "--redis-url holds a password" in result.output
    assert PASSWORD not in result.output
    _, _, environ = captured["serve"]
    assert environ["PITCHREC_DATABASE_URL"] == database  # the workers read it from here
    assert environ["PITCHREC_REDIS_URL"] == redis
    assert "PITCHREC_REDIS_URL_FILE" not in environ  # the option replaced it


def test_serve_from_files_without_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    path = _secret_file(tmp_path, "redis", f"redis://:{PASSWORD}@127.0.0.1:6379/0")
    monkeypatch.setenv("PITCHREC_REDIS_URL_FILE", str(path))
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert "holds a password" not in result.output
    _, _, environ = captured["serve"]
    assert environ["PITCHREC_REDIS_URL_FILE"] == str(path)  # each worker reads the file


def test_serve_stops_on_an_unreadable_url_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    monkeypatch.setenv("PITCHREC_DATABASE_URL_FILE", str(tmp_path / "missing"))
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "PITCHREC_DATABASE_URL_FILE: cannot read" in result.output
    assert "serve" not in captured
