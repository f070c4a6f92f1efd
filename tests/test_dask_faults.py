"""The dask backend when things go wrong: lost workers, strangers, and what is not Dask."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import gator_nb as gn
from gator_nb.engine.backends import open_backend
from gator_nb.engine.dask import DaskBackend
from gator_nb.engine.launch import Limits
from gator_nb.engine.monitor import Monitor
from gator_nb.errors import LaunchError
from gator_nb.events import JobOutput, JobStarted, Status
from tests.slurm import user_environ
from tests.test_dask import (
    PY,
    WAIT_FOR,
    Recorder,
    ended,
    planned,
    run_on_dask,
    said,
)

distributed = pytest.importorskip("distributed")
import dask.config  # noqa: E402 - after the skip: dask comes with distributed


class Scheduler:
    """A scheduler process, and worker processes started and killed at will."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [PY, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard"],
            stderr=subprocess.PIPE,
        )  # fmt: skip
        self.workers: list[subprocess.Popen[bytes]] = []
        assert self.process.stderr is not None
        self.address = ""
        while not self.address:
            line = self.process.stderr.readline().decode()
            assert line, "the scheduler exited before saying where it listens"
            found = re.search(r"Scheduler at:\s+(tcp://\S+)", line)
            self.address = found.group(1) if found else ""
        # Keep reading its log, or a full pipe would stop it.
        self._drain = threading.Thread(target=self.process.stderr.read, daemon=True)
        self._drain.start()

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [PY, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1",
             "--no-nanny", "--no-dashboard", *args],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for process in (*self.workers, self.process):
            process.kill()
            process.wait()
        self._drain.join()
        assert self.process.stderr is not None
        self.process.stderr.close()


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    started = Scheduler()
    try:
        yield started
    finally:
        started.close()


# -- lost workers ---------------------------------------------------------------------


async def test_a_lost_workers_queued_job_runs_elsewhere_and_a_retry_gets_a_key_of_its_own(
    scheduler: Scheduler, tmp_path: Path
) -> None:
    """Both jobs want the one CORES of worker A: one runs there, the other waits in A's
    own queue. A dies: the running one's attempt is lost and its retry (attempt 2) runs,
    the queued one had not started and simply runs elsewhere, once, as attempt 1."""
    release = tmp_path / "release"
    plan_ = planned(
        """
        !JobGroup
          id: top
          retries: 1
          resources: [!Cores [1]]
          jobs:
            - !Job {id: a, command: PY, args: [-c, SCRIPT]}
            - !Job {id: b, command: PY, args: [-c, SCRIPT]}
        """,
        tmp_path,
        SCRIPT=repr(WAIT_FOR.format(path=str(release))),
    )
    first = scheduler.worker("--resources", "CORES=1")
    sink = Recorder()
    running = asyncio.create_task(
        run_on_dask(plan_, sink, scheduler.address, Limits(parallel=2, grace_s=0.5))
    )
    try:
        ready = await sink.first(lambda e: said("top.a", "ready")(e) or said("top.b", "ready")(e))
        assert isinstance(ready, JobOutput)
        ran, queued = (ready.job, "top.b" if ready.job == "top.a" else "top.a")
        pid = sink.started()[ran].pid
        first.send_signal(signal.SIGKILL)
        await sink.first(said(ran, "trying again"))
        await ended(pid)  # stopped by the dead worker's watchdog
        scheduler.worker("--resources", "CORES=1")
        release.touch()
        async with asyncio.timeout(30):
            assert await running == Status.PASSED
    finally:
        release.touch()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    starts = [e for e in sink.events if isinstance(e, JobStarted)]
    assert [(e.job, e.attempt) for e in starts if e.job == ran] == [(ran, 1), (ran, 2)]
    assert [(e.job, e.attempt) for e in starts if e.job == queued] == [(queued, 1)]
    notes = [b.data.decode() for e in sink.events if isinstance(e, JobOutput) for b in e.blocks]
    assert "gator: attempt 1 of 2 failed (worker-lost); trying again\n" in notes
    assert sink.finished()[ran].status == sink.finished()[queued].status == Status.PASSED


# -- other users ----------------------------------------------------------------------


async def test_a_client_without_the_runs_credentials_cannot_run_code(tmp_path: Path) -> None:
    """gator's own LocalCluster speaks TLS with a throw-away CA: a plain client, or one
    with a certificate of its own, is turned away and never runs a function there."""
    monitor = Monitor(Recorder(), interval_s=1)
    limits = Limits(parallel=1)
    proof = tmp_path / "proof"
    async with open_backend("dask", monitor=monitor, limits=limits) as backend:
        assert isinstance(backend, DaskBackend)
        address = backend._client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        host, port = address.removeprefix("tls://").split(":")
        with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
            # A certificate of its own, not signed by the run's CA.
            stranger = distributed.security.Security.temporary()
            with pytest.raises((OSError, TimeoutError)):
                await distributed.Client(address, asynchronous=True, security=stranger, timeout=2)
            # Plain TCP.
            with pytest.raises((OSError, TimeoutError)):
                await distributed.Client(f"tcp://{host}:{port}", asynchronous=True, timeout=2)
        # TLS without any certificate: the handshake is refused.
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await _talk_tls_without_a_certificate(host, int(port), context)
        # ... while the run's own client, holding the credentials, can.
        assert await backend._client.run(os.getpid)
    assert not proof.exists()


async def _talk_tls_without_a_certificate(host: str, port: int, context: ssl.SSLContext) -> None:
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        writer.write(b"\0" * 8)
        await writer.drain()
        if not await reader.read(1):  # TLS 1.3: the refusal may come after the handshake
            raise ConnectionError("closed by the scheduler")
    finally:
        writer.close()


# -- addresses where no Dask scheduler answers ----------------------------------------


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _answer(reader, writer, b"")  # accepts, says nothing, until the client gives up


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _answer(reader, writer, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # A frame count of 2**64 - 1 first, then noise.
    await _answer(reader, writer, b"\xff" * 64 + os.urandom(4096))


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        writer.write(data)
        await writer.drain()
        await reader.read()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.mark.parametrize("peer", [_silent, _http, _garbage, None])
async def test_an_address_that_is_not_dask_is_one_clear_error(
    peer: object, write_spec: object, tmp_path: Path
) -> None:
    """`gator run --scheduler` at a silent socket, an HTTP server, a peer sending garbage,
    or no URL at all: exit 2 within the connect timeout, one line, no traceback."""
    assert callable(write_spec)
    spec = write_spec("!Job {id: j, command: 'true'}\n")
    server = None
    if peer is None:
        address = "notaurl"
    else:
        server = await asyncio.start_server(peer, "127.0.0.1", 0)  # type: ignore[arg-type]
        address = f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    env = {**user_environ(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    try:
        gator = await asyncio.create_subprocess_exec(
            PY, "-m", "gator_nb", "run", str(spec), "--backend", "dask", "--scheduler", address,
            "--runs-dir", str(tmp_path / "runs"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        async with asyncio.timeout(20):  # Python's start, the 2 s, and the run's end
            out, err = await gator.communicate()
    finally:
        if server is not None:
            server.close()
    lines = err.decode().splitlines()
    assert gator.returncode == 2, (out, err)
    assert len(lines) == 1, lines
    if peer is None:
        assert lines[0].startswith("gator: not a Dask scheduler address: 'notaurl'"), lines
    else:
        assert lines[0].startswith(f"gator: cannot reach the Dask scheduler at {address}"), lines


async def test_losing_the_scheduler_is_one_line_and_exit_2(
    scheduler: Scheduler, write_spec: object, tmp_path: Path
) -> None:
    """A running job holding a licence seat, one waiting for it: the scheduler dies.
    gator says so in one line; no Dask traceback (its reconnection, the seat's release)."""
    assert callable(write_spec)
    spec = write_spec(
        """
        !JobGroup
          id: top
          resources: [!License [sim, 1]]
          jobs:
            - !Job {id: a, command: sleep, args: ["60"]}
            - !Job {id: b, command: sleep, args: ["60"]}
        """
    )
    scheduler.worker()
    gator = await asyncio.create_subprocess_exec(
        PY, "-m", "gator_nb", "run", str(spec), "--backend", "dask",
        "--scheduler", scheduler.address, "--licenses", "sim=1", "-j", "2",
        "--runs-dir", str(tmp_path / "runs"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=user_environ(),
    )  # fmt: skip
    assert gator.stdout is not None and gator.stderr is not None
    try:
        async with asyncio.timeout(30):
            while not (await gator.stdout.readline()).startswith(b"start"):
                pass
            scheduler.process.kill()
            err = await gator.stderr.read()
            await gator.wait()
    finally:
        if gator.returncode is None:
            gator.kill()
            await gator.wait()
    assert gator.returncode == 2
    assert err.decode().splitlines() == [
        f"gator: lost the connection to the Dask scheduler at {scheduler.address}:"
        " 2 job(s) failed with it"
    ]


# -- choosing the cluster -------------------------------------------------------------


def test_gn_run_with_a_cluster_of_its_own(tmp_path: Path) -> None:
    """cluster="local" implies the dask backend: the job's parent is a Dask worker."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"!Job {{id: p, command: {PY}, args: [-c, 'import os; print(os.getppid())']}}")
    run = gn.run(spec, runs_dir=tmp_path / "runs", cluster="local", parallel=1)
    assert run.status == "passed"
    assert int(run.log("p").split()[0]) != os.getpid()
    with pytest.raises(LaunchError, match="unknown cluster 'nosuch'; expected one of local, slurm"):
        gn.run(spec, runs_dir=tmp_path / "runs", cluster="nosuch")
    with pytest.raises(LaunchError, match="give a scheduler or a cluster to start, not both"):
        gn.run(spec, runs_dir=tmp_path / "runs", cluster="local", scheduler="tcp://h:1")
