from dataclasses import replace

import pytest

from bespoke_pipeline.pixelart.analyze import analyze
from bespoke_pipeline.pixelart.caption import (
    CaptionAttributes,
    contradictions,
    parse_caption,
    render_caption,
)
from bespoke_pipeline.pixelart.colors import COLORS
from bespoke_pipeline.pixelart.synth import synth_portraits

BASIC = (
    "TOK bespoke, 24x24 pixel grid portrait, female, purple solid background, brown hair, "
    "blue eyes, light skin tone, right-facing"
)
ADVANCED = (
    "TOK bespoke, 24x24 pixel grid portrait, symbolic punk style, vibrant orange solid "
    "background, black hair starting at y=3 extending to y=17, black pupils fixed at (8,12) and "
    "(13,12), brown iris eyes at (9,12) and (14,12), black nose dot at (11,13), pink lips "
    "spanning x=10-13 y=15-16, tan skin tone with jaw defined at y=19, blue collar at bottom "
    "edge y=20-22, right-facing, pure pixel art with no gradients or anti-aliasing"
)
ACCESSORY = (
    "TOK bespoke, 24x24 pixel art, male, glasses spanning x=7-16 y=11-13, black hair, "
    "green solid background, right-facing profile"
)


def test_rendered_captions_parse_back_to_the_same_attributes():
    for _, portrait in synth_portraits(500, seed=8):
        for facing in ("right", "left"):
            shown = replace(portrait, facing=facing)
            parsed = parse_caption(render_caption(shown))
            assert parsed.problems == ()
            assert parsed.attributes == CaptionAttributes.of(shown)


def test_caption_follows_the_reference_template_with_the_trigger_first():
    _, portrait = next(synth_portraits(1, seed=9))
    caption = render_caption(portrait, trigger="TOK")
    assert caption.startswith("TOK bespoke, 24x24 pixel grid portrait, ")
    assert "black nose dot at (11,13)" in caption
    assert caption.endswith("all features contained within 22x22 center grid")
    assert render_caption(portrait, trigger="bespoke").startswith("bespoke, 24x24")


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (
            BASIC,
            {
                "sex": "female",
                "background": "purple",
                "hair": "brown",
                "eyes": "blue",
                "skin": "light",
                "facing": "right",
            },
        ),
        (
            ADVANCED,
            {
                "background": "vibrant orange",
                "hair": "black",
                "eyes": "brown",
                "lips": "pink",
                "skin": "tan",
                "collar": "blue",
                "facing": "right",
            },
        ),
        (
            ACCESSORY,
            {
                "sex": "male",
                "eyewear_style": "glasses",
                "hair": "black",
                "background": "green",
                "facing": "right",
            },
        ),
    ],
)
def test_the_users_reference_test_prompts_parse(prompt, expected):
    parsed = parse_caption(prompt)
    assert parsed.problems == ()
    assert parsed.attributes.stated() == expected


def test_unknown_color_words_are_reported_not_guessed():
    parsed = parse_caption("TOK bespoke, chartreuse solid background, blue eyes")
    assert parsed.attributes.stated() == {"eyes": "blue"}
    assert parsed.problems == ("unknown background color 'chartreuse'",)


def test_a_caption_contradicting_the_pixels_is_caught():
    image, portrait = next(
        (i, p) for i, p in synth_portraits(50, seed=10) if p.background == COLORS["vibrant orange"]
    )
    claims = parse_caption("TOK bespoke, purple solid background").attributes
    found = contradictions(claims, analyze(image))
    assert found == [
        f"caption says background 'purple' but the pixels are "
        f"{COLORS['vibrant orange']} (vibrant orange)"
    ]


def test_matching_and_unstated_attributes_are_not_contradictions():
    image, portrait = next(synth_portraits(1, seed=12))
    pixels = analyze(image)
    assert contradictions(parse_caption(render_caption(portrait)).attributes, pixels) == []
    assert contradictions(parse_caption("TOK bespoke, right-facing").attributes, pixels) == []


def test_an_accessory_the_pixels_lack_is_a_contradiction():
    image, portrait = next(
        (i, p) for i, p in synth_portraits(50, seed=13) if not p.eyewear and not p.earring
    )
    found = contradictions(
        parse_caption("glasses spanning x=7-16 y=11-13, gold earring").attributes, analyze(image)
    )
    assert len(found) == 2
    assert "eyewear style 'glasses'" in found[0]
