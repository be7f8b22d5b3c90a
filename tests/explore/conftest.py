"""Fixtures of the explorer tests: the tiny model and dataset, the page built from them, a browser.

The browser tests skip, with the reason, only when Chromium, its driver or Selenium is missing
(CI installs them: .ci/run).
"""
from pathlib import Path

import pytest

from _explorer_browser import chromium_missing, make_tiny_dataset, make_tiny_model, start_chromium, stop_chromium
from npvae.explore import write_explorer


@pytest.fixture(scope="session")
def tiny_dataset():
    return make_tiny_dataset()


@pytest.fixture(scope="session")
def tiny_model(tiny_dataset):
    return make_tiny_model(tiny_dataset)


@pytest.fixture(scope="session")
def page(tiny_model, tiny_dataset, tmp_path_factory):
    """explorer.html of the tiny model and dataset, with 120 embedded spectra."""
    path = tmp_path_factory.mktemp("explore") / "explorer.html"
    return write_explorer(path, tiny_model, tiny_dataset, max_spectra=120, seed=2)


@pytest.fixture(scope="session")
def browser():
    reason = chromium_missing()
    if reason:
        pytest.skip(f"no headless Chromium: {reason}")
    driver = start_chromium()
    yield driver
    stop_chromium(driver)


@pytest.fixture
def opened(browser, page):
    """The browser with the tiny page freshly loaded from a file:// URL."""
    browser.get(Path(page).resolve().as_uri())
    browser.get_log("browser")          # start each test with an empty console log
    return browser
