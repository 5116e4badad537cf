"""Policy tests: cases written in TOML beside a policy, run through the router's own
planning code (never an upstream), reported like pytest and as JUnit XML.

``schema`` is the shape of a case, ``load`` reads and validates the test files against
the policy, ``request`` turns a case into what the router reads, ``runner`` runs one case
(pure), ``report`` and ``junit`` render the results, ``suite`` ties them together for
``turnout test`` (``command``) and ``turnout check``. Which files are tests is decided by
``engine.policy.sources.is_test_file``.
"""
