"""Rules may read whitelisted request headers, never the caller's credentials."""

from pathlib import Path

from engine.policy.check import run_check

POLICY = """
[channels.demo]
format = "openai"
base_url = "demo://local"
models = ["demo-echo"]

[models.demo-echo]
price = { input = 0.0, output = 0.0 }
context_window = 1000
capabilities = []

[router]
request_headers = ["X-Team", "{header}"]
"""


def test_credential_headers_cannot_be_whitelisted(tmp_path: Path) -> None:
    for header in ("Authorization", "x-api-key", "x-goog-api-key", "Cookie"):
        (tmp_path / "policy.toml").write_text(POLICY.replace("{header}", header))
        code, lines = run_check(tmp_path, {})
        assert code == 1
        assert lines[0] == (
            f"policy.toml:13: router.request_headers.1: '{header}' carries the caller's credentials; "
            "rules may not read it"
        )


def test_ordinary_headers_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(POLICY.replace("{header}", "x-project"))
    code, lines = run_check(tmp_path, {})
    assert code == 0, lines
