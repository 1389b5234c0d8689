import json

from bespoke_pipeline.dataset.captions import (
    agreement_table,
    caption_image,
    captions_frame,
    disagreements,
    vocabulary_report,
)
from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.dataset.profile import layout_profile
from bespoke_pipeline.pixelart.caption import check_caption, parse_caption, render_caption
from bespoke_pipeline.pixelart.color_words import describe
from bespoke_pipeline.pixelart.regions import read_regions
from bespoke_pipeline.pixelart.synth import synth_portraits
from bespoke_pipeline_tests.zoo import add_bad_captions


def test_user_captions_are_used_verbatim(raw_dir):
    text = (raw_dir / "punk_0003.txt").read_text().strip()
    row = caption_image(raw_dir, "punk_0003.png", "TOK")
    assert (row.caption, row.source, row.problems, row.included) == (text, "user", [], True)


def test_missing_captions_are_generated_from_the_pixels_and_agree_with_them(raw_dir):
    (raw_dir / "punk_0004.txt").unlink()
    row = caption_image(raw_dir, "punk_0004.png", "TOK")
    assert row.source == "generated" and row.caption.startswith("TOK bespoke, 24x24 pixel grid")
    image = read_pixel_art(raw_dir / "punk_0004.png").image
    checks = check_caption(parse_caption(row.caption).attributes, read_regions(image))
    verdicts = {c.attribute: c.verdict for c in checks}
    assert verdicts["background"] == verdicts["skin"] == verdicts["hair"] == "agrees"
    assert "disagrees" not in verdicts.values()


def test_unusable_captions_exclude_the_pair_and_say_why(raw_dir):
    expected = add_bad_captions(raw_dir)
    for name, phrase in expected.items():
        row = caption_image(raw_dir, name, "TOK")
        assert any(phrase in p for p in row.problems), (name, row.problems)
        caption_name = name.replace(".png", ".txt")
        assert all(p.startswith(caption_name) for p in row.problems)
    assert not caption_image(raw_dir, "blank caption.png", "TOK").included
    assert not caption_image(raw_dir, "latin1.png", "TOK").included
    lorem = caption_image(raw_dir, "lorem.png", "TOK")
    assert lorem.included and any("trigger word 'TOK'" in p for p in lorem.problems)


def test_a_caption_contradicting_the_pixels_is_kept_but_reported(raw_dir):
    _, portrait = list(synth_portraits(24, seed=11))[4]
    wrong = "mint" if portrait.background != "#a8e6c1" else "navy"
    (raw_dir / "punk_0005.txt").write_text(
        render_caption(portrait).replace(
            portrait.color_names()["background"] + " solid", wrong + " solid"
        )
    )
    row = caption_image(raw_dir, "punk_0005.png", "TOK")
    assert row.included
    assert row.problems == [
        f"punk_0005.txt: caption says background '{wrong}' but the pixels "
        f"show {portrait.background} ({describe(portrait.background)})"
    ]
    frame = captions_frame([row])
    assert frame.flagged[0]
    wrong_rows = disagreements(frame)
    assert list(wrong_rows.attribute) == ["background"]
    assert wrong_rows.seen_hex[0] == portrait.background


def test_the_table_carries_what_analysis_saw_as_json(raw_dir):
    frame = captions_frame([caption_image(raw_dir, "punk_0001.png", "TOK")])
    attributes = json.loads(frame.attributes[0])
    _, portrait = next(synth_portraits(1, seed=11))
    assert attributes["background"] == portrait.background
    assert attributes["background_kind"] == portrait.background_kind
    assert attributes["sex"] == portrait.sex
    assert json.loads(frame.layout[0])["pupils"] == [9, 12, 14, 12]


def test_the_agreement_table_counts_every_verdict_per_attribute(raw_dir):
    rows = [caption_image(raw_dir, f"punk_{i:04d}.png", "TOK") for i in range(1, 7)]
    (raw_dir / "punk_0007.txt").write_text("TOK bespoke, blorple background, right-facing")
    rows.append(caption_image(raw_dir, "punk_0007.png", "TOK"))
    table = agreement_table(captions_frame(rows)).set_index("attribute")
    assert table.loc["background", "agrees"] == 6
    assert table.loc["background", "unreadable"] == 1
    assert table.loc["facing", "agrees"] == 7
    bearded = sum(p.beard is not None for _, p in list(synth_portraits(24, seed=11))[:6])
    assert table.loc["beard", "not stated"] == 7 - bearded
    report = vocabulary_report(captions_frame(rows))
    assert report.to_dict("records") == [
        {"word": "blorple", "attribute": "background", "captions": 1, "example": "punk_0007.png"}
    ]


def test_pupils_one_cell_right_of_the_captions_are_one_finding_for_the_set(raw_dir):
    """The demo set is drawn like the artist's: pupils one column right of the template."""
    files = sorted(p for p in raw_dir.glob("*.png"))
    frame = captions_frame([caption_image(raw_dir, p.name, "TOK") for p in files])
    assert frame.flagged.sum() <= 1  # no image is wrong on its own (analysis errs rarely)
    profile = {p.feature: p for p in layout_profile(frame)}
    with_eyes = sum("pupils" in json.loads(v) for v in frame.layout)
    assert profile["pupils"].position == "(9,12)/(14,12)"
    assert profile["pupils"].finding() == (
        f"captions say pupils at (8,12)/(13,12) ({with_eyes} captions); "
        f"{with_eyes} of {with_eyes} images have them at (9,12)/(14,12)"
    )
    assert profile["irises"].position == "(10,12)/(15,12)"
    assert profile["mouth row"].position == "y=17" and not profile["mouth row"].agrees
