"""YAML profiles round-trip the request and are read safely."""

import pytest

from wizard.errors import WizardError
from wizard.faces.fields import describe
from wizard.faces.profile import dump_profile, parse_profile
from wizard.schema import field_info, parse_request


def test_profile_round_trip_gives_the_same_request():
    request = parse_request({
        "model": "Qwen/Qwen3-8B", "gpu": "RTX 4090", "gpus": 2, "max_model_len": "auto", "kv_cache_dtype": "fp8",
        "request_rate": 2.5, "batching_mode": "latency", "enforce_eager": True, "overhead_gb": 0.5,
    })
    assert parse_request({}, parse_profile(dump_profile(request))) == request


def test_profile_carries_the_schema_descriptions():
    text = dump_profile(parse_request({"model": "Qwen/Qwen3-8B"}))
    assert text.startswith("# vLLM Wizard profile") and "version: 1" in text
    assert f"# {field_info('gpu_memory_utilization').description}" in text


def test_awkward_strings_survive_yaml_escaping():
    nasty = "/models/my model: 'quoted' \"double\" #hash $(rm -rf /); `x`"
    request = parse_request({"model": nasty})
    assert parse_request({}, parse_profile(dump_profile(request))).model.model == nasty


def test_yaml_tags_are_not_executed():
    with pytest.raises(WizardError, match="not valid YAML"):
        parse_profile("model: !!python/object/apply:os.system ['echo pwned']\n")


@pytest.mark.parametrize(
    "text, message",
    [
        ("- a list\n", "must be a YAML mapping"),
        ("version: 7\nmodel: {model: x}\n", "profile version 7"),
        ("modle:\n  model: x\n", "unknown section"),
        ("model: 5\n", "must be a mapping"),
        ("1: 2\n", "unknown section\\(s\\) 1; expected model, hardware, workload, policy, targets$"),
    ],
)
def test_malformed_profiles(text, message):
    with pytest.raises(WizardError, match=message):
        parse_profile(text)


def test_a_profile_written_flat_is_told_where_each_setting_goes():
    """Flags and links are flat, so a hand-written profile often is too: the error says which section each key
    belongs to, and how to write the model."""
    with pytest.raises(WizardError) as exc:
        parse_profile("gpu: H100\nconcurrency: 8\nmodle: x\nmodel:\n  model: x\n")
    assert str(exc.value) == ("profile has unknown section(s) concurrency, gpu, modle; expected model, hardware, "
                              "workload, policy, targets (concurrency goes under workload:; gpu goes under hardware:)")
    with pytest.raises(WizardError) as exc:
        parse_profile("model: meta-llama/Llama-3.1-8B-Instruct\n")
    assert str(exc.value) == ("profile: section 'model' must be a mapping (write model:, then model: "
                              "meta-llama/Llama-3.1-8B-Instruct indented under it)")


def test_flat_values_override_profile_values():
    base = parse_profile("model:\n  model: Qwen/Qwen3-8B\nworkload:\n  concurrency: 3\n")
    request = parse_request({"concurrency": 9}, base)
    assert request.workload.concurrency == 9 and request.model.model == "Qwen/Qwen3-8B"


def test_invalid_values_carry_the_field_and_each_face_names_it_its_own_way():
    with pytest.raises(WizardError) as exc:
        parse_request({"model": "x", "gen_tokens": -1})
    assert exc.value.problems == [("gen_tokens", "must be at least 1 (got -1)")]
    assert "--" not in str(exc.value)  # the core never names a CLI flag
    assert describe(exc.value, "cli") == "--gen-tokens: must be at least 1 (got -1)"
    assert describe(exc.value, "form") == "Output tokens: must be at least 1 (got -1)"
    assert describe(exc.value, "profile") == "workload.gen_tokens: must be at least 1 (got -1)"


def test_dtype_aliases_are_normalised_to_vllm_values():
    assert parse_request({"model": "x", "dtype": "bf16"}).model.dtype == "bfloat16"
    assert parse_request({"model": "x", "dtype": "fp16"}).model.dtype == "float16"
