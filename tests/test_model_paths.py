"""Which server directories a model may be read from (VLLM_WIZARD_MODELS_DIR), and model inputs that crashed.

The Hub is only read through huggingface_hub from a local cache (HF_HUB_OFFLINE=1, conftest.py).
"""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_metadata import (
    TINY_CONFIG,
    _populate_hub_cache,
    tiny_tensors,
    write_safetensors,
)
from wizard.catalog.metadata import resolve_model
from wizard.catalog.server_paths import MODELS_DIR_ENV
from wizard.errors import WizardError
from wizard.faces.cli import main

TINY_PARAMS = 2 * 1000 * 256 + 256 + 2 * (2 * 256 * 256 + 2 * 128 * 256 + 3 * 256 * 512 + 2 * 256)  # test_metadata's sum


def write_model(directory: Path) -> Path:
    """A tiny Llama model directory: config.json and one safetensors file."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(TINY_CONFIG))
    write_safetensors(directory / "model.safetensors", tiny_tensors())
    return directory


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A models folder set as MODELS_DIR_ENV holding `tiny`, and a valid model `outside` beside it."""
    root = tmp_path / "models"
    write_model(root / "tiny")
    write_model(tmp_path / "outside")
    monkeypatch.setenv(MODELS_DIR_ENV, str(root))
    return root


# ---------------------------------------------------------------- the models folder


def test_a_model_inside_the_folder_is_read_by_absolute_or_relative_path(models):
    for given in (str(models / "tiny"), "tiny", "./tiny", "tiny/../tiny"):
        info = resolve_model(given)
        assert info.source == "local" and info.model == str(models / "tiny")
        assert info.params_total == TINY_PARAMS


def test_dot_dot_out_of_the_folder_is_refused(models):
    for given in ("../outside", "tiny/../../outside", str(models / ".." / "outside")):
        with pytest.raises(WizardError, match=rf"outside the models folder .*{MODELS_DIR_ENV}.*'\.\.' leads out of it"):
            resolve_model(given)


def test_an_absolute_path_elsewhere_is_refused(models, tmp_path):
    for given in (str(tmp_path / "outside"), "/etc", "/etc/passwd", "~"):
        with pytest.raises(WizardError, match=rf"outside the models folder .*{MODELS_DIR_ENV}.*it is not inside it"):
            resolve_model(given)


def test_a_symlink_out_of_the_folder_is_refused_without_naming_its_target(models, tmp_path):
    (models / "link").symlink_to(tmp_path / "outside")
    for given in ("link", str(models / "link")):
        with pytest.raises(WizardError, match="a symbolic link on the way points outside it") as caught:
            resolve_model(given)
        assert str(tmp_path / "outside") not in str(caught.value)


def test_files_inside_a_model_directory_that_link_out_are_refused(models, tmp_path):
    config_link = models / "config-link"
    config_link.mkdir()
    (config_link / "config.json").symlink_to(tmp_path / "outside" / "config.json")
    with pytest.raises(WizardError, match="config.json' is outside the models folder"):
        resolve_model("config-link")
    weights_link = write_model(models / "weights-link")
    (weights_link / "extra.safetensors").symlink_to(tmp_path / "outside" / "model.safetensors")
    with pytest.raises(WizardError, match="extra.safetensors' is outside the models folder"):
        resolve_model("weights-link")


def test_a_symlink_that_stays_inside_the_folder_is_read(models):
    (models / "alias").symlink_to(models / "tiny")
    info = resolve_model("alias")
    assert info.source == "local" and info.model == str(models / "tiny") and info.params_total == TINY_PARAMS


@pytest.mark.parametrize("value", ["none", "", "NONE", " none "])
def test_none_refuses_every_server_path_and_keeps_catalog_ids(value, tmp_path, monkeypatch):
    write_model(tmp_path / "outside")
    monkeypatch.setenv(MODELS_DIR_ENV, value)
    for given in (str(tmp_path / "outside"), "./outside", "../x", "~", ".", "a/b/c"):
        with pytest.raises(WizardError, match=rf"is a path, and this server reads no model directories \({MODELS_DIR_ENV} "):
            resolve_model(given)
    assert resolve_model("Qwen/Qwen3-8B").source == "catalog"


def test_none_does_not_read_a_directory_named_like_a_hub_id(tmp_path, monkeypatch):
    """Unset, `acme/tiny` in the working directory is read; with `none` only the catalog and the Hub are asked."""
    from huggingface_hub import constants

    write_model(tmp_path / "acme" / "tiny")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    assert resolve_model("acme/tiny").source == "local"
    monkeypatch.setenv(MODELS_DIR_ENV, "none")
    with pytest.raises(WizardError, match="Hugging Face Hub cannot be reached"):
        resolve_model("acme/tiny")


def test_unset_reads_any_local_directory(tmp_path, monkeypatch):
    write_model(tmp_path / "anywhere")
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    info = resolve_model(str(tmp_path / "anywhere"))
    assert info.source == "local" and info.params_total == TINY_PARAMS


def test_the_hub_cache_is_still_read_inside_a_models_folder(models, tmp_path, monkeypatch):
    """The folder limits paths the visitor names, not huggingface_hub's own cache."""
    from huggingface_hub import constants

    _populate_hub_cache(tmp_path / "hub-cache", "acme/tiny-llama", TINY_CONFIG)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    assert resolve_model("acme/tiny-llama").source == "hub"


def test_the_cli_obeys_the_setting(capsys, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_ENV, "none")
    assert main(["plan", "-m", "/etc", "--gpu", "H100"]) == 2
    err = capsys.readouterr().err
    assert MODELS_DIR_ENV in err and err.count("\n") == 1 and "Traceback" not in err


# ---------------------------------------------------------------- inputs that crashed


@pytest.mark.parametrize(("model", "message"), [
    ("a" * 300, r"not a valid Hugging Face id \(it is 300 characters long\)"),
    ("org/" + "b" * 300, r"not a valid Hugging Face id \(it is 304 characters long\)"),
    ("é" * 300, r"not a valid Hugging Face id \(it has non-ASCII characters\)"),
    ("modèle/ça", r"not a valid Hugging Face id \(it has non-ASCII characters\)"),
    ("acme/x:y", r"not a valid Hugging Face id \(it is not of that form\)"),
    ("acme/x\x01y", "holds control characters or binary data"),
    ("a\x00b", "holds control characters or binary data"),
    ("\x89PNG\r\n\x1a\n\x00\x00", "holds control characters or binary data"),
    ("\udcff\udcfe", "holds control characters or binary data"),  # undecodable bytes as Python passes them on
    ("", "no model given"),
    (" \t\n ", "no model given"),
    ("/" + "c" * 300, r"cannot use ./c+\.\.\.c+. as a directory: File name too long"),
])
@pytest.mark.parametrize("setting", [None, "none"])
def test_bad_model_inputs_are_clear_errors(model, message, setting, monkeypatch):
    if setting is None:
        monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    else:
        monkeypatch.setenv(MODELS_DIR_ENV, setting)
        if model.startswith("/"):
            message = "reads no model directories"
    with pytest.raises(WizardError, match=message) as caught:
        resolve_model(model)
    assert len(str(caught.value)) < 600  # the input is quoted cut short, never echoed whole


@pytest.mark.parametrize("revision", ["/etc/hostname", "../../../../etc/hostname", "main/../..", "a b", "main\x00",
                                      "main\\x", "r" * 256, "", "é"])
def test_revisions_that_would_leave_the_hub_cache_are_refused(revision):
    """huggingface_hub keeps refs/<revision> as a file: an absolute or '..' revision read any file (its text leaked)."""
    with pytest.raises(WizardError, match="is not a branch, tag or commit name"):
        resolve_model("acme/tiny-llama", revision=revision)


def test_a_plain_revision_still_reaches_the_hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    _populate_hub_cache(tmp_path, "acme/tiny-llama", TINY_CONFIG, revision="v1.0")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert resolve_model("acme/tiny-llama", revision="v1.0").revision == "v1.0"


def test_dashboard_reports_bad_models_and_refused_paths(monkeypatch):
    monkeypatch.setenv(MODELS_DIR_ENV, "none")
    for model, message in (("hosting-test/" + "x" * 300, "characters long"), ("/etc/hosting-test", MODELS_DIR_ENV)):
        at = AppTest.from_file("../app.py", default_timeout=60)
        at.query_params["model"] = model
        at.run()
        assert not at.exception
        assert at.error and message in at.error[0].value
        assert not at.get("plotly_chart")
