"""Epochs trained elsewhere (CivitAI, kohya, Replicate) become checkpoints like our own."""

import io
import shutil
import tarfile
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from bespoke_pipeline.training.checkpoint_weights import load_checkpoint
from bespoke_pipeline.training.checkpoints import KOHYA_FILE, epoch_dir, read_sidecar
from bespoke_pipeline.training.imports import (
    CheckpointImportError,
    find_epochs,
    import_checkpoints,
)
from bespoke_pipeline.training.lora import LoraTrainer
from bespoke_pipeline_tests.test_training.conftest import micro_data
from bespoke_pipeline_tests.test_training.test_gpu_families import (
    config_for,
    load_base,
    prediction,
)


@pytest.fixture(scope="module")
def trained_sd15(tiny_bases, tmp_path_factory) -> Path:
    """Three epochs of a tiny SD 1.5 LoRA, trained here as if on a rented GPU."""
    config = config_for(tiny_bases, "sd15", num_train_epochs=3)
    trainer = LoraTrainer(config, "elsewhere", micro_data(), tmp_path_factory.mktemp("runs"))
    trainer.train()
    return trainer.run_dir


def civitai_download(run_dir: Path, folder: Path) -> Path:
    """How CivitAI's trainer names the epochs: Name-000001 ..., the final one unnumbered."""
    folder.mkdir()
    for epoch, name in ((1, "Punk-000001"), (2, "Punk-000002"), (3, "Punk")):
        shutil.copyfile(epoch_dir(run_dir, epoch) / KOHYA_FILE, folder / f"{name}.safetensors")
    return folder


def test_civitai_epochs_import_in_order_and_draw_what_they_drew(tiny_bases, trained_sd15, tmp_path):
    downloads = civitai_download(trained_sd15, tmp_path / "downloads")
    config = config_for(tiny_bases, "sd15", import_from=str(downloads))
    data = micro_data()
    logs: list[str] = []
    run_dir, epochs = import_checkpoints(config, "imported", data, tmp_path / "runs", logs.append)
    assert [(e.epoch, e.source.name) for e in epochs] == [
        (1, "Punk-000001.safetensors"),
        (2, "Punk-000002.safetensors"),
        (3, "Punk.safetensors"),
    ]
    pipe = load_base(config)
    for epoch in (2, 3):
        load_checkpoint(pipe, epoch_dir(trained_sd15, epoch))
        original = prediction(config, pipe)
        load_checkpoint(pipe, epoch_dir(run_dir, epoch))
        torch.testing.assert_close(prediction(config, pipe), original)
    with safe_open(epoch_dir(run_dir, 3) / KOHYA_FILE, "pt") as handle:
        assert handle.metadata()["ss_epoch"] == "3"  # the source file, metadata and all

    logs.clear()
    import_checkpoints(config, "imported", data, tmp_path / "runs", logs.append)
    assert not logs, "an unchanged import is not redone"


def test_an_ambiguous_or_empty_download_is_refused_with_the_files_named(trained_sd15, tmp_path):
    downloads = civitai_download(trained_sd15, tmp_path / "downloads")
    shutil.copyfile(downloads / "Punk.safetensors", downloads / "Punk-final.safetensors")
    with pytest.raises(CheckpointImportError, match="Punk-final.safetensors, Punk.safetensors"):
        find_epochs(downloads, tmp_path / "unpacked")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointImportError, match="no LoRA epochs"):
        find_epochs(tmp_path / "empty", tmp_path / "unpacked")
    (downloads / "Punk-000004.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(CheckpointImportError, match="Punk-000004.safetensors: not a safetensors"):
        find_epochs(downloads, tmp_path / "unpacked")


def add_member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def test_a_replicate_tar_yields_its_lora_and_nothing_else(trained_sd15, tmp_path):
    tar = tmp_path / "downloads" / "trained_model.tar"
    tar.parent.mkdir()
    lora = (epoch_dir(trained_sd15, 3) / KOHYA_FILE).read_bytes()
    with tarfile.open(tar, "w") as archive:
        add_member(archive, "output/flux_train_replicate/lora.safetensors", lora)
        add_member(archive, "../../escaped.txt", b"a member that points outside")
    (epoch,) = find_epochs(tar.parent, tmp_path / "work" / "unpacked")
    assert epoch.epoch == 1 and epoch.weights.read_bytes() == lora
    assert epoch.weights.parent == tmp_path / "work" / "unpacked"
    assert not list(tmp_path.rglob("escaped.txt"))

    broken = tmp_path / "broken" / "trained_model.tar"
    broken.parent.mkdir()
    broken.write_bytes(b"\x00" * 100 + b"not a tar")
    with pytest.raises(CheckpointImportError, match="trained_model.tar"):
        find_epochs(broken, tmp_path / "unpacked")


def test_a_file_for_another_model_is_named_in_the_error(tiny_bases, trained_sd15, tmp_path):
    downloads = civitai_download(trained_sd15, tmp_path / "downloads")
    config = config_for(tiny_bases, "sdxl", import_from=str(downloads))
    with pytest.raises(CheckpointImportError, match="Punk-000001.safetensors: does not load"):
        import_checkpoints(config, "imported", micro_data(), tmp_path / "runs")


def peft_lora_file(transformer: torch.nn.Module, modules: list[str], path: Path) -> Path:
    """A LoRA in diffusers/peft keys (`transformer.<module>.lora_A.weight`), as ai-toolkit,
    which the Replicate FLUX trainer runs, saves it; random rank-4 weights."""
    draws = torch.Generator().manual_seed(0)
    tensors = {}
    for name in modules:
        linear = transformer.get_submodule(name)
        tensors[f"transformer.{name}.lora_A.weight"] = torch.randn(
            4, linear.in_features, generator=draws
        )
        tensors[f"transformer.{name}.lora_B.weight"] = torch.randn(
            linear.out_features, 4, generator=draws
        )
    save_file(tensors, path)
    return path


def test_an_ai_toolkit_flux_lora_imports_with_its_norm_layers_in_the_kohya_file(
    tiny_bases, tmp_path
):
    config = config_for(tiny_bases, "flux")
    transformer = load_base(config).transformer
    modules = [
        "transformer_blocks.0.attn.to_q",
        "transformer_blocks.0.norm1.linear",
        "transformer_blocks.0.norm1_context.linear",
        "single_transformer_blocks.0.norm.linear",
        "single_transformer_blocks.0.proj_out",
    ]
    source = peft_lora_file(transformer, modules, tmp_path / "lora.safetensors")
    config = config_for(tiny_bases, "flux", import_from=str(source))
    run_dir, _ = import_checkpoints(config, "replicate", micro_data(), tmp_path / "runs")
    with safe_open(epoch_dir(run_dir, 1) / KOHYA_FILE, "pt") as handle:
        keys = set(handle.keys())
    for name in ("double_blocks_0_img_mod_lin", "double_blocks_0_txt_mod_lin"):
        assert f"lora_unet_{name}.lora_down.weight" in keys
    assert "lora_unet_single_blocks_0_modulation_lin.lora_up.weight" in keys


def test_a_lora_on_a_module_kohya_cannot_place_is_kept_and_says_why(tiny_bases, tmp_path):
    """What was paid for is imported and scored; only the kohya file is missing, with the
    reason in the sidecar and the log, and an import run again does not fail."""
    config = config_for(tiny_bases, "flux")
    transformer = load_base(config).transformer
    source = peft_lora_file(transformer, ["x_embedder"], tmp_path / "lora.safetensors")
    config = config_for(tiny_bases, "flux", import_from=str(source))
    logs: list[str] = []
    run_dir, _ = import_checkpoints(config, "r", micro_data(), tmp_path / "runs", logs.append)
    folder = epoch_dir(run_dir, 1)
    assert not (folder / KOHYA_FILE).exists()
    assert "x_embedder" in read_sidecar(folder)["kohya_file"]
    assert any("without a kohya file" in line for line in logs)
    pipe = load_base(config)
    before = prediction(config, pipe)
    load_checkpoint(pipe, folder)
    assert not torch.allclose(prediction(config, pipe), before)
