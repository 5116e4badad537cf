"""Test harness: fake upstreams that are real local servers, and the real gateway as a
child process. See ``fake_upstream``, ``replies``, ``openai_wire``, ``gateway``,
``policy_files`` and ``ports``."""
