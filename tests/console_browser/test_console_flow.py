"""The console in a real browser (Chromium through Playwright) against the real gateway.

One gateway on the embedded store with open registration, a fake OpenAI-compatible upstream
behind two channels (``cheap-model``, priced; ``flaky-model``, whose breaker opens after two
failures), and an admin made with ``turnout accounts create-admin``. The tests run in order
and share the user they create: register -> sign in -> the admin adds credits and the user
sees them -> create a key -> call the API with it -> the request shows in usage -> revoke
-> the key gets 401 on the next request. Then: the models page's Python snippet runs as
written; the status page shows the failing channel in cooldown; user input is escaped;
CSRF refusals; and every page is captured at desktop and phone widths without horizontal
scrolling.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.console_browser.browser import DESKTOP, PHONE, horizontal_overflow, launch
from tests.e2e_keys.turnout_cli import turnout_command
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess, gateway_env, start_gateway
from tests.support.policy_files import write_policy
from tests.support.replies import Status

POLICY = """
[channels.fake]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "cheap-model" = "up-cheap" }}

[channels.flaky]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "flaky-model" = "up-flaky" }}

[models.cheap-model]
price = {{ input = 100.0, output = 200.0 }}
context_window = 8000
capabilities = ["stream"]

[models.flaky-model]
context_window = 8000

[groups.default]
models = ["*"]

[retry]
attempts = 1

[breaker]
failures = 2
cooldown = 600

[router]
default_max_tokens = 64
"""
ADMIN_EMAIL, ADMIN_PASSWORD = "root@example.com", "admin-password-1"
USER_EMAIL, USER_PASSWORD = "dev@example.com", "user-password-1"
XSS_NAME = "<script>window.__xss = 1</script>"
USAGE_WAIT_S = 60.0  # at most, for the request's usage row (written within about 0.5 s; more on a loaded machine)
# Test artifacts (gitignored): every page at desktop and phone width, replaced on each run.
SCREENSHOTS = Path(os.environ.get("TURNOUT_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")) / "console"


@dataclass
class World:
    gateway: GatewayProcess
    fake: FakeUpstream
    browser: Browser
    shots: Path
    user: BrowserContext | None = None
    keys: dict[str, str] = field(default_factory=dict)  # label -> secret

    def url(self, path: str) -> str:
        return self.gateway.base_url + path

    def page(self) -> Page:
        assert self.user is not None, "the sign-in test runs first"
        return self.user.pages[0] if self.user.pages else self.user.new_page()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("console")
    shots = SCREENSHOTS
    with FakeUpstream() as fake:
        write_policy(root / "policies", POLICY.format(base=fake.base_url))
        env = {
            "FAKE_KEY": "sk-fake",
            "TURNOUT_REGISTRATION": "open",
            "TURNOUT_POLICY_DIR": str(root / "policies"),
            "TURNOUT_DATA_DIR": str(root / "data"),
        }
        made = subprocess.run(
            [*turnout_command(), "accounts", "create-admin", ADMIN_EMAIL, "--password-stdin"],
            input=ADMIN_PASSWORD + "\n",
            env=gateway_env(env, root / "data"),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        with start_gateway(root / "policies", env, workdir=root / "gateway") as gateway:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    yield World(gateway, fake, browser, shots)
                finally:
                    browser.close()
    print(f"console screenshots: {shots}")


def _sign_in(world: World, context: BrowserContext, email: str, password: str) -> Page:
    page = context.new_page()
    page.goto(world.url("/console/login"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form[action='/auth/login'] button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    return page


def _chat(world: World, secret: str, model: str = "cheap-model") -> httpx.Response:
    return httpx.post(
        world.url("/v1/chat/completions"),
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": model, "messages": [{"role": "user", "content": "ping from the test"}]},
        timeout=30,
    )


def test_register_credit_key_call_usage_revoke(world: World) -> None:
    world.user = world.browser.new_context(viewport=DESKTOP)
    page = world.user.new_page()
    page.goto(world.url("/"))
    expect(page).to_have_url(world.url("/console/login"))
    assert httpx.head(world.url("/")).status_code == 200  # clients' reachability probe stays a 200
    page.click("text=Create one")
    page.fill("input[name=email]", USER_EMAIL)
    page.fill("input[name=password]", USER_PASSWORD)
    page.fill("input[name=password2]", USER_PASSWORD)
    page.click("form[action='/auth/register'] button[type=submit]")
    expect(page.locator(".flash")).to_have_text("Account created: sign in.")
    before = {c["name"]: c["value"] for c in world.user.cookies()}
    page.fill("input[name=email]", USER_EMAIL)
    page.fill("input[name=password]", USER_PASSWORD)
    page.click("form[action='/auth/login'] button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    cookies = {c["name"]: c for c in world.user.cookies()}
    session = cookies["turnout_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert cookies["turnout_csrf"]["value"] != before["turnout_csrf"]  # rotated at sign-in

    # an admin adds credits; the user sees them
    admin = world.browser.new_context(viewport=DESKTOP)
    admin_page = _sign_in(world, admin, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_page.goto(world.url("/console/admin/accounts"))
    row = admin_page.locator(f"tr[data-email='{USER_EMAIL}']")
    row.locator("input[name=amount]").fill("5")
    row.locator("input[name=note]").fill("welcome credit")
    row.locator("button", has_text="Add").click()
    expect(admin_page.locator(f"tr[data-email='{USER_EMAIL}'] td.num")).to_have_text("$5.00")
    admin.close()
    page.goto(world.url("/console/credits"))
    expect(page.locator("#balance")).to_have_text("$5.00")
    expect(page.locator("#ledger")).to_contain_text("welcome credit")

    # create a key: the secret is shown once, with a copy button
    page.goto(world.url("/console/keys"))
    page.fill("input[name=name]", "my first key")
    page.click("form[action='/console/keys'] button[type=submit]")
    secret = page.locator("#secret-value").inner_text().strip()
    assert secret.startswith("sk-trn-")
    expect(page.locator("#new-secret button.copy")).to_be_visible()
    page.goto(world.url("/console/keys"))
    assert secret not in page.content()  # shown once only
    world.keys["my first key"] = secret

    # The gateway ran open (no key anywhere) until now; the first key ends open mode within a
    # second (engine.keyed_gate). Wait for that, or the call below would pass as anonymous.
    deadline = time.monotonic() + USAGE_WAIT_S
    while httpx.get(world.url("/v1/models")).status_code != 401 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(world.url("/v1/models")).status_code == 401, "open mode did not end"

    # call the API with it; the request shows in usage
    answered = _chat(world, secret)
    assert answered.status_code == 200, answered.text
    assert "ping from the test" in answered.json()["choices"][0]["message"]["content"]
    page.goto(world.url("/console/usage"))
    deadline = time.monotonic() + USAGE_WAIT_S  # the usage log is written in batches (every 0.5 s)
    while not page.locator("#usage-table").count() and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        page.reload()
    assert page.locator("#usage-table").count(), (
        f"no usage row within {USAGE_WAIT_S:g} s:\n{world.gateway.logs()[-4000:]}"
    )
    table_row = page.locator("#usage-table tbody tr").first
    expect(table_row).to_contain_text("cheap-model")
    expect(table_row).to_contain_text("my first key")
    assert table_row.locator("td.num").first.inner_text() == "1"
    csv = page.request.get(world.url("/console/usage.csv?days=30"))
    assert csv.ok and "cheap-model" in csv.text() and csv.text().startswith("day,model,key_id,requests")

    # the console cookie is never an API key on the data plane
    cookie_only = httpx.post(
        world.url("/v1/chat/completions"),
        headers={"Cookie": f"turnout_session={session['value']}"},
        json={"model": "cheap-model", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert cookie_only.status_code == 401
    assert _chat(world, session["value"]).status_code == 401

    # revoke: the next request with the key is refused
    page.goto(world.url("/console/keys"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="my first key").locator("button", has_text="Revoke").click()
    expect(page.locator("tr", has_text="my first key")).to_have_count(0)
    refused = _chat(world, secret)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    page.goto(world.url("/console/usage"))
    expect(page.locator("#usage-table")).to_contain_text("my first key (revoked)")  # its history keeps its name


def test_models_page_python_snippet_runs_as_written(world: World, tmp_path: Path) -> None:
    page = world.page()
    page.goto(world.url("/console/keys"))
    page.fill("input[name=name]", "snippets")
    page.click("form[action='/console/keys'] button[type=submit]")
    secret = page.locator("#secret-value").inner_text().strip()
    page.goto(world.url("/console/models?model=cheap-model"))
    expect(page.locator("#catalogue")).to_contain_text("$100 in / $200 out per 1M tokens")
    code = page.locator("#snippet-openai-python").inner_text()
    assert world.gateway.base_url + "/v1" in code
    script = tmp_path / "snippet.py"
    script.write_text(code)
    ran = subprocess.run(
        [sys.executable, str(script)],
        env=gateway_env({"TURNOUT_API_KEY": secret}, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert "Say hello in five words." in ran.stdout  # the fake upstream echoes the prompt
    world.keys["snippets"] = secret


def test_status_page_shows_a_failing_channel_in_cooldown(world: World) -> None:
    page = world.browser.new_page(viewport=DESKTOP)  # public: no session
    page.goto(world.url("/console/status"))
    flaky = page.locator("tr[data-channel='flaky'][data-model='flaky-model']")
    expect(flaky).to_have_attribute("data-state", "closed")
    world.fake.script("up-flaky", Status(500), Status(500))
    for _ in range(2):
        assert _chat(world, world.keys["snippets"], "flaky-model").status_code >= 500
    page.reload()
    expect(flaky).to_have_attribute("data-state", "open")
    expect(flaky).to_contain_text("in cooldown")
    expect(flaky.locator("td.num").nth(1)).not_to_have_text("0.0%")  # a decaying rate, above zero now
    expect(page.locator("tr[data-channel='fake']")).to_have_attribute("data-state", "closed")
    expect(page.locator("#last-reload")).to_contain_text("ok")
    page.close()


def test_user_input_is_escaped(world: World) -> None:
    page = world.page()
    page.goto(world.url("/console/keys"))
    page.fill("input[name=name]", XSS_NAME)
    page.click("form[action='/console/keys'] button[type=submit]")
    expect(page.locator("#new-secret h2")).to_contain_text(XSS_NAME)
    page.goto(world.url("/console/keys"))
    expect(page.locator("td.name", has_text="window.__xss")).to_have_text(XSS_NAME)
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_forms_without_the_csrf_token_are_refused(world: World) -> None:
    page = world.page()
    forged = page.request.post(world.url("/console/keys"), form={"name": "forged"})
    assert forged.status == 403 and "CSRF" in forged.text()
    forged_api = page.request.post(world.url("/v1/keys"), data={"name": "forged"})
    assert forged_api.status == 403 and forged_api.json()["error"]["code"] == "csrf_failed"
    page.goto(world.url("/console/keys"))
    expect(page.locator("td.name", has_text="forged")).to_have_count(0)


PAGES = [
    ("overview", "/console"),
    ("keys", "/console/keys"),
    ("usage", "/console/usage"),
    ("credits", "/console/credits"),
    ("models", "/console/models?model=cheap-model"),
    ("status", "/console/status"),
]
ADMIN_PAGES = [("admin-accounts", "/console/admin/accounts"), ("admin-policy", "/console/admin/policy")]
PUBLIC_PAGES = [("login", "/console/login"), ("register", "/console/register")]


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_page_at_desktop_and_phone_width(world: World, width: str) -> None:
    viewport = DESKTOP if width == "desktop" else PHONE
    world.shots.mkdir(parents=True, exist_ok=True)
    for old in world.shots.glob(f"*-{width}.png"):
        old.unlink()
    overflow: dict[str, int] = {}
    public = world.browser.new_context(viewport=viewport)
    user = world.browser.new_context(viewport=viewport)
    admin = world.browser.new_context(viewport=viewport)
    try:
        pages: list[tuple[str, str, Page]] = [(n, p, public.new_page()) for n, p in PUBLIC_PAGES]
        signed = _sign_in(world, user, USER_EMAIL, USER_PASSWORD)
        pages += [(n, p, signed) for n, p in PAGES]
        admin_page = _sign_in(world, admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        pages += [(n, p, admin_page) for n, p in ADMIN_PAGES]
        for name, path, page in pages:
            page.goto(world.url(path))
            if name == "admin-policy":
                page.click("form[action='/console/admin/policy/explain'] button[type=submit]")
                page.locator("textarea[name=request]").fill(
                    '{"model": "cheap-model", "messages": [{"role": "user", "content": "hi"}]}'
                )
                page.click("form[action='/console/admin/policy/explain'] button[type=submit]")
                expect(page.locator("#candidates")).to_contain_text("cheap-model")
            page.screenshot(path=str(world.shots / f"{name}-{width}.png"), full_page=True)
            overflow[name] = horizontal_overflow(page)
    finally:
        for context in (public, user, admin):
            context.close()
    assert overflow == {name: 0 for name in overflow}, f"pages wider than the {width} viewport: {overflow}"
    assert len(list(world.shots.glob(f"*-{width}.png"))) == len(PUBLIC_PAGES + PAGES + ADMIN_PAGES)
