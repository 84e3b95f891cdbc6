"""Headless Chromium for the suite: Debian's Chromium driven by chromedriver (Selenium).

``chromium`` is one browser per test session (``tests/conftest.py`` makes the fixture suite-wide);
screenshots go to ``test-artifacts/`` (:data:`ARTIFACTS`, ignored by git, kept by CI).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by chromedriver (Selenium), headless; fails under CI when missing."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,900"):
        options.add_argument(argument)
    # The pages must work without JavaScript: the browser runs with it switched off for pages.
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    profile = tempfile.mkdtemp(prefix="jc-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def screenshot_of_content(driver, url: str, path: Path, *, width: int) -> Path:
    """Open ``url`` at ``width`` CSS pixels and save a PNG of the whole page, exactly as tall as its content.

    The size is set through Chrome's device metrics (DevTools), not the window, with scrollbars hidden
    (so the width never changes with the height), and cleared afterwards: the session's other tests
    keep their window.
    """
    metrics = {"width": width, "height": 100, "deviceScaleFactor": 1, "mobile": False}  # content is taller
    driver.execute_cdp_cmd("Emulation.setScrollbarsHidden", {"hidden": True})
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        driver.get(url)
        height = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics | {"height": int(height + 0.5)})
        path.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(path)), f"no screenshot of {url}"
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Emulation.setScrollbarsHidden", {"hidden": False})
    return path
