"""The shared emulator engine answers plausibly and deterministically, honouring every knob."""

from __future__ import annotations

import json

import jsonschema
import pytest

from qiao.emulators._engine import (
    GenRequest,
    ToolDef,
    count_tokens,
    detect_scenario,
    embed,
    generate,
    schema_instance,
    split_for_stream,
)

WEATHER = ToolDef(
    "get_weather",
    "Get the weather for a city",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city", "days"],
    },
)
CALC = ToolDef(
    "calculator", "Evaluate arithmetic", {"type": "object", "properties": {"expr": {"type": "string"}}}
)


def test_deterministic_and_echoes_prompt() -> None:
    r = GenRequest([("user", "Tell me about Hangzhou")])
    a, b = generate(r), generate(r)
    assert a[0].text == b[0].text and "Hangzhou" in a[0].text and a[0].finish == "stop"


def test_chinese_prompt_gets_chinese_answer() -> None:
    text = generate(GenRequest([("user", "介绍一下杭州")]))[0].text
    assert "介绍一下杭州" in text and "您说" in text


def test_max_tokens_cuts_with_length() -> None:
    c = generate(GenRequest([("user", "a long question about many things")], max_tokens=4))[0]
    assert c.finish == "length" and count_tokens(c.text) <= 4


def test_stop_sequence() -> None:
    c = generate(GenRequest([("user", "alpha beta gamma")], stop=["beta"]))[0]
    assert "beta" not in c.text and c.text.endswith("alpha ") and c.finish == "stop"


def test_n_choices_differ_deterministically() -> None:
    cs = generate(GenRequest([("user", "hi")], n=3))
    assert len(cs) == 3 and len({c.text for c in cs}) > 1


def test_tool_call_auto_when_relevant_and_valid_arguments() -> None:
    c = generate(GenRequest([("user", "What is the weather in Shanghai?")], tools=[CALC, WEATHER]))[0]
    assert c.finish == "tool_calls" and c.tool_calls[0][0] == "get_weather"
    args = json.loads(c.tool_calls[0][1])
    jsonschema.validate(args, WEATHER.parameters)
    assert args["city"] == "Shanghai"


def test_tool_auto_irrelevant_answers_in_text() -> None:
    c = generate(GenRequest([("user", "hello")], tools=[WEATHER]))[0]
    assert not c.tool_calls and c.finish == "stop"


def test_forced_tool_choice_and_none() -> None:
    c = generate(GenRequest([("user", "hello")], tools=[WEATHER, CALC], tool_choice="calculator"))[0]
    assert c.tool_calls[0][0] == "calculator"
    c = generate(GenRequest([("user", "weather?")], tools=[WEATHER], tool_choice="none"))[0]
    assert not c.tool_calls
    c = generate(GenRequest([("user", "hello")], tools=[WEATHER], tool_choice="required"))[0]
    assert c.tool_calls


def test_after_tool_result_answers_with_it() -> None:
    c = generate(
        GenRequest([("user", "weather?"), ("assistant", "{}"), ("tool", "rainy 12C")], tools=[WEATHER])
    )[0]
    assert not c.tool_calls and "rainy 12C" in c.text


def test_json_mode_and_schema() -> None:
    c = generate(GenRequest([("user", "give json")], json_mode=True))[0]
    assert isinstance(json.loads(c.text), dict)
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 2},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "when": {"type": "string", "format": "date"},
            "nested": {"$ref": "#/$defs/N"},
        },
        "required": ["tags", "score"],
        "additionalProperties": False,
        "$defs": {"N": {"type": "object", "properties": {"ok": {"type": "boolean"}}}},
    }
    c = generate(GenRequest([("user", "x")], json_schema=schema))[0]
    jsonschema.validate(json.loads(c.text), schema)


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [{"type": "integer", "minimum": 5, "maximum": 5}, {"type": "null"}]},
        {"type": ["string", "null"], "minLength": 3, "maxLength": 3},
        {"allOf": [{"type": "object", "properties": {"a": {"const": 1}}}]},
    ],
)
def test_schema_instance_variants(schema: dict[str, object]) -> None:
    import random

    jsonschema.validate(schema_instance(schema, random.Random(1)), schema)


def test_embeddings_deterministic_unit_vectors() -> None:
    a, b, c = embed("你好", 1024), embed("你好", 1024), embed("hello", 1024)
    assert a == b != c and len(a) == 1024
    assert abs(sum(x * x for x in a) - 1) < 1e-6


def test_scenarios() -> None:
    assert detect_scenario(["hi [[emulate:slow_first_byte=0.5]]"], None, None) == ("slow_first_byte", 0.5)
    assert detect_scenario(["hi"], "rate_limited", None) == ("rate_limited", 0.0)
    assert detect_scenario(["hi"], None, "cut_stream") == ("cut_stream", 0.0)
    assert detect_scenario(["[[emulate:not_a_thing]]"], None, None) == (None, 0.0)


def test_split_for_stream_keeps_every_character() -> None:
    for text in ("Hello, world! 123456", "你好，世界！", "  spaced  out  ", ""):
        assert "".join(split_for_stream(text)) == text
    assert len(split_for_stream("one two three four five six", 2)) == 2
