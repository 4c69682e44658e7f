"""What every SDK test shares: the gateway run.sh started, clients of both
SDKs pointed at it, and the proxy's /metrics read back.

The fakes behind the gateway (see tests/src/fake_upstream) answer
"Hello from {model}" (naming the upstream model), call the first tool
offered when the last user turn says "use the tool", answer a tool result
with "Tool result: {result}", name the types of the images they were sent,
and fail (500) for models named fail-...
"""

import os
import re
import time
import urllib.request

import anthropic
import openai
import pytest

GATEWAY = os.environ["SWITCHYARD_URL"]
ADMIN = os.environ["SWITCHYARD_ADMIN_URL"]
KEY = os.environ["SWITCHYARD_KEY"]

# Public model name -> (provider kind, upstream model the fake names back).
MODELS = {
    "gpt-4o-mini": ("openai", "gpt-4o-mini"),
    "deepseek-chat": ("openai-compatible", "deepseek-chat"),
    "claude-sonnet-4-5": ("anthropic", "claude-sonnet-4-5"),
    "gemini-2.5-flash": ("gemini", "gemini-2.5-flash"),
}

# A 1x1 PNG.
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
}

# Every wait on the gateway's asynchronous bookkeeping ends by then.
WAIT_S = 10


def kind_ids(models):
    return [MODELS[m][0] for m in models]


@pytest.fixture
def oai():
    # No SDK retries: a failure must be the gateway's answer, not hidden by a retry.
    return openai.OpenAI(base_url=f"{GATEWAY}/v1", api_key=KEY, max_retries=0, timeout=30)


@pytest.fixture
def claude():
    return anthropic.Anthropic(base_url=GATEWAY, api_key=KEY, max_retries=0, timeout=30)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric(name, **labels):
    """The sum of the samples of `name` on /metrics whose labels include `labels`."""
    with urllib.request.urlopen(f"{ADMIN}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match.group(1) != name:
            continue
        have = dict(_LABEL.findall(match.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def eventually(condition, what):
    """Polls `condition` until it is true, for WAIT_S at most."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {WAIT_S}s: {what}")
        time.sleep(0.05)


def settles_at(expected, name, **labels):
    """Waits until the metric reaches `expected`, then asserts it did not pass it."""
    eventually(lambda: metric(name, **labels) >= expected, f"{name}{labels} to reach {expected}")
    assert metric(name, **labels) == expected, f"{name}{labels}"
