"""The official openai SDK's Responses client (`client.responses`) against the
gateway: to an `openai` provider the API passes through natively; to every
other kind it must be translated to and from chat completions (the fakes of
those kinds have no Responses API: an openai-compatible one answers 404)."""

import json

import pytest

from conftest import MODELS, WEATHER, kind_ids

NATIVE = ["gpt-4o-mini"]
TRANSLATED = ["deepseek-chat", "claude-sonnet-4-5", "gemini-2.5-flash"]
ALL = [pytest.param(m, id=MODELS[m][0]) for m in NATIVE + TRANSLATED]
TOOLS = [{"type": "function", "name": "get_weather", "description": "Current weather", "parameters": WEATHER, "strict": False}]


def upstream(model):
    return MODELS[model][1]


@pytest.mark.parametrize("model", ALL)
def test_create(oai, model):
    response = oai.responses.create(model=model, instructions="Be brief.", input="Say hello")
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == f"Hello from {upstream(model)}"
    [message] = response.output
    assert (message.type, message.role) == ("message", "assistant")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (4, 3)
    assert response.usage.total_tokens == 7


@pytest.mark.parametrize("model", ALL)
def test_stream(oai, model):
    with oai.responses.stream(model=model, instructions="Be brief.", input="Say hello") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    assert [e.sequence_number for e in events] == sorted(e.sequence_number for e in events)
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas == final.output_text == f"Hello from {upstream(model)}"
    assert final.usage.output_tokens == 3


@pytest.mark.parametrize("model", ALL)
def test_function_call_round_trip(oai, model):
    ask = [{"role": "user", "content": "What is the weather in Paris? Use the tool."}]
    first = oai.responses.create(model=model, input=ask, tools=TOOLS)
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.call_id
    assert json.loads(call.arguments) == {"city": "fake", "unit": "celsius"}

    history = ask + [
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
    ]
    second = oai.responses.create(model=model, input=history, tools=TOOLS)
    assert second.output_text == "Tool result: sunny, 21 C"


@pytest.mark.parametrize("model", ALL)
def test_streamed_function_call(oai, model):
    ask = "What is the weather in Paris? Use the tool."
    with oai.responses.stream(model=model, input=ask, tools=TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_response()
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    [call] = [item for item in final.output if item.type == "function_call"]
    assert call.arguments == arguments
    assert json.loads(arguments) == {"city": "fake", "unit": "celsius"}
