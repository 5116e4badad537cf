"""Canary releases: a candidate policy beside the stable one on a share of traffic, rolled
back by itself when a CEL condition over live statistics of both sides holds.

``split`` decides a request's side (pure), ``stats`` summarizes a side and evaluates the
condition (pure), ``window`` reads both sides' recent requests from the shared usage log,
and ``monitor`` is the per-worker loop that decides and learns rollbacks through the shared
store, so every worker and replica agrees.
"""
