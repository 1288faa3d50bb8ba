#!/usr/bin/env python3
"""Checks oci-audit's HTML reports in a real browser (Debian's chromium and
chromium-driver, driven by Selenium), against the JSON report of the same run.

Usage: check_report.py SCREENSHOT_DIR NAME=REPORT.html,REPORT.json ...

For each page: it loads with no console error and makes no network request; its
findings rows and their rule ids are the JSON's; choosing a rule in the filter leaves
only that rule's rows; the coverage lists the JSON's platforms; a screenshot of it is
written to SCREENSHOT_DIR/NAME.png. Prints one line per page; exits 1 on the first
page that fails, saying why.
"""
import base64
import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


def platform_name(p):
    name = f"{p['os']}/{p['architecture']}"
    if p.get("variant"):
        name += f"/{p['variant']}"
    if p.get("os_version"):
        name += f" ({p['os_version']})"
    return name


def check(driver, name, html, report, shots):
    driver.get("file://" + os.path.abspath(html))
    errors = [l for l in driver.get_log("browser") if l["level"] == "SEVERE"]
    assert not errors, f"{name}: console errors: {errors}"
    requests = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert not requests, f"{name}: the page made requests: {requests}"

    rows = driver.find_elements(By.CSS_SELECTOR, "#findings-table tbody tr.finding")
    expected = sorted(f["rule"] for f in report["findings"])
    assert len(rows) == len(expected), f"{name}: {len(rows)} rows, JSON has {len(expected)} findings"
    assert sorted(r.get_attribute("data-rule") for r in rows) == expected, f"{name}: rule ids differ"
    if expected:
        # The script showed the filters, and filtering by a rule leaves only it.
        controls = driver.find_element(By.ID, "controls")
        assert controls.is_displayed(), f"{name}: the filters are not shown"
        rule = expected[-1]
        Select(driver.find_element(By.ID, "rule-filter")).select_by_value(rule)
        visible = [r for r in rows if r.is_displayed()]
        assert visible and all(r.get_attribute("data-rule") == rule for r in visible), \
            f"{name}: filtering by {rule} left other rules"
        assert len(visible) == expected.count(rule), f"{name}: filtering by {rule}"
        Select(driver.find_element(By.ID, "rule-filter")).select_by_value("")
        # Sorting by severity keeps every row.
        driver.find_element(By.CSS_SELECTOR, "#findings-table th[data-sort=severity]").click()
        assert len([r for r in rows if r.is_displayed()]) == len(expected)
        shown = driver.find_element(By.ID, "shown").text
        assert shown == f"{len(expected)} of {len(expected)} shown", f"{name}: {shown!r}"

    platforms = {platform_name(p) for c in report.get("coverage", []) for p in c["platforms"]}
    listed = {e.get_attribute("data-platform")
              for e in driver.find_elements(By.CSS_SELECTOR, "#platforms tr[data-platform]")}
    assert listed == platforms, f"{name}: coverage lists {listed}, JSON has {platforms}"
    matrix = driver.find_elements(By.CSS_SELECTOR, "#coverage-matrix thead th[data-platform]")
    if report.get("coverage"):
        assert {e.get_attribute("data-platform") for e in matrix} == platforms, f"{name}: matrix"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#coverage-matrix tbody tr")) == len(report["coverage"])

    # The whole page, not the window: Chromium's DevTools protocol captures beyond it.
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True})
    with open(os.path.join(shots, f"{name}.png"), "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print(f"{name}: {len(rows)} findings, {len(platforms)} platforms, no request, no console error")


def main():
    shots = sys.argv[1]
    os.makedirs(shots, exist_ok=True)
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")),
                              options=options)
    try:
        for case in sys.argv[2:]:
            name, files = case.split("=", 1)
            html, report = files.split(",")
            with open(report) as f:
                check(driver, name, html, json.load(f), shots)
    except AssertionError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
