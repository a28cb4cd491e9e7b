"""The renderer: deterministic frames, kitchens that look different, distractors, hands from the bottom edge,
time-reversal pairs that really are reversals, and motion-pattern verbs with measurably different motion."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from egoaction.data.synth.plan import VideoPlan, plan_clip, plan_untrimmed
from egoaction.data.synth.render import render_video
from egoaction.data.synth.scene import build_scene
from egoaction.data.synth.world import KITCHENS, NOUNS, noun_id, verb_id

H, W = 64, 112
PAIRS = [  # (verb, its reversal, noun, kitchen, the first verb's expected net motion (x, y))
    ("take", "put", "cup", 0, (0, 1)),  # towards the camera: down
    ("open", "close", "pot", 1, (1, 0)),  # the lid goes aside to the right
    ("open", "close", "fridge", 4, (-1, 0)),  # the door's free edge swings left
    ("turn-on", "turn-off", "hob", 5, (1, 0)),  # the hand sweeps round the knob to the right
    ("push", "pull", "kettle", 6, (0, -1)),  # away from the camera: up
]


def _clip(verb: str, noun: str, kitchen: int = 0, seed: int = 0, fps: float = 25.0, **kw: int) -> VideoPlan:
    rng = np.random.default_rng(seed)
    return plan_clip(rng, kitchen=kitchen, fps=fps, verb=verb_id(verb), noun=noun_id(noun), **kw)


def _action(frames: np.ndarray, plan: VideoPlan) -> np.ndarray:
    a = plan.actions[0]
    return frames[a.start : a.stop + 1]


def _flows(frames: np.ndarray) -> list[np.ndarray]:
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    return [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0) for a, b in itertools.pairwise(grey)]


def _net_motion(frames: np.ndarray) -> np.ndarray:
    """Summed flow of the things that move against the camera (flow minus its median, where that is large)."""
    total = np.zeros(2)
    for flow in _flows(frames):
        residual = flow - np.median(flow.reshape(-1, 2), axis=0)
        moving = np.hypot(residual[..., 0], residual[..., 1]) > 0.5
        total += residual[moving].sum(axis=0) / moving.size
    return total


def _velocities(frames: np.ndarray) -> np.ndarray:
    """Mean flow of the moving pixels per frame pair (T-1, 2): the hand's velocity with a still camera."""
    out = []
    for flow in _flows(frames):
        moving = np.hypot(flow[..., 0], flow[..., 1]) > 0.3
        out.append(flow[moving].mean(axis=0) if moving.sum() > 5 else np.zeros(2))
    return np.array(out)


def test_frames_are_uint8_rgb_of_the_requested_size():
    plan = plan_untrimmed(np.random.default_rng(0), kitchen=3, fps=30.0, num_actions=3)
    frames, boxes = render_video(plan, H, W, return_boxes=True)
    assert frames.shape == (plan.num_frames, H, W, 3) and frames.dtype == np.uint8
    assert boxes.shape == (plan.num_frames, 4) and boxes.dtype == np.float32
    small = render_video(plan, 32, 56)
    assert isinstance(small, np.ndarray) and small.shape == (plan.num_frames, 32, 56, 3)


def test_same_plan_gives_identical_bytes_and_another_seed_other_frames():
    plan = plan_untrimmed(np.random.default_rng(1), kitchen=2, fps=30.0, num_actions=3)
    first = render_video(plan, H, W)
    assert first.tobytes() == render_video(plan, H, W).tobytes()
    other = plan_untrimmed(np.random.default_rng(2), kitchen=2, fps=30.0, num_actions=3)
    n = min(len(first), other.num_frames)
    assert np.abs(first[:n].astype(int) - render_video(other, H, W)[:n]).mean() > 5


def test_kitchens_have_different_backgrounds():
    means = []
    for k in range(len(KITCHENS)):
        plan = _clip("take", "cup", kitchen=k)
        means.append(render_video(plan, H, W, camera_motion=False)[0].reshape(-1, 3).mean(axis=0))
    for i in range(len(means)):
        for j in range(i + 1, len(means)):
            assert np.linalg.norm(means[i] - means[j]) > 8, (KITCHENS[i].name, KITCHENS[j].name)


def test_kitchens_shake_the_camera_by_their_own_amount():
    plan = _clip("wash", "plate", fps=60.0, num_frames=120)
    jitter = []
    for k in range(len(KITCHENS)):
        scene = build_scene(VideoPlan(k, plan.fps, plan.num_frames, plan.seed, plan.actions), H, W)
        jitter.append(np.diff(scene.view_y, 2).std())  # 2nd difference: keeps the fast shake, drops slow motion
    order = np.argsort([k.shake for k in KITCHENS])
    assert jitter[order[-1]] > 3 * jitter[order[0]]


def test_each_kitchen_lights_the_frame_with_its_own_brightness_tint_and_gradient(monkeypatch):
    import egoaction.data.synth.scene as scene_module

    gains = [scene_module.lighting(k, H, W).astype(float) for k in range(len(KITCHENS))]
    means = [g.mean() for g in gains]
    assert np.argsort(means).tolist() == np.argsort([k.brightness for k in KITCHENS]).tolist()
    for k, g in zip(KITCHENS, gains):
        dx, dy = np.cos(k.gradient[0]), np.sin(k.gradient[0])
        if abs(dy) > abs(dx):
            lit_side = g[H // 2 :] if dy > 0 else g[: H // 2]
        else:
            lit_side = g[:, W // 2 :] if dx > 0 else g[:, : W // 2]
        assert lit_side.mean() > g.mean()  # brighter towards where the gradient points
        assert np.argmax(g.reshape(-1, 3).mean(axis=0)) == np.argmax(k.tint) or len(set(k.tint)) == 1
    plan = _clip("take", "cup", kitchen=2)
    lit = render_video(plan, H, W).astype(int)
    monkeypatch.setattr(scene_module, "lighting", lambda *_: np.full((H, W, 3), 128, np.uint8))
    flat = render_video(plan, H, W).astype(int)
    assert np.abs(lit - np.clip(flat * gains[2] / 128, 0, 255)).max() <= 1


def test_every_scene_has_one_to_four_distractors_clear_of_the_target():
    counts = set()
    for seed in range(30):
        plan = plan_untrimmed(np.random.default_rng(seed), kitchen=seed % 8, fps=30.0, num_actions=2)
        for action, station in zip(plan.actions, build_scene(plan, H, W).stations):
            assert 1 <= len(station.distractors) <= 4
            counts.add(len(station.distractors))
            assert all(d != action.noun for d, _, _ in station.distractors)
            assert all(abs(x - station.x) > 0.1 * H for _, x, _ in station.distractors)
    assert counts == {1, 2, 3, 4}


def test_distractors_are_drawn():
    plan = _clip("take", "egg", kitchen=1, seed=4)
    scene = build_scene(plan, H, W, camera_motion=False)
    frame = render_video(plan, H, W, camera_motion=False)[0].astype(int)
    for noun, x, y in scene.stations[0].distractors:
        patch = frame[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3].reshape(-1, 3).mean(axis=0)
        colour = np.array(NOUNS[noun].colour) * KITCHENS[1].brightness
        assert np.abs(patch - colour).max() < 90, NOUNS[noun].name


def test_hands_enter_from_the_bottom_edge_before_the_action_starts():
    plan = plan_untrimmed(np.random.default_rng(3), kitchen=0, fps=30.0, num_actions=6)
    frames = render_video(plan, H, W, camera_motion=False).astype(int)
    for a in plan.actions:
        before = frames[a.approach - 1]
        changed = [np.abs(frames[f] - before).max(axis=2) > 12 for f in range(a.approach, a.start + 1)]
        first = next(c for c in changed if c.any())
        assert first[-1].any(), "the hand first shows up at the bottom edge"
        assert not first[: H // 2].any()
        assert changed[-2].sum() > 40  # the hand is well in view before the action's first frame


def test_put_enters_carrying_the_object_and_take_leaves_with_it():
    put = _clip("put", "bowl", kitchen=2, seed=1)
    _, boxes = render_video(put, H, W, camera_motion=False, return_boxes=True)
    a = put.actions[0]
    entering = boxes[a.approach : a.start]
    seen = entering[~np.isnan(entering[:, 0])]
    assert len(seen) > 0 and seen[0, 3] == H  # first seen while still cut by the bottom edge
    assert np.isfinite(boxes[a.start : a.stop + 1]).all()
    wanted = [(verb_id("take"), noun_id("bowl")), (verb_id("take"), noun_id("cup"))]
    take = plan_untrimmed(np.random.default_rng(0), kitchen=2, fps=30.0, num_actions=2, actions=wanted)
    _, boxes = render_video(take, H, W, return_boxes=True)
    first, second = take.actions
    assert np.isfinite(boxes[first.approach : first.stop + 1]).all()  # visible while the hand comes and lifts it
    assert np.isnan(boxes[first.stop + 6 : second.approach]).all()  # gone with the hand, and the view moved on
    inside = boxes[np.isfinite(boxes[:, 0])]
    assert (inside[:, :2] >= 0).all() and (inside[:, 2] <= W).all() and (inside[:, 3] <= H).all()


@pytest.mark.parametrize(("verb", "reverse", "noun", "kitchen", "_"), PAIRS)
def test_reversal_pairs_are_exact_time_reversals_with_a_still_camera(verb, reverse, noun, kitchen, _):
    for seed in (0, 1):
        forward, backward = _clip(verb, noun, kitchen, seed), _clip(reverse, noun, kitchen, seed)
        a = _action(render_video(forward, H, W, camera_motion=False), forward)
        b = _action(render_video(backward, H, W, camera_motion=False), backward)
        assert np.abs(a[0].astype(int) - a[-1]).max() > 50  # the action changes the picture ...
        assert not np.array_equal(a, b)  # ... so the pair differs when played in the same direction
        assert np.array_equal(a, b[::-1])


@pytest.mark.parametrize(("verb", "reverse", "noun", "kitchen", "direction"), PAIRS)
def test_reversal_pairs_move_in_opposite_directions_with_camera_motion(verb, reverse, noun, kitchen, direction):
    for seed in (0, 1):
        forward, backward = _clip(verb, noun, kitchen, seed), _clip(reverse, noun, kitchen, seed)
        m_forward = _net_motion(_action(render_video(forward, H, W), forward))
        m_backward = _net_motion(_action(render_video(backward, H, W), backward))
        cosine = m_forward @ m_backward / (np.linalg.norm(m_forward) * np.linalg.norm(m_backward))
        assert cosine < -0.3
        assert m_forward @ np.array(direction) > 0 > m_backward @ np.array(direction)


def test_motion_pattern_verbs_have_different_motion_signatures():
    def signature(verb: str, noun: str, seed: int) -> tuple[float, float, float]:
        plan = _clip(verb, noun, kitchen=seed, seed=seed, fps=30.0, num_frames=40)
        v = _velocities(_action(render_video(plan, H, W, camera_motion=False), plan))
        energy_x, energy_y = (v**2).sum(axis=0)
        turning = np.mean(np.sign(v[:-1, 0] * v[1:, 1] - v[:-1, 1] * v[1:, 0]))  # same sign = going round
        main = v[:, 0] if energy_x > energy_y else v[:, 1]
        main = main[np.abs(main) > 0.05]
        reversals_per_s = np.sum(np.diff(np.sign(main)) != 0) / (len(v) / 30.0)
        return energy_y / (energy_x + energy_y), abs(turning), reversals_per_s

    for seed in (0, 1):
        cut, stir, shake = (
            signature("cut", "bread", seed),
            signature("stir", "pot", seed),
            signature("shake", "jar", seed),
        )
        assert cut[0] > 0.6  # cut: mostly vertical, back and forth
        assert stir[1] > 0.3 and stir[1] > 2 * max(cut[1], shake[1])  # stir: keeps turning one way round
        assert shake[2] > 1.5 * cut[2] and shake[2] > 2 * stir[2]  # shake: much faster oscillation
        assert shake[0] < 0.4  # shake: side to side


def test_water_runs_while_washing_and_after_a_tap_is_turned_on():
    def water(frame: np.ndarray) -> int:
        r, b = frame[..., 0].astype(int), frame[..., 2].astype(int)
        return int(((b > r + 40) & (b > 170)).sum())

    wash = _clip("wash", "tomato", kitchen=0, seed=2)
    frames = _action(render_video(wash, H, W, camera_motion=False), wash)
    assert water(frames[len(frames) // 2]) > water(frames[0]) + 20  # (a wall window may be blue too)
    tap = _clip("turn-on", "tap", kitchen=0, seed=2)
    frames = _action(render_video(tap, H, W, camera_motion=False), tap)
    assert water(frames[-1]) > water(frames[0]) + 20


def test_untrimmed_view_pans_to_a_new_part_of_the_counter_between_actions():
    plan = plan_untrimmed(np.random.default_rng(8), kitchen=1, fps=30.0, num_actions=3)
    scene = build_scene(plan, H, W)
    stride = scene.origins[1] - scene.origins[0]
    for a, b in zip(plan.actions, plan.actions[1:]):
        assert scene.view_x[b.start] - scene.view_x[a.start] == pytest.approx(stride, abs=0.2 * H)
    still = build_scene(plan, H, W, camera_motion=False)
    assert set(np.diff(still.view_x)) <= {0.0, float(stride)}  # a cut, not a pan
