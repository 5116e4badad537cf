"""The HTTP shell: everything that speaks ASGI.

``app`` builds the application (the data plane in front of Starlette, the lifespan that
owns a worker's shared objects); ``data_plane`` answers the hot POST endpoints as raw
ASGI; ``routes`` the rest (Gemini paths, models, token counting, status, explain);
``state_routes`` mounts the key store's admin and self-service API. Requests are read by
``client_request`` (credentials, body limit; ``content_encoding`` decodes gzip and
deflate bodies under that limit) and ``client_ip`` (trusted proxies), named
by ``request_ids``, and answered by ``reply`` (a whole JSON body) or ``streaming`` (SSE
that notices a client going away). ``status`` and ``models_list`` render the
``/api/status`` document and the model catalogue. ``port_probe`` checks, before the server
starts, that no other server listens on its port.
"""
