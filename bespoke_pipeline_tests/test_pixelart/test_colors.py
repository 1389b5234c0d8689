from bespoke_pipeline.pixelart.colors import COLORS, color_name, delta_e, lookup_color


def test_every_vocabulary_color_names_itself():
    assert all(color_name(hex_value) == name for name, hex_value in COLORS.items())


def test_near_colors_get_the_perceptually_nearest_name():
    assert color_name("#f28c20") == "vibrant orange"
    assert color_name("#050505") == "black"
    assert color_name("#8b5ec0") == "purple"


def test_caption_phrases_resolve_to_vocabulary_names():
    assert lookup_color("Vibrant  Orange") == "vibrant orange"
    assert lookup_color("orange") == "vibrant orange"
    assert lookup_color("light brown") == "brown"
    assert lookup_color("dark red") == "dark red"
    assert lookup_color("magenta-ish") is None


def test_delta_e_separates_different_colors_from_same_ones():
    assert delta_e("#8a5cc2", "#8a5cc2") == 0
    assert delta_e("#8a5cc2", "#f08a24") > 50
