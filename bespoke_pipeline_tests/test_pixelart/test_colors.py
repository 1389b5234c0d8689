import numpy as np
import pytest

from bespoke_pipeline.pixelart.colors import COLORS, color_name, delta_e, delta_e_2000


def test_every_vocabulary_color_names_itself():
    assert all(color_name(hex_value) == name for name, hex_value in COLORS.items())


def test_near_colors_get_the_perceptually_nearest_name():
    assert color_name("#f28c20") == "vibrant orange"
    assert color_name("#050505") == "black"
    assert color_name("#8b5ec0") == "purple"


def test_delta_e_separates_different_colors_from_same_ones():
    assert delta_e("#8a5cc2", "#8a5cc2") == 0
    assert delta_e("#8a5cc2", "#f08a24") > 50


def test_ciede2000_matches_the_published_test_pairs():
    """Pairs 1 and 17 of Sharma, Wu and Dalal's CIEDE2000 test data."""
    a = np.array([[50.0, 2.6772, -79.7751], [50.0, 2.5, 0.0]])
    b = np.array([[50.0, 0.0, -82.7485], [73.0, 25.0, -18.0]])
    assert delta_e_2000(a, b) == pytest.approx([2.0425, 27.1492], abs=1e-4)
