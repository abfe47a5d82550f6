"""Observation-centric motion (:mod:`streamreid.stream.motion`): the virtual trajectory and direction agreement."""

from __future__ import annotations

import numpy as np
import pytest

from streamreid.stream.motion import box_scaled_noise, direction_agreement, motion_direction, virtual_trajectory


def test_the_virtual_trajectory_puts_a_box_at_the_end_of_each_missed_step_by_its_time():
    """Steps of 1, 2 and 1 frames (a stride, a dropped frame): boxes at 1/4 and 3/4 of the way, not 1/3 and 2/3."""
    last, new = np.array([0.0, 0.0, 40.0, 100.0]), np.array([40.0, 20.0, 80.0, 120.0])
    boxes = virtual_trajectory(last, new, [1.0, 2.0, 1.0])
    np.testing.assert_allclose(boxes, [[10.0, 5.0, 50.0, 105.0], [30.0, 15.0, 70.0, 115.0]])


@pytest.mark.parametrize("steps", [[1.0], []])
def test_no_virtual_box_without_a_missed_step(steps):
    assert virtual_trajectory(np.zeros(4), np.ones(4), steps).shape == (0, 4)


def test_the_direction_is_from_the_older_centre_to_the_newer():
    direction = motion_direction(np.array([0.0, 0.0, 10.0, 10.0]), np.array([3.0, 4.0, 13.0, 14.0]))
    np.testing.assert_allclose(direction, [0.6, 0.8])
    assert motion_direction(np.zeros(4), np.zeros(4)) is None


def test_a_box_ahead_agrees_one_behind_disagrees_and_an_unknown_direction_is_neutral():
    origin = np.array([[100.0, 100.0, 140.0, 200.0]])
    ahead, aside, behind = ([100.0 + dx, 100.0 + dy, 140.0 + dx, 200.0 + dy] for dx, dy in [(30, 0), (0, 30), (-30, 0)])
    boxes = np.array([ahead, aside, behind])
    agreement = direction_agreement([np.array([1.0, 0.0]), None], np.concatenate([origin, origin]), boxes)
    np.testing.assert_allclose(agreement, [[0.5, 0.0, -0.5], [0.0, 0.0, 0.0]], atol=1e-9)


def test_the_kalman_noise_follows_the_size_of_the_box():
    """A 40 x 200 box: corners stray by 2 px in x and 10 px in y; velocities change by 1/160 of the size a frame."""
    noise = box_scaled_noise(np.array([10.0, 20.0, 50.0, 220.0]))
    np.testing.assert_allclose(np.diag(noise["measurement_noise"]), [4.0, 100.0, 4.0, 100.0])
    np.testing.assert_allclose(np.sqrt(np.diag(noise["process_noise"]))[4:], [0.25, 1.25, 0.25, 1.25])
    np.testing.assert_allclose(np.sqrt(np.diag(noise["state_covariance"]))[:2], [4.0, 20.0])
    twice = box_scaled_noise(np.array([10.0, 20.0, 90.0, 420.0]))
    np.testing.assert_allclose(twice["process_noise"], 4 * noise["process_noise"])  # twice the size, 4x the variance
    assert np.all(np.diag(box_scaled_noise(np.array([5.0, 5.0, 5.0, 5.0]))["measurement_noise"]) > 0)
