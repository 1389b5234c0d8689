"""kohya metadata in the LoRA file: read back as A1111/ComfyUI/CivitAI read it, and the
`sshs_*` hashes recomputed here from the file bytes, independently of the module."""

import hashlib
import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save, save_file

from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.kohya_metadata import build_kohya_metadata, save_kohya_file

STARTED = 1_714_557_600.25  # 2024-05-01T10:00:00.25Z
FINISHED = 1_714_561_200.75


def config(family: str = "sdxl", **overrides: object) -> TrainingConfig:
    return TrainingConfig(family=family, base_model="x", num_train_epochs=1, **overrides)


def metadata(cfg: TrainingConfig, **overrides: object) -> dict[str, str]:
    arguments = {
        "name": "punks-v1",
        "epoch": 3,
        "step": 120,
        "total_epochs": 10,
        "total_steps": 400,
        "captions": ["TOK, red hair, smile", "tok,  red hair ,hat,", "blue eyes"],
        "num_train_images": 3,
        "side": 1024,
        "base_model_name": "stabilityai/stable-diffusion-xl-base-1.0",
        "started_at": STARTED,
        "finished_at": FINISHED,
        **overrides,
    }
    return build_kohya_metadata(cfg, **arguments)


def tensors(scale: float = 1.0) -> dict[str, torch.Tensor]:
    return {
        "lora_unet_a.lora_down.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4) * scale,
        "lora_unet_a.lora_up.weight": torch.ones(4, 3),
        "lora_unet_a.alpha": torch.tensor(4.0),
    }


def read_metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def tensor_section_sha256(path: Path) -> str:
    """The tensor bytes: after the u64 little-endian header length and the header."""
    data = path.read_bytes()
    (header_length,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + header_length :]).hexdigest()


@pytest.mark.parametrize(
    ("family", "architecture", "version"),
    [
        ("sd15", "stable-diffusion-v1/lora", "sd_v1"),
        ("sdxl", "stable-diffusion-xl-v1-base/lora", "sdxl_base_v1-0"),
        ("flux", "flux-1-dev/lora", "flux1"),
    ],
)
def test_file_names_kohya_architecture_and_trigger(
    tmp_path: Path, family: str, architecture: str, version: str
) -> None:
    cfg = config(family, trigger_word="zxq punk")
    path = tmp_path / "kohya_lora.safetensors"
    save_kohya_file(tensors(), path, metadata(cfg))
    read = read_metadata(path)
    assert read["modelspec.architecture"] == architecture
    assert read["ss_base_model_version"] == version
    assert read["modelspec.trigger_phrase"] == "zxq punk"
    assert read["modelspec.title"] == read["ss_output_name"] == "punks-v1"
    assert read["ss_network_module"] == "networks.lora"
    assert read["modelspec.date"] == "2024-05-01T11:00:00+00:00"


def test_pixel_family_gets_our_own_architecture() -> None:
    read = metadata(config("pixel", resolution=(24,)), side=24)
    assert read["modelspec.architecture"] == "bespoke-pixel-punk-24/lora"
    assert read["modelspec.resolution"] == "24x24"


def test_training_settings_round_trip(tmp_path: Path) -> None:
    cfg = config(
        "sdxl",
        lora_rank=8,
        lora_alpha=4.5,
        snr_gamma=5.0,
        learning_rate=2e-4,
        max_token_length=150,
        shuffle_caption=True,
        keep_tokens=1,
    )
    path = tmp_path / "k.safetensors"
    save_kohya_file(tensors(), path, metadata(cfg))
    read = read_metadata(path)
    assert int(read["ss_network_dim"]) == 8
    assert float(read["ss_network_alpha"]) == 4.5
    assert float(read["ss_min_snr_gamma"]) == 5.0
    assert float(read["ss_learning_rate"]) == 2e-4
    assert read["ss_text_encoder_lr"] == "None"  # not trained
    assert read["ss_max_token_length"] == "150"
    assert (read["ss_shuffle_caption"], read["ss_keep_tokens"]) == ("True", "1")
    assert read["modelspec.resolution"] == "1024x1024"
    assert read["ss_resolution"] == "(1024, 1024)"
    assert (read["ss_epoch"], read["ss_steps"]) == ("3", "120")
    assert (read["ss_num_epochs"], read["ss_max_train_steps"]) == ("10", "400")
    assert float(read["ss_training_started_at"]) == STARTED


def test_tag_frequency_counts_comma_separated_parts() -> None:
    frequency = json.loads(metadata(config())["ss_tag_frequency"])
    # parts are stripped and lower-cased as kohya does; empty parts are skipped
    assert frequency == {
        "punks-v1": {"tok": 2, "red hair": 2, "smile": 1, "hat": 1, "blue eyes": 1}
    }


def test_prediction_type_where_known() -> None:
    assert (
        metadata(config("sd15"), prediction_type="v_prediction")["modelspec.prediction_type"] == "v"
    )
    assert (
        metadata(config("sdxl"), prediction_type="epsilon")["modelspec.prediction_type"]
        == "epsilon"
    )
    assert "modelspec.prediction_type" not in metadata(config("sdxl"))
    assert "modelspec.prediction_type" not in metadata(config("flux"), prediction_type="epsilon")
    with pytest.raises(ValueError, match="prediction_type"):
        metadata(config("sd15"), prediction_type="sample")


def test_every_value_is_a_string_and_output_is_deterministic() -> None:
    built = metadata(config("sd15"))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in built.items())
    assert built == metadata(config("sd15"))
    assert (
        built["ss_session_id"] != metadata(config("sd15"), started_at=STARTED + 1)["ss_session_id"]
    )


def test_model_hash_is_sha256_of_the_tensor_bytes(tmp_path: Path) -> None:
    path = tmp_path / "k.safetensors"
    read = save_kohya_file(tensors(), path, metadata(config()))
    assert read == read_metadata(path)
    bare = tmp_path / "bare.safetensors"
    save_file(tensors(), str(bare))  # no metadata at all
    assert read["sshs_model_hash"] == tensor_section_sha256(bare) == tensor_section_sha256(path)
    assert read["modelspec.hash_sha256"] == "0x" + read["sshs_model_hash"]
    # a file under 1 MiB: the legacy hash reads no bytes
    assert read["sshs_legacy_hash"] == hashlib.sha256(b"").hexdigest()[:8]


def test_legacy_hash_reads_64k_at_one_mebibyte(tmp_path: Path) -> None:
    big = {"w": torch.linspace(-1, 1, 400_000)}  # 1.6 MB
    written = metadata(config())
    read = save_kohya_file(big, tmp_path / "k.safetensors", written)
    training_only = {k: v for k, v in written.items() if k.startswith("ss_")}
    blob = save(big, training_only)
    assert read["sshs_legacy_hash"] == hashlib.sha256(blob[0x100000:0x110000]).hexdigest()[:8]
    assert read["sshs_legacy_hash"] != hashlib.sha256(b"").hexdigest()[:8]


def test_model_hash_follows_tensors_not_metadata(tmp_path: Path) -> None:
    first = save_kohya_file(tensors(), tmp_path / "a.safetensors", metadata(config()))
    retitled = save_kohya_file(
        tensors(),
        tmp_path / "b.safetensors",
        metadata(config("sd15", trigger_word="other"), name="renamed", epoch=9),
    )
    changed = save_kohya_file(tensors(2.0), tmp_path / "c.safetensors", metadata(config()))
    assert first["sshs_model_hash"] == retitled["sshs_model_hash"]
    assert first["sshs_model_hash"] != changed["sshs_model_hash"]


@pytest.mark.parametrize("value", [3, None, 1.5, True])
def test_non_string_value_never_reaches_safetensors(tmp_path: Path, value: object) -> None:
    path = tmp_path / "k.safetensors"
    bad = {**metadata(config()), "ss_epoch": value}
    with pytest.raises(TypeError, match="ss_epoch"):
        save_kohya_file(tensors(), path, bad)  # type: ignore[arg-type]
    assert not path.exists()
