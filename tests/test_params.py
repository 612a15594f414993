"""Parameter counts derived from config.json alone, against published counts."""

import json
from pathlib import Path

import pytest

from wizard.physics.arch import parse_config
from wizard.physics.params import (
    active_params,
    count_params,
    mtp_params,
    pp_layer_ranges,
)

CATALOG = Path(__file__).parents[1] / "wizard" / "data" / "models"


def _entry(model_id: str) -> dict:
    return json.loads((CATALOG / (model_id.replace("/", "--") + ".json")).read_text())


# Published counts (the Hub's safetensors total) that the config must reproduce within 0.1%.
PUBLISHED = [
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Llama-2-7b-hf",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "mistralai/Mixtral-8x22B-Instruct-v0.1",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-72B-Instruct",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-30B-A3B",
    "Qwen/Qwen3-235B-A22B",
    "deepseek-ai/DeepSeek-V3",
    "deepseek-ai/DeepSeek-V2-Lite",
    "google/gemma-2-9b-it",
    "microsoft/phi-4",
    "microsoft/Phi-3-mini-4k-instruct",
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    # catalog additions beyond ../shared/model-facts
    "Qwen/Qwen3-14B",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "meta-llama/Meta-Llama-3-70B-Instruct",
    "mistralai/Mistral-Nemo-Instruct-2407",
    "google/gemma-2-2b-it",
    "google/gemma-3-1b-it",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
]


@pytest.mark.parametrize("model_id", PUBLISHED)
def test_count_matches_published_within_0_1_percent(model_id):
    entry = _entry(model_id)
    arch = parse_config(entry["config"])
    counted = count_params(arch) + mtp_params(arch)
    assert abs(counted - entry["params_total"]) / entry["params_total"] < 0.001


def test_llama_3_1_8b_count_by_hand():
    # embed + lm_head: 2 x 128256 x 4096; per layer: q,o 4096^2 each, k,v 4096x1024 each,
    # MLP 3 x 4096 x 14336, two norms; final norm.
    per_layer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096
    expected = 2 * 128256 * 4096 + 32 * per_layer + 4096
    assert expected == 8_030_261_248
    assert count_params(parse_config(_entry("meta-llama/Llama-3.1-8B-Instruct")["config"])) == expected


def test_deepseek_v3_main_model_is_671b_and_mtp_is_extra():
    arch = parse_config(_entry("deepseek-ai/DeepSeek-V3")["config"])
    # Fireworks lists the main model at 671,026,419,200 parameters (models.json disagreements).
    assert count_params(arch) == 671_026_419_200
    assert mtp_params(arch) == 13_463_426_304


def test_tied_embeddings_counted_once():
    arch = parse_config(_entry("Qwen/Qwen2.5-0.5B-Instruct")["config"])
    assert arch.tie_word_embeddings
    assert count_params(arch) == 494_032_768


def test_moe_active_params_qwen3_30b():
    arch = parse_config(_entry("Qwen/Qwen3-30B-A3B")["config"])
    assert active_params(arch) == 3_353_032_704  # the published active count exactly


@pytest.mark.parametrize(
    "layers, stages, sizes",
    [(32, 1, [32]), (32, 2, [16, 16]), (61, 2, [31, 30]), (80, 3, [27, 27, 26]), (62, 4, [15, 16, 16, 15])],
)
def test_pipeline_split_matches_vllm(layers, stages, sizes):
    # vllm/distributed/utils.py get_pp_indices gives the remainder to the stages before the last.
    assert [len(r) for r in pp_layer_ranges(layers, stages)] == sizes


def test_tied_head_stored_twice_is_loaded_once(planned):
    # Qwen3-0.6B ties its LM head, yet the Hub's 751,632,384 counts a stored copy of it.
    p = planned(model="Qwen/Qwen3-0.6B", gpu="L4")
    assert p.model.params_loaded == 596_049_920
    assert any("tied LM head" in note for note in p.model.notes)


def test_non_gated_families_are_refused():
    from wizard.errors import WizardError

    with pytest.raises(WizardError, match="does not model"):
        parse_config({"model_type": "opt", "architectures": ["OPTForCausalLM"], "hidden_size": 768,
                      "num_hidden_layers": 12, "num_attention_heads": 12, "vocab_size": 50272})


def test_an_ignored_layer_does_not_cover_layers_whose_number_starts_the_same():
    # '$' anchors every ignore pattern, not only the last: 'model.layers.1' skips layer 1 and what is under it,
    # never layer 12 (the regex once matched a prefix for every pattern but the last).
    from wizard.physics.params import Tensor
    from wizard.physics.quant import WeightFormat

    fmt = WeightFormat(method="fp8", label="FP8", bits=8, kind="float", ignore=("model.layers.1", "lm_head"))
    down = Tensor("mlp.down_proj", "linear", 4096, 14336)
    assert not fmt.covers(down, 1)
    assert fmt.covers(down, 12) and fmt.covers(down, 10)


@pytest.mark.parametrize("path, ignored", [
    ("lm_head", True),                                   # a plain name, exactly
    ("model.layers.3.mlp.gate", True),                   # a plain name at the end of a path
    ("model.layers.3.mlp.gate_up_proj", False),          # not a name that merely starts the same
    ("model.layers.7.self_attn.q_proj", True),           # under a plain module path
    ("model.layers.70.self_attn.q_proj", False),
    ("model.layers.5.mlp.experts.0.down_proj", True),    # a glob, and what is under it
    ("model.layers.5.mlp.shared_expert.down_proj", False),
    ("model.layers.9.self_attn.o_proj", True),           # a 're:' pattern as written
    ("model.layers.9.self_attn.k_proj", False),
])
def test_ignore_entries_match_as_names_globs_and_regexes(path, ignored):
    from wizard.physics.quant import WeightFormat

    fmt = WeightFormat(method="fp8", label="FP8", bits=8, kind="float",
                       ignore=("lm_head", "mlp.gate", "model.layers.7", "model.layers.5.mlp.experts.*", r"re:.*\.9\..*o_proj"))
    assert fmt._is_ignored(path) is ignored
