"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server.

The browser is the OS package (scripts/test installs it and exports CLARITY_CHROMIUM);
no test tool ever downloads one. Every test runs at a laptop and at a phone width and
saves screenshots of its key steps under artifacts/browser/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
PASSWORD = "pw-for-tests"  # tests.factories.UserFactory's
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {
    "laptop": {"width": 1366, "height": 768},
    "phone": {"width": 390, "height": 844},
    "desktop": {"width": 1920, "height": 1080},  # asked for by name: most tests skip it
}
HERE = Path(__file__).resolve().parent
_DESELECTED = pytest.StashKey[int]()


def chromium_path() -> str | None:
    path = os.environ.get("CLARITY_CHROMIUM") or shutil.which("chromium")
    return path if path and os.access(path, os.X_OK) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without chromium (not root, so scripts/test could not install it), leave these out,
    saying so. In CI they stay in and fail: there they must run."""
    if chromium_path() or os.environ.get("CI"):
        return
    ours = [item for item in items if HERE in Path(str(item.path)).parents]
    if not ours:
        return
    config.hook.pytest_deselected(items=ours)
    items[:] = [item for item in items if item not in ours]
    config.stash[_DESELECTED] = len(ours)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    count = config.stash.get(_DESELECTED, 0)
    if count:
        terminalreporter.write_line(
            f"tests/browser: {count} browser test(s) deselected: no chromium at "
            "$CLARITY_CHROMIUM or on PATH, and it could not be installed (scripts/test "
            "installs Debian's chromium when run as root).",
            yellow=True,
        )


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        pytest.fail("No chromium: run the tests with scripts/test, which installs it.")
    # Playwright's sync API keeps an asyncio loop in this thread, which Django's ORM takes
    # for an async context; the tests' own ORM calls (and the database set-up) are plain
    # synchronous code. Only for this package: later tests run without it.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=["laptop", "phone"])
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param


class Person:
    """One user in their own browser context (their own cookies), at one width."""

    def __init__(self, context: BrowserContext, base_url: str, name: str, shots: Shots) -> None:
        self.context = context
        self.page: Page = context.new_page()
        self.base_url = base_url
        self.name = name
        self.shots = shots

    def goto(self, path: str) -> int:
        response = self.page.goto(self.base_url + path)
        assert response is not None
        return response.status

    def log_in(self, username: str) -> None:
        self.goto("/admin/login/")
        for label, value in (("Username", username), ("Password", PASSWORD)):
            usable(self.page, self.page.get_by_label(label))
            self.page.get_by_label(label).fill(value)
        self.press(self.page.get_by_role("button", name="Log in"))
        expect(self.page.locator("#user-tools")).to_contain_text(username, ignore_case=True)

    def press(self, target: Locator) -> None:
        """Click as a person: the control must be on screen, within the width, usable."""
        usable(self.page, target)
        target.click()

    def shot(self, step: str) -> Path:
        return self.shots.take(self.page, f"{self.name}-{step}")


class Shots:
    """artifacts/browser/<test>-<width>-<nn>-<person>-<step>.png, whole pages."""

    def __init__(self, test_name: str, viewport: str) -> None:
        self.prefix = re.sub(r"[^\w-]+", "_", test_name.split("[")[0].removeprefix("test_"))
        self.viewport = viewport
        self.count = 0
        for old in ARTIFACTS.glob(f"{self.prefix}-{viewport}-*.png"):
            old.unlink()  # an earlier run's, perhaps with other steps

    def take(self, page: Page, step: str) -> Path:
        self.count += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.prefix}-{self.viewport}-{self.count:02d}-{step}.png"
        page.screenshot(path=path, full_page=True)
        return path


def usable(page: Page, target: Locator, *, fits: bool = True) -> None:
    """Visible, scrolled to, enabled and, unless ``fits=False`` (a known gap, tested on its
    own), wholly within the viewport's width: no panning needed to see or tap it."""
    expect(target).to_be_visible()
    expect(target).to_be_enabled()
    target.scroll_into_view_if_needed()
    if not fits:
        return
    box = target.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None
    assert box["x"] >= -1 and box["x"] + box["width"] <= width + 1, (
        f"{target} spans x={box['x']:.0f}..{box['x'] + box['width']:.0f}, "
        f"outside the {width}px-wide screen"
    )


def no_sideways_scroll(page: Page) -> None:
    """The page itself fits the width; wide tables scroll inside their own box."""
    # Against the screen's width, not innerWidth: a phone zooms out to show a wider page.
    width = page.evaluate("document.documentElement.scrollWidth")
    screen = page.viewport_size["width"]
    if width > screen + 1:
        culprits = page.evaluate(_WIDE_ELEMENTS, screen)
        raise AssertionError(
            f"{page.url} is {width}px wide on a {screen}px screen; too wide: {culprits}"
        )


# The innermost elements that reach past the screen's right edge, as "tag.class (px)".
_WIDE_ELEMENTS = """screen => {
  const wide = [...document.body.querySelectorAll('*')].filter(
    e => e.getBoundingClientRect().right > screen + 1);
  return wide.filter(e => !wide.some(c => c !== e && e.contains(c))).slice(0, 5).map(
    e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`
      + ` (${Math.round(e.getBoundingClientRect().width)}px)`);
}"""


@pytest.fixture
def people(browser, live_server, viewport, request) -> Iterator[Callable[[str], Person]]:
    shots = Shots(request.node.name, viewport)
    contexts: list[BrowserContext] = []

    def person(name: str) -> Person:
        context = browser.new_context(
            viewport=VIEWPORTS[viewport],
            is_mobile=viewport == "phone",
            has_touch=viewport == "phone",
            device_scale_factor=1,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return Person(context, live_server.url, name, shots)

    yield person
    report = getattr(request.node, "rep_call", None)
    for context in contexts:
        if report is not None and report.failed:
            for page in context.pages:  # what the person saw when the test failed
                shots.take(page, "FAILED")
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
