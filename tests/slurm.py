"""A real one-node Slurm for the tests: Debian's packages, a private config, our own daemons.

Installs ``slurmctld slurmd slurm-client munge`` with apt when missing, writes a
one-node ``slurm.conf`` in a temporary directory (free ports, state and spool there, a
munge socket of its own), starts ``munged``, ``slurmctld -D`` and ``slurmd -D``, and stops
them by pid. Clients find it through ``SLURM_CONF``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
_PROGRAMS = ("/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sinfo", "/usr/sbin/munged")
_READY_S = 60.0


class Unavailable(Exception):
    """Slurm cannot be had or started here; the reason says why."""


class Slurm:
    """The running daemons and what a client needs: ``env`` (with ``SLURM_CONF``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = {**user_environ(), "SLURM_CONF": str(self.conf)}
        self.daemons: list[subprocess.Popen[bytes]] = []

    def run(self, *argv: str) -> str:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=30)
        if done.returncode:
            raise Unavailable(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
        return done.stdout

    def jobs(self) -> list[str]:
        """Ids of the Slurm jobs still known to the controller (pending, running, ending)."""
        return self.run("squeue", "-h", "-o", "%i").split()

    def wait_for_no_jobs(self, timeout_s: float) -> list[str]:
        """Wait until squeue is empty (polled: Slurm tells no one); what is left."""
        deadline = time.monotonic() + timeout_s
        while (jobs := self.jobs()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return jobs

    def cancel_all(self) -> None:
        ids = self.jobs()
        if ids:
            self.run("scancel", *ids)


def user_environ() -> dict[str, str]:
    """This environment as a user's: without ``make test``'s asyncio debug mode, whose
    slow-callback reports would mix with what `gator` itself prints."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}


def install() -> None:
    """Debian's packages, when a program is missing; Unavailable if that cannot be done."""
    if all(Path(p).exists() for p in _PROGRAMS):
        return
    if shutil.which("apt-get") is None:
        raise Unavailable("Slurm is not installed and there is no apt-get to install it")
    if os.geteuid() != 0:
        raise Unavailable("Slurm is not installed, and installing it needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise Unavailable(f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}")


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def _config(root: Path, node: str, ports: list[int], munge_socket: Path) -> str:
    hardware = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True)
    line = next(x for x in hardware.stdout.splitlines() if x.startswith("NodeName="))
    # A few GB is plenty for the tests, and below what the node has (more would drain it).
    fields = [f for f in line.split() if not f.startswith(("NodeName=", "RealMemory="))]
    return "\n".join(
        [
            "ClusterName=gatortest",
            f"SlurmctldHost={node}",
            f"SlurmctldPort={ports[0]}",
            f"SlurmdPort={ports[1]}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            f"StateSaveLocation={root}/state",
            f"SlurmdSpoolDir={root}/spool",
            f"SlurmctldPidFile={root}/slurmctld.pid",
            f"SlurmdPidFile={root}/slurmd.pid",
            f"SlurmctldLogFile={root}/slurmctld.log",
            f"SlurmdLogFile={root}/slurmd.log",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "ReturnToService=2",
            "MinJobAge=300",
            "KillWait=5",
            f"NodeName={node} {' '.join(fields)} RealMemory=4096 State=UNKNOWN",
            f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


@contextlib.contextmanager
def one_node_slurm() -> Iterator[Slurm]:
    """Slurm with one idle node, for as long as the block runs; Unavailable otherwise."""
    install()
    # Not under pytest's tmp_path: munge (its own user) must reach its socket directory.
    root = Path(tempfile.mkdtemp(prefix="gator-slurm-"))
    root.chmod(0o755)
    slurm = Slurm(root)
    try:
        munge = root / "munge"
        munge.mkdir()
        shutil.chown(munge, "munge", "munge")
        munge_socket = munge / "munge.socket"
        node = socket.gethostname().split(".")[0]
        slurm.conf.write_text(_config(root, node, _free_ports(2), munge_socket))
        for sub in ("state", "spool"):
            (root / sub).mkdir()
        slurm.daemons.append(
            _start(
                ["/usr/sbin/munged", "-F", f"--socket={munge_socket}",
                 f"--pid-file={munge}/munged.pid", f"--seed-file={munge}/seed",
                 f"--log-file={munge}/munged.log"],
                root / "munged.out", slurm.env, user="munge",
            )
        )  # fmt: skip
        _wait_for(munge_socket.exists, "munged did not create its socket", slurm)
        for daemon in ("slurmctld", "slurmd"):
            argv = [f"/usr/sbin/{daemon}", "-D", "-f", str(slurm.conf)]
            slurm.daemons.append(_start(argv, root / f"{daemon}.out", slurm.env))
        _wait_for(lambda: _idle(slurm), "the node did not become idle", slurm)
        yield slurm
    finally:
        _stop(slurm)
        shutil.rmtree(root, ignore_errors=True)


def _start(
    argv: list[str], out: Path, env: dict[str, str], user: str | None = None
) -> subprocess.Popen[bytes]:
    with out.open("wb") as log:
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )


def _idle(slurm: Slurm) -> bool:
    with contextlib.suppress(Unavailable):
        return slurm.run("sinfo", "-h", "-o", "%T").split() == ["idle"]
    return False


def _wait_for(ready: object, what: str, slurm: Slurm) -> None:
    """Poll ``ready`` (nothing to wait on: the daemons signal no one) with a deadline."""
    assert callable(ready)
    deadline = time.monotonic() + _READY_S
    while not ready():
        dead = [d for d in slurm.daemons if d.poll() is not None]
        if dead or time.monotonic() > deadline:
            logs = {p.name: p.read_text()[-400:] for p in slurm.root.glob("*.out")}
            raise Unavailable(f"{what}: {logs}")
        time.sleep(0.1)


def _stop(slurm: Slurm) -> None:
    """Cancel what is left, wait for the jobs to end, then stop the daemons by pid."""
    if all(d.poll() is None for d in slurm.daemons) and len(slurm.daemons) == 3:
        with contextlib.suppress(Unavailable, subprocess.TimeoutExpired):
            slurm.cancel_all()
            slurm.wait_for_no_jobs(15)
    for daemon in reversed(slurm.daemons):
        daemon.terminate()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
