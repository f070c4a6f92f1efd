"""Starting a job's process: its own session and process group, no shell, pipes for
stdout and stderr; and, when it cannot start, saying why in one line.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gator_nb.engine.launch import Launch

__all__ = ["executable_of", "launch_problem", "spawn"]


def spawn(launch: Launch) -> subprocess.Popen[bytes]:
    """Start ``launch`` without a shell, as the leader of a new process group."""
    if not launch.argv:
        raise ValueError("empty command")
    # Popen takes the vfork fast path (no preexec_fn); start_new_session makes
    # the job a process group we can signal as a whole.
    return subprocess.Popen(
        launch.argv,
        executable=executable_of(launch),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=launch.cwd,
        env=launch.env,
        start_new_session=True,
        bufsize=0,
        close_fds=True,
    )


def executable_of(launch: Launch) -> str | None:
    """The absolute path of ``launch``'s program, or None to leave the search to Popen.

    Raises:
        ValueError: the command is empty.
    """
    if not launch.argv:
        raise ValueError("empty command")
    return _executable(launch.argv[0], launch.env.get("PATH", os.defpath))


@functools.lru_cache(maxsize=256)
def _executable(program: str, path: str) -> str | None:
    """The program's absolute path, found once per PATH rather than by Popen per job.

    None leaves the search to Popen: for names with a directory part, for a PATH with
    relative entries (they depend on each job's cwd), and when nothing is found (Popen
    then raises the error that ``launch_problem`` explains).
    """
    if os.sep in program or any(not os.path.isabs(d) for d in path.split(os.pathsep) if d):
        return None
    return shutil.which(program, path=path)


def launch_problem(launch: Launch, exc: OSError | ValueError) -> str:
    """Say in one line why ``launch`` could not start."""
    cwd, prog = launch.cwd, launch.argv[0] if launch.argv else ""
    if isinstance(exc, ValueError):
        return f"gator: cannot start {list(launch.argv)!r}: {exc}"
    if not os.path.isdir(cwd):
        what = "is not a directory" if os.path.exists(cwd) else "does not exist"
        return f"gator: working directory {what}: {cwd!r}"
    if exc.filename == cwd:
        return f"gator: cannot enter working directory {cwd!r}: {exc.strerror}"
    if isinstance(exc, PermissionError):
        return f"gator: command is not executable: {prog!r} ({exc.strerror})"
    if isinstance(exc, FileNotFoundError):
        if os.sep in prog:
            where = os.path.join(cwd, prog)
            if os.path.exists(where):  # the file is there: its #! interpreter is not
                return f"gator: cannot run {prog!r}: its interpreter was not found"
            return f"gator: command not found: {prog!r} (no such file: {where!r})"
        path = launch.env.get("PATH", os.defpath)
        if shutil.which(prog, path=path) is not None:
            return f"gator: cannot run {prog!r}: its interpreter was not found"
        return f"gator: command not found: {prog!r} (searched PATH={path})"
    return f"gator: cannot start {prog!r}: {exc.strerror or exc}"
