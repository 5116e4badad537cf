"""Ready-to-copy code for a model: curl, Python and JavaScript in each client format, with this
server's base URL. Pure. The key is read from ``TURNOUT_API_KEY`` in every snippet, so a
snippet runs as written once that variable holds a key from the console."""

from __future__ import annotations

import json
from dataclasses import dataclass

PROMPT = "Say hello in five words."
_USER = {"role": "user", "content": PROMPT}


@dataclass(frozen=True, slots=True)
class Snippet:
    client_format: str  # openai | openai-responses | anthropic | gemini
    language: str  # curl | python | javascript
    code: str


def _j(value: str) -> str:
    return json.dumps(value)


def snippets(base_url: str, model: str) -> list[Snippet]:
    base = base_url.rstrip("/")
    m = _j(model)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}]})
    out = [
        Snippet(
            "openai",
            "curl",
            f"curl {base}/v1/chat/completions \\\n"
            '  -H "Authorization: Bearer $TURNOUT_API_KEY" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            f"  -d '{body}'",
        ),
        Snippet(
            "openai",
            "python",
            "import os\n\nfrom openai import OpenAI\n\n"
            f'client = OpenAI(base_url={_j(base + "/v1")}, api_key=os.environ["TURNOUT_API_KEY"])\n'
            "reply = client.chat.completions.create(\n"
            f'    model={m}, messages=[{{"role": "user", "content": {_j(PROMPT)}}}]\n'
            ")\n"
            "print(reply.choices[0].message.content)\n",
        ),
        Snippet(
            "openai",
            "javascript",
            'import OpenAI from "openai";\n\n'
            f"const client = new OpenAI({{ baseURL: {_j(base + '/v1')}, apiKey: process.env.TURNOUT_API_KEY }});\n"
            "const reply = await client.chat.completions.create({\n"
            f'  model: {m},\n  messages: [{{ role: "user", content: {_j(PROMPT)} }}],\n'
            "});\n"
            "console.log(reply.choices[0].message.content);\n",
        ),
        Snippet(
            "openai-responses",
            "curl",
            f"curl {base}/v1/responses \\\n"
            '  -H "Authorization: Bearer $TURNOUT_API_KEY" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            f"  -d '{json.dumps({'model': model, 'input': PROMPT})}'",
        ),
        Snippet(
            "openai-responses",
            "python",
            "import os\n\nfrom openai import OpenAI\n\n"
            f'client = OpenAI(base_url={_j(base + "/v1")}, api_key=os.environ["TURNOUT_API_KEY"])\n'
            f"reply = client.responses.create(model={m}, input={_j(PROMPT)})\n"
            "print(reply.output_text)\n",
        ),
        Snippet(
            "openai-responses",
            "javascript",
            'import OpenAI from "openai";\n\n'
            f"const client = new OpenAI({{ baseURL: {_j(base + '/v1')}, apiKey: process.env.TURNOUT_API_KEY }});\n"
            f"const reply = await client.responses.create({{ model: {m}, input: {_j(PROMPT)} }});\n"
            "console.log(reply.output_text);\n",
        ),
        Snippet(
            "anthropic",
            "curl",
            f"curl {base}/v1/messages \\\n"
            '  -H "x-api-key: $TURNOUT_API_KEY" \\\n'
            '  -H "anthropic-version: 2023-06-01" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            f"  -d '{json.dumps({'model': model, 'max_tokens': 256, 'messages': [_USER]})}'",
        ),
        Snippet(
            "anthropic",
            "python",
            "import os\n\nimport anthropic\n\n"
            f'client = anthropic.Anthropic(base_url={_j(base)}, api_key=os.environ["TURNOUT_API_KEY"])\n'
            "reply = client.messages.create(\n"
            f'    model={m}, max_tokens=256, messages=[{{"role": "user", "content": {_j(PROMPT)}}}]\n'
            ")\n"
            "print(reply.content[0].text)\n",
        ),
        Snippet(
            "anthropic",
            "javascript",
            'import Anthropic from "@anthropic-ai/sdk";\n\n'
            f"const client = new Anthropic({{ baseURL: {_j(base)}, apiKey: process.env.TURNOUT_API_KEY }});\n"
            "const reply = await client.messages.create({\n"
            f'  model: {m},\n  max_tokens: 256,\n  messages: [{{ role: "user", content: {_j(PROMPT)} }}],\n'
            "});\n"
            "console.log(reply.content[0].text);\n",
        ),
        Snippet(
            "gemini",
            "curl",
            f'curl "{base}/v1beta/models/{model}:generateContent" \\\n'
            '  -H "x-goog-api-key: $TURNOUT_API_KEY" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            f"  -d '{json.dumps({'contents': [{'role': 'user', 'parts': [{'text': PROMPT}]}]})}'",
        ),
        Snippet(
            "gemini",
            "python",
            "import os\n\nfrom google import genai\n\n"
            "client = genai.Client(\n"
            '    api_key=os.environ["TURNOUT_API_KEY"],\n'
            f'    http_options={{"base_url": {_j(base)}, "api_version": "v1beta"}},\n'
            ")\n"
            f"reply = client.models.generate_content(model={m}, contents={_j(PROMPT)})\n"
            "print(reply.text)\n",
        ),
        Snippet(
            "gemini",
            "javascript",
            'import { GoogleGenAI } from "@google/genai";\n\n'
            "const client = new GoogleGenAI({\n"
            f'  apiKey: process.env.TURNOUT_API_KEY,\n  httpOptions: {{ baseUrl: {_j(base)}, apiVersion: "v1beta" }},\n'
            "});\n"
            f"const reply = await client.models.generateContent({{ model: {m}, contents: {_j(PROMPT)} }});\n"
            "console.log(reply.text);\n",
        ),
    ]
    return out
