"""Observability: what the gateway does, seen from outside.

* ``metrics`` - the Prometheus series (``GET /metrics``), correct across Granian workers
  (prometheus_client's multiprocess mode, ``multiproc`` prepares its directory);
* ``labels`` - the label values, bounded to names from the policy;
* ``access_log`` - one line per request (text or JSON), and ``log_setup`` for the process's
  logging (format, database-driver noise);
* ``tracing`` - OpenTelemetry spans, only with the ``otel`` extra and an exporter configured;
* ``recorder`` - the few calls the request path makes, feeding all of the above.
"""
