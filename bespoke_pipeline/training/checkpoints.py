"""Checkpoint files: one folder per epoch, written atomically (a temp folder renamed into
place, so a half-written checkpoint never counts), holding

- `pytorch_lora_weights.safetensors`: diffusers/peft format, for `pipe.load_lora_weights`
  (the text encoder's LoRA too, when the config trains it);
- `kohya_lora.safetensors`: the layout ComfyUI and A1111 load (`training/exports.py`),
  with kohya's `ss_*` and ModelSpec metadata (`training/kohya_metadata.py`); absent only
  where a LoRA trained elsewhere was kept as it came, unconverted, because its base model
  is not on this machine (`training/imports.py`);
- `training_state.pt`: optimizer, LR scheduler and RNG state, for resuming (only in the
  newest checkpoint: older ones drop theirs, as diffusers' `checkpoints_total_limit` does);
- `checkpoint.json`: the sidecar (config, epoch, step, mean loss, hashes, code version,
  and the size and sha256 of each weights file, so a damaged file is found before use).

Here only plain files: folders, sidecars, damage and the resume point, so what reads them
(`bespoke status`, promotion, the Replicate paths) loads no ML library.
`training/checkpoint_weights.py` writes and loads the weights themselves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from bespoke_pipeline.dataset.images import file_digest

DIFFUSERS_FILE = "pytorch_lora_weights.safetensors"
KOHYA_FILE = "kohya_lora.safetensors"
STATE_FILE = "training_state.pt"
SIDECAR_FILE = "checkpoint.json"
#: The files a sidecar vouches for by size and sha256 (the training state is dropped from
#: older epochs, so it is checked only by loading).
WEIGHTS_FILES = (DIFFUSERS_FILE, KOHYA_FILE)
_EPOCH_DIR = re.compile(r"^epoch-(\d{4})$")


def epoch_dir(run_dir: Path, epoch: int) -> Path:
    return run_dir / f"epoch-{epoch:04d}"


def write_checkpoint_folder(
    run_dir: Path, epoch: int, write: Callable[[Path], None], sidecar: dict
) -> Path:
    """The epoch's folder, whole or not at all: `write` fills a temp folder with the
    weights files, the sidecar records their sizes and hashes, then it is renamed in."""
    final = epoch_dir(run_dir, epoch)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    if not (tmp / DIFFUSERS_FILE).is_file():
        raise ValueError(f"a checkpoint folder needs its {DIFFUSERS_FILE}")
    files = {
        n: {"bytes": (tmp / n).stat().st_size, "sha256": file_digest(tmp / n)}
        for n in WEIGHTS_FILES
        if (tmp / n).is_file()
    }
    (tmp / SIDECAR_FILE).write_text(
        json.dumps({**sidecar, "files": files}, indent=2, sort_keys=True)
    )
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def completed_epochs(run_dir: Path) -> list[int]:
    """Epochs with a finished checkpoint folder, ascending; temp folders don't count."""
    if not run_dir.is_dir():
        return []
    found = (_EPOCH_DIR.match(p.name) for p in run_dir.iterdir() if p.is_dir())
    return sorted(
        int(m.group(1)) for m in found if m and (run_dir / m.group(0) / SIDECAR_FILE).exists()
    )


def read_sidecar(folder: Path) -> dict:
    return json.loads((folder / SIDECAR_FILE).read_text())


def damage(folder: Path) -> str | None:
    """Why a finished checkpoint cannot be trusted (a weights file missing, cut short or
    changed since it was written), or None."""
    try:
        recorded = read_sidecar(folder).get("files")
    except (OSError, ValueError) as error:
        return f"{SIDECAR_FILE} is unreadable ({error})"
    for name in _files_vouched(recorded):
        path = folder / name
        expected = (recorded or {}).get(name)
        if not path.is_file():
            return f"{name} is missing"
        if expected is None:
            continue  # written before sidecars recorded their files
        if path.stat().st_size != expected["bytes"]:
            return f"{name} has {path.stat().st_size} bytes, {expected['bytes']} were written"
        if file_digest(path) != expected["sha256"]:
            return f"{name} differs from what was written (sha256)"
    return None


def checkpoint_files(folder: Path) -> tuple[str, ...]:
    """The weights files the checkpoint in `folder` holds: both, unless its sidecar vouches
    for the diffusers file alone (a LoRA imported unconverted)."""
    return _files_vouched(read_sidecar(folder).get("files"))


def _files_vouched(recorded: dict | None) -> tuple[str, ...]:
    if recorded is None:  # written before sidecars recorded their files
        return WEIGHTS_FILES
    return tuple(n for n in WEIGHTS_FILES if n in recorded or n == DIFFUSERS_FILE)


def resume_point(run_dir: Path, log: Callable[[str], None]) -> int:
    """The epoch to go on from (0: the start): the newest checkpoint that still holds its
    training state, among the sound ones before the first damaged checkpoint. Checkpoints
    after it are removed, to be trained again."""
    done = completed_epochs(run_dir)
    resumable = 0
    for epoch in done:
        reason = damage(epoch_dir(run_dir, epoch))
        if reason:
            log(f"checkpoint {epoch_dir(run_dir, epoch)} is damaged: {reason}")
            break
        if (epoch_dir(run_dir, epoch) / STATE_FILE).is_file():
            resumable = epoch
    later = [e for e in done if e > resumable]
    for epoch in later:
        shutil.rmtree(epoch_dir(run_dir, epoch))
    if later:
        log(f"training again from epoch {resumable + 1} (epochs {later[0]}-{later[-1]} removed)")
    return resumable
