"""Model metadata from a local directory, the catalog, and the Hub's local cache (offline)."""

import json
import struct

import pytest

from tests.conftest import make_plan
from wizard.catalog.metadata import (
    CATALOG_DIR,
    catalog_ids,
    count_tensors,
    resolve_model,
)
from wizard.errors import WizardError

TINY_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
    "max_position_embeddings": 2048, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}


def write_safetensors(path, tensors):
    """A .safetensors file whose header lists the tensors (data zero-filled)."""
    header, offset = {}, 0
    for name, shape in tensors.items():
        size = 2
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


def tiny_tensors(extra=None):
    tensors = {"model.embed_tokens.weight": [1000, 256], "lm_head.weight": [1000, 256], "model.norm.weight": [256]}
    for i in range(2):
        p = f"model.layers.{i}."
        tensors |= {p + "self_attn.q_proj.weight": [256, 256], p + "self_attn.k_proj.weight": [128, 256],
                    p + "self_attn.v_proj.weight": [128, 256], p + "self_attn.o_proj.weight": [256, 256],
                    p + "mlp.gate_proj.weight": [512, 256], p + "mlp.up_proj.weight": [512, 256],
                    p + "mlp.down_proj.weight": [256, 512], p + "input_layernorm.weight": [256],
                    p + "post_attention_layernorm.weight": [256]}
    return tensors | (extra or {})


def test_local_directory_reads_config_and_safetensors_headers(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY_CONFIG))
    write_safetensors(tmp_path / "model.safetensors", tiny_tensors())
    info = resolve_model(str(tmp_path))
    assert info.source == "local" and info.params_source == "safetensors headers"
    per_layer = 2 * 256 * 256 + 2 * 128 * 256 + 3 * 256 * 512 + 2 * 256
    assert info.params_total == info.params_loaded == 2 * 1000 * 256 + 256 + 2 * per_layer


def test_local_directory_extra_tensors_are_counted_as_unmodelled(tmp_path):
    plain, extended = tmp_path / "plain", tmp_path / "extended"
    for directory, extra in ((plain, None), (extended, {"vision_tower.proj.weight": [8192, 8192]})):
        directory.mkdir()
        (directory / "config.json").write_text(json.dumps(TINY_CONFIG))
        write_safetensors(directory / "model.safetensors", tiny_tensors(extra))
    base, bigger = make_plan(model=str(plain), gpu="L4"), make_plan(model=str(extended), gpu="L4")
    assert bigger.model.params_loaded - base.model.params_loaded == 8192 * 8192
    assert bigger.memory.weights_gib - base.memory.weights_gib == pytest.approx(0.125, abs=0.01)  # 64 Mi bf16 params
    assert any("does not describe" in note for note in bigger.model.notes)


def test_mtp_layers_are_stored_but_not_loaded():
    total, loaded = count_tensors([("model.layers.0.w", [10, 10]), ("model.layers.61.w", [10, 10]), ("lm_head", [5])], 61)
    assert (total, loaded) == (205, 105)


def test_local_directory_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(WizardError, match="has no config.json"):
        resolve_model(str(tmp_path))


def test_broken_config_json(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(WizardError, match="not valid JSON"):
        resolve_model(str(tmp_path))


def test_unsupported_architecture_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY_CONFIG | {"model_type": "mamba", "architectures": ["MambaForCausalLM"]}))
    with pytest.raises(WizardError, match="not a decoder-only attention model"):
        resolve_model(str(tmp_path))


def test_catalog_has_the_36_shared_models():
    ids = catalog_ids()
    assert len(ids) >= 36
    assert "deepseek-ai/DeepSeek-V3" in ids and "openai/gpt-oss-120b" in ids


def test_catalog_lookup_is_case_insensitive():
    assert resolve_model("META-LLAMA/llama-3.1-8b-instruct").model == "meta-llama/Llama-3.1-8B-Instruct"


def test_every_catalog_file_is_named_for_its_model():
    """A catalog model is found by its file name ('org--name.json'), without reading the other files."""
    for path in CATALOG_DIR.glob("*.json"):
        assert json.loads(path.read_text())["hf_id"].replace("/", "--") + ".json" == path.name


def _populate_hub_cache(root, repo, config, revision="main"):
    """Lay out a Hub cache the way huggingface_hub writes it: refs, snapshots."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    base = root / ("models--" + repo.replace("/", "--"))
    (base / "refs").mkdir(parents=True)
    (base / "refs" / revision).write_text(commit)
    snapshot = base / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(config))


def test_hub_model_read_from_the_local_cache_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    _populate_hub_cache(tmp_path, "acme/tiny-llama", TINY_CONFIG)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    info = resolve_model("acme/tiny-llama")
    assert info.source == "hub" and info.arch.hidden_size == 256
    assert any("Offline" in note for note in info.notes)
    p = make_plan(model="acme/tiny-llama", gpu="L4")
    assert p.model.source == "hub" and p.feasibility.fits


def test_hub_revision_not_in_cache_is_a_clear_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    _populate_hub_cache(tmp_path, "acme/tiny-llama", TINY_CONFIG)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WizardError, match="cannot be reached"):
        resolve_model("acme/tiny-llama", revision="v2")


def test_catalog_model_with_revision_goes_to_the_hub(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WizardError, match="cannot be reached"):
        resolve_model("Qwen/Qwen3-8B", revision="refs/pr/1")
