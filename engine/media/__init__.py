"""Embeddings and images: their canonical shapes, the exchange the executor drives for them,
the pipeline glue behind ``/v1/embeddings`` and ``/v1/images/*``, and the short-lived store
that serves ``url`` image answers."""
