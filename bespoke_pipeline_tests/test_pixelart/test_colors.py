import numpy as np
import pytest

from bespoke_pipeline.pixelart.colors import delta_e_2000, hex_to_lab, lab_to_hex


def test_ciede2000_matches_the_published_test_pairs():
    """Pairs 1 and 17 of Sharma, Wu and Dalal's CIEDE2000 test data."""
    a = np.array([[50.0, 2.6772, -79.7751], [50.0, 2.5, 0.0]])
    b = np.array([[50.0, 0.0, -82.7485], [73.0, 25.0, -18.0]])
    assert delta_e_2000(a, b) == pytest.approx([2.0425, 27.1492], abs=1e-4)


@pytest.mark.parametrize("hex_color", ["#000000", "#ffffff", "#6ae745", "#c06148", "#3b77cd"])
def test_lab_round_trips_to_the_same_hex(hex_color):
    assert lab_to_hex(hex_to_lab([hex_color])[0]) == hex_color
