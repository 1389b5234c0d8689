"""LoRA files in the layouts ComfyUI and A1111 load, converted from peft's state dict.

UNets use kohya's names: the module path with underscores, `lora_down`/`lora_up` and one
`alpha` per module. For SD1-style UNets (the embedded model) that path is diffusers' own
(`down_blocks.1.attentions.0...`); for SDXL it is the original Stability one
(`input_blocks.4.1...`), as kohya's sd-scripts write them.
FLUX uses the Black Forest Labs layout that kohya's sd-scripts, ComfyUI and Forge share:
diffusers' separate q/k/v projections are fused into `img_attn.qkv` (double blocks) and
`linear1` (single blocks, which also holds the MLP input). A fused LoRA stacks the parts'
down matrices and places each up matrix block-diagonally, so it applies exactly the same
update; its alpha grows with its rank so that alpha / rank, the scale, is unchanged.
"""

from __future__ import annotations

import re

import torch

_PEFT_KEY = re.compile(r"^(.+)\.(lora_A|lora_B)\.weight$")


class ExportError(ValueError):
    """A LoRA module that the target layout has no place for."""


def _modules(peft_state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """module path -> {"down": A, "up": B}"""
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in peft_state.items():
        module, kind = _PEFT_KEY.match(key).groups()
        modules.setdefault(module, {})["down" if kind == "lora_A" else "up"] = tensor
    return modules


def _kohya_entry(
    name: str, down: torch.Tensor, up: torch.Tensor, alpha: float, prefix: str = "lora_unet"
) -> dict:
    return {
        f"{prefix}_{name}.lora_down.weight": down,
        f"{prefix}_{name}.lora_up.weight": up,
        f"{prefix}_{name}.alpha": torch.tensor(float(alpha)),
    }


def _stability_unet_path(module: str, layers_per_block: int) -> str:
    """diffusers' UNet block names to the original ones: down block i, layer j is input
    block 1 + i(L+1) + j; up block i, layer j is output block i(L+1) + j; attentions are
    the block's second part (index 1)."""
    per = layers_per_block + 1
    for pattern, index in (
        (
            r"^down_blocks\.(\d+)\.attentions\.(\d+)\.",
            lambda i, j: f"input_blocks.{1 + i * per + j}.1.",
        ),
        (r"^up_blocks\.(\d+)\.attentions\.(\d+)\.", lambda i, j: f"output_blocks.{i * per + j}.1."),
    ):
        match = re.match(pattern, module)
        if match:
            return index(int(match[1]), int(match[2])) + module[match.end() :]
    if module.startswith("mid_block.attentions.0."):
        return "middle_block.1." + module.removeprefix("mid_block.attentions.0.")
    raise ExportError(f"{module}: only attention modules have a kohya name in this exporter")


def kohya_unet(
    peft_state: dict[str, torch.Tensor], alpha: float, stability_layers_per_block: int | None
) -> dict[str, torch.Tensor]:
    """`stability_layers_per_block`: the UNet's layers per block for Stability names, or
    None to keep diffusers' names."""
    kohya: dict[str, torch.Tensor] = {}
    for module, parts in _modules(peft_state).items():
        if stability_layers_per_block is not None:
            module = _stability_unet_path(module, stability_layers_per_block)
        name = module.replace(".", "_")
        kohya.update(_kohya_entry(name, parts["down"], parts["up"], alpha))
    return kohya


def kohya_text_encoder(
    peft_state: dict[str, torch.Tensor], alpha: float, prefix: str
) -> dict[str, torch.Tensor]:
    """A CLIP text encoder's LoRA under kohya's names (`lora_te_text_model_encoder_layers_0_
    self_attn_q_proj`; SDXL's two encoders use `lora_te1` and `lora_te2`): the module
    paths of transformers' CLIPTextModel before version 5, which kept its layers under
    `text_model.`. kohya has no place for a LoRA on the token embedding."""
    kohya: dict[str, torch.Tensor] = {}
    for module, parts in _modules(peft_state).items():
        if "embedding" in module:
            raise ExportError(f"{module}: kohya's text encoder layout has no embedding LoRA")
        if not module.startswith("text_model."):
            module = f"text_model.{module}"
        name = module.replace(".", "_")
        kohya.update(_kohya_entry(name, parts["down"], parts["up"], alpha, prefix))
    return kohya


#: diffusers FLUX module (after the block prefix) -> (BFL module, part of the fused output)
_DOUBLE = {
    "attn.to_q": ("img_attn.qkv", 0),
    "attn.to_k": ("img_attn.qkv", 1),
    "attn.to_v": ("img_attn.qkv", 2),
    "attn.add_q_proj": ("txt_attn.qkv", 0),
    "attn.add_k_proj": ("txt_attn.qkv", 1),
    "attn.add_v_proj": ("txt_attn.qkv", 2),
    "attn.to_out.0": ("img_attn.proj", 0),
    "attn.to_add_out": ("txt_attn.proj", 0),
    "ff.net.0.proj": ("img_mlp.0", 0),
    "ff.net.2": ("img_mlp.2", 0),
    "ff_context.net.0.proj": ("txt_mlp.0", 0),
    "ff_context.net.2": ("txt_mlp.2", 0),
    # the adaptive norms' modulation (ai-toolkit, so the Replicate FLUX trainer, targets them):
    # diffusers' chunks (shift, scale, gate for attention, then for the MLP) are BFL's order
    "norm1.linear": ("img_mod.lin", 0),
    "norm1_context.linear": ("txt_mod.lin", 0),
}
_SINGLE = {
    "norm.linear": ("modulation.lin", 0),
    "attn.to_q": ("linear1", 0),
    "attn.to_k": ("linear1", 1),
    "attn.to_v": ("linear1", 2),
    "proj_mlp": ("linear1", 3),
    "proj_out": ("linear2", 0),
}


def _bfl_target(module: str) -> tuple[str, int]:
    for prefix, bfl_prefix, table in (
        ("transformer_blocks", "double_blocks", _DOUBLE),
        ("single_transformer_blocks", "single_blocks", _SINGLE),
    ):
        match = re.match(rf"^{prefix}\.(\d+)\.(.+)$", module)
        if match and match[2] in table:
            target, part = table[match[2]]
            return f"{bfl_prefix}.{match[1]}.{target}", part
    raise ExportError(f"{module}: no place for this module in the ComfyUI FLUX layout")


def comfy_flux(
    peft_state: dict[str, torch.Tensor], alpha: float, part_sizes: dict[str, list[int]]
) -> dict[str, torch.Tensor]:
    """`part_sizes` gives the output rows of each fused module's parts, e.g.
    {"img_attn.qkv": [3072] * 3, "linear1": [3072] * 3 + [12288]}; parts without a LoRA
    get zero rows, so the file matches the fused weight's shape."""
    fused: dict[str, dict[int, dict[str, torch.Tensor]]] = {}
    for module, parts in _modules(peft_state).items():
        target, part = _bfl_target(module)
        fused.setdefault(target, {})[part] = parts
    bfl: dict[str, torch.Tensor] = {}
    for target, by_part in fused.items():
        sizes = part_sizes.get(target.split(".", 2)[2])  # "img_attn.qkv", "linear1", ...
        if sizes is None:
            (parts,) = by_part.values()
            down, up, rank_alpha = parts["down"], parts["up"], alpha
        else:
            present = sorted(by_part)
            down = torch.cat([by_part[p]["down"] for p in present])
            rank = by_part[present[0]]["down"].shape[0]
            up = torch.zeros(sum(sizes), rank * len(present), dtype=down.dtype)
            for column, p in enumerate(present):
                row = sum(sizes[:p])
                up[row : row + sizes[p], column * rank : (column + 1) * rank] = by_part[p]["up"]
            rank_alpha = alpha * len(present)
        bfl.update(_kohya_entry(target.replace(".", "_"), down, up, rank_alpha))
    return bfl
