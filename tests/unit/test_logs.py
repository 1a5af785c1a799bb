"""Log redaction, the JSON line format and the text format for a person."""

from __future__ import annotations

import io
import json
import logging

from controlplane.logs import REDACTED, chosen_format, configure_logging, redact, redact_text


def test_redact_hides_secret_fields_at_any_depth() -> None:
    data = {
        "password": "p",
        "headers": {"Authorization": "Bearer x", "Cookie": "c", "Accept": "json"},
        "items": [{"api_key": "k"}, {"token_hash": "h"}],
        "count": 3,
    }
    assert redact(data) == {
        "password": REDACTED,
        "headers": {"Authorization": REDACTED, "Cookie": REDACTED, "Accept": "json"},
        "items": [{"api_key": REDACTED}, {"token_hash": REDACTED}],
        "count": 3,
    }


def test_redact_text_hides_secret_shaped_strings() -> None:
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    text = (
        f"auth Bearer abc.def token {jwt_like} api wharf_{'x' * 43} "
        "db postgresql://user:pw@host/db url /x?share_token=s3&page=2"
    )
    cleaned = redact_text(text)
    for secret in ("abc.def", jwt_like, "x" * 43, ":pw@", "s3&"):
        assert secret not in cleaned
    assert "page=2" in cleaned


def test_configure_logging_writes_one_json_object_a_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream)
    try:
        logging.getLogger("x").info("hello", extra={"site": "blog", "secret": "s"})
        logging.getLogger("x").debug("hidden")
    finally:
        logging.getLogger().handlers.clear()
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["event"] == "hello"
    assert entry["level"] == "info"
    assert entry["site"] == "blog"
    assert entry["secret"] == REDACTED


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_logs_auto_format_is_text_on_a_terminal_and_json_otherwise() -> None:
    assert chosen_format("auto", _Terminal()) == "text"
    assert chosen_format("auto", io.StringIO()) == "json"
    assert chosen_format("json", _Terminal()) == "json"
    assert chosen_format("text", io.StringIO()) == "text"


def test_logs_text_format_is_one_redacted_line_with_its_fields() -> None:
    stream = _Terminal()
    configure_logging("INFO", stream, log_format="auto")
    try:
        logging.getLogger("x").info(
            "token made wharf_" + "y" * 43, extra={"user": "a@b.test", "secret": "s"}
        )
    finally:
        logging.getLogger().handlers.clear()
    (line,) = stream.getvalue().splitlines()
    assert not line.startswith("{")
    assert line.endswith(f"info    token made {REDACTED}  user=a@b.test secret={REDACTED}")
