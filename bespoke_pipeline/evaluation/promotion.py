"""Choosing the production model: the best checkpoint by composite score among those that
pass the quality gates, across every training config, and only if it beats the model in
production now."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd

from bespoke_pipeline.evaluation.metrics import METRICS
from bespoke_pipeline.evaluation.scoring import TARGETS, WEIGHTS, numeric_scores
from bespoke_pipeline.training.checkpoints import SIDECAR_FILE, STATE_FILE, read_sidecar

PRODUCTION_RECORD = "production.json"
MODEL_CARD = "MODEL_CARD.md"
#: Rows of the model card's score table.
SHOWN = ["composite", "composite_ci", *WEIGHTS, "held_out_color_accuracy", "novelty", "diversity"]


def best_candidate(tables: dict[str, pd.DataFrame]) -> pd.Series | None:
    """The passing checkpoint with the highest composite; ties go to the earlier epoch
    (less training, less risk of overfitting). None when nothing passes."""
    if not tables:
        return None
    rows = _scored_rows(tables)
    passing = rows[rows["passes_gates"]]
    if passing.empty:
        return None
    ranked = passing.sort_values(["composite", "epoch"], ascending=[False, True], kind="stable")
    return ranked.iloc[0]


def _scored_rows(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every config's score rows in one table, each with its config's name."""
    return pd.concat([t.assign(config=name) for name, t in tables.items()], ignore_index=True)


def not_promoted(tables: dict[str, pd.DataFrame], production: dict | None) -> str:
    """Why nothing was promoted, in one paragraph a user reads without the event log: the
    best checkpoint that failed, each gate it missed with the value and the limit, and
    what production is now."""
    rows = _scored_rows(tables) if tables else pd.DataFrame(columns=["checkpoint"])
    trained = rows[rows["checkpoint"].astype(bool)]  # the base model's row names none
    if trained.empty:
        verdict = "Not promoted: no checkpoint was scored on this dataset."
    else:
        best = trained.sort_values("composite", ascending=False, kind="stable").iloc[0]
        verdict = (
            "Not promoted: no checkpoint passes the quality gates. The best candidate, "
            f"{best['config']} epoch {int(best['epoch'])} (composite {best['composite']:.3f}"
            f" +/- {best['composite_ci']:.3f}), missed: {best['gate_failures']}."
        )
    if production is None:
        return f"{verdict} There is no production model yet."
    return (
        f"{verdict} Production is unchanged: {production['config']} epoch "
        f"{production['epoch']} (composite {production['composite']:.3f})."
    )


def missed_targets(scores: dict[str, float]) -> list[str]:
    """The user's targets (`TARGETS`) that scores fall short of, each with both values:
    what `bespoke status` says of a model that passed the gates but is not yet what the
    user asked for."""
    return [
        f"{metric} {scores[metric]:.2f} < {target:.2f}"
        for metric, target in TARGETS.items()
        if metric in scores and scores[metric] < target
    ]


def noise(candidate_ci: float, production_ci: float) -> float:
    """Half-width of the 95% interval of the difference between two composites, each
    measured with its own interval: a smaller lead is within the noise of the scoring."""
    return math.hypot(candidate_ci, production_ci)


def beats(
    candidate: pd.Series, production_composite: float | None, production_ci: float = 0.0
) -> bool:
    """Replace production only with something better beyond the noise of the scores (or
    when there is none yet): with near-equal checkpoints, promotion would otherwise be a
    coin toss that moves production back and forth on every retrain."""
    if production_composite is None:
        return True
    lead = float(candidate["composite"]) - production_composite
    return lead > noise(float(candidate["composite_ci"]), production_ci)


def trained_on(scores: pd.DataFrame) -> str | None:
    """The dataset version a config's scored checkpoints were trained on (None when their
    folders are gone: nothing there to promote)."""
    for path in scores["checkpoint"]:
        if path and (Path(path) / SIDECAR_FILE).exists():
            return read_sidecar(Path(path))["dataset_sha256"]
    return None


def candidate_record(candidate: pd.Series) -> dict:
    """What production.json and the registry record about a checkpoint: where it is, its
    sampler settings and every score."""
    return {
        "config": str(candidate["config"]),
        "epoch": int(candidate["epoch"]),
        "checkpoint": str(candidate["checkpoint"]),
        "composite": float(candidate["composite"]),
        "guidance_scale": float(candidate["guidance_scale"]),
        "steps": int(candidate["steps"]),
        "meets_targets": bool(candidate["meets_targets"]),
        "scores": numeric_scores(candidate),
    }


def model_card(
    candidate: pd.Series, previous: dict | None, config: dict, dataset_sha256: str
) -> str:
    """Markdown for the stable production folder: scores next to the previous production's."""
    before = previous or {}
    lines = [
        f"# Production model: {candidate['config']} epoch {int(candidate['epoch'])}",
        "",
        f"- sampler settings: guidance {candidate['guidance_scale']}, "
        f"{int(candidate['steps'])} steps (`bespoke generate` uses these)",
        f"- dataset sha256: `{dataset_sha256}`",
        f"- base model: `{config.get('base_model')}`",
        f"- meets the reference targets: {'yes' if candidate['meets_targets'] else 'no'}",
        _lead(candidate, before),
        "",
        "| metric | this model | previous production | target |",
        "| --- | --- | --- | --- |",
    ]

    def shown(value: object) -> str:
        return "-" if value is None or pd.isna(value) else f"{float(value):.3f}"

    for name in SHOWN:
        target = f">= {TARGETS[name]:.2f}" if name in TARGETS else ""
        lines.append(
            f"| {name} | {shown(candidate.get(name))} | {shown(before.get(name))} | {target} |"
        )
    lines += ["", "## Training config", "", "```", *[f"{k}: {v}" for k, v in config.items()], "```"]
    lines += ["", "## Metrics", "", *[f"- **{m.name}** ({m.range}): {m.meaning}" for m in METRICS]]
    return "\n".join(lines) + "\n"


def _lead(candidate: pd.Series, previous: dict) -> str:
    if "composite" not in previous:
        return "- the first production model of this data"
    lead = float(candidate["composite"]) - previous["composite"]
    margin = noise(float(candidate["composite_ci"]), previous.get("composite_ci", 0.0))
    return (
        f"- composite {lead:+.3f} over the previous production, beyond the noise of the "
        f"scores (+/- {margin:.3f}, 95%)"
    )


def read_production(folder: Path) -> dict | None:
    """The promoted model's record (scores, sampler settings, base model), if any."""
    record = folder / PRODUCTION_RECORD
    return json.loads(record.read_text()) if record.exists() else None


def write_production(folder: Path, checkpoint: Path, record: dict, card: str) -> None:
    """A new production folder: the checkpoint's weights (not its optimizer state), the
    record and the model card."""
    shutil.copytree(checkpoint, folder, ignore=shutil.ignore_patterns(STATE_FILE))
    save_record(folder, record)
    (folder / MODEL_CARD).write_text(card)


def replace_folder(staging: Path, folder: Path) -> None:
    """Put a fully written `staging` folder in the place of `folder` (callers hold a lock:
    between the two steps there is no folder)."""
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def save_record(folder: Path, record: dict) -> None:
    (folder / PRODUCTION_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True))
