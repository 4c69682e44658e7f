"""The official anthropic SDK against the gateway's `/v1/messages`: passed
through to an `anthropic` provider, translated for the other kinds; whole,
streamed, tool use and results, images, errors, count_tokens, usage and
failover."""

import anthropic
import pytest

from conftest import GATEWAY, MODELS, PNG_BASE64, WEATHER, kind_ids, metric, settles_at

KINDS = ["claude-sonnet-4-5", "deepseek-chat", "gemini-2.5-flash", "gpt-4o-mini"]
SAY_HELLO = [{"role": "user", "content": "Say hello"}]
TOOLS = [{"name": "get_weather", "description": "Current weather", "input_schema": WEATHER}]
USE_THE_TOOL = [{"role": "user", "content": "What is the weather in Paris? Use the tool."}]


def upstream(model):
    return MODELS[model][1]


@pytest.mark.parametrize("model", KINDS, ids=kind_ids(KINDS))
def test_create(claude, model):
    message = claude.messages.create(model=model, max_tokens=64, system="Be brief.", messages=SAY_HELLO)
    assert (message.type, message.role, message.model) == ("message", "assistant", model)
    assert message.id
    [block] = message.content
    assert (block.type, block.text) == ("text", f"Hello from {upstream(model)}")
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (4, 3)


@pytest.mark.parametrize("model", KINDS, ids=kind_ids(KINDS))
def test_stream_and_final_message(claude, model):
    with claude.messages.stream(model=model, max_tokens=64, system="Be brief.", messages=SAY_HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == f"Hello from {upstream(model)}"
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


@pytest.mark.parametrize("model", KINDS, ids=kind_ids(KINDS))
def test_raw_stream_is_the_documented_event_sequence(claude, model):
    events = list(claude.messages.create(model=model, max_tokens=64, messages=SAY_HELLO, stream=True))
    kinds = [event.type for event in events if event.type != "ping"]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"], kinds
    body = kinds[1:-2]
    assert body[0] == "content_block_start" and body[-1] == "content_block_stop", kinds
    assert set(body[1:-1]) == {"content_block_delta"}, kinds
    assert events[0].message.content == [] and events[0].message.stop_reason is None
    delta = [event for event in events if event.type == "message_delta"][0]
    assert delta.delta.stop_reason == "end_turn" and delta.usage.output_tokens == 3


@pytest.mark.parametrize("model", KINDS, ids=kind_ids(KINDS))
def test_tool_use_round_trip(claude, model):
    first = claude.messages.create(model=model, max_tokens=256, tools=TOOLS, messages=USE_THE_TOOL)
    assert first.stop_reason == "tool_use"
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and call.id
    assert call.input == {"city": "fake", "unit": "celsius"}

    history = USE_THE_TOOL + [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}]},
    ]
    second = claude.messages.create(model=model, max_tokens=256, tools=TOOLS, messages=history)
    assert [block.type for block in second.content] == ["text"]
    assert second.content[0].text == "Tool result: sunny, 21 C"
    assert second.stop_reason == "end_turn"


@pytest.mark.parametrize("model", KINDS, ids=kind_ids(KINDS))
def test_streamed_tool_use(claude, model):
    with claude.messages.stream(model=model, max_tokens=256, tools=TOOLS, messages=USE_THE_TOOL) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [call] = [block for block in final.content if block.type == "tool_use"]
    assert call.name == "get_weather"
    assert call.input == {"city": "fake", "unit": "celsius"}


@pytest.mark.parametrize("model", KINDS, ids=kind_ids(KINDS))
def test_image_input(claude, model):
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_BASE64}},
        {"type": "text", "text": "What is in this picture?"},
    ]
    message = claude.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": content}])
    assert message.content[0].text == f"Hello from {upstream(model)}. I see 1 image: image/png"


def test_a_bad_key_is_an_authentication_error():
    client = anthropic.Anthropic(base_url=GATEWAY, api_key="sk-not-a-key-of-this-gateway", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as raised:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=SAY_HELLO)
    assert raised.value.status_code == 401
    # Errors on /v1/messages come in Anthropic's shape.
    assert raised.value.body["type"] == "error", raised.value.body
    assert raised.value.body["error"]["type"] == "authentication_error", raised.value.body


def test_an_unknown_model_is_not_found(claude):
    with pytest.raises(anthropic.NotFoundError) as raised:
        claude.messages.create(model="no-such-model", max_tokens=64, messages=SAY_HELLO)
    assert raised.value.body["type"] == "error", raised.value.body
    assert raised.value.body["error"]["type"] == "not_found_error", raised.value.body


@pytest.mark.parametrize("model", KINDS, ids=kind_ids(KINDS))
def test_count_tokens_upstream_or_estimated(claude, model):
    # Anthropic and Gemini count upstream; OpenAI-kind providers have no count endpoint, so the gateway estimates.
    raw = claude.messages.with_raw_response.count_tokens(
        model=model, system="Be brief.", messages=[{"role": "user", "content": "Say hello to the whole world"}]
    )
    counted = "upstream" if MODELS[model][0] in ("anthropic", "gemini") else "estimated"
    assert raw.headers.get("x-switchyard-token-count") == counted
    count = raw.parse()
    assert count.input_tokens > 0
    short = claude.messages.count_tokens(model=model, messages=SAY_HELLO)
    assert short.input_tokens < count.input_tokens


@pytest.mark.parametrize("model", KINDS, ids=kind_ids(KINDS))
def test_usage_is_recorded(claude, model):
    provider = {"openai": "openai", "openai-compatible": "compat", "anthropic": "claude", "gemini": "gem"}[MODELS[model][0]]
    series = {"model": model, "provider": provider}
    before = metric("switchyard_tokens_total", kind="completion", **series)
    prompt_before = metric("switchyard_tokens_total", kind="prompt", **series)
    claude.messages.create(model=model, max_tokens=64, system="Be brief.", messages=SAY_HELLO)
    settles_at(before + 3, "switchyard_tokens_total", kind="completion", **series)
    settles_at(prompt_before + 4, "switchyard_tokens_total", kind="prompt", **series)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_failover_before_the_first_byte(claude, stream):
    # flaky-claude: the anthropic target (fail-claude) answers 500, then the gemini one answers.
    failed = metric("switchyard_requests_total", model="flaky-claude", provider="claude", status="500")
    failovers = metric("switchyard_failovers_total")
    if stream:
        with claude.messages.stream(model="flaky-claude", max_tokens=64, messages=SAY_HELLO) as events:
            text = "".join(events.text_stream)
    else:
        text = claude.messages.create(model="flaky-claude", max_tokens=64, messages=SAY_HELLO).content[0].text
    assert text == "Hello from gemini-2.5-flash"
    settles_at(failed + 1, "switchyard_requests_total", model="flaky-claude", provider="claude", status="500")
    settles_at(failovers + 1, "switchyard_failovers_total")
