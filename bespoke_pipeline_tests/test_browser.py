"""The Dagster and MLflow UIs in a real headless Chromium, against a finished pipeline run.

Runs when Chromium is installed (`.ci/run` installs Debian's package) and Playwright for
Python is importable; Playwright drives that Chromium, it downloads no browser. Set
BESPOKE_SCREENSHOTS=docs/screenshots to refresh the README's screenshots.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bespoke_pipeline.registry import ALIAS, MODEL_NAME

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")

#: Every asset of the chain, with a metadata key its page must show.
CHAIN = {
    "raw_images": "contact_sheet",
    "captions": "mlflow_run_id",
    "training_package": "sha256",
    "lora": "loss_curve",
    "lora_checkpoints": "checkpoints",
    "checkpoint_scores": "comparison",
    "production_model": "model_card",
}
PARTITIONED = {"lora", "lora_checkpoints", "checkpoint_scores"}


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BESPOKE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium.new_page(viewport={"width": 1440, "height": 900})
        chromium.close()


def test_dagster_ui_shows_the_materialized_chain(finished_run, browser, screenshots):
    command = [sys.executable, "-m", "dagster_webserver", "-m", "bespoke_pipeline"]
    with _server(command, finished_run.env, "/server_info") as url:
        page = browser
        _open(page, f"{url}/assets")
        for asset in CHAIN:
            _visible(page, asset)
        page.screenshot(path=screenshots / "dagster-assets.png", full_page=True)

        lineage = "view=lineage&lineageScope=upstream&lineageDepth=6"
        _open(page, f"{url}/assets/production_model?{lineage}")
        _visible(page, "checkpoint_scores")
        page.wait_for_timeout(3_000)  # the graph zooms to fit after layout
        page.screenshot(path=screenshots / "dagster-graph.png")

        for asset, key in CHAIN.items():  # each with its latest materialization's metadata
            partition = "?partition=pixel-tiny" if asset in PARTITIONED else ""
            _open(page, f"{url}/assets/{asset}{partition}")
            _visible(page, "Latest materialization")
            _visible(page, key)

        _open(page, f"{url}/assets/checkpoint_scores?partition=pixel-tiny")
        _show_markdown(page, "comparison")
        assert page.locator("img[src^='data:image/png']").count() == 1  # epochs x prompts
        page.wait_for_timeout(1_000)  # the dialog fades in
        page.screenshot(path=screenshots / "dagster-comparison.png")
        page.keyboard.press("Escape")
        page.get_by_role("dialog").first.wait_for(state="hidden", timeout=30_000)
        page.wait_for_timeout(1_000)  # ... and out
        # the score table is a typed table, shown in place (no dialog)
        for column in ("epoch", "composite", "eyes_placed", "passes_gates"):
            assert page.get_by_text(column, exact=True).count() > 0, column
        header = page.get_by_text("composite_ci", exact=True).first
        header.evaluate("cell => cell.scrollIntoView({block: 'center'})")
        page.screenshot(path=screenshots / "dagster-checkpoint-scores.png")


def test_mlflow_ui_shows_the_loss_curve_and_the_production_model(
    finished_run, browser, screenshots
):
    client = MlflowClient(finished_run.env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("bespoke-punks")
    lora_run = client.search_runs([experiment.experiment_id], "tags.`dagster.asset_key` = 'lora'")[
        0
    ]
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", finished_run.env["MLFLOW_TRACKING_URI"],
    ]  # fmt: skip
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    with _server(command, finished_run.env, "/health", host_flag="--host") as url:
        page = browser  # MLflow's UI polls, so "load" rather than "networkidle"
        page.goto(f"{url}/#/experiments/{experiment.experiment_id}", wait_until="load")
        with suppress(playwright_api.TimeoutError):  # the UI's own mode switch, where shown
            page.get_by_text("Model training", exact=True).first.click(timeout=10_000)
        with suppress(playwright_api.TimeoutError):  # the assistant panel covers a third
            page.get_by_label("Close", exact=True).first.click(timeout=5_000)
        page.goto(
            f"{url}/#/experiments/{experiment.experiment_id}/runs/{lora_run.info.run_id}"
            "/model-metrics",
            wait_until="load",
        )
        for chart in ("lora (loss)", "lora (epoch_loss)"):
            page.get_by_text(chart).first.wait_for(timeout=60_000)
        page.locator(".js-plotly-plot").nth(2).wait_for(timeout=60_000)  # drawn, not loading
        page.wait_for_timeout(2_000)
        page.screenshot(path=screenshots / "mlflow-loss.png", full_page=True)

        page.goto(f"{url}/#/models/{MODEL_NAME}", wait_until="load")
        page.get_by_text("Version 1").first.wait_for(timeout=60_000)
        page.get_by_text(re.compile(rf"^@\s*{ALIAS}$")).first.wait_for(timeout=30_000)  # alias
        page.wait_for_timeout(1_000)
        page.screenshot(path=screenshots / "mlflow-production-model.png", full_page=True)


def _open(page, url: str) -> None:
    """Load a page and dismiss the one-time community dialog a fresh Dagster UI shows."""
    page.goto(url, wait_until="networkidle")
    with suppress(playwright_api.TimeoutError):  # shown once per browser profile
        page.get_by_role("button", name="Skip").first.click(timeout=3_000)


def _visible(page, text: str) -> None:
    page.get_by_text(text, exact=True).filter(visible=True).first.wait_for(timeout=120_000)


def _show_markdown(page, metadata_key: str) -> None:
    row = page.locator("tr", has_text=metadata_key).first
    row.get_by_text("[Show Markdown]").click()
    page.get_by_role("dialog").first.wait_for(timeout=30_000)


@contextmanager
def _server(
    command: list[str], env: dict[str, str], ready_path: str, host_flag: str = "-h"
) -> Iterator[str]:
    """Start a web server on a free loopback port and wait until it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*command, host_flag, "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url + ready_path, timeout=5)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[2]} did not start on {url}") from None
                time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
