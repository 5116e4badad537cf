"""Tool-use ids as an Anthropic client sees them: always ``toolu_...``, whoever issued them.

Anthropic clients (and the agents built on them) expect ``tool_use.id`` to start with
``toolu_``; an OpenAI upstream issues ``call_...``, a Responses upstream ``call_...`` /
``fc_...``, and Gemini ids are synthesised (``providers.gemini.call_ids``). So the id goes
to the client wrapped, and comes back unwrapped when the client returns it (in its
``tool_result.tool_use_id`` and in the assistant turn's ``tool_use.id``), so the upstream
sees exactly the id it issued. Stateless and reversible, nothing to remember:

* an id that already starts with ``toolu_`` (an Anthropic upstream's, or one an Anthropic
  client made up) is shown as it is, and read back as it is;
* an id in Anthropic's id alphabet ``[A-Za-z0-9_-]`` becomes ``toolu_tr_<id>``;
* any other id becomes ``toolu_tr64_<id as unpadded base64url>``, so every shown id stays
  in that alphabet (Anthropic rejects others when the conversation later goes to it).

Only ids with those two marks are unwrapped: an id a client invented (``call_1``) stays as
it is. Anthropic's own ids (``toolu_01...``, ``toolu_bdrk_...``, ``toolu_vrtx_...``)
never carry a mark, so they are never mistaken for wrapped ones.
"""

from __future__ import annotations

import base64
import binascii
import re

ANTHROPIC_PREFIX = "toolu_"
_PLAIN = "toolu_tr_"
_ENCODED = "toolu_tr64_"
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def to_client(call_id: str) -> str:
    """The id an Anthropic client is shown for an upstream's tool call id."""
    if call_id.startswith(ANTHROPIC_PREFIX):
        return call_id
    if _ALPHABET.fullmatch(call_id):
        return _PLAIN + call_id
    return _ENCODED + base64.urlsafe_b64encode(call_id.encode()).decode().rstrip("=")


def from_client(tool_use_id: str) -> str:
    """The upstream's id for an id an Anthropic client sent back (its own ids unchanged)."""
    if tool_use_id.startswith(_ENCODED):
        encoded = tool_use_id[len(_ENCODED) :]
        try:
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return tool_use_id  # not one of ours after all
    if tool_use_id.startswith(_PLAIN):
        return tool_use_id[len(_PLAIN) :]
    return tool_use_id
