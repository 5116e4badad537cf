"""Batch jobs: many requests submitted at once, run in the background at the batch price.

Two APIs over one store: the seed's ``/v1/batch`` (JSON in, callback out) and OpenAI's
Files and Batches APIs (JSONL in and out). Jobs and their requests live in the state
database (``engine.batch.store``); ``engine.batch.runner`` sends each request through
the same pipeline as an interactive one (routing, fallbacks, limits, usage rows) with
bounded concurrency per key and per channel, and resumes after a restart without sending
or billing a request twice. ``engine.batch.callback`` signs and delivers the callback.
"""
