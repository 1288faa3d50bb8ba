#!/usr/bin/env python3
"""How long Chromium takes to load and render oci-audit's HTML pages: the navigation's
load event, best of 3 per page (headless Debian chromium through Selenium).

Usage: html_render.py PAGE.html ...
"""
import sys, os, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
o = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"): o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
for path in sys.argv[1:]:
    best = None
    for _ in range(3):
        d.get("about:blank")
        d.get("file://" + os.path.abspath(path))
        t = d.execute_script("var n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime;")
        best = t if best is None else min(best, t)
    print(f"{path}: {os.path.getsize(path)} bytes, load event after {best:.0f} ms (best of 3)")
d.quit()
