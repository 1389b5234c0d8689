from dataclasses import replace

import pytest

from bespoke_pipeline.pixelart.caption import (
    CaptionAttributes,
    check_caption,
    parse_caption,
    render_caption,
)
from bespoke_pipeline.pixelart.color_words import describe, resolve
from bespoke_pipeline.pixelart.colors import hex_to_lab
from bespoke_pipeline.pixelart.regions import read_regions
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
#: The artist's own phrasing (see ../shared/real-sample): free colour words, clauses joined
#: by "with", a checkered shirt as the collar.
REAL = (
    "bespoke, 24x24 pixel grid portrait, symbolic punk style, warm copper solid background, "
    "black hair with dark gray cap featuring L logo in gold and red at y=3-6, black pupils "
    "fixed at (8,12) and (13,12), dark iris eyes with white highlights at (9,12) and (14,12), "
    "black nose dot at (11,13), brown lips spanning x=10-13 y=15-16, tan skin tone with brown "
    "beard at y=16-19, light blue checkered shirt accent at bottom edge y=20-22, right-facing"
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
            assert parsed.unknown_words == ()
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
    assert parsed.unknown_words == ()
    assert parsed.attributes.stated() == expected


def test_unknown_color_words_leave_the_attribute_unreadable_and_are_listed_once():
    parsed = parse_caption("TOK bespoke, blorple solid background, blue eyes")
    assert parsed.attributes.stated() == {"background": "blorple", "eyes": "blue"}
    assert parsed.unknown_words == (("background", "blorple"),)
    image, _ = next(synth_portraits(1, seed=10))
    verdicts = {
        c.attribute: c.verdict for c in check_caption(parsed.attributes, read_regions(image))
    }
    assert verdicts["background"] == "unreadable"


def test_the_artists_own_words_parse_into_attributes_and_coordinates():
    parsed = parse_caption(REAL)
    assert parsed.attributes.stated() == {
        "background": "warm copper",
        "hair": "black",
        "headwear_style": "cap",
        "headwear_color": "dark gray",
        "eyes": "dark",
        "lips": "brown",
        "skin": "tan",
        "beard": "brown",
        "collar": "light blue checkered",
        "facing": "right",
    }
    assert parsed.layout == {
        "pupils": (8, 12, 13, 12),
        "irises": (9, 12, 14, 12),
        "nose": (11, 13),
        "mouth_rows": (15, 16),
        "collar_rows": (20, 22),
    }
    assert parsed.unknown_words == ()


def verdicts_of(caption: str, image) -> dict[str, str]:
    checks = check_caption(parse_caption(caption).attributes, read_regions(image))
    return {c.attribute: c.verdict for c in checks}


def test_a_caption_contradicting_the_pixels_is_caught_with_both_colours():
    purple = resolve("purple")
    image, drawn = next(
        (i, p.background)
        for i, p in synth_portraits(300, seed=10)
        if p.background_kind == "flat" and purple.contradicted_by([p.background])
    )
    checks = check_caption(
        parse_caption("TOK bespoke, purple solid background").attributes, read_regions(image)
    )
    wrong = [c for c in checks if c.verdict == "disagrees"]
    assert [c.attribute for c in wrong] == ["background"]
    assert wrong[0].seen_hex == drawn
    assert wrong[0].said_hex is not None and wrong[0].said_hex != wrong[0].seen_hex
    assert wrong[0].sentence() == (
        f"caption says background 'purple' but the pixels show {drawn} ({describe(drawn)})"
    )


def test_every_rendered_caption_agrees_with_its_own_pixels():
    for image, portrait in synth_portraits(200, seed=12):
        verdicts = verdicts_of(render_caption(portrait), image)
        assert "disagrees" not in verdicts.values(), (portrait, verdicts)
        assert verdicts["background"] == verdicts["hair"] == verdicts["skin"] == "agrees"


def test_unstated_attributes_are_never_contradictions():
    image, _ = next(synth_portraits(1, seed=12))
    verdicts = verdicts_of("TOK bespoke, right-facing", image)
    assert verdicts["facing"] == "agrees"
    assert set(verdicts.values()) == {"agrees", "not stated"}


def test_an_accessory_the_pixels_lack_is_doubtful_alone_and_wrong_beside_another_error():
    image, portrait = next(
        (i, p) for i, p in synth_portraits(50, seed=13) if not p.eyewear and not p.earring
    )
    alone = verdicts_of("glasses spanning x=7-16 y=11-13, gold earring", image)
    assert alone["eyewear"] == alone["earring"] == "doubtful"
    facing = "left" if portrait.facing == "right" else "right"
    both = verdicts_of(f"glasses spanning x=7-16 y=11-13, gold earring, {facing}-facing", image)
    assert both["eyewear"] == both["facing"] == "disagrees"
    assert both["earring"] == "doubtful"  # a missed one-pixel earring is never sure


def test_one_colour_far_from_the_pixels_flags_a_caption_and_one_near_miss_does_not():
    words = ("purple", "yellow", "green", "blue", "orange", "pink", "red", "teal", "black")
    flat = (
        (image, {w: _off_by(w, portrait.background) for w in words})
        for image, portrait in synth_portraits(200, seed=15)
        if portrait.background_kind == "flat"
    )
    image, far, near = next(
        (i, far[0], near[0])
        for i, off in flat
        if (far := [w for w in words if off[w] >= 45])
        and (near := [w for w in words if 30 <= off[w] < 45])
    )
    regions = read_regions(image)
    for said, verdict in ((far, "disagrees"), (near, "doubtful")):
        stated = parse_caption(f"TOK bespoke, {said} solid background").attributes
        checks = {c.attribute: c for c in check_caption(stated, regions)}
        assert checks["background"].verdict == verdict, (said, checks["background"])


def _off_by(words: str, colour: str) -> float:
    return float(min(c.distance(hex_to_lab([colour])).min() for c in resolve(words).colours))


def test_a_stated_pattern_over_a_flat_background_is_doubted_but_solid_is_not_checked():
    image, portrait = next(
        (i, p) for i, p in synth_portraits(40, seed=14) if p.background_kind == "flat"
    )
    colour = CaptionAttributes.of(portrait).background
    assert verdicts_of(f"{colour} checkered background", image)["background kind"] == "doubtful"
    assert verdicts_of(f"{colour} solid background", image)["background kind"] == "not stated"
