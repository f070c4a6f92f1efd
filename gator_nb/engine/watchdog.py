"""Stop a run's jobs when its engine dies without stopping them (SIGKILL, the OOM killer).

Each job leads its own session, so nothing reaches it when the engine is killed outright,
and a simulator left running can hold a licence for hours. One small helper process per
run keeps the list of the run's live process groups, fed line by line through a pipe from
the engine. When the pipe closes (the engine ended, whichever way) it stops every group
still listed: SIGTERM, the grace period, then SIGKILL. After a normal end the list is empty
and the helper just exits.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

__all__ = ["Watchdog"]

# Run with -I -S: nothing to import but builtins, so it starts in a few milliseconds.
_HELPER = r"""
import os, signal, sys, time
grace = float(sys.argv[1])
groups, rest = set(), b""
while True:
    try:
        data = os.read(0, 65536)
    except InterruptedError:
        continue
    if not data:
        break
    *lines, rest = (rest + data).split(b"\n")
    for line in lines:
        (groups.add if line[:1] == b"+" else groups.discard)(int(line[1:]))

def signal_all(sig):
    for pgid in list(groups):
        try:
            os.killpg(pgid, sig)
        except OSError:
            groups.discard(pgid)

signal_all(signal.SIGTERM)
deadline = time.monotonic() + grace
while groups and time.monotonic() < deadline:
    time.sleep(0.05)
    signal_all(0)
signal_all(signal.SIGKILL)
"""


class Watchdog:
    """The engine's side: ``add``/``remove`` a job's process group as it starts and ends."""

    def __init__(self, grace_s: float) -> None:
        read_end, self._fd = os.pipe()  # both close-on-exec: jobs never inherit them
        try:
            self._helper: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER, str(grace_s)],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                # Its own session: a Ctrl-C at the terminal is the engine's to handle.
                start_new_session=True,
            )
        except OSError:
            os.close(self._fd)
            self._helper, self._fd = None, -1  # no watchdog, but the run goes on
        finally:
            os.close(read_end)

    def add(self, pgid: int) -> None:
        self._send(b"+%d\n" % pgid)

    def remove(self, pgid: int) -> None:
        self._send(b"-%d\n" % pgid)

    def close(self) -> None:
        """End of the run: the helper stops whatever is still listed, then exits."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._helper is not None:
            self._helper.wait()
            self._helper = None

    def _send(self, line: bytes) -> None:
        if self._fd < 0:
            return
        try:
            os.write(self._fd, line)
        except OSError:  # the helper died: carry on without it
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
