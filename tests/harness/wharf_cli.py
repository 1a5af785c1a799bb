"""The installed `wharf` executable run as a user runs it: a child process with its own config
folder, its output captured, or on a pseudo-terminal when it should behave as for a person."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.control_plane import ADMIN

WHARF = str(Path(sys.executable).with_name("wharf"))


@dataclass(frozen=True)
class Ran:
    """How a command ended and what it printed."""

    code: int
    out: str
    err: str


class WharfCli:
    """`wharf` with a private XDG_CONFIG_HOME, pointed at one control plane."""

    def __init__(self, home: Path, url: str | None = None, **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WHARF_", "NO_COLOR"))}
        self.env.update(XDG_CONFIG_HOME=str(home / "config"), HOME=str(home), **env)
        if url:
            self.env["WHARF_URL"] = url

    async def run(self, *args: str, stdin: str = "", cwd: Path | None = None, **env: str) -> Ran:
        """Run `wharf args…` with stdin, not on a terminal (in cwd when given)."""
        process = await asyncio.create_subprocess_exec(
            WHARF,
            *args,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**self.env, **env},
        )
        out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
        assert process.returncode is not None
        return Ran(process.returncode, out.decode(), err.decode())

    async def on_terminal(
        self, *args: str, answers: tuple[tuple[str, str], ...] = (), **env: str
    ) -> Ran:
        """Run on a pseudo-terminal; each (prompt, answer) is typed once the prompt shows.
        Everything it printed (stdout and stderr share the terminal) is in `out`."""
        return await asyncio.to_thread(self._on_terminal, args, answers, {**self.env, **env})

    @staticmethod
    def _on_terminal(
        args: tuple[str, ...], answers: tuple[tuple[str, str], ...], env: dict[str, str]
    ) -> Ran:
        main, child = pty.openpty()
        process = subprocess.Popen(
            [WHARF, *args], stdin=child, stdout=child, stderr=child, env=env, close_fds=True
        )
        os.close(child)
        seen = b""
        waiting = list(answers)
        asked_from = 0  # each prompt is looked for after the previous one
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if waiting and waiting[0][0].encode() in seen[asked_from:]:
                    os.write(main, waiting.pop(0)[1].encode() + b"\n")
                    asked_from = len(seen)
            elif process.poll() is not None:
                break
        os.close(main)
        code = process.wait(10)
        return Ran(code, seen.decode(errors="replace").replace("\r\n", "\n"), "")


async def log_in(cli: WharfCli) -> None:
    """`wharf login` as the harness's admin, the password on stdin."""
    ran = await cli.run(
        "login", "--email", ADMIN["email"], "--password-stdin", stdin=ADMIN["password"] + "\n"
    )
    assert ran.code == 0, ran.err
