"""Bring your own key: callers' own provider keys, encrypted at rest, used on channels that
allow it, billed at the group's routing fee instead of the list price."""
