"""The official openai SDK against the gateway's OpenAI API: chat completions
to a provider of every kind (whole, streamed, tool calls and their results,
images), embeddings, the model list, errors, usage and failover."""

import json

import openai
import pytest

from conftest import GATEWAY, MODELS, PNG_BASE64, WEATHER, kind_ids, metric, settles_at

CHAT = list(MODELS)
ASK = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": WEATHER}}]
USE_THE_TOOL = [{"role": "user", "content": "What is the weather in Paris? Use the tool."}]


def upstream(model):
    return MODELS[model][1]


@pytest.mark.parametrize("model", CHAT, ids=kind_ids(CHAT))
def test_chat_completion(oai, model):
    completion = oai.chat.completions.create(model=model, messages=ASK)
    assert completion.object == "chat.completion"
    assert completion.id
    choice = completion.choices[0]
    assert (choice.message.role, choice.message.content) == ("assistant", f"Hello from {upstream(model)}")
    assert choice.finish_reason == "stop"
    # The provider's own counts: "Be brief." and "Say hello" are 4 words, the answer 3 pieces.
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (4, 3)
    assert completion.usage.total_tokens == 7


@pytest.mark.parametrize("model", CHAT, ids=kind_ids(CHAT))
def test_chat_stream_with_usage(oai, model):
    chunks = list(
        oai.chat.completions.create(model=model, messages=ASK, stream=True, stream_options={"include_usage": True})
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == f"Hello from {upstream(model)}"
    finishes = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (4, 3)


@pytest.mark.parametrize("model", CHAT, ids=kind_ids(CHAT))
def test_chat_stream_without_usage_has_none(oai, model):
    # The gateway asks the stream for its usage; a client that did not gets none.
    chunks = list(oai.chat.completions.create(model=model, messages=ASK, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"Hello from {upstream(model)}"
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)


@pytest.mark.parametrize("model", CHAT, ids=kind_ids(CHAT))
def test_tool_call_round_trip(oai, model):
    first = oai.chat.completions.create(model=model, messages=USE_THE_TOOL, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "fake", "unit": "celsius"}

    history = USE_THE_TOOL + [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    second = oai.chat.completions.create(model=model, messages=history, tools=TOOLS)
    assert second.choices[0].message.content == "Tool result: sunny, 21 C"
    assert second.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", CHAT, ids=kind_ids(CHAT))
def test_streamed_tool_call(oai, model):
    calls = {}
    finishes = []
    for chunk in oai.chat.completions.create(model=model, messages=USE_THE_TOOL, tools=TOOLS, stream=True):
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.finish_reason:
            finishes.append(choice.finish_reason)
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = call["id"] or delta.id
            if delta.function:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
    assert finishes == ["tool_calls"]
    assert list(calls) == [0]
    assert calls[0]["id"] and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "fake", "unit": "celsius"}


@pytest.mark.parametrize("model", CHAT, ids=kind_ids(CHAT))
def test_image_input(oai, model):
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}"}},
    ]
    completion = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
    assert completion.choices[0].message.content == f"Hello from {upstream(model)}. I see 1 image: image/png"


def test_embeddings(oai):
    # The SDK asks for base64 and decodes it.
    result = oai.embeddings.create(model="text-embedding-3-small", input=["one two", "three"])
    assert [item.index for item in result.data] == [0, 1]
    assert all(len(item.embedding) == 8 for item in result.data)
    assert all(-1.0 <= x <= 1.0 for item in result.data for x in item.embedding)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens == 3
    floats = oai.embeddings.create(model="text-embedding-3-small", input=["one two", "three"], encoding_format="float")
    assert [item.embedding for item in floats.data] == [pytest.approx(item.embedding) for item in result.data]


def test_models_list(oai):
    ids = {model.id for model in oai.models.list()}
    assert set(MODELS) | {"text-embedding-3-small", "flaky-chat", "flaky-claude"} <= ids
    assert oai.models.retrieve("deepseek-chat").id == "deepseek-chat"


def test_a_bad_key_is_an_authentication_error():
    client = openai.OpenAI(base_url=f"{GATEWAY}/v1", api_key="sk-not-a-key-of-this-gateway", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key"


def test_an_unknown_model_is_not_found(oai):
    with pytest.raises(openai.NotFoundError) as raised:
        oai.chat.completions.create(model="no-such-model", messages=ASK)
    assert raised.value.code == "model_not_found"


@pytest.mark.parametrize("model", CHAT, ids=kind_ids(CHAT))
def test_usage_is_recorded(oai, model):
    provider = {"openai": "openai", "openai-compatible": "compat", "anthropic": "claude", "gemini": "gem"}[MODELS[model][0]]
    series = {"model": model, "provider": provider}
    before = metric("switchyard_tokens_total", kind="completion", **series)
    prompt_before = metric("switchyard_tokens_total", kind="prompt", **series)
    oai.chat.completions.create(model=model, messages=ASK)
    settles_at(before + 3, "switchyard_tokens_total", kind="completion", **series)
    settles_at(prompt_before + 4, "switchyard_tokens_total", kind="prompt", **series)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_failover_before_the_first_byte(oai, stream):
    failed = metric("switchyard_requests_total", model="flaky-chat", provider="compat", status="500")
    failovers = metric("switchyard_failovers_total")
    if stream:
        chunks = oai.chat.completions.create(model="flaky-chat", messages=ASK, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = oai.chat.completions.create(model="flaky-chat", messages=ASK).choices[0].message.content
    # The first target (compat, fail-deepseek) answered 500; the second one answered.
    assert text == "Hello from gpt-4o-mini"
    settles_at(failed + 1, "switchyard_requests_total", model="flaky-chat", provider="compat", status="500")
    settles_at(failovers + 1, "switchyard_failovers_total")
