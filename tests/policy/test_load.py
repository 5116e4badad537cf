"""load_policy: the shipped policy, the compiled result, versions and directory layouts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.policy.compiled import Price, RetrySpec
from engine.policy.load import load_policy

ROOT = Path(__file__).parent.parent.parent
SHIPPED = ROOT / "policies"
ALL_KEYS = {
    "OPENAI_API_KEY": "sk-test-openai",
    "DEEPSEEK_API_KEY": "sk-test-deepseek",
    "ANTHROPIC_API_KEY": "sk-ant-test",
    "GEMINI_API_KEY": "gm-test",
}
DEMO_MODELS = {
    "demo-echo",
    "demo-fail-500",
    "demo-fail-429",
    "demo-slow",
    "demo-cut",
    "demo-context",
    "demo-refuse",
}

MINIMAL = """\
[channels.demo]
format = "openai"
base_url = "demo://local"
models = ["demo-echo"]

[models.demo-echo]
price = { input = 0.0, output = 0.0 }
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class TestShippedPolicy:
    def test_loads_with_no_provider_key(self) -> None:
        result = load_policy(SHIPPED, {})
        assert result.policy is not None
        assert {d.severity for d in result.diagnostics} == {"warning"}
        text = (SHIPPED / "channels.toml").read_text().splitlines()

        def line_of(var: str) -> int:
            return text.index('api_key = "${' + var + '}"') + 1

        assert [str(d) for d in result.diagnostics] == [
            f"channels.toml:{line_of(var)}: channels.{name}.api_key: warning: {var} is not set: the channel is disabled"
            for name, var in [
                ("openai", "OPENAI_API_KEY"),
                ("deepseek", "DEEPSEEK_API_KEY"),
                ("anthropic", "ANTHROPIC_API_KEY"),
                ("gemini", "GEMINI_API_KEY"),
            ]
        ]
        policy = result.policy
        assert policy.channels["openai"].enabled is False
        assert policy.channels["openai"].skip_reason == "OPENAI_API_KEY is not set"
        assert policy.channels["openai"].api_key is None
        assert policy.channels["demo"].enabled is True
        assert DEMO_MODELS <= set(policy.channels["demo"].models)
        for model in DEMO_MODELS:
            assert policy.models[model].channels == ("demo",)

    def test_deepseek_caps_output_with_max_tokens_and_openai_with_max_completion_tokens(self) -> None:
        policy = load_policy(SHIPPED, {}).policy
        assert policy is not None
        assert policy.channels["deepseek"].max_tokens_field == "max_tokens"
        assert policy.channels["openai"].max_tokens_field == "max_completion_tokens"

    def test_every_alias_can_answer_with_no_provider_key(self) -> None:
        policy = load_policy(SHIPPED, {}).policy
        assert policy is not None
        assert {"auto", "smart-code", "fast"} <= set(policy.aliases)

        def servable(name: str, seen: frozenset[str] = frozenset()) -> bool:
            if name in policy.models:
                return bool(policy.models[name].channels)
            alias = policy.aliases[name]
            names = [*(n for r in alias.rules for n in r.use), *alias.candidates, *alias.fallback]
            return any(servable(n, seen | {name}) for n in names if n not in seen)

        assert {name for name in policy.aliases if not servable(name)} == set()

    def test_loads_with_every_key_set_and_no_warning(self) -> None:
        result = load_policy(SHIPPED, ALL_KEYS)
        assert result.diagnostics == []
        assert result.policy is not None
        channels = result.policy.channels
        assert all(c.enabled for c in channels.values())
        assert channels["openai"].api_key == "sk-test-openai"
        assert channels["deepseek"].models == {"deepseek-v3": "deepseek-chat"}
        assert channels["anthropic"].format == "anthropic"
        assert channels["gemini"].base_url == "https://generativelanguage.googleapis.com/v1beta"

    def test_the_promised_models_and_routes(self) -> None:
        policy = load_policy(SHIPPED, ALL_KEYS).policy
        assert policy is not None
        assert policy.models["gpt-5.5"].fallback == ("claude-opus-4.7", "gemini-3.1-pro", "gpt-4.1-mini")
        assert policy.models["gpt-5.5"].price == Price(input=1.25, output=10.0, cached_input=0.125)
        assert policy.aliases["auto"].strategy == "cheapest"
        assert policy.aliases["fast"].strategy == "fastest"
        assert policy.aliases["smart-code"].fallback[-1] == "demo-echo"
        assert set(policy.groups) == {"default", "team-a"}
        assert policy.request_headers == frozenset({"x-team"})

    def test_auto_is_cheapest_first_with_demo_only_as_the_last_resort(self) -> None:
        policy = load_policy(SHIPPED, ALL_KEYS).policy
        assert policy is not None
        auto = policy.aliases["auto"]
        assert (auto.filter, auto.order, auto.cost) == (None, None, None)  # no per-candidate CEL
        assert "demo-echo" not in auto.candidates
        assert auto.fallback == ("demo-echo",)


class TestCompiled:
    def test_model_channels_are_enabled_ones_by_priority_then_name(self, tmp_path: Path) -> None:
        write(
            tmp_path,
            "policy.toml",
            """\
[channels.zeta]
format = "openai"
base_url = "http://127.0.0.1:9001/v1/"
models = ["m"]
[channels.alpha]
format = "openai"
base_url = "http://127.0.0.1:9002"
priority = 1
models = ["m"]
[channels.beta]
format = "openai"
base_url = "http://127.0.0.1:9003"
models = { m = "upstream-m" }
[channels.off]
format = "openai"
base_url = "http://127.0.0.1:9004"
models = ["m"]
enabled = false
[channels.keyless]
format = "openai"
base_url = "http://127.0.0.1:9005"
api_key = "${MISSING}"
models = ["m"]
[models.m]
price = { input = 1, output = 2 }
""",
        )
        result = load_policy(tmp_path, {})
        policy = result.policy
        assert policy is not None
        assert policy.models["m"].channels == ("beta", "zeta", "alpha")
        assert policy.channels["zeta"].base_url == "http://127.0.0.1:9001/v1"
        assert policy.channels["beta"].models == {"m": "upstream-m"}
        assert policy.channels["off"].skip_reason == "disabled in the policy"
        assert policy.channels["keyless"].skip_reason == "MISSING is not set"
        price = policy.models["m"].price
        assert price is not None and type(price.input) is float

    def test_defaults_and_the_implicit_default_group(self, tmp_path: Path) -> None:
        write(tmp_path, "policy.toml", MINIMAL)
        policy = load_policy(tmp_path, {}).policy
        assert policy is not None
        assert policy.retry == RetrySpec()
        assert policy.default_max_tokens == 4096
        assert policy.aliases == {}
        default = policy.groups["default"]
        assert (default.models, default.rpm, default.budget_day_usd) == (("*",), None, None)

    def test_rules_keep_their_location_and_compiled_programs(self, tmp_path: Path) -> None:
        write(tmp_path, "a/models.toml", MINIMAL)
        write(
            tmp_path,
            "b/aliases.toml",
            """\
# the alias
[aliases.smart]
rules = [
  { when = "request.has_tools", use = "demo-echo" },
  { when = "true", use = ["demo-echo"] },
]
""",
        )
        policy = load_policy(tmp_path, {}).policy
        assert policy is not None
        rules = policy.aliases["smart"].rules
        assert [(r.index, r.use, r.location) for r in rules] == [
            (0, ("demo-echo",), "b/aliases.toml:4"),
            (1, ("demo-echo",), "b/aliases.toml:5"),
        ]
        assert rules[0].when.evaluate({"request": {"has_tools": True}}) is True

    def test_headers_resolve_env_references(self, tmp_path: Path) -> None:
        write(
            tmp_path,
            "policy.toml",
            MINIMAL
            + """\
[channels.proxy]
format = "anthropic"
base_url = "https://proxy.example/v1"
headers = { Authorization = "Bearer ${TOKEN}", "x-org" = "acme" }
models = ["demo-echo"]
""",
        )
        policy = load_policy(tmp_path, {"TOKEN": "t0k"}).policy
        assert policy is not None
        assert policy.channels["proxy"].headers == {"Authorization": "Bearer t0k", "x-org": "acme"}


class TestVersion:
    def test_same_content_same_version_whatever_the_layout(self, tmp_path: Path) -> None:
        one, two = tmp_path / "one", tmp_path / "two"
        write(one, "policy.toml", MINIMAL)
        channel, model = MINIMAL.split("\n\n")
        write(two, "models.toml", "# models first, with comments\n" + model)
        write(two, "sub/channels.toml", channel.replace(" = ", "   =   "))
        first = load_policy(one, {}).policy
        second = load_policy(two, {}).policy
        assert first is not None and second is not None
        assert first.version == second.version
        assert len(first.version) == 12
        assert int(first.version, 16) >= 0

    def test_a_value_change_changes_the_version(self, tmp_path: Path) -> None:
        write(tmp_path, "policy.toml", MINIMAL)
        before = load_policy(tmp_path, {}).policy
        write(tmp_path, "policy.toml", MINIMAL.replace("output = 0.0", "output = 0.5"))
        after = load_policy(tmp_path, {}).policy
        assert before is not None and after is not None
        assert before.version != after.version

    def test_secret_presence_counts_but_not_its_value(self, tmp_path: Path) -> None:
        write(
            tmp_path,
            "policy.toml",
            MINIMAL
            + """\
[channels.openai]
format = "openai"
base_url = "https://api.openai.com/v1"
api_key = "${OPENAI_API_KEY}"
models = ["demo-echo"]
""",
        )
        versions = [
            load_policy(tmp_path, env).policy.version  # type: ignore[union-attr]
            for env in ({}, {"OPENAI_API_KEY": "a"}, {"OPENAI_API_KEY": "b"})
        ]
        assert versions[0] != versions[1]
        assert versions[1] == versions[2]


class TestLayout:
    def test_configmap_layout_is_read_through_the_visible_symlinks_only(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "..2026_11_22_10_00_00.123"
        write(data_dir, "policy.toml", MINIMAL)
        (tmp_path / "..data").symlink_to(data_dir.name)
        (tmp_path / "policy.toml").symlink_to("..data/policy.toml")
        result = load_policy(tmp_path, {})
        assert result.diagnostics == []  # read once: no "defined twice"
        assert result.policy is not None

    def test_hidden_directories_and_files_are_skipped(self, tmp_path: Path) -> None:
        write(tmp_path, "policy.toml", MINIMAL)
        write(tmp_path, ".git/config.toml", "not = [valid")
        write(tmp_path, ".draft.toml", "not = [valid")
        write(tmp_path, "notes.txt", "not = [valid")
        assert load_policy(tmp_path, {}).diagnostics == []

    def test_a_symlinked_directory_is_followed_once(self, tmp_path: Path) -> None:
        shared = tmp_path / "shared"
        write(shared, "models.toml", MINIMAL)
        policy_dir = tmp_path / "policy"
        policy_dir.mkdir()
        (policy_dir / "common").symlink_to(shared, target_is_directory=True)
        (policy_dir / "loop").symlink_to(policy_dir, target_is_directory=True)
        result = load_policy(policy_dir, {})
        assert result.diagnostics == []

    def test_a_broken_symlink_is_reported(self, tmp_path: Path) -> None:
        write(tmp_path, "policy.toml", MINIMAL)
        (tmp_path / "gone.toml").symlink_to("nowhere.toml")
        result = load_policy(tmp_path, {})
        assert result.policy is None
        assert [(d.file, d.path) for d in result.diagnostics] == [("gone.toml", "file")]
        assert result.diagnostics[0].message.startswith("cannot read: ")

    def test_a_missing_directory(self, tmp_path: Path) -> None:
        result = load_policy(tmp_path / "absent", {})
        assert [str(d) for d in result.diagnostics] == [".:0: policy: the policy directory does not exist"]

    def test_the_shipped_policy_copied_elsewhere_loads_the_same(self, tmp_path: Path) -> None:
        shutil.copytree(SHIPPED, tmp_path / "copy")
        os.rename(tmp_path / "copy" / "models.toml", tmp_path / "copy" / "0-models.toml")
        here = load_policy(SHIPPED, {}).policy
        there = load_policy(tmp_path / "copy", {}).policy
        assert here is not None and there is not None
        assert here.version == there.version
