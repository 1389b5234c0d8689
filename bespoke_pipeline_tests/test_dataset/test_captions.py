import json

from bespoke_pipeline.dataset.captions import caption_image, captions_frame
from bespoke_pipeline.pixelart.caption import render_caption
from bespoke_pipeline.pixelart.synth import synth_portraits
from bespoke_pipeline_tests.zoo import add_bad_captions


def test_user_captions_are_used_verbatim(raw_dir):
    text = (raw_dir / "punk_0003.txt").read_text().strip()
    row = caption_image(raw_dir, "punk_0003.png", "TOK")
    assert (row.caption, row.source, row.problems, row.included) == (text, "user", [], True)


def test_missing_captions_are_generated_from_the_pixels(raw_dir):
    (raw_dir / "punk_0004.txt").unlink()
    row = caption_image(raw_dir, "punk_0004.png", "TOK")
    _, portrait = list(synth_portraits(24, seed=11))[3]
    assert (row.source, row.caption) == ("generated", render_caption(portrait, "TOK"))


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
        f"are {portrait.background} ({portrait.color_names()['background']})"
    ]


def test_the_table_carries_attributes_as_json(raw_dir):
    frame = captions_frame([caption_image(raw_dir, "punk_0001.png", "TOK")])
    attributes = json.loads(frame.attributes[0])
    _, portrait = next(synth_portraits(1, seed=11))
    assert attributes["background"] == portrait.background
    assert attributes["background_name"] == portrait.color_names()["background"]
    assert attributes["sex"] == portrait.sex
