"""Replay recorded traffic against a candidate policy, and diff two git revisions of a policy.

* ``recorded``: what the usage log keeps of each request's routing facts, and the
  ``RecordedRequest`` a replay reads back (from the database or a JSON-lines export).
* ``replan``: the pure re-planner (the server's ``plan()``, no upstream called).
* ``report`` / ``render``: the comparison of two sides and its text, JSON and markdown forms.
* ``read_db`` / ``export``: the readers (usage log rows, export files).
* ``load``: a candidate policy loaded with every secret reference set.
* ``git_revs``: a policy directory as it was at a git revision, without touching the work tree.
* ``cli`` (parsers) / ``commands`` (what they run) / ``progress`` (the bar on stderr).
"""
