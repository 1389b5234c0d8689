"""Long prompts through CLIP, the way kohya's sd-scripts and A1111 read them.

CLIP sees 77 tokens: a begin token, 75 words' worth, an end token. The bespoke captions run
to 110-170 tokens, so diffusers' own `encode_prompt` silently drops skin, collar,
accessories and facing. Here a prompt's tokens are cut into windows of 75, each window is
encoded on its own between begin and end tokens, and the hidden states are joined: the
first begin state, every window's 75 body states, the last end state. One window gives
exactly what diffusers gives; `max_token_length` 150 or 225 gives two or three windows,
every prompt the same number so a batch stacks. The pooled embedding (SDXL) is the first
window's, as kohya takes it.
"""

from __future__ import annotations

from typing import Literal

import torch
from transformers import PreTrainedTokenizerBase

#: Which hidden states a family conditions on: CLIP's last layer (SD 1.x, clip skip 1) or
#: the one before it (SDXL).
Layer = Literal["last", "penultimate"]


def window_ids(
    tokenizer: PreTrainedTokenizerBase, prompts: list[str], max_token_length: int
) -> torch.Tensor:
    """Token ids (prompts, windows, CLIP's length): each window is begin, up to 75 of the
    prompt's tokens, end, padding; tokens past `max_token_length` are cut, as in kohya."""
    length = tokenizer.model_max_length
    body = length - 2
    windows = -(-max_token_length // body)
    tokens = tokenizer(
        prompts,
        add_special_tokens=False,
        truncation=True,
        max_length=windows * body,
    ).input_ids
    ids = torch.full((len(prompts), windows, length), tokenizer.pad_token_id, dtype=torch.long)
    for row, prompt_tokens in enumerate(tokens):
        for window in range(windows):
            part = prompt_tokens[window * body : (window + 1) * body]
            chunk = [tokenizer.bos_token_id, *part, tokenizer.eos_token_id]
            ids[row, window, : len(chunk)] = torch.tensor(chunk)
    return ids


def encode_windows(
    text_encoder: torch.nn.Module, ids: torch.Tensor, layer: Layer
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden states (prompts, 2 + 75 x windows, width) joined across windows, and the
    first window's projected pooled embedding where the encoder has a projection."""
    prompts, windows, length = ids.shape
    output = text_encoder(ids.view(-1, length).to(text_encoder.device), output_hidden_states=True)
    states = output.hidden_states[-2] if layer == "penultimate" else output.last_hidden_state
    states = states.view(prompts, windows, length, -1)
    joined = torch.cat(
        [states[:, 0, :1], states[:, :, 1:-1].flatten(1, 2), states[:, -1, -1:]], dim=1
    )
    pooled = getattr(output, "text_embeds", None)
    if pooled is not None:
        pooled = pooled.view(prompts, windows, -1)[:, 0]
    return joined, pooled
