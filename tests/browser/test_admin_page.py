"""The admin page ("My Integrations", issue 10) in a real headless Chromium, against the real local platform.

The page is served by the management function through the local API (`LocalStack` + `LocalApi`), signs in
with the Cognito emulation, and drives the real API: an admin configures a ServiceTrade → import file
connector on the ServiceTrade sandbox, starts it, runs a poll and an export, finds the run in the logs,
downloads the file, follows a document's timeline, pauses and deletes it; a viewer then sees no button
that changes anything, and the API refuses the viewer's POST with 403.

Selenium drives Debian's `chromium` + `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver) through
an explicit `Service`, so Selenium Manager never downloads a browser. Without them (or without selenium)
the test is skipped — unless `CI` is set: there it fails. Screenshots of every step: out/browser/.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
OUT = Path(__file__).resolve().parents[2] / "out" / "browser"
WINDOW = (1366, 900)  # a laptop screen
WAIT_SECONDS = 60
RUN_WAIT_SECONDS = 150  # a run now: requested, run, seen in the runs list

try:
    from selenium import webdriver
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    SELENIUM = True
except ImportError:  # pragma: no cover - the skip (or, under CI, the failure) below says so
    SELENIUM = False


def require_browser() -> None:
    """Skip without Chromium, chromedriver or selenium — but fail under CI, where they must be there."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not SELENIUM:
        missing.append("the selenium package")
    if not missing:
        return
    reason = (
        f"the browser test needs {', '.join(missing)} "
        "(apt-get install chromium chromium-driver; pip install -r requirements-dev.txt)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip", pytrace=False)
    pytest.skip(reason)


def chromium() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # containers run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--lang=en-US",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    return driver


# -- a thin page driver -----------------------------------------------------------------------------------


class AdminPage:
    """The admin page at `<base>/admin` in one browser; `shot(name)` saves out/browser/NN-name.png."""

    def __init__(self, driver: WebDriver, base_url: str, out: Path = OUT):
        self.driver = driver
        self.base_url = base_url.rstrip("/")
        self.out = out
        self.out.mkdir(parents=True, exist_ok=True)
        self.step = 0

    # navigation and evidence
    def open(self, route: str = "") -> None:
        self.driver.get(f"{self.base_url}/admin{route}")

    def go(self, route: str) -> None:
        self.driver.execute_script("window.location.hash = arguments[0];", route)

    def shot(self, name: str) -> Path:
        self.step += 1
        path = self.out / f"{self.step:02d}-{name}.png"
        # the whole page, not just the laptop-sized viewport: grow the window to it, then back
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(WINDOW[0], max(WINDOW[1], min(int(height), 4000)))
        try:
            self.driver.save_screenshot(str(path))
        finally:
            self.driver.set_window_size(*WINDOW)
        return path

    def dump(self, name: str) -> None:
        """Screenshot, HTML and console of the page as it is (on a failure)."""
        self.driver.save_screenshot(str(self.out / f"{name}.png"))
        (self.out / f"{name}.html").write_text(self.driver.page_source, encoding="utf-8")
        (self.out / f"{name}-console.json").write_text(json.dumps(self.console(), indent=1), encoding="utf-8")

    def console(self) -> list[dict[str, Any]]:
        try:
            return list(self.driver.get_log("browser"))
        except WebDriverException:
            return []

    # waiting and finding
    def wait(
        self, condition: Callable[[WebDriver], Any], timeout: float = WAIT_SECONDS, what: str = ""
    ) -> Any:
        try:
            return WebDriverWait(
                self.driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
            ).until(condition)
        except TimeoutException:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what or condition}; status area: "
                f"{self.status()!r}; view: {self.view()!r}"
            ) from None

    def el(self, css: str, timeout: float = WAIT_SECONDS) -> WebElement:
        return self.wait(ec.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        element = self.wait(ec.element_to_be_clickable((By.CSS_SELECTOR, css)), what=f"{css} clickable")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()

    def fill(self, css: str, text: str) -> None:
        field = self.el(css)
        field.clear()
        field.send_keys(text)

    def status(self) -> str:
        found = self.driver.find_elements(By.ID, "status")
        return found[0].text if found else ""

    def view(self) -> str:
        return self.driver.execute_script("return document.getElementById('main')?.dataset.view || ''")

    def wait_view(self, name: str) -> None:
        self.wait(
            lambda d: self.view() == name and not self.all("main[aria-busy=true]"), what=f"the {name} view"
        )

    def wait_status(self, pattern: str, timeout: float = WAIT_SECONDS) -> re.Match[str]:
        return self.wait(lambda d: re.search(pattern, self.status()), timeout, f"status matching {pattern!r}")

    def fetch(self, method: str, path: str, body: Any = None, token: bool = True) -> dict[str, Any]:
        """fetch() from the page itself (same origin), with the signed-in user's ID token."""
        return self.driver.execute_async_script(
            """
            const [method, path, body, withToken, done] = arguments;
            const tokens = JSON.parse(sessionStorage.getItem("invoice-relay.tokens") || "{}");
            const headers = {"Content-Type": "application/json"};
            if (withToken) headers.Authorization = tokens.idToken;
            fetch(document.documentElement.dataset.apiBase + path,
                  {method, headers, body: body === null ? undefined : JSON.stringify(body)})
              .then(async (r) => done({status: r.status, body: await r.text()}))
              .catch((e) => done({status: 0, body: String(e)}));
            """,
            method,
            path,
            body,
            token,
        )


# -- the walk -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Walk:
    """What the walk needs from the platform it runs against."""

    base_url: str  # the page is at <base_url>/admin
    users: dict[str, tuple[str, str]]  # role → (username, password)
    servicetrade_url: str
    servicetrade_credentials: dict[str, str]  # client_id, client_secret
    connector_id: str  # the connector the admin creates (and deletes)
    viewer_connector_id: str  # one that stays, for the viewer to look at


def sign_in(page: AdminPage, username: str, password: str) -> None:
    page.el("#signin-form")
    page.fill("#signin-username", username)
    page.fill("#signin-password", password)
    page.click("#signin-submit")
    page.wait(lambda d: page.el("#user-name").text == username, what=f"signed in as {username}")


def sign_out(page: AdminPage) -> None:
    page.click("#signout")
    page.el("#signin-form")
    assert page.driver.execute_script("return sessionStorage.getItem('invoice-relay.tokens')") is None


def admin_walk(page: AdminPage, walk: Walk) -> None:
    admin, password = walk.users["admin"]
    cid = walk.connector_id

    # 1. sign in: Cognito's own message on a wrong password, then the admin
    page.open()
    page.el("#signin-form")
    page.shot("sign-in")
    page.fill("#signin-username", admin)
    page.fill("#signin-password", password + "-wrong")
    page.click("#signin-submit")
    error = page.wait(lambda d: page.el("#signin-error").text, what="the sign-in error")
    assert re.search(r"incorrect username or password", error, re.IGNORECASE), error
    page.shot("sign-in-refused")
    sign_in(page, admin, password)
    page.wait_view("integrations")
    assert page.el("#user-role").text == "admin"
    page.shot("my-integrations")

    # the ID token is renewed with the refresh token when it is about to expire
    expired = page.driver.execute_script(
        "const t = JSON.parse(sessionStorage.getItem('invoice-relay.tokens'));"
        "t.expiresAt = Date.now() - 1000;"
        "sessionStorage.setItem('invoice-relay.tokens', JSON.stringify(t)); return t;"
    )
    page.driver.refresh()
    page.wait_view("integrations")
    renewed = page.driver.execute_script("return JSON.parse(sessionStorage.getItem('invoice-relay.tokens'))")
    assert renewed["expiresAt"] > expired["expiresAt"] + 60_000, "REFRESH_TOKEN_AUTH gave a fresh ID token"
    assert renewed["refreshToken"] == expired["refreshToken"] and renewed["idToken"]

    # 2. the store
    page.click("#nav-store")
    page.wait_view("store")
    card = page.el("[data-testid=kind-servicetrade]")
    assert "ServiceTrade" in card.text and "field service" in card.text
    page.shot("store")
    page.click("[data-testid=kind-servicetrade] [data-testid=configure-servicetrade-flatfile]")

    # 3. configure: generated from the kinds' schemas; the API's 400 shown next to each field
    page.wait_view("configure")
    page.fill("#f-name", "Browser ServiceTrade to files")
    assert page.el("#f-connector_id").get_attribute("value") == "browser-servicetrade-to-files"  # suggested
    page.fill("#f-connector_id", cid)
    assert page.el("#f-schedules-poll").get_attribute("value") == "rate(15 minutes)"
    assert page.el("#f-schedules-export").get_attribute("value") == "cron(0 18 * * ? *)"
    assert page.el("#f-credentials-source-credentials_secret-client_id").get_attribute("type") == "password"
    page.fill("#f-source-base_url", "ftp://not-a-web-address")
    page.fill("#f-schedules-poll", "every now and then")
    page.shot("configure")
    page.click("#configure-submit")
    page.el("#form-errors")
    assert page.el("[data-error-for='source.base_url']").text, "the base URL's error is shown next to it"
    assert page.el("#f-source-base_url").get_attribute("aria-invalid") == "true"
    page.shot("configure-errors")
    page.fill("#f-source-base_url", walk.servicetrade_url)
    page.click("#configure-submit")  # the API may name one problem at a time: now the schedule's
    assert page.el("[data-error-for='schedules.poll']").text, "the schedule's error is shown next to it"
    assert page.el("#f-schedules-poll").get_attribute("aria-invalid") == "true"
    assert not page.all("[data-error-for='source.base_url']:not([hidden])")
    page.fill("#f-schedules-poll", "rate(15 minutes)")
    page.fill("#f-source-page_size", "20")
    page.fill(
        "#f-credentials-source-credentials_secret-client_id", walk.servicetrade_credentials["client_id"]
    )
    page.fill(
        "#f-credentials-source-credentials_secret-client_secret",
        walk.servicetrade_credentials["client_secret"],
    )
    page.click("#configure-submit")

    # 4. the connector's details: created paused, credentials only "stored"
    page.wait_view("details")
    assert page.el("#connector-id").text == cid
    assert page.el("[data-testid=connector-status]").text == "Paused"
    assert page.el("[data-testid=credential-source-credentials_secret]").text == "stored"
    assert walk.servicetrade_credentials["client_secret"] not in page.driver.page_source
    page.shot("details-created")

    # a paused connector does not run: the API's 409 in the status area
    Select(page.el("#run-kind")).select_by_value("poll")
    page.click("#run-now")
    page.wait_status(r"^Not possible now: .+")
    page.shot("run-now-refused-while-paused")

    # 5. Start
    page.click("#start")
    page.wait_status(r"started")
    page.wait(lambda d: page.el("[data-testid=connector-status]").text == "Active", what="Active")
    assert {row.get_attribute("data-run") for row in page.all("#schedules-table tbody tr")} == {
        "poll",
        "export",
    }
    page.shot("started")

    # 6. Run now: a poll; the 202, then the run in the logs
    Select(page.el("#run-kind")).select_by_value("poll")
    page.click("#run-now")
    page.wait_status(r"Run now accepted \(202\)|\(poll\)")
    match = page.wait_status(r"Run (\S+) \(poll\) (succeeded|partial)", RUN_WAIT_SECONDS)
    poll_run = match.group(1)
    page.el(f"#runs-table tr[data-run-id='{poll_run}']")
    # the Health box follows the finished run (last run, last success) without a reload
    page.wait(
        lambda d: "poll" in page.el("#health").text and "never" not in page.el("#health").text, what="health"
    )
    page.shot("poll-run-in-logs")

    # 7. its events name the invoices it staged (a scheduled poll — rate schedules fire when they start —
    # may have staged them first: then that run's events do); an invoice leads to its document
    poll_runs = [poll_run] + [
        row.get_attribute("data-run-id")
        for row in page.all("#runs-table tr[data-run-id][data-kind='poll']")
        if row.get_attribute("data-run-id") != poll_run
    ]
    named = None
    for run_id in poll_runs:
        page.click(f"[data-testid='run-{run_id}']")
        page.wait(lambda d, r=run_id: r in page.el("#run-events-title").text, what=f"the events of {run_id}")
        named = page.all("#run-events-table a.timeline-link, #run-events-table .find-invoice")
        if named:
            break
    assert named, f"no event of the poll runs {poll_runs} names a document"
    page.shot("poll-run-events")
    if "timeline-link" in named[0].get_attribute("class"):
        timeline_href = named[0].get_attribute("href")
    else:  # an invoice number: "Where is invoice…" finds its document in this connector
        page.click(f"[data-testid='{named[0].get_attribute('data-testid')}']")
        found = page.el(f"#doc-search-table tr[data-connector='{cid}'] a.timeline-link")
        timeline_href = found.get_attribute("href")
        page.shot("where-is-invoice")

    # 8. Run now: an export; its file in Files, downloadable
    Select(page.el("#run-kind")).select_by_value("export")
    page.click("#run-now")
    match = page.wait_status(r"Run (\S+) \(export\) succeeded", RUN_WAIT_SECONDS)
    page.click("#tab-files")
    link = page.el("#files-table a.download-link")
    download_url = link.get_attribute("href")
    assert download_url
    page.shot("files")
    downloaded = requests.get(download_url, timeout=30)
    assert downloaded.status_code == 200 and downloaded.content, downloaded.status_code

    # 9. a document's timeline, and "where is invoice…"
    page.driver.get(timeline_href)
    page.wait_view("timeline")
    summary = page.el("#document-summary")
    number = summary.find_element(By.XPATH, ".//dt[.='Number']/following-sibling::dd[1]").text
    assert page.all("#timeline tbody tr:not(.empty)"), "the timeline lists what happened"
    page.shot("timeline")
    page.go(f"#/connectors/{cid}/logs")
    page.wait_view("details")
    page.fill("#doc-search-number", number)
    page.click("#doc-search-submit")
    page.el(f"#doc-search-table tr[data-connector='{cid}'] a.timeline-link")
    page.shot("where-is-invoice-typed")

    # 10. dead letters (Replay when there are any) and Pause
    page.click("#tab-dead-letters")
    page.el("#dead-letters-table")
    if page.all("[data-testid^='replay-']"):
        page.shot("dead-letters")
        page.click("#replay-all")
        page.wait_status(r"replayed")
        page.wait(lambda d: not page.all("[data-testid^='replay-']"), what="the dead letters replayed")
    page.click("#pause")
    page.wait_status(r"paused")
    page.wait(lambda d: page.el("[data-testid=connector-status]").text == "Paused", what="Paused")
    page.el("#start")
    page.shot("paused")

    # 11. Delete, from My Integrations, after confirming
    page.click("#nav-integrations")
    page.wait_view("integrations")
    page.click(f"[data-testid='delete-{cid}']")
    page.el("#confirm-dialog[open]")
    page.shot("delete-confirm")
    page.click("#confirm-yes")
    page.wait_status(r"deleted")
    page.wait(lambda d: not page.all(f"tr[data-connector='{cid}']"), what="the row gone")
    page.shot("deleted")
    sign_out(page)


CHANGING = (
    "#start, #pause, #delete, #run-now, #replay-all, #configure-form, #configure-submit, #add-integration, "
    "[data-testid^='start-'], [data-testid^='pause-'], [data-testid^='delete-'], [data-testid^='run-now'], "
    "[data-testid^='replay-'], [data-testid^='configure-']"
)


def no_changing_buttons(page: AdminPage) -> None:
    found = page.all(CHANGING)
    assert not found, [e.get_attribute("outerHTML")[:120] for e in found]
    labels = {b.text.strip() for b in page.all("main button")}
    assert not labels & {"Start", "Pause", "Delete", "Run now", "Replay", "Replay all", "Create connector"}, (
        labels
    )


def focused(page: AdminPage) -> dict[str, str]:
    """The focused element's id and whether its focus is visible (an outline or a box shadow)."""
    return page.driver.execute_script(
        "const e = document.activeElement, s = getComputedStyle(e);"
        "return {id: e.id, visible: String(s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0"
        " || s.boxShadow !== 'none')};"
    )


def viewer_walk(page: AdminPage, walk: Walk) -> None:
    viewer, password = walk.users["viewer"]
    # by keyboard alone: the username field has the focus, Tab to the password, Enter signs in
    page.wait(lambda d: focused(page)["id"] == "signin-username", what="the focus on the username")
    page.driver.switch_to.active_element.send_keys(viewer, Keys.TAB)
    assert focused(page)["id"] == "signin-password"
    page.driver.switch_to.active_element.send_keys(password, Keys.ENTER)
    page.wait(lambda d: page.el("#user-name").text == viewer, what=f"signed in as {viewer}")
    page.wait_view("integrations")
    assert page.el("#user-role").text.startswith("viewer")
    page.el(f"tr[data-connector='{walk.viewer_connector_id}']")
    no_changing_buttons(page)
    page.shot("viewer-integrations")

    page.go(f"#/connectors/{walk.viewer_connector_id}")
    page.wait_view("details")
    page.el("#runs-table")
    no_changing_buttons(page)
    page.driver.execute_script("document.getElementById('tab-logs').focus()")
    page.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)  # the tabs: arrow keys move along
    page.el("#files-table")
    assert focused(page) == {"id": "tab-files", "visible": "true"}, focused(page)
    page.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    page.el("#dead-letters-table")
    assert page.el("#tab-dead-letters").get_attribute("aria-selected") == "true"
    no_changing_buttons(page)
    page.shot("viewer-details")

    page.click("#nav-store")
    page.wait_view("store")
    no_changing_buttons(page)
    page.go("#/configure/servicetrade/flatfile")
    page.wait_view("configure")
    page.el("#configure-forbidden")
    no_changing_buttons(page)
    page.shot("viewer-store-configure")

    # the API itself refuses: a viewer's POST from the page is a 403 (no token: a 401)
    refused = page.fetch("POST", f"/connectors/{walk.viewer_connector_id}/start", {})
    assert refused["status"] == 403, refused
    assert json.loads(refused["body"])["message"]
    anonymous = page.fetch("POST", f"/connectors/{walk.viewer_connector_id}/start", {}, token=False)
    assert anonymous["status"] == 401, anonymous
    sign_out(page)


def run_walk(page: AdminPage, walk: Walk) -> None:
    try:
        admin_walk(page, walk)
        viewer_walk(page, walk)
    except BaseException:
        page.dump("failure")
        raise
    finally:
        (page.out / "console.json").write_text(json.dumps(page.console(), indent=1), encoding="utf-8")
    errors = [e for e in page.console() if "Uncaught" in e.get("message", "")]
    assert not errors, errors


# -- against the real local platform -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    require_browser()
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def platform() -> Iterator[tuple[Any, Any]]:
    require_browser()  # no platform to start when the test cannot run
    from invoice_relay.pipeline import queue
    from local.runtime.api_gateway import LocalApi
    from local.scenarios import fixtures
    from local.scenarios.stack import LocalStack

    with LocalStack(seed_demo=False) as stack:
        queue.sqs_client.cache_clear()  # a client cached for an earlier stack points elsewhere
        stack.servicetrade.seed_demo_data(count=6, broken=False, credits=0)
        stack.add_servicetrade_connector(fixtures.SERVICETRADE_CONNECTOR_ID)  # stays: the viewer looks at it
        local_api = LocalApi(stack, log_requests=False).start(port=0)
        try:
            # as `make api`: the Lambda Invoke API ("Run now" invokes the functions asynchronously through
            # it), the scheduler and the delivery queue, running by themselves
            stack.start_background(log=False)
            yield stack, local_api
        finally:
            stack.stop_background()
            local_api.stop()


def test_an_admin_manages_a_connector_and_a_viewer_only_looks(browser: WebDriver, platform: Any) -> None:
    from local.scenarios import fixtures

    stack, local_api = platform
    walk = Walk(
        base_url=local_api.url,
        users=dict(stack.demo_users),
        servicetrade_url=stack.servicetrade.base_url,
        servicetrade_credentials=stack.servicetrade.client_credentials(),
        connector_id="browser-st",
        viewer_connector_id=fixtures.SERVICETRADE_CONNECTOR_ID,
    )
    run_walk(AdminPage(browser, walk.base_url), walk)
