"""The web console and the account API: people sign in, own a billing account, manage its
API keys, watch usage and credits, top up; admins manage every account.

``console_routes`` (``engine.console.mount``) builds every route for the app's lifespan.
"""
