"""The live view in a real browser: JupyterLab (and Notebook 7) on a free localhost port,
headless Debian chromium driven by Playwright, a notebook running a spec with a failing job.

`make test` installs chromium; without it (or without playwright/jupyterlab) the test
skips and says why. Set GATOR_UPDATE_SCREENSHOT=1 to copy the screenshot into docs/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.notebook

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
XSS = """<img src=x onerror="window.gatorXss=1">"""
_YAML_XSS = XSS.replace('"', '\\"')  # inside a YAML double-quoted string
SPEC = f"""
!JobGroup
  id: demo
  jobs:
    - !JobGroup
        id: units
        jobs:
          - !Job {{id: alpha, command: echo, args: [alpha]}}
          - !Job {{id: beta, command: echo, args: [beta]}}
          - !Job {{id: gamma, command: echo, args: [gamma]}}
    - !JobArray
        id: sims
        repeats: 6
        jobs:
          - !Job
              id: sim
              command: python3
              args: [-c, "import time; time.sleep(0.3); print('WARNING: slow bus')"]
    - !Job
        id: broken
        command: bash
        args: [-c, "echo 'compiling'; echo 'ERROR: {_YAML_XSS}'; exit 2"]
    - !Job
        id: gate
        timeout: 120
        command: bash
        args: [-c, "echo waiting; while [ ! -e gate ]; do sleep 0.05; done; echo released"]
"""


def _need_browser() -> Any:
    if not CHROMIUM.exists():
        pytest.skip(
            "BROWSER TEST SKIPPED: /usr/bin/chromium is missing; `make test` installs it"
            " (apt-get install -y chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("BROWSER TEST SKIPPED: playwright is not installed (pip install -e '.[dev]')")
    for app in ("jupyter-lab", "jupyter-notebook"):
        if shutil.which(app, path=str(Path(sys.executable).parent)) is None:
            pytest.skip(f"BROWSER TEST SKIPPED: no {app} (pip install -e '.[dev]')")
    return sync_playwright


@dataclass(frozen=True, slots=True)
class Lab:
    app: str  # jupyterlab | notebook (Notebook 7)
    url: str
    token: str
    root: Path

    def notebook_url(self, name: str) -> str:
        path = "lab/tree" if self.app == "jupyterlab" else "notebooks"
        return f"{self.url}/{path}/{name}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["jupyterlab", "notebook"])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    _need_browser()
    app = str(request.param)
    root, home = tmp_path / "root", tmp_path / "jupyter"
    root.mkdir()
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No news or update checks: the machine has no network, and the toast would cover rows.
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = os.environ | {
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", app, "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--allow-root",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    ready, log = threading.Event(), []

    def drain() -> None:  # keep reading, or the server blocks on a full pipe
        assert server.stderr is not None
        with server.stderr:
            for line in server.stderr:
                log.append(line)
                if f"127.0.0.1:{port}/" in line:
                    ready.set()
        ready.set()  # it exited: stop waiting

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        ready.wait(60)
        assert server.poll() is None and log, f"{app} did not start:\n" + "".join(log)
        yield Lab(app=app, url=f"http://127.0.0.1:{port}", token=token, root=root)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        reader.join(5)


@pytest.mark.timeout(300)
def test_live_tree_in_the_browser(lab: Lab, tmp_path: Path) -> None:
    sync_playwright = _need_browser()
    (lab.root / "spec.yaml").write_text(SPEC)
    cells = [
        "%load_ext gator_nb",
        "run = %gator spec.yaml --parallel 2 --runs-dir runs",
        # Keeps the kernel busy while the test reads the tree (at most 120 s), then waits.
        "import os, time\nfor _ in range(1200):\n"
        "    if os.path.exists('release'): break\n    time.sleep(0.1)\nrun.wait()",
        "run.plot.resources()",
    ]
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}  # fmt: skip
    nbformat.write(notebook, lab.root / "demo.ipynb")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            _drive(page, lab, tmp_path)
            _reopen(browser.new_page(viewport={"width": 1280, "height": 1000}), lab, tmp_path)
        finally:
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            browser.close()


def _answer_kernel_dialog(page: Any) -> None:
    """Accept the preferred kernel if JupyterLab asks; any other dialog fails the test."""
    dialog = page.locator(".jp-Dialog")
    if not dialog.count() or not dialog.first.is_visible():
        return
    text = dialog.first.inner_text()
    assert "Select Kernel" in text, f"unexpected dialog: {text!r}"
    dialog.first.locator("button.jp-mod-accept").click()
    dialog.first.wait_for(state="detached", timeout=10_000)


_KERNEL_READY_OR_DIALOG = """() => {
    if (document.querySelector('.jp-Dialog')) return 'dialog';
    const name = document.querySelector('.jp-Toolbar-kernelName');
    const label = name ? name.getAttribute('aria-label') : null;
    const state = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const idle = state !== null && state.getAttribute('data-status') === 'idle';
    return label && label !== 'No Kernel' && idle ? 'ready' : false;
}"""


def _wait_for_kernel(page: Any) -> None:
    """Wait until the notebook has its kernel and it is idle.

    "Run All" before that runs nothing, or (on a loaded machine) makes JupyterLab ask for
    a kernel; accepting then switches kernels and drops the cells already queued.
    """
    for _attempt in range(3):
        found = page.wait_for_function(_KERNEL_READY_OR_DIALOG, timeout=90_000).json_value()
        if found == "ready":
            return
        _answer_kernel_dialog(page)
    raise AssertionError("JupyterLab kept asking for a kernel")


def _run_all(page: Any, lab: Lab) -> Any:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(lab.notebook_url("demo.ipynb"))
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
    prompts.first.wait_for(timeout=60_000)
    _wait_for_kernel(page)
    for _attempt in range(3):
        # Once "Run All" reaches the kernel every cell is queued ("[*]:") or done; the
        # first prompt staying "[ ]:" means the click was lost, so click again.
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function(
                "document.querySelector('.jp-CodeCell .jp-InputPrompt')"
                ".textContent.trim() !== '[ ]:'",
                timeout=10_000,
            )
            break
        except PlaywrightTimeout:
            continue
    return prompts


def _inert(page: Any) -> None:
    assert page.evaluate("window.gatorXss") is None
    assert page.locator("img[src='x']").count() == 0


def _drive(page: Any, lab: Lab, tmp_path: Path) -> None:
    prompts = _run_all(page, lab)
    header = page.locator(".gator-header")
    header.wait_for(timeout=60_000)
    # Everything but the gate finishes while the next cell keeps the kernel busy: the rows
    # come from the engine's thread, and every click below is handled in the browser.
    page.wait_for_function(
        "document.querySelector('.gator-header').textContent.includes('10/11 done')",
        timeout=60_000,
    )
    busy = prompts.nth(2)
    assert busy.inner_text().strip() == "[*]:", "the busy cell had already finished"
    text = header.inner_text()
    assert "running" in text and "9 passed" in text and "1 failed" in text

    rows = page.locator(".gator-row")
    assert "demo" in rows.nth(0).inner_text()
    first = rows.nth(1).inner_text()
    assert "broken" in first and "failed" in first  # the failed job sorts first
    assert XSS in first  # shown as text ...
    _inert(page)  # ... never run as HTML
    bars = page.locator(".gator-row", has_text="demo").locator(".gator-seg")
    assert {bars.nth(i).get_attribute("class") for i in range(bars.count())} >= {
        "gator-seg gator-seg-passed", "gator-seg gator-seg-failed",
    }  # fmt: skip

    page.locator(".gator-row", has_text="units").locator("button").click()
    page.locator(".gator-row", has_text="gamma").wait_for(timeout=10_000)
    assert page.locator(".gator-row", has_text="alpha").count() == 1
    gate = page.locator(".gator-row", has_text="gate")
    assert "running" in gate.inner_text() and "s" in gate.locator(".gator-facts").inner_text()

    rows.nth(1).locator("button").click()  # the failed job's panel: sent with its row
    detail = page.locator(".gator-detail")
    detail.wait_for(timeout=10_000)
    log = detail.locator(".gator-log").inner_text()
    assert "compiling" in log and XSS in log
    assert "bash -c" in detail.locator(".gator-command").inner_text()
    _inert(page)
    assert busy.inner_text().strip() == "[*]:", "the clicks needed the kernel"

    page.locator(".gator-sort").select_option("plan")  # spec order: units before broken
    page.wait_for_function(
        "document.querySelectorAll('.gator-row')[1].textContent.includes('units')",
        timeout=10_000,
    )
    page.locator(".gator-sort").select_option("failed")
    page.locator(".gator-row", has_text="gamma").wait_for(timeout=10_000)
    shot = tmp_path / "notebook-live.png"
    page.locator(".jp-CodeCell").nth(1).screenshot(path=str(shot))

    # The run ends: the cell's output becomes the final tree as static HTML.
    (lab.root / "gate").touch()
    final = page.locator(".gator-final")
    final.wait_for(timeout=60_000)
    assert "11/11 done: 10 passed, 1 failed" in final.inner_text()
    _inert(page)
    (lab.root / "release").touch()
    prompts.nth(3).filter(has_text="[4]:").wait_for(timeout=60_000)
    page.locator(".jp-CodeCell").nth(3).locator("img").wait_for(timeout=30_000)
    plot = tmp_path / "plots-resources.png"
    page.locator(".jp-CodeCell").nth(3).locator(".jp-OutputArea").screenshot(path=str(plot))
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "!document.querySelector('.jp-mod-dirty')", timeout=20_000
    )  # saved: no unsaved-changes mark
    if os.environ.get("GATOR_UPDATE_SCREENSHOT") and lab.app == "jupyterlab":
        shutil.copyfile(shot, DOCS_IMAGES / "notebook-live.png")
        shutil.copyfile(plot, DOCS_IMAGES / "plots-resources.png")


def _reopen(page: Any, lab: Lab, tmp_path: Path) -> None:
    """The saved notebook, opened again: its %gator cell shows the final counts."""
    saved = nbformat.read(lab.root / "demo.ipynb", as_version=4)
    [output] = saved.cells[1].outputs
    assert "application/vnd.jupyter.widget-view+json" not in output.data
    assert "11/11 done: 10 passed, 1 failed" in output.data["text/html"]
    assert output.data["text/plain"].startswith("gator run ")
    page.goto(lab.notebook_url("demo.ipynb"))
    final = page.locator(".gator-final")
    final.wait_for(timeout=60_000)
    assert "11/11 done: 10 passed, 1 failed" in final.inner_text()
    page.locator(".gator-job", has_text="broken").locator("summary").click()
    assert XSS in page.locator(".gator-final .gator-log").first.inner_text()
    _inert(page)
    page.screenshot(path=str(tmp_path / "reopened.png"), full_page=True)
    shot = tmp_path / "notebook-final.png"
    page.locator(".jp-CodeCell").nth(1).screenshot(path=str(shot))
    if os.environ.get("GATOR_UPDATE_SCREENSHOT") and lab.app == "jupyterlab":
        shutil.copyfile(shot, DOCS_IMAGES / "notebook-final.png")
