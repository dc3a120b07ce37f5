"""The console in a real browser: headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium) signs in with an access key, and what the page shows is checked against
the gateway's state: providers, their health after one is stopped, the bytes they store."""
import base64
import json
import os
import time
import urllib.request

import pytest
from selenium.webdriver.common.by import By

from conftest import Server, free_port
from s3fleet import stop_all, use_s3_providers

SCREENSHOTS = os.environ.get("NUAGE_E2E_SCREENSHOTS", os.path.join(os.path.dirname(__file__), "..", "..", ".build", "console"))


def api_state(port, server):
    credentials = base64.b64encode(f"{server.access_key}:{server.secret_key}".encode()).decode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/console/api/state", headers={"Authorization": f"Basic {credentials}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def until(condition, seconds=60, what="the page"):
    deadline = time.time() + seconds
    while True:
        result = condition()
        if result:
            return result
        assert time.time() < deadline, f"{what} did not get there in {seconds} s"
        time.sleep(0.5)


def rows(browser):
    """Provider rows as the page shows them: name -> (health, stored bytes), read in one script
    call (the page redraws its tables every 2 seconds)."""
    return {name: (health, stored) for name, health, stored in browser.execute_script(
        "return [...document.querySelectorAll('#providers tr')].map(r => "
        "[r.dataset.provider, r.querySelector('.health').textContent, Number(r.querySelector('.stored').dataset.bytes)])")}


def page(browser, script):
    return browser.execute_script(script)


def test_the_console_shows_the_gateways_state(browser, monkeypatch):
    port = free_port()
    server = Server("--metrics-listen", f"127.0.0.1:{port}")
    servers = {}
    try:
        servers = use_s3_providers(server, monkeypatch)
        s3 = server.client()
        s3.create_bucket(Bucket="shown")
        for i in range(5):
            s3.put_object(Bucket="shown", Key=f"k{i}", Body=os.urandom(20_000 + i))
        os.makedirs(SCREENSHOTS, exist_ok=True)

        # No anonymous access: the page sends the browser to the sign-in form; a wrong secret is refused.
        browser.get(f"http://127.0.0.1:{port}/console")
        assert browser.current_url.endswith("/console/sign-in")
        browser.find_element(By.ID, "id").send_keys(server.access_key)
        browser.find_element(By.ID, "secret").send_keys("not the secret")
        browser.find_element(By.ID, "sign-in").click()
        error = until(lambda: browser.find_elements(By.ID, "error"), seconds=15, what="the refusal")
        assert "do not match" in error[0].text
        browser.find_element(By.ID, "id").clear()
        browser.find_element(By.ID, "id").send_keys(server.access_key)
        browser.find_element(By.ID, "secret").clear()
        browser.find_element(By.ID, "secret").send_keys(server.secret_key)
        browser.find_element(By.ID, "sign-in").click()
        until(lambda: browser.current_url.endswith("/console"), seconds=15, what="the console after signing in")

        # The page matches the API, and the API the gateway: seven providers, all healthy, the bytes the catalog counts.
        state = until(lambda: (s := api_state(port, server)) and s["objects"] == 5 and s, what="the catalog figures")
        expected = {p["name"]: (p["health"], p["storedBytes"]) for p in state["providers"]}
        assert len(expected) == 7 and all(health == "healthy" for health, _ in expected.values()), expected
        assert sum(stored for _, stored in expected.values()) > 5 * 20_000 * 6 / 4
        until(lambda: rows(browser) == expected, what="the providers table")
        assert page(browser, "return document.getElementById('objects').textContent") == "5"
        assert page(browser, "return document.querySelectorAll('#map g.provider').length") == 7
        codes = set(page(browser, "return [...document.querySelectorAll('#jurisdictions tr')].map(r => r.dataset.jurisdiction)"))
        assert codes == {"DE", "FR", "NL", "CH", "JP", "CA", "AU"}, codes
        checks = page(browser, "return [...document.querySelectorAll('#checks td:first-child')].map(c => c.textContent)")
        assert checks and all(c == "pass" for c in checks), checks
        browser.save_screenshot(os.path.join(SCREENSHOTS, "console.png"))

        # A provider stopped: reads find it out, and the page says it is down (refreshing by itself).
        servers["JP"].stop()
        def down():
            for i in range(5):
                s3.get_object(Bucket="shown", Key=f"k{i}")["Body"].read()
            return rows(browser).get("s3-jp", ("",))[0] == "down"
        until(down, what="s3-jp shown down")
        assert page(browser, "return document.querySelector('#map g.provider[data-name=\"s3-jp\"]').dataset.health") == "down"
        assert api_state(port, server)["providers"][[p["name"] for p in state["providers"]].index("s3-jp")]["health"] == "down"
        browser.save_screenshot(os.path.join(SCREENSHOTS, "console-provider-down.png"))

        # Signed out, the API refuses again.
        browser.find_element(By.CSS_SELECTOR, "header button").click()
        until(lambda: browser.current_url.endswith("/console/sign-in"), seconds=15, what="the sign-in page after signing out")
        browser.get(f"http://127.0.0.1:{port}/console/api/state")
        assert "storedBytes" not in browser.page_source
    finally:
        stop_all(servers)
        server.stop()
