"""End to end: `streamlit run app.py` on 127.0.0.1, driven in Debian's Chromium by Playwright.

These run in CI: `python3 dev.py test` installs Chromium first (Playwright's own
browser download does not work here).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from wizard.schema import parse_request

ROOT = Path(__file__).parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
FIRST_PAGE_BUDGET_S = 15


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_healthy(base: str, proc: subprocess.Popen) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("streamlit did not start: " + (proc.stdout.read() if proc.stdout else ""))


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    _wait_until_healthy(base, proc)
    yield base
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Chromium is missing: run `python3 dev.py test`, which installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    return context, page


def serve_command(page) -> str:
    code = page.locator('[data-testid="stCode"]', has_text="vllm serve").first
    expect(code).to_be_visible(timeout=FIRST_PAGE_BUDGET_S * 1000)
    return code.inner_text()


def test_first_page_charts_code_and_downloads(browser, server):
    start = time.time()
    context, page = open_page(browser, server)
    expect(page.locator(".js-plotly-plot").nth(1)).to_be_visible(timeout=FIRST_PAGE_BUDGET_S * 1000)
    assert time.time() - start < FIRST_PAGE_BUDGET_S
    assert page.locator(".js-plotly-plot").count() >= 2
    assert serve_command(page).startswith("vllm serve meta-llama/Llama-3.1-8B-Instruct")
    assert page.locator('[data-testid="stDownloadButton"]').count() >= 3
    assert page.locator('[data-testid="stException"]').count() == 0
    context.close()


def test_the_url_reproduces_the_plan_in_a_fresh_browser(browser, server):
    context, page = open_page(browser, server)
    serve_command(page)
    page.get_by_role("spinbutton", name="Concurrent requests").fill("4")
    page.get_by_role("button", name="Plan", exact=True).click()
    page.wait_for_url("**concurrency=4**", timeout=15000)
    page.get_by_text("Advanced vLLM settings").click()
    page.get_by_role("textbox", name="Max model length").fill("8192")
    page.get_by_role("button", name="Plan", exact=True).click()
    page.wait_for_url("**max_model_len=8192**", timeout=15000)
    expect(page.locator('[data-testid="stCode"]', has_text="vllm serve").filter(has_text="--max-model-len 8192")).to_be_visible(timeout=15000)
    shared_url, command = page.url, serve_command(page)
    context.close()
    fresh, again = open_page(browser, shared_url)
    expect(again.locator('[data-testid="stCode"]', has_text="vllm serve").filter(has_text="--max-model-len 8192")).to_be_visible(timeout=15000)
    assert serve_command(again) == command
    fresh.close()


def test_unknown_model_shows_an_error_not_a_traceback(browser, server):
    context, page = open_page(browser, f"{server}/?model=does-not%2Fexist")
    expect(page.get_by_text("No plan for this request")).to_be_visible(timeout=FIRST_PAGE_BUDGET_S * 1000)
    assert "does-not/exist" in page.content()
    assert "Traceback" not in page.content()
    assert page.locator('[data-testid="stException"]').count() == 0
    context.close()


def test_compare_page_opens_a_plan_in_one_click(browser, server):
    from urllib.parse import parse_qsl, urlparse

    from wizard.planning.planner import plan

    context, page = open_page(browser, f"{server}/compare")
    expect(page.get_by_text("Cost against throughput")).to_be_visible(timeout=FIRST_PAGE_BUDGET_S * 1000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=FIRST_PAGE_BUDGET_S * 1000)
    expect(page.get_by_text("How the serve commands differ")).to_be_visible(timeout=15000)
    assert page.locator('[data-testid="stException"]').count() == 0
    first = page.get_by_role("link", name="open plan").first
    with context.expect_page(timeout=15000) as opened:
        first.click()  # one click opens the plan (in a new tab: a fresh session, so the link decides every field)
    tab = opened.value
    request = parse_request(dict(parse_qsl(urlparse(tab.url).query)))
    expected = plan(request, detected=[])
    assert expected.feasibility.fits
    assert serve_command(tab) == expected.artifacts.serve_command
    expect(tab.get_by_text("Fits", exact=True).first).to_be_visible(timeout=15000)
    context.close()


def test_a_typo_in_a_shared_link_is_named_and_a_shorthand_is_read(browser, server):
    context, page = open_page(browser, f"{server}/?model=Qwen%2FQwen3-8B&gpu=L40S&gpus=abc&concurrency=1e400"
                                       "&prompt_tokens=8k&quantization=FP8&colour=blue")
    warning = page.get_by_text("The link has values this page could not use")
    expect(warning).to_be_visible(timeout=FIRST_PAGE_BUDGET_S * 1000)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="could not use")
    for named in ("gpus=abc", "concurrency=1e400", "colour"):
        expect(alert).to_contain_text(named)
    expect(page.get_by_role("spinbutton", name="Prompt tokens")).to_have_value("8000", timeout=15000)
    command = page.locator('[data-testid="stCode"]', has_text="vllm serve").filter(has_text="--quantization fp8")
    expect(command).to_be_visible(timeout=15000)
    assert page.locator('[data-testid="stException"]').count() == 0
    context.close()


def test_a_fresh_server_opened_at_a_sub_page_runs_the_app(browser):
    """Streamlit runs a pages/ folder as a legacy app when a fresh server's first visitor opens a sub-page URL (the
    app's own navigation and layout never load): the pages live in app_pages/."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"],
        cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_healthy(f"http://127.0.0.1:{port}", proc)
        context, page = open_page(browser, f"http://127.0.0.1:{port}/models")
        expect(page.locator('[data-testid="stTopNavLink"]')).to_have_count(4, timeout=FIRST_PAGE_BUDGET_S * 1000)
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
