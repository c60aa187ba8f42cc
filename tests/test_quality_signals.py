"""Each quality signal against clips whose answer is known (inference/quality.py)."""

import numpy as np
import pytest

from inference import quality

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _texture(height=96, width=320, seed=0):
    import cv2

    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)


def _still(frames=24, width=160):
    return np.stack([_texture()[:, :width]] * frames)


def _pan(frames=24, width=160, step=3):
    base = _texture()
    return np.stack([base[:, i * step:i * step + width] for i in range(frames)])


def test_a_still_clip_has_no_motion_and_a_panning_one_moves_as_far_as_it_pans():
    still = quality.frame_signals(_still(), fps=24)
    assert still["motion"] == pytest.approx(0.0, abs=0.05) and still["frozen"] == 1.0 and still["flicker"] == 1.0
    pan = quality.frame_signals(_pan(step=3), fps=24)
    # 3 px a frame across 160 px at 24 fps is 45 % of the width a second.
    assert pan["motion"] == pytest.approx(45.0, rel=0.25) and pan["frozen"] == 0.0
    faster = quality.frame_signals(_pan(step=6, frames=20), fps=24)
    assert faster["motion"] > 1.5 * pan["motion"]


def test_a_strobing_clip_flickers_and_a_steady_one_does_not():
    steady = _still()
    strobe = steady.copy()
    strobe[1::2] = 0  # a light going off every other frame
    steady_flicker = quality.frame_signals(steady, fps=24)["flicker"]
    strobe_flicker = quality.frame_signals(strobe, fps=24)["flicker"]
    # VBench's temporal_flickering: (255 - mean |frame - next|) / 255.
    expected = (255 - np.mean(np.abs(strobe[1:].astype(float) - strobe[:-1]))) / 255
    assert steady_flicker == 1.0 and strobe_flicker == pytest.approx(expected, abs=1e-4) and strobe_flicker < 0.8


def test_black_frames_are_counted_and_a_black_clip_is_broken():
    frames = _pan(frames=10)
    frames[:4] = 0
    frames[4, :, :] = 12  # dark grey under blackdetect's 10 % is black too
    signals = quality.frame_signals(frames, fps=24)
    assert signals["black"] == pytest.approx(0.5)
    assert quality.broken(signals) is None
    black = quality.frame_signals(np.zeros((9, 32, 48, 3), np.uint8), fps=24)
    assert black["black"] == 1.0 and quality.broken(black) == quality.BLACK


def test_a_clip_frozen_from_start_to_end_is_broken_only_where_motion_was_asked():
    signals = quality.frame_signals(_still(), fps=24)
    assert quality.broken(signals, motion_asked=True) == quality.FROZEN
    assert quality.broken(signals, motion_asked=False) is None
    half = np.concatenate([_still(frames=12), _pan(frames=12)])
    assert 0.4 < quality.frame_signals(half, fps=24)["frozen"] < 0.6
    assert quality.broken(quality.frame_signals(half, fps=24)) is None
    assert quality.broken(signals, finite=False) == quality.NON_FINITE


def test_sharpness_is_the_variance_of_the_laplacian():
    import cv2

    sharp = np.stack([np.random.default_rng(1).integers(0, 256, (96, 320, 3), dtype=np.uint8)] * 3)
    blurred = np.stack([cv2.GaussianBlur(sharp[0], (0, 0), 3)] * 3)
    assert quality.sharpness(sharp) > 10 * quality.sharpness(blurred)
    assert quality.sharpness(np.zeros((2, 16, 16, 3), np.uint8)) == 0.0


def test_a_silent_track_is_silent_and_a_loud_one_is_measured():
    rate = 16000
    silent = quality.sound_signals(np.zeros((2, rate * 2), np.float32), rate)
    assert silent == {"loudness": quality.LOUDNESS_FLOOR, "silence": 1.0, "clipping": 0.0}
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate * 2) / rate)
    loud = quality.sound_signals(tone[None], rate)
    # A 0.5-amplitude sine is -9 dBFS RMS; K-weighting adds a little at 440 Hz: about -9 LUFS.
    assert -11 < loud["loudness"] < -7 and loud["silence"] == 0.0 and loud["clipping"] == 0.0
    half = np.concatenate([tone[:rate], np.zeros(rate)])
    assert quality.sound_signals(half[None], rate)["silence"] == pytest.approx(0.5, abs=0.05)
    clipped = np.clip(tone * 4, -1, 1)
    assert quality.sound_signals(clipped[None], rate)["clipping"] > 0.5


def test_measure_gives_every_signal_of_a_clip_with_sound():
    from inference.audio import Track

    frames = _pan(frames=12)
    track = Track(np.zeros((1, 8000), np.float32), 16000)
    signals, seconds = quality.measure(frames, 24, track=track)
    assert signals.motion > 0 and signals.silence == 1.0 and signals.adherence is None and seconds > 0
    assert quality.measure(frames, 24)[0].loudness is None  # a silent clip has no sound signals


def _train_colour_clip(folder):
    """A tiny CLIP whose weights are trained here, in seconds, to tell red frames from blue
    ones by the words "red" and "blue": a scorer built for this test."""
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    from inference.tiny import build_tiny_clip

    build_tiny_clip(folder)
    model, processor = CLIPModel.from_pretrained(folder), CLIPProcessor.from_pretrained(folder)
    colours = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30)}
    texts = [f"a {name} square" for name in colours]
    images = [Image.new("RGB", (32, 32), rgb) for rgb in colours.values()]
    batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    model.train()
    for _ in range(150):
        loss = model(**batch, return_loss=True).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().save_pretrained(folder)
    return colours


def test_adherence_scores_the_matching_prompt_above_a_mismatched_one(tmp_path):
    colours = _train_colour_clip(tmp_path / "colour-clip")
    scorer = quality.AdherenceScorer.load(str(tmp_path / "colour-clip"), tmp_path)
    red = np.full((8, 48, 64, 3), colours["red"], np.uint8)
    blue = np.full((8, 48, 64, 3), colours["blue"], np.uint8)
    assert scorer.score(red, "a red square") > scorer.score(red, "a blue square") + 5
    assert scorer.score(blue, "a blue square") > scorer.score(blue, "a red square") + 5
    assert scorer.score(red, "  ") is None


def test_the_tiny_adherence_model_is_built_in_code_and_loads_offline(tmp_path):
    scorer = quality.AdherenceScorer.load(quality.TINY_ADHERENCE, tmp_path)
    assert scorer.tiny and (tmp_path / quality.TINY_ADHERENCE / "config.json").exists()
    score = scorer.score(_pan(frames=6), "a fox")
    assert -100 <= score <= 100
    with pytest.raises((OSError, ValueError)):
        quality.AdherenceScorer.load(str(tmp_path / "nothing-here"), tmp_path)


def test_the_signals_measured_are_the_ones_reported():
    from dataclasses import fields

    from core.quality import SIGNALS
    from worker.quality import BUCKETS

    names = [f.name for f in fields(quality.Signals)]
    assert names == [s.name for s in SIGNALS] == list(BUCKETS)
