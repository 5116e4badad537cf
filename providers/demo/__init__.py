"""The built-in demo provider: a deterministic in-process upstream speaking OpenAI chat.

``providers.demo.upstream.respond`` serves ``demo://`` URLs; see that module for the models.
"""
