import pandas as pd

from bespoke_pipeline.evaluation.promotion import beats, best_candidate, not_promoted, save_record
from bespoke_pipeline.evaluation.prompts import held_out_prompts, reference_prompts
from bespoke_pipeline.evaluation.scoring import QualityGates
from bespoke_pipeline.pixelart.caption import parse_caption, render_caption
from bespoke_pipeline.pixelart.synth import synth_portraits
from bespoke_pipeline.reports import production_summary


def table(*rows: tuple[int, float, bool]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "epoch": e,
                "composite": c,
                "composite_ci": 0.0,
                "passes_gates": ok,
                "checkpoint": f"e{e}",
            }
            for e, c, ok in rows
        ]
    )


def test_the_best_passing_checkpoint_of_all_configs_wins():
    tables = {
        "a": table((0, 0.2, False), (1, 0.5, True), (2, 0.9, False)),  # 0.9 fails its gates
        "b": table((0, 0.2, False), (3, 0.6, True), (4, 0.6, True)),
    }
    best = best_candidate(tables)
    assert (best["config"], best["epoch"]) == ("b", 3)  # tie: the earlier epoch


def test_nothing_is_promoted_when_no_checkpoint_passes():
    assert best_candidate({"a": table((0, 0.2, False), (1, 0.9, False))}) is None
    assert best_candidate({}) is None


def test_the_verdict_names_the_best_failure_its_misses_and_production():
    scores = table((0, 0.7, False), (1, 0.6, False), (2, 0.65, False))
    scores["checkpoint"] = ["", "e1", "e2"]  # the base model names no checkpoint
    scores["gate_failures"] = ["", "composite 0.600 < base 0.700 + 0.02", "eyes_placed 0.10 < 0.25"]
    verdict = not_promoted({"a": scores}, {"config": "b", "epoch": 16, "composite": 0.96})
    assert "a epoch 2 (composite 0.650" in verdict  # the base is no candidate
    assert "missed: eyes_placed 0.10 < 0.25." in verdict
    assert "Production is unchanged: b epoch 16 (composite 0.960)" in verdict
    assert not_promoted({}, None).endswith("There is no production model yet.")


def test_production_moves_only_to_a_better_model():
    candidate = best_candidate({"a": table((1, 0.5, True))})
    assert beats(candidate, None)
    assert beats(candidate, 0.4)
    assert not beats(candidate, 0.5)


def test_a_lead_within_the_noise_of_the_scores_does_not_move_production():
    """Two near-equal epochs (the shipped run once tied at 0.339 and 0.339) must not
    swap production on every retrain: the lead has to clear the interval of the
    difference, sqrt(0.03^2 + 0.04^2) = 0.05 here."""
    candidate = pd.Series({"composite": 0.70, "composite_ci": 0.03})
    assert not beats(candidate, 0.66, production_ci=0.04)  # +0.04: noise
    assert not beats(candidate, 0.65, production_ci=0.04)  # +0.05: still not beyond it
    assert beats(candidate, 0.64, production_ci=0.04)  # +0.06
    assert beats(candidate, 0.66)  # a version tagged without an interval: 0.04 > 0.03
    assert not beats(candidate, 0.675)  # its own interval still counts


def test_gates_name_every_failure():
    row = pd.Series(
        {
            "composite": 0.3,
            "right_facing": 0.5,
            "eyes_placed": 0.9,
            "grid_cleanliness": 0.9,
            "memorized": 0.5,
        }
    )
    failures = QualityGates().failures(row, base_composite=0.29)
    assert len(failures) == 3
    assert any(f.startswith("composite") for f in failures)
    assert any(f.startswith("right_facing") for f in failures)
    assert any(f.startswith("memorized") for f in failures)


def test_held_out_prompts_are_new_combinations_and_deterministic():
    captions = [render_caption(p) for _, p in synth_portraits(193, seed=2026)]
    prompts = held_out_prompts(12, captions, "TOK")
    seen = {parse_caption(c).attributes for c in captions}
    assert len({p.expected for p in prompts}) == 12
    assert not any(p.expected in seen for p in prompts)
    assert [p.text for p in prompts] == [p.text for p in held_out_prompts(12, captions, "TOK")]
    accessory = {p.name: p for p in reference_prompts("TOK")}["accessory"]
    assert accessory.expected.eyewear_style == "glasses" and accessory.text.startswith("TOK ")


def test_status_says_in_words_which_targets_the_production_model_misses(tmp_path):
    """A model in production passed the gates; `meets targets: no` left a newcomer
    wondering why a failing model was promoted."""
    scores = {m: 1.0 for m in ("composite", "eyes_placed", "right_facing", "background")}
    scores |= {"skin_color": 1.0, "hair_color": 0.88, "accessories": 0.5}
    record = {"config": "pixel-tiny", "epoch": 16, "guidance_scale": 1.0, "steps": 10}
    save_record(tmp_path, {**record, "scores": scores, "meets_targets": False})
    summary = production_summary(tmp_path)
    assert "passed every quality gate" in summary
    assert "misses the targets hair_color 0.88 < 0.90, accessories 0.50 < 0.85" in summary
    save_record(tmp_path, {**record, "scores": scores | {"hair_color": 0.9, "accessories": 0.9}})
    assert "meets every target" in production_summary(tmp_path)
