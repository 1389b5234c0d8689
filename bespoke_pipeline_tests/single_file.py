"""Write a diffusers SD 1.5 or SDXL pipeline as one original-layout ("CompVis"/LDM) file.

Artists keep base models as single `.safetensors` files in the layout Stability published
and A1111/ComfyUI read. The tests build tiny random-weight pipelines in code; this turns
one into such a file so that `from_single_file` can be tested without downloads.

The mapping is the inverse of diffusers' own converters (diffusers 0.42,
`diffusers/loaders/single_file_utils.py`): `convert_ldm_unet_checkpoint`,
`convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint` and
`convert_open_clip_checkpoint`. Every weight must get an original name; an unknown one
raises rather than being dropped, so a model the inverse does not cover fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import save_file

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD1_CLIP_PREFIX = "cond_stage_model.transformer."
SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer."
SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."

#: diffusers ResnetBlock2D names -> the LDM UNet ResBlock's (update_unet_resnet_ldm_to_diffusers).
_UNET_RESNET = {
    "norm1.": "in_layers.0.",
    "conv1.": "in_layers.2.",
    "norm2.": "out_layers.0.",
    "conv2.": "out_layers.3.",
    "time_emb_proj.": "emb_layers.1.",
    "conv_shortcut.": "skip_connection.",
}
#: diffusers VAE mid-block Attention -> LDM AttnBlock (update_vae_attentions_ldm_to_diffusers).
_VAE_ATTENTION = {
    "group_norm.": "norm.",
    "to_q.": "q.",
    "to_k.": "k.",
    "to_v.": "v.",
    "to_out.0.": "proj_out.",
}
#: HF CLIP encoder layer -> OpenCLIP resblock (DIFFUSERS_TO_LDM_MAPPING["openclip"]).
_OPEN_CLIP_LAYER = {
    "layer_norm1.": "ln_1.",
    "layer_norm2.": "ln_2.",
    "mlp.fc1.": "mlp.c_fc.",
    "mlp.fc2.": "mlp.c_proj.",
    "self_attn.out_proj.": "attn.out_proj.",
}


def _tensor(value: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    value = value.detach().to("cpu")
    if dtype is not None and value.is_floating_point():
        value = value.to(dtype)
    return value.clone().contiguous()  # no shared storage: safetensors refuses it


def _rename(
    state: dict[str, torch.Tensor],
    prefixes: dict[str, tuple[str, dict[str, str]]],
    what: str,
) -> dict[str, str]:
    """Diffusers key -> LDM key: the longest matching diffusers prefix is swapped for its
    LDM prefix, then the inner names in its table are swapped too."""
    ordered = sorted(prefixes, key=len, reverse=True)
    names = {}
    for key in state:
        prefix = next((p for p in ordered if key.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"{what}: no original-layout name for {key!r}")
        ldm_prefix, inner = prefixes[prefix]
        rest = key[len(prefix) :]
        for old, new in inner.items():
            if rest.startswith(old):
                rest = new + rest[len(old) :]
                break
        names[key] = ldm_prefix + rest
    return names


def unet_to_ldm(unet: UNet2DConditionModel) -> dict[str, str]:
    """UNet2DConditionModel keys -> `model.diffusion_model.*` keys.

    LDM numbers the UNet's steps flat: `input_blocks.0` is conv_in, then each down block
    gives layers_per_block (resnet, attention) steps and one downsampler step;
    `output_blocks` give layers_per_block + 1 steps per up block, the upsampler riding on
    the last one (`.1.conv` without attention, `.2.conv` with). convert_ldm_unet_checkpoint
    recovers block and layer as divmod(step, layers_per_block + 1), so this must agree."""
    per_block = unet.config.layers_per_block
    if not isinstance(per_block, int):
        raise ValueError("the LDM layout needs one layers_per_block for every block")
    resnet, plain = _UNET_RESNET, {}
    prefixes: dict[str, tuple[str, dict[str, str]]] = {
        "conv_in.": ("input_blocks.0.0.", plain),
        "time_embedding.linear_1.": ("time_embed.0.", plain),
        "time_embedding.linear_2.": ("time_embed.2.", plain),
        "add_embedding.linear_1.": ("label_emb.0.0.", plain),
        "add_embedding.linear_2.": ("label_emb.0.2.", plain),
        "class_embedding.linear_1.": ("label_emb.0.0.", plain),
        "class_embedding.linear_2.": ("label_emb.0.2.", plain),
        "conv_norm_out.": ("out.0.", plain),
        "conv_out.": ("out.2.", plain),
        "mid_block.resnets.0.": ("middle_block.0.", resnet),
        "mid_block.attentions.0.": ("middle_block.1.", plain),
        "mid_block.resnets.1.": ("middle_block.2.", resnet),
    }
    for b, block in enumerate(unet.down_blocks):
        if len(block.resnets) != per_block:
            raise ValueError(f"down block {b} has {len(block.resnets)} resnets, not {per_block}")
        for layer in range(per_block):
            step = 1 + b * (per_block + 1) + layer
            prefixes[f"down_blocks.{b}.resnets.{layer}."] = (f"input_blocks.{step}.0.", resnet)
            prefixes[f"down_blocks.{b}.attentions.{layer}."] = (f"input_blocks.{step}.1.", plain)
        step = 1 + b * (per_block + 1) + per_block
        prefixes[f"down_blocks.{b}.downsamplers.0.conv."] = (f"input_blocks.{step}.0.op.", plain)
    for b, block in enumerate(unet.up_blocks):
        if len(block.resnets) != per_block + 1:
            raise ValueError(f"up block {b} has {len(block.resnets)} resnets, not {per_block + 1}")
        for layer in range(per_block + 1):
            step = b * (per_block + 1) + layer
            prefixes[f"up_blocks.{b}.resnets.{layer}."] = (f"output_blocks.{step}.0.", resnet)
            prefixes[f"up_blocks.{b}.attentions.{layer}."] = (f"output_blocks.{step}.1.", plain)
        step = b * (per_block + 1) + per_block
        upsampler = 2 if getattr(block, "attentions", None) else 1
        prefixes[f"up_blocks.{b}.upsamplers.0.conv."] = (
            f"output_blocks.{step}.{upsampler}.conv.",
            plain,
        )
    return _rename(unet.state_dict(), prefixes, "UNet")


def vae_to_ldm(vae: AutoencoderKL) -> dict[str, str]:
    """AutoencoderKL keys -> `first_stage_model.*` keys. LDM counts the decoder's up blocks
    from the lowest resolution's end (`up.{n-1-i}`), the reverse of diffusers' order."""
    plain: dict[str, str] = {}
    prefixes: dict[str, tuple[str, dict[str, str]]] = {
        "quant_conv.": ("quant_conv.", plain),
        "post_quant_conv.": ("post_quant_conv.", plain),
    }
    for part in ("encoder", "decoder"):
        prefixes[f"{part}.conv_in."] = (f"{part}.conv_in.", plain)
        prefixes[f"{part}.conv_out."] = (f"{part}.conv_out.", plain)
        prefixes[f"{part}.conv_norm_out."] = (f"{part}.norm_out.", plain)
        prefixes[f"{part}.mid_block.resnets.0."] = (f"{part}.mid.block_1.", plain)
        prefixes[f"{part}.mid_block.resnets.1."] = (f"{part}.mid.block_2.", plain)
        prefixes[f"{part}.mid_block.attentions.0."] = (f"{part}.mid.attn_1.", _VAE_ATTENTION)
    for i in range(len(vae.encoder.down_blocks)):
        prefixes[f"encoder.down_blocks.{i}.resnets."] = (f"encoder.down.{i}.block.", plain)
        prefixes[f"encoder.down_blocks.{i}.downsamplers.0.conv."] = (
            f"encoder.down.{i}.downsample.conv.",
            plain,
        )
    count = len(vae.decoder.up_blocks)
    for i in range(count):
        ldm = count - 1 - i
        prefixes[f"decoder.up_blocks.{i}.resnets."] = (f"decoder.up.{ldm}.block.", plain)
        prefixes[f"decoder.up_blocks.{i}.upsamplers.0.conv."] = (
            f"decoder.up.{ldm}.upsample.conv.",
            plain,
        )
    names = _rename(vae.state_dict(), prefixes, "VAE")
    # every VAE resnet's shortcut (update_vae_resnet_ldm_to_diffusers)
    return {k: v.replace(".conv_shortcut.", ".nin_shortcut.") for k, v in names.items()}


def _vae_tensor(ldm_key: str, value: torch.Tensor) -> torch.Tensor:
    """LDM's VAE attention is 1x1 convolutions; diffusers' is linear layers
    (conv_attn_to_linear squeezes them back)."""
    if ".mid.attn_1." in ldm_key and ldm_key.endswith(".weight") and value.ndim == 2:
        return value[:, :, None, None]
    return value


def _clip_state(text_encoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CLIP text model's weights named as in transformers' `CLIPTextModel` before it was
    flattened (`text_model.*`), the names original files use; position_ids is a buffer."""
    state = {}
    for key, value in text_encoder.state_dict().items():
        if key.endswith("position_ids"):
            continue
        if key.startswith("text_projection."):
            state[key] = value
        else:
            state["text_model." + key.removeprefix("text_model.")] = value
    return state


def clip_to_ldm(text_encoder: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """HF CLIP keys under `prefix` (convert_ldm_clip_checkpoint only strips the prefix)."""
    state = _clip_state(text_encoder)
    if any(k.startswith("text_projection.") for k in state):
        raise ValueError("an LDM CLIP-L embedder has no text projection")
    return {prefix + k: v for k, v in state.items()}


def open_clip_to_ldm(text_encoder: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """HF CLIPTextModelWithProjection -> OpenCLIP names under `prefix`: q, k and v stacked
    into `attn.in_proj_*`, the projection stored transposed (convert_open_clip_checkpoint)."""
    state = {k.removeprefix("text_model."): v for k, v in _clip_state(text_encoder).items()}
    out = {
        prefix + "positional_embedding": state.pop("embeddings.position_embedding.weight"),
        prefix + "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
        prefix + "ln_final.weight": state.pop("final_layer_norm.weight"),
        prefix + "ln_final.bias": state.pop("final_layer_norm.bias"),
        prefix + "text_projection": state.pop("text_projection.weight").T,
    }
    layers = {int(k.split(".")[2]) for k in state if k.startswith("encoder.layers.")}
    for layer in sorted(layers):
        hf = f"encoder.layers.{layer}."
        ldm = f"{prefix}transformer.resblocks.{layer}."
        for kind in ("weight", "bias"):
            out[f"{ldm}attn.in_proj_{kind}"] = torch.cat(
                [state.pop(f"{hf}self_attn.{p}_proj.{kind}") for p in "qkv"]
            )
        for key in [k for k in state if k.startswith(hf)]:
            rest = key[len(hf) :]
            old = next((o for o in _OPEN_CLIP_LAYER if rest.startswith(o)), None)
            if old is None:
                raise ValueError(f"OpenCLIP: no original-layout name for {key!r}")
            out[ldm + _OPEN_CLIP_LAYER[old] + rest[len(old) :]] = state.pop(key)
    if state:
        raise ValueError(f"OpenCLIP: no original-layout names for {sorted(state)}")
    return out


def ldm_state_dict(pipe, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """The pipeline's UNet, VAE and text encoder(s) as one original-layout state dict:
    SD 1.x (`cond_stage_model.transformer.*`) when it has one text encoder, SDXL base
    (`conditioner.embedders.{0,1}.*`) when it has a second one with a projection."""
    unet_state = pipe.unet.state_dict()
    out = {
        UNET_PREFIX + ldm: _tensor(unet_state[key], dtype)
        for key, ldm in unet_to_ldm(pipe.unet).items()
    }
    vae_state = pipe.vae.state_dict()
    for key, ldm in vae_to_ldm(pipe.vae).items():
        out[VAE_PREFIX + ldm] = _tensor(_vae_tensor(ldm, vae_state[key]), dtype)
    if getattr(pipe, "text_encoder_2", None) is not None:
        text = {
            **clip_to_ldm(pipe.text_encoder, SDXL_CLIP_PREFIX),
            **open_clip_to_ldm(pipe.text_encoder_2, SDXL_OPEN_CLIP_PREFIX),
        }
    else:
        text = clip_to_ldm(pipe.text_encoder, SD1_CLIP_PREFIX)
    out.update({k: _tensor(v, dtype) for k, v in text.items()})
    return out


def write_single_file(pipe, path: str | Path, *, dtype: torch.dtype | None = None) -> Path:
    """Write `pipe` (a StableDiffusionPipeline or StableDiffusionXLPipeline) as one
    original-layout `.safetensors`, loadable offline with
    `<PipelineClass>.from_single_file(path, config=<the pipeline's save_pretrained folder>)`.
    `dtype` casts floating-point weights (e.g. torch.float16, as most shared files are)."""
    state = ldm_state_dict(pipe, dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt"})
    return path
