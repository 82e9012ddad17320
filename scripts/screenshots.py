"""Screenshots of the admin for the README, taken from the running demo.

Usage:
    .venv/bin/python scripts/screenshots.py              # starts the demo itself
    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:8000   # a running `up`

Starts the demo as ``./scripts/run`` does (``manage.py up``: migrate, demo data,
sandboxes, web server, worker) on a free web port, with its SQLite database and the
embedded Redis in a temporary directory, and waits until every demo run has finished.
Then Debian's chromium, driven by Playwright, logs in as the demo's consultant, finance
user and admin and saves 1280 px wide PNGs into docs/screenshots/. Everything it started
is stopped (its process group), even on error. The sandboxes listen on their fixed
ports 8701-8704, which must be free.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, sync_playwright

# devtools/ is not installed with the project: found beside scripts/ in the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.localservers import ensure_chromium, free_port, up_stack, wait_for_log

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
# 1600 CSS px wide (the admin's wide tables fit) drawn at 0.8: 1280 px wide PNGs.
VIEWPORT = {"width": 1600, "height": 1000}
SCALE = 0.8
SANDBOX_PORTS = (8701, 8702, 8703, 8704)
PASSWORDS = {
    "admin": "clarity-admin",
    "consultant": "clarity-consultant",
    "finance": "clarity-finance",
}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
STOCK_TABLE = "SYSPRO stock code → Xero account code"
CLASS_TABLE = "SYSPRO product class → Xero tax type"


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def demo(tmp: Path) -> Iterator[str]:
    """``manage.py up`` in its own process group; yields the base URL once it answers."""
    busy = [port for port in SANDBOX_PORTS if port_in_use(port)]
    if busy:
        sys.exit(f"Sandbox port(s) {busy} in use (another `up`?): stop it first.")
    port = free_port()
    with up_stack(tmp / "var", port) as (proc, log):
        try:
            wait_for_log("Clarity Connect is running", log, proc, timeout=180)
        except RuntimeError as exc:
            sys.exit(f"`manage.py up` did not start: {exc}")
        yield f"http://127.0.0.1:{port}"


def log_in(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_page(viewport=VIEWPORT, device_scale_factor=SCALE)
    # The admin's navigation sidebar collapsed: more room for the page itself.
    page.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORDS[username])
    follow(page, page.locator("input[type=submit]"))
    page.wait_for_selector("#user-tools")
    return page


def follow(page: Page, target: Locator) -> None:
    """Click something that loads a new page, and wait for it."""
    with page.expect_navigation():
        target.click()


def shot(page: Page, name: str, until: str = "#content") -> None:
    """The page down to the bottom of ``until`` ("": the viewport), 1280 px wide."""
    if not until:
        page.screenshot(path=OUT / f"{name}.png")
        print(f"docs/screenshots/{name}.png")
        return
    bottom = "document.querySelector(s).getBoundingClientRect().bottom + scrollY + 24"
    height = page.evaluate(f"s => Math.min({bottom}, document.documentElement.scrollHeight)", until)
    clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height}
    page.screenshot(path=OUT / f"{name}.png", full_page=True, clip=clip)
    print(f"docs/screenshots/{name}.png")


def scroll_to(page: Page, selector: str, margin: int = 0) -> None:
    """Put the element at the top of the viewport, at once (no smooth scrolling)."""
    page.evaluate(
        """([s, margin]) => scrollTo({behavior: "instant",
            top: document.querySelector(s).getBoundingClientRect().top + scrollY - margin})""",
        [selector, margin],
    )


def wait_for_demo_runs(page: Page, base: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(f"{base}/admin/clarity/syncrun/")
        statuses = page.locator("#result_list td.field-status").all_inner_texts()
        if statuses and not {"Queued", "Running"} & set(statuses):
            return
        time.sleep(3)
    raise TimeoutError("the demo runs did not finish")


def filter_by(page: Page, label: str) -> None:
    """Click a changelist filter link by its exact text."""
    links = page.locator("#changelist-filter a")
    follow(page, links.filter(has_text=re.compile(f"^{re.escape(label)}$")))


def consultant_shots(page: Page, base: str, tmp: Path) -> None:
    page.goto(f"{base}/admin/clarity/flow/")
    filter_by(page, "SYSPRO ↔ Xero")
    shot(page, "syspro-xero-pair")

    page.goto(f"{base}/admin/mappings/mapping/")
    follow(page, page.get_by_role("link", name="SYSPRO sales orders → Xero invoices"))
    shot(page, "mapping-sales-orders", until="#conditionalrules-group")
    follow(page, page.get_by_role("link", name="Try it on a sample record"))
    page.fill("#id_fetch-key", "100002")
    follow(page, page.locator("input[name=fetch]"))
    follow(page, page.get_by_role("button", name="Try it"))
    shot(page, "mapping-try-it")

    page.goto(f"{base}/admin/mappings/lookuptable/")
    follow(page, page.get_by_role("link", name=CLASS_TABLE))
    shot(page, "lookup-table")
    upload = tmp / "lookups.csv"
    with upload.open("w", newline="") as file:
        csv.writer(file).writerows(
            [
                ("table", "key", "value"),
                (STOCK_TABLE, "LEGACY-001", "200"),
                (STOCK_TABLE, "BOLT-001", "260"),
                (CLASS_TABLE, "SERV", "OUTPUT2"),
                (CLASS_TABLE, "ELEC", "RROUTPUT"),
            ]
        )
    page.goto(f"{base}/admin/mappings/lookupentry/import/")
    page.set_input_files("#id_import_file", upload)
    page.select_option("#id_format", label="csv")
    follow(page, page.locator("#content input[type=submit]"))
    shot(page, "lookup-import-preview")  # the dry run; never confirmed

    page.goto(f"{base}/admin/clarity/integrationpair/")
    page.locator("#result_list tr", has_text="SYSPRO ↔ Xero").locator("input.action-select").check()
    page.select_option("select[name=action]", "export_bundle")
    with page.expect_download() as download:
        page.click("button[name=index]")
    bundle = tmp / "syspro-xero.json"
    download.value.save_as(bundle)
    page.goto(f"{base}/admin/clarity/integrationpair/import-bundle/")
    page.set_input_files("#id_file", bundle)
    page.fill("#id_pair_name", "SYSPRO ↔ Xero (copy)")
    page.select_option("#id_connection_a", label="SYSPRO (sandbox) (SYSPRO, Sandbox)")
    page.select_option("#id_connection_b", label="Xero (sandbox) (Xero, Sandbox)")
    follow(page, page.locator("input[name=preview]"))
    shot(page, "bundle-import-preview")  # the preview; never applied


def finance_shots(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/clarity/syncrecord/?status=failed")
    filter_by(page, "SYSPRO ↔ Xero")
    # An invoice whose customer is not in Xero: its payload is there to edit and retry.
    failed = page.locator("#result_list tr", has_text="'0009999'").first
    failed.locator("input.action-select").check()
    page.select_option("select[name=action]", label="Retry selected records")
    scroll_to(page, "body")
    shot(page, "ledger-failed", until="")
    follow(page, failed.locator("th a"))
    shot(page, "ledger-record-failed", until="")
    scroll_to(page, "#edit-payload form", margin=200)
    shot(page, "ledger-record-edit-payload", until="")

    page.goto(f"{base}/admin/clarity/syncrecord/")
    filter_by(page, "Salesforce ↔ KashFlow: Won opportunities → KashFlow invoices")
    filter_by(page, "Succeeded")
    shot(page, "salesforce-kashflow-ledger", until="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="shoot a demo already running there instead")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    chromium = ensure_chromium()
    if chromium is None:
        sys.exit("No chromium (Debian's package): install it, e.g. as root with apt-get.")
    with tempfile.TemporaryDirectory(prefix="clarity-shots-") as tmp_name:
        tmp = Path(tmp_name)
        with (
            contextlib.nullcontext(args.url.rstrip("/")) if args.url else demo(tmp) as base,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            admin = log_in(browser, base, "admin")
            wait_for_demo_runs(admin, base)
            admin.goto(f"{base}/admin/clarity/healthdashboard/")
            shot(admin, "dashboard")
            consultant_shots(log_in(browser, base, "consultant"), base, tmp)
            finance_shots(log_in(browser, base, "finance"), base)
            browser.close()


if __name__ == "__main__":
    main()
