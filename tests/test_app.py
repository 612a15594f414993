"""The dashboard's behaviour through Streamlit's AppTest (no browser)."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import make_plan

TIMEOUT = 60


@pytest.fixture
def app():
    return AppTest.from_file("../app.py", default_timeout=TIMEOUT)


def plotly_specs(at):
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def serve_command(at):
    return next(c.value for c in at.code if c.value.startswith("vllm serve"))


def test_first_page_shows_a_plan_with_charts_code_and_downloads(app):
    at = app.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 2
    assert serve_command(at).startswith("vllm serve meta-llama/Llama-3.1-8B-Instruct")
    assert len(at.get("download_button")) >= 3
    labels = [m.label for m in at.metric]
    assert "Fits" in labels and "OOM risk" in labels
    assert at.metric[labels.index("Fits")].value == "yes"


def test_vram_chart_data_matches_the_plan(app):
    at = app.run()
    expected = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100 SXM 80GB")
    vram = plotly_specs(at)[0]
    bars = {trace["name"]: trace["y"][0] for trace in vram["data"]}
    gpu = expected.memory.per_gpu[0]
    assert bars["Weights"] == pytest.approx(gpu.weights_gib)
    assert bars["KV cache"] == pytest.approx(gpu.kv_cache_gib)
    assert bars["Activation peak"] == pytest.approx(gpu.activation_gib)


def test_submitting_the_form_replans_and_updates_the_url(app):
    at = app.run()
    at.selectbox(key="model").set_value("Qwen/Qwen3-8B")
    at.number_input(key="concurrency").set_value(4)
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert serve_command(at).startswith("vllm serve Qwen/Qwen3-8B")
    # The share link carries the inputs under the request's field names (the browser's own
    # address bar is updated by the bound widgets; tests/test_e2e.py checks that).
    share = at.code[-1].value
    assert "model=Qwen%2FQwen3-8B" in share and "concurrency=4" in share


def test_query_parameters_reproduce_a_plan(app):
    app.query_params.update({"model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "H100", "gpus": "2", "max_model_len": "8192"})
    at = app.run()
    assert not at.exception
    command = serve_command(at)
    assert "--max-model-len 8192" in command
    expected = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", gpus=2, max_model_len=8192)
    assert command == expected.artifacts.serve_command


def test_unknown_model_in_the_url_is_an_error_not_a_traceback(app):
    app.query_params["model"] = "does-not/exist"
    at = app.run()
    assert not at.exception
    assert at.error and "does-not/exist" in at.error[0].value
    assert not at.get("plotly_chart")


def test_invalid_max_model_len_is_an_error(app):
    app.query_params.update({"max_model_len": "lots"})
    at = app.run()
    assert not at.exception
    assert at.error and "Max model length" in at.error[0].value


def test_failing_plan_lists_fixes_as_links(app):
    app.query_params.update({"model": "meta-llama/Llama-3.1-70B-Instruct", "gpu": "H100"})
    at = app.run()
    assert not at.exception
    assert at.metric[0].value == "no"
    links = [m.value for m in at.markdown if "](?" in m.value]
    assert any("gpus=2" in link for link in links)
    assert any("AWQ" in link for link in links)


def test_profile_upload_fills_the_form(app, tmp_path):
    at = app.run()
    profile = make_plan(model="Qwen/Qwen2.5-7B-Instruct", gpu="L40S", gpus=2, concurrency=3).artifacts.profile_yaml
    at.file_uploader(key="profile_upload").upload("team.yaml", profile.encode())
    at.run()
    assert not at.exception
    assert at.selectbox(key="model").value == "Qwen/Qwen2.5-7B-Instruct"
    assert at.selectbox(key="gpu").value == "L40S"
    assert serve_command(at).startswith("vllm serve Qwen/Qwen2.5-7B-Instruct")


def test_broken_profile_upload_is_reported(app):
    at = app.run()
    at.file_uploader(key="profile_upload").upload("broken.yaml", b"model: [unclosed")
    at.run()
    assert not at.exception
    assert any("could not be loaded" in (e.proto.title or "") for e in at.error)


def test_tooltips_come_from_the_schema(app):
    from wizard.schema import field_info

    at = app.run()
    assert at.number_input(key="gpus").help == field_info("gpus").description
    assert at.selectbox(key="model").help == field_info("model").description


def test_gpus_page_without_gpus(app, monkeypatch):
    monkeypatch.setattr("wizard.catalog.detect.detect_gpus", lambda *a, **k: [])
    at = app.run()
    at.switch_page("pages/gpus.py").run()
    assert not at.exception
    assert any("No NVIDIA GPU" in i.value for i in at.info)
    assert len(at.dataframe[0].value) >= 30


def test_models_page_lists_the_catalog(app):
    at = app.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) >= 36 and "KV bytes/token" in table.columns


def compare_page(app, **query):
    for key, value in query.items():
        app.query_params[key] = value
    at = app.run()
    return at.switch_page("pages/compare.py").run()


def test_compare_page_sweeps_and_links_each_row_to_the_plan_page(app):
    from urllib.parse import parse_qsl

    from wizard.schema import parse_request

    at = compare_page(app)
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Configurations evaluated"].replace(",", "")) > 0
    table = at.dataframe[1].value  # the price editor is the first table
    assert list(table["$/hour"]) == sorted(table["$/hour"])
    first = table.iloc[0]
    request = parse_request(dict(parse_qsl(first["plan"].split("?", 1)[1])))
    assert request.hardware.gpu == first["GPU"] and request.hardware.gpus == first["GPUs/node"]
    assert make_plan(**{k: v for k, v in request.flat().items() if v is not None}).feasibility.fits
    assert len(plotly_specs(at)) == 2  # the Pareto chart and the comparison's memory bars
    assert any(c.language == "diff" for c in at.code)


def test_compare_page_target_filters_rows(app):
    at = compare_page(app)
    before = len(at.dataframe[1].value)
    at.number_input(key="target_max_itl_ms").set_value(30).run()
    assert not at.exception
    table = at.dataframe[1].value
    assert 0 < len(table) < before and (table["ITL ms"] <= 30).all()


def test_compare_page_reports_an_unknown_model(app):
    at = compare_page(app, sweep_model="no-such/model-xyz")
    assert not at.exception
    assert at.error and "no-such/model-xyz" in at.error[0].value


def test_plan_page_checks_a_pasted_start_up_log(app):
    from pathlib import Path

    at = app.run()
    at.text_area(key="log_text").set_value((Path(__file__).parent / "data/logs/v0_0.6.4_memory_profiling_rtx3090.log").read_text())
    at.text_input(key="log_model").set_value("meta-llama/Llama-3.1-8B-Instruct").run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table["measured"])[:2] == [14.9888, 2.0712]
    assert set(table["verdict"]) == {"within range"}


def test_plan_page_reports_a_log_it_cannot_read(app):
    at = app.run()
    at.text_area(key="log_text").set_value("INFO: Uvicorn running on http://0.0.0.0:8000").run()
    assert not at.exception
    assert "no vLLM memory lines found" in at.error[0].value
