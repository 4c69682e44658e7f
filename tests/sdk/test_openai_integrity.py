"""The official openai SDK against an OpenAI-compatible upstream that
misbehaves (issue 21): a stream closed before its end and a stream with an
event that is not JSON make the SDK raise the gateway's error (never a
partial answer taken as complete, never a JSONDecodeError), and a 429 from
every upstream reaches the SDK as a 429 with Retry-After, which it retries."""

import uuid

import openai
import pytest

from conftest import GATEWAY, KEY, metric

ASK = [{"role": "user", "content": "Say hello"}]


def drain(stream):
    """The chunks the SDK yields before it raises, and the error it raised."""
    chunks = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            chunks.append(chunk)
    return chunks, raised.value


def text_of(chunks):
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_a_stream_closed_before_its_end_raises(oai):
    before = metric("switchyard_streams_cut_total", model="cut-chat", reason="truncated")
    chunks, error = drain(oai.chat.completions.create(model="cut-chat", messages=ASK, stream=True))
    assert error.code == "upstream_stream_broken", error
    # What came before the cut was streamed, but no chunk claimed the answer complete.
    assert text_of(chunks).startswith("Hello")
    assert not any(c.choices and c.choices[0].finish_reason for c in chunks)
    assert metric("switchyard_streams_cut_total", model="cut-chat", reason="truncated") == before + 1


def test_a_stream_with_an_event_that_is_not_json_raises_the_gateways_error(oai):
    chunks, error = drain(oai.chat.completions.create(model="garbled-chat", messages=ASK, stream=True))
    assert error.code == "upstream_stream_broken", error
    assert text_of(chunks) == ""
    assert metric("switchyard_streams_cut_total", model="garbled-chat", reason="malformed") >= 1


def test_upstream_429s_are_a_429_with_retry_after():
    oai = openai.OpenAI(base_url=f"{GATEWAY}/v1", api_key=KEY, max_retries=0, timeout=30)
    with pytest.raises(openai.RateLimitError) as raised:
        oai.chat.completions.create(model=f"busy-{uuid.uuid4().hex}", messages=ASK)
    assert raised.value.status_code == 429
    assert raised.value.response.headers["retry-after"] == "1"
    assert raised.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_sdk_retries_an_upstream_429_after_retry_after(stream):
    oai = openai.OpenAI(base_url=f"{GATEWAY}/v1", api_key=KEY, max_retries=2, timeout=30)
    model = f"busy-{uuid.uuid4().hex}"
    raw = oai.chat.completions.with_raw_response.create(model=model, messages=ASK, stream=stream)
    # One retry, one Retry-After (1 s) later: when the upstream's endpoint is
    # admitted again (a 503 without Retry-After had the SDK come back too soon).
    assert raw.retries_taken == 1
    answer = raw.parse()
    if stream:
        assert text_of(list(answer)) == f"Hello from {model}"
    else:
        assert answer.choices[0].message.content == f"Hello from {model}"
