import pytest

from bespoke_pipeline.pixelart.color_words import colour_of, describe, resolve
from bespoke_pipeline.pixelart.synth import BESPOKE

#: Phrases from the artist's captions (see the real-art issue and ../shared/real-sample).
ARTIST_PHRASES = [
    "warm copper",
    "sandy beige",
    "light gray silver",
    "vibrant mint green",
    "deep burgundy",
    "light blue-gray",
    "gradient teal-to-green striped",
    "white/gray",
    "cream/white",
    "textured gray",
    "vibrant kiwi green",
    "soft beige and coral split",
    "horizontal rainbow striped from blue to green",
    "metallic silver/gray gradient with horizontal bands",
    "amber/brown",
    "orange-red",
    "natural pink",
    "cool pale blue",
]


@pytest.mark.parametrize("phrase", ARTIST_PHRASES)
def test_the_artists_colour_phrases_resolve_without_unknown_words(phrase):
    resolved = resolve(phrase)
    assert resolved.colours, phrase
    assert resolved.unknown == ()


@pytest.mark.parametrize(
    ("phrase", "pixels", "agrees"),
    [
        ("warm copper", ["#c06148"], True),  # lad_001's brick background
        ("green", ["#6ae745"], True),  # a kiwi green the old exact-hex check refused
        ("purple", ["#f08a24"], False),
        ("vibrant magenta", ["#3b77cd"], False),
        ("white/gray", ["#9fb7a9"], True),  # one of two alternatives is enough
        ("orange-to-purple", ["#f08a24"], False),  # a gradient needs both ends
        ("orange-to-purple", ["#f08a24", "#8a5cc2"], True),
        ("blonde", ["#0d0d09"], False),
        ("black", ["#0d0d09"], True),
    ],
)
def test_agreement_is_a_distance_to_the_named_family(phrase, pixels, agrees):
    assert resolve(phrase).agrees_with(pixels) is agrees


@pytest.mark.parametrize(
    ("phrase", "pixels", "contradicted"),
    [
        # the artist's words over their own colours, which a tolerance of 15 refused
        ("vibrant emerald green", ["#05db73"], False),
        ("vibrant blue", ["#6072ff"], False),
        ("mint", ["#87cec1"], False),
        ("light blue", ["#71b9bc"], False),
        # words for another colour: a caption that describes another image
        ("purple", ["#ea9d95"], True),  # salmon
        ("light blue", ["#dcb3ff"], True),  # lavender
        ("navy blue", ["#373737"], True),  # grey: no hue to share
        ("blonde", ["#0d0d09"], True),
        # several colours named: one of them there is enough not to be wrong
        ("purple with green accent in corner", ["#3ffe9e"], False),
    ],
)
def test_a_phrase_is_contradicted_only_by_colours_no_one_would_call_so(
    phrase, pixels, contradicted
):
    assert resolve(phrase).contradicted_by(pixels) is contradicted


def test_adjacent_names_are_one_colour_and_joined_names_are_several():
    assert [c.name for c in resolve("light blue-gray").colours] == ["light blue grey"]
    assert [c.name for c in resolve("sandy beige").colours] == ["sandy beige"]
    assert [c.name for c in resolve("beige and coral").colours] == ["beige", "coral"]
    assert resolve("white/gray").any_of and not resolve("beige and coral").any_of


def test_kind_words_are_read_as_the_background_kind():
    assert resolve("gradient teal-to-green striped").kinds == {"gradient", "striped"}
    assert resolve("soft beige and coral split").kinds == {"split"}


def test_skin_words_are_tones_where_skin_is_described():
    assert resolve("light", skin=True).agrees_with(["#f5c2a7"])
    assert resolve("light tan", skin=True).agrees_with(["#f6b27c"])
    assert not resolve("ebony", skin=True).agrees_with(["#f5c2a7"])


def test_unknown_words_are_listed_not_raised():
    resolved = resolve("blorple")
    assert resolved.colours == () and resolved.unknown == ("blorple",)


def test_every_word_the_generator_uses_paints_a_colour_the_word_agrees_with():
    for part, words in vars(BESPOKE).items():
        for word in words:
            skin = part == "skin"
            assert resolve(word, skin=skin).agrees_with([colour_of(word, skin=skin)]), word


def test_describe_uses_common_words():
    assert describe("#6ae745") == "light green"
    assert describe("#000000") == "black"
