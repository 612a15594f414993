#!/usr/bin/env python3
"""Time from navigation to the verdict and to the first Plotly chart on screen, in Chromium.

Starts `streamlit run app.py` on 127.0.0.1 and waits until it answers (the cold server start is not timed), then
opens each page in a fresh browser context (an empty browser cache, a new Streamlit session) and records, on the
page's own clock (performance.now(), from the start of navigation), when the verdict (the first alert in the main
area) and the first Plotly chart's SVG are first laid out with a size.  The first visit of the server process pays
its imports and cold caches and is reported apart; the others are repeated and their median reported.
Target: both under 2 s.  ``--floor`` times a one-alert, one-bar-chart Streamlit page the same way: what this
machine's browser needs for any Streamlit page with a Plotly chart.  Needs Debian's Chromium (python3 dev.py test
installs it).

    python benchmarks/first_paint.py [--runs N] [--root PATH] [--floor]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PAGES = {
    "default plan": "/",
    "overloaded (Qwen3-32B, 2 x L40S, 5 req/s)": "/?model=Qwen%2FQwen3-32B&gpu=L40S&gpus=2&request_rate=5",
    "does not fit (405B, 1 x RTX 4090)": "/?model=meta-llama%2FLlama-3.1-405B-Instruct&gpu=RTX+4090",
}
FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st

st.success("A verdict", title="Fits")
st.plotly_chart(go.Figure(go.Bar(x=[1, 2], y=[3, 4])), config={"displayModeBar": False})
"""
TIMEOUT_S = 60
# Runs in the page before its own scripts: each animation frame, note when the verdict and the first chart are
# first laid out with a size (performance.now() counts from the start of navigation).
MARKER = """
window.__paint = {};
(function watch() {
  const shown = (el) => { if (!el) return false; const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const now = performance.now();
  if (!('verdict' in window.__paint) && shown(document.querySelector('[data-testid="stMain"] [data-testid="stAlert"]')))
    window.__paint.verdict = now;
  if (!('chart' in window.__paint) && shown(document.querySelector('.js-plotly-plot .main-svg')))
    window.__paint.chart = now;
  if (!('chart' in window.__paint && 'verdict' in window.__paint)) requestAnimationFrame(watch);
})();
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` in ``root``, once it answers its health check."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"],
        cwd=root, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("streamlit did not start")


def visit(browser, url: str) -> tuple[float, float]:
    """Seconds from navigation to the verdict and to the first chart, in a fresh context."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(MARKER)
    page = context.new_page()
    page.goto(url, wait_until="commit")
    page.wait_for_function("window.__paint && 'verdict' in window.__paint && 'chart' in window.__paint",
                           timeout=TIMEOUT_S * 1000, polling=100)
    marks = page.evaluate("window.__paint")
    context.close()
    return marks["verdict"] / 1000, marks["chart"] / 1000


def measure(root: Path, pages: dict[str, str], runs: int) -> list[tuple[str, tuple[float, float], float, float]]:
    """(page, first visit (verdict, chart), median verdict, median chart) for each page of a fresh server in ``root``."""
    proc, base = start_server(root)
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            first = {name: visit(browser, base + path) for name, path in pages.items()}  # the very first: a fresh process
            for name, path in pages.items():
                times = [visit(browser, base + path) for _ in range(runs)]
                rows.append((name, first[name], statistics.median(v for v, _ in times), statistics.median(c for _, c in times)))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="visits per page after the first")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app.py to serve")
    parser.add_argument("--floor", action="store_true", help="also time a page with one alert and one bar chart")
    args = parser.parse_args(argv)
    rows = measure(args.root, PAGES, args.runs)
    if args.floor:
        with tempfile.TemporaryDirectory() as floor:
            Path(floor, "app.py").write_text(FLOOR_APP)
            rows += measure(Path(floor), {"floor: one alert and one bar chart": "/"}, args.runs)
    print(f"{'page':<44} {'first visit: verdict':>21} {'chart':>6}   {f'median of {args.runs}: verdict':>21} {'chart':>6}")
    for name, (verdict, chart), verdict_median, chart_median in rows:
        print(f"{name:<44} {verdict:>19.2f} s {chart:>4.2f} s   {verdict_median:>19.2f} s {chart_median:>4.2f} s")
    print("seconds from navigation (performance.now()) until laid out with a size; target: under 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
