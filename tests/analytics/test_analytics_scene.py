"""The synthetic scene: real cut-outs, exact geometry, truth that counts the visible."""

from __future__ import annotations

import numpy as np
from conftest import make_scene, small_scene

from fieldkit.analytics import scene
from fieldkit.analytics.config import SceneFlowSection, SceneSection
from fieldkit.analytics.scene import MIN_VISIBLE, PinholeCamera, Sprite


def test_people_are_cut_out_not_pasted_as_rectangles(sprites: list[Sprite]) -> None:
    assert len(sprites) >= 2
    for sprite in sprites:
        assert sprite.alpha.shape == sprite.bgr.shape[:2]
        inside = float((sprite.alpha > 0.5).mean())
        # A person fills part of its bounding box; a rectangular crop would fill all of it.
        assert 0.3 < inside < 0.9
        assert sprite.bgr.shape[0] > 2 * sprite.bgr.shape[1]  # standing, full body


def test_scene_is_deterministic_per_seed(sprites: list[Sprite]) -> None:
    a = make_scene(small_scene(0.2, seed=4), sprites).next_frame()
    b = make_scene(small_scene(0.2, seed=4), sprites).next_frame()
    c = make_scene(small_scene(0.2, seed=5), sprites).next_frame()
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


def test_people_stand_where_the_camera_projects_their_feet(sprites: list[Sprite]) -> None:
    settings = small_scene(0.2)
    frame = make_scene(settings, sprites).next_frame()
    camera = PinholeCamera(settings)
    for person in frame.people:
        u, v = camera.project(np.array([[person.x, person.y, 0.0]]))[0]
        x1, _, x2, y2 = person.box
        assert abs((x1 + x2) / 2 - u) <= 1
        assert abs(y2 - v) <= 1


def test_density_and_flow_follow_the_configuration(sprites: list[Sprite]) -> None:
    settings = SceneSection(width=320, height=180, fps=10, flows=[
        SceneFlowSection(area=(0, 0, 10, 10), density=0.5, speed_m_s=1.2, direction_deg=90,
                         phases=[(0.5, 0.2, 0.0)])])
    scene = make_scene(settings, sprites)
    first = scene.next_frame()
    second = scene.next_frame()
    assert len(first.people) == 50
    moved = {p.id: p for p in second.people}
    for p in first.people:
        q = moved[p.id]
        assert abs((q.x - p.x) % 10 - p.vx / 10) < 1e-6 or p.vx == 0
        assert abs(p.vx) > 1.0
        assert abs(p.vy) < 1e-9
    for _ in range(5):
        later = scene.next_frame()
    assert len(later.people) == 20  # the phase at 0.5 s thinned the flow
    assert all(p.vx == 0 for p in later.people)  # and stopped it


def test_truth_counts_only_people_visible_enough(sprites: list[Sprite]) -> None:
    frame = make_scene(small_scene(1.0), sprites).next_frame()
    hidden = [p for p in frame.people if p.visible < MIN_VISIBLE]
    assert hidden, "a dense scene hides some people behind others"
    assert frame.count == sum(p.countable for p in frame.people) < len(frame.people)


def test_people_down_lie_wider_than_tall(sprites: list[Sprite]) -> None:
    frame = make_scene(small_scene(0.0, fallen=[(0.0, 6.0, 0.0)]), sprites).next_frame()
    (down,) = [p for p in frame.people if p.fallen]
    x1, y1, x2, y2 = down.box
    assert x2 - x1 > y2 - y1


def test_passers_by_step_around_a_person_standing_still_or_down(
        sprites: list[Sprite]) -> None:
    # A busy flow over the spot; the same crowd with the person far off the flows shows
    # it would have covered them. A box merged with a passer-by's breaks the fall's track.
    here, away = (make_scene(small_scene(0.6, fallen=[(x, 5.0, 2.0)]), sprites)
                  for x in (0.5, 20.0))
    covered = {here: 0, away: 0}
    for _ in range(int(6 * here.settings.fps)):
        frames = {crowd: crowd.next_frame() for crowd in (here, away)}
        person = next(p for p in frames[here].people if p.id == here._fallen[0].id)
        x1, y1, x2, y2 = person.box
        for crowd, frame in frames.items():
            covered[crowd] += sum(1 for p in frame.people if p.id != person.id and
                                  p.box[0] < x2 and p.box[2] > x1 and p.box[1] < y2
                                  and p.box[3] > y1)
    assert covered[away] > 0
    assert covered[here] == 0


def test_cut_outs_are_read_back_from_the_disk_cache(sprites: list[Sprite], detector,
                                                    tmp_path, monkeypatch) -> None:
    """A second process (the demo's next run) reads the cut-outs instead of cutting them
    again for tens of seconds: what it reads is what was cut."""
    stored = tmp_path / f"sprites-{scene._sprites_digest(detector.model_path)}.npz"
    scene._save_sprites(stored, sprites)
    monkeypatch.delitem(scene._SPRITES, str(detector.model_path))  # as in a new process
    again = scene.cut_out_people(detector, tmp_path)
    assert len(again) == len(sprites)
    for a, b in zip(again, sprites, strict=True):
        assert np.array_equal(a.bgr, b.bgr)
        assert np.array_equal(a.alpha, b.alpha)


def test_an_unreadable_cache_file_is_ignored(tmp_path) -> None:
    broken = tmp_path / "sprites-0123456789abcdef.npz"
    broken.write_bytes(b"PK\x03\x04 cut short")
    assert scene._load_sprites(broken) is None
    assert scene._load_sprites(tmp_path / "absent.npz") is None
