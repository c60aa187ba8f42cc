"""Sound and lip-sync on the tiny LTX-2 model, on the CPU, offline.

What a member hears is checked by decoding it: the MP4's AAC track is read back and
compared with what went in. That the model *received* a lip-sync's track is checked in
its latents: the frozen audio latents come back exactly as encoded, and another track
changes the video.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from core.catalog import LTX2_DISTILLED_SIGMAS, Task, get_model  # noqa: E402
from tests.test_models import Spy, clip, request, solid, voice  # noqa: E402

TINY = "ltx2-tiny"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def renderer(models_dir):
    from inference.render import Renderer

    return Renderer(get_model(TINY), models_dir=models_dir)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def decoded_track(out):
    """The clip's sound as a member's player decodes it: encoded to MP4, read back."""
    from inference.audio import read
    from inference.encode import encode_mp4

    return read(encode_mp4(out.frames, out.fps, audio=out.audio.samples, audio_rate=out.audio.rate))


# --- the tiny model ---------------------------------------------------------------------------


def test_tiny_ltx2_is_built_offline_and_labelled(renderer, models_dir):
    index = json.loads((models_dir / TINY / "model_index.json").read_text())
    assert index["_class_name"] == "LTX2Pipeline"
    assert index["text_encoder"] == ["transformers", "Gemma3ForConditionalGeneration"]
    assert index["tokenizer"][1].startswith("GemmaTokenizer") and index["audio_vae"][1] == "AutoencoderKLLTX2Audio"
    assert index["vocoder"][1] == "LTX2Vocoder"
    spec = renderer.spec
    assert spec.tiny and "noise" in spec.label and spec.sound and Task.LIP_SYNC in spec.tasks
    # Every class the real LTX-2 models name is served, over the same modules.
    assert set(renderer.pipelines) == {"LTX2Pipeline", "LTX2ImageToVideoPipeline", "LTX2ExtendPipeline",
                                       "LTX2LipSyncPipeline"}
    assert len({id(p.transformer) for p in renderer.pipelines.values()}) == 1


def test_tiny_audio_vae_really_downsamples_and_decodes_back(renderer):
    import torch

    from inference.audio import log_mel

    vae = renderer.pipeline.audio_vae
    config = vae.config
    mel = log_mel(voice(2.0), sample_rate=config.sample_rate, hop_length=config.mel_hop_length,
                  mel_bins=config.mel_bins, channels=config.in_channels)
    assert mel.shape == (1, 2, 201, 16)  # 100 mel frames a second at a 160-sample hop, 16 bins
    with torch.no_grad():
        latents = vae.encode(mel).latent_dist.mode()
        assert latents.shape == (1, config.latent_channels, 51, 4)  # a quarter of the frames and of the bins
        assert vae.decode(latents).sample.shape == (1, 2, 4 * 51 - 3, 16)  # back to mels (causal: 3 fewer)


# --- lip-sync -----------------------------------------------------------------------------------


def test_lip_sync_plays_the_members_own_track_for_as_long_as_it_lasts(renderer):
    track = voice(1.3, rate=22050)
    out = renderer.render(request(Task.LIP_SYNC, audio=track, fps=24, seed=4))
    assert out.num_frames == 32 and out.fps == 24  # 1.3 s at 24 fps: the 32 frames that cover it
    heard = decoded_track(out)
    assert heard.rate == 22050 and abs(heard.seconds - 32 / 24) < 0.002
    # The member's waveform, sample-accurate through AAC; then the silence to the last frame.
    samples = heard.samples[0]
    assert correlation(samples[: track.samples.shape[1]], track.samples[0]) > 0.995
    error = samples[: track.samples.shape[1]] - track.samples[0]
    assert np.sqrt(np.mean(error**2)) < 0.1 * np.sqrt(np.mean(track.samples[0] ** 2))  # AAC: about -24 dB
    assert np.abs(samples[track.samples.shape[1] + 600:]).max() < 0.01
    # Not the model's rendering of it (random weights: noise, unrelated to the voice).
    model_said = renderer.pipelines["LTX2LipSyncPipeline"](
        **{**renderer.pipeline_arguments(request(Task.LIP_SYNC, audio=track, fps=24, seed=4))}).audio[0, 0].numpy()
    assert abs(correlation(model_said, track.samples[0])) < 0.5


def test_the_pipeline_gets_the_encoded_track_frozen_and_the_video_follows_it(renderer):
    import torch

    from inference.pipelines import encode_track

    pipeline = renderer.pipelines["LTX2LipSyncPipeline"]
    one = renderer.pipeline_arguments(request(Task.LIP_SYNC, audio=voice(1.0, pitch=220.0), fps=24, seed=2))
    other = renderer.pipeline_arguments(request(Task.LIP_SYNC, audio=voice(1.0, pitch=600.0), fps=24, seed=2))
    seconds = one["num_frames"] / one["frame_rate"]
    sent = [encode_track(pipeline, arguments["audio"], seconds) for arguments in (one, other)]
    heard = [pipeline(**{**arguments, "output_type": "latent"}) for arguments in (one, other)]
    for latents, out in zip(sent, heard):
        # The track's latents went in and came back untouched: held at sigma 0 for every step.
        assert out.audio.shape == latents.shape and torch.allclose(out.audio, latents, atol=1e-6)
    assert not torch.allclose(sent[0], sent[1])
    # Same seed, same face, same prompt: only the track differs, and so does the video.
    assert (heard[0].frames - heard[1].frames).abs().max() > 1e-3


def test_a_face_video_lends_its_first_frame(renderer, monkeypatch):
    spy = Spy(renderer.pipelines["LTX2LipSyncPipeline"], monkeypatch)
    out = renderer.render(request(Task.LIP_SYNC, image=None, video=clip(20), audio=voice(0.8), fps=12))
    (condition,) = spy.last["conditions"]
    assert condition.index == 0 and condition.strength == 1.0
    assert condition.frames.size == (out.width, out.height)
    assert condition.frames.getpixel((0, 0)) == solid(0).getpixel((0, 0))


def test_lip_sync_needs_a_face_and_a_voice(renderer):
    from inference.render import MissingInput

    with pytest.raises(MissingInput, match="needs a face"):
        renderer.render(request(Task.LIP_SYNC, image=None, video=None))
    with pytest.raises(MissingInput, match="needs a voice"):
        renderer.render(request(Task.LIP_SYNC, audio=None, speech=None))


def test_typed_words_are_spoken_and_set_the_clips_length(renderer):
    short = renderer.render(request(Task.LIP_SYNC, audio=None, speech="hi there", fps=12, seed=1))
    long = renderer.render(request(Task.LIP_SYNC, audio=None, speech="hello there, how are you doing today?", fps=12,
                                   seed=1))
    assert short.audio.rate == long.audio.rate == 16000  # the voice's own rate
    assert long.audio.seconds > 2 * short.audio.seconds and long.num_frames > 2 * short.num_frames
    assert abs(long.audio.seconds - long.num_frames / 12) < 1e-3
    spoken = renderer.speaker.speak("hello there, how are you doing today?")  # the same words, the same voice
    assert np.array_equal(long.audio.samples[:, : spoken.samples.shape[1]], spoken.samples)
    # Through AAC (the tiny voice says broadband noise, which AAC keeps less exactly than a voice).
    assert correlation(decoded_track(long).samples[0], spoken.samples[0]) > 0.9


def test_words_the_voice_cannot_use_are_refused_in_words(renderer):
    from inference.render import UnsupportedTask

    with pytest.raises(UnsupportedTask, match="take .* s to say; a lip-sync clip can be up to 10 s"):
        renderer.render(request(Task.LIP_SYNC, audio=None, speech="and then it went on and on " * 10))
    with pytest.raises(UnsupportedTask, match="no words the voice can say"):
        renderer.render(request(Task.LIP_SYNC, audio=None, speech="日本語"))


# --- sound from the model -------------------------------------------------------------------------


def test_mute_drops_the_track(renderer):
    assert renderer.render(request(Task.TEXT_TO_VIDEO, fps=8, seconds=1, mute=True)).audio is None
    assert renderer.render(request(Task.LIP_SYNC, fps=8, mute=True)).audio is None


def test_extend_holds_the_parents_sound_under_the_lead_in(renderer, monkeypatch):
    import torch

    from inference.pipelines import encode_track

    parent = voice(2.0, rate=16000, pitch=330.0)
    spy = Spy(renderer.pipelines["LTX2ExtendPipeline"], monkeypatch)
    out = renderer.render(request(Task.EXTEND, parent_video=clip(48), parent_fps=24.0, parent_audio=parent,
                                  fps=24, seconds=1, seed=3))
    k = renderer.spec.extend_frames
    lead_in = spy.last["lead_in_audio"]
    # The parent's sound under the lead-in frames: from k frames before its end to the last frame's start.
    assert abs(lead_in.seconds - (k - 1) / 24) < 1e-3
    start = round((2.0 - k / 24) * 16000)
    assert np.array_equal(lead_in.samples, parent.samples[:, start:start + lead_in.samples.shape[1]])
    assert out.audio is not None and abs(out.audio.seconds - out.num_frames / 24) < 1e-3

    # In the latents: the held tokens come out as the parent's, the rest is new sound.
    pipeline = renderer.pipelines["LTX2ExtendPipeline"]
    arguments = {name: value for name, value in spy.last.items() if name != "callback_on_step_end"}
    latents = pipeline(**{**arguments, "output_type": "latent"}).audio
    held = encode_track(pipeline, lead_in, lead_in.seconds)
    assert torch.allclose(latents[:, :, : held.shape[2]], held, atol=1e-5)
    assert latents.shape[2] > held.shape[2]


def test_extend_of_a_silent_parent_makes_its_own_sound(renderer, monkeypatch):
    spy = Spy(renderer.pipelines["LTX2ExtendPipeline"], monkeypatch)
    out = renderer.render(request(Task.EXTEND, parent_video=clip(30), parent_fps=24.0, fps=12, seconds=1))
    assert spy.last["lead_in_audio"] is None and out.audio is not None


def test_keyframes_condition_the_first_and_last_latent(renderer, monkeypatch):
    spy = Spy(renderer.pipelines["LTX2ExtendPipeline"], monkeypatch)
    renderer.render(request(Task.KEYFRAMES, fps=12, seconds=1))
    first, last = spy.last["conditions"]
    # Latent indices: the last frame (8k) is latent k, the last latent.
    assert (first.index, last.index) == (0, (spy.last["num_frames"] - 1) // 8)
    assert first.frames.getpixel((0, 0)) == solid(1).getpixel((0, 0))
    assert last.frames.getpixel((0, 0)) == solid(2).getpixel((0, 0))


# --- what each real checkpoint is asked ---------------------------------------------------------


@pytest.mark.parametrize("name", ["ltx-2.3-distilled", "ltx-2.5"])
def test_distilled_models_run_their_eight_sigmas_without_guidance(renderer, name):
    from inference.render import Renderer, RenderInput

    real = Renderer(get_model(name), pipeline=renderer.pipeline)  # the tiny weights, the real spec
    args = real.pipeline_arguments(RenderInput(prompt="a man says hello"))
    assert args["sigmas"] == list(LTX2_DISTILLED_SIGMAS) and args["num_inference_steps"] == 8
    assert args["guidance_scale"] == 1.0 and args["audio_guidance_scale"] == 1.0
    assert args["stg_scale"] == 0.0 and args["modality_scale"] == 1.0
    lip = real.pipeline_arguments(RenderInput(task="lip-sync", prompt="", image=solid(1), audio=voice(1.0)))
    assert lip["sigmas"] == list(LTX2_DISTILLED_SIGMAS)
    assert not {"guidance_scale", "negative_prompt", "num_inference_steps", "audio_guidance_scale"} & set(lip)
    assert lip["prompt"].startswith("A person talks to the camera")  # no prompt given


def test_ltx2_dev_runs_evenly_spaced_steps_with_its_own_guidance(renderer):
    from inference.render import Renderer, RenderInput

    dev = Renderer(get_model("ltx-2"), pipeline=renderer.pipeline)
    args = dev.pipeline_arguments(RenderInput(prompt="a man says hello", fps=24, seconds=5))
    assert "sigmas" not in args and args["num_inference_steps"] == 40 and args["guidance_scale"] == 4.0
    assert args["use_cross_timestep"] is False and args["spatio_temporal_guidance_blocks"] == (29,)
    assert args["num_frames"] == 121 and args["frame_rate"] == 24
    assert Task.LIP_SYNC not in dev.spec.tasks  # the DFR pass is distilled-only


# --- the MP4 --------------------------------------------------------------------------------------


def test_the_mp4_carries_aac_as_long_as_the_video_and_the_budget_counts_it():
    from inference.audio import read
    from inference.encode import encode_mp4, probe_mp4

    frames = np.random.default_rng(1).integers(0, 255, (48, 96, 160, 3), np.uint8)
    long_track = voice(3.0, rate=44100).samples  # longer than the 2 s of video: cut
    data = encode_mp4(frames, 24, audio=long_track, audio_rate=44100)
    assert data == encode_mp4(frames, 24, audio=long_track, audio_rate=44100)  # same in, same bytes
    info = probe_mp4(data)
    assert (info["codec"], info["audio_codec"], info["audio_rate"], info["audio_channels"]) == ("h264", "aac", 44100, 1)
    assert abs(info["audio_seconds"] - 2.0) < 0.002 and info["faststart"]
    short = encode_mp4(frames, 24, audio=voice(0.5, rate=8000).samples, audio_rate=8000)
    assert abs(read(short).seconds - 2.0) < 0.002  # padded with silence to the end
    # A budget that the picture alone would fit: with the sound it still fits, sound and all.
    budget = 60_000
    fitted = encode_mp4(frames, 24, budget, audio=np.vstack([long_track, long_track]), audio_rate=44100)
    assert len(fitted) <= budget and probe_mp4(fitted)["audio_channels"] == 2
    # An odd rate is resampled to one AAC signals.
    odd = encode_mp4(frames, 24, audio=voice(1.0, rate=37800).samples, audio_rate=37800)
    assert probe_mp4(odd)["audio_rate"] == 32000


def test_a_silent_clip_has_no_audio_stream():
    from inference.encode import encode_mp4, probe_mp4

    info = probe_mp4(encode_mp4(np.zeros((9, 32, 32, 3), np.uint8), 8))
    assert info["audio_codec"] is None and info["audio_seconds"] is None


def test_reading_a_members_file_keeps_its_rate_and_every_sample():
    from inference.audio import read
    from tests.sounds import sound_file, tone

    for kind, rate in [("wav", 22050), ("flac", 16000), ("mp3", 44100)]:
        track = read(sound_file(kind, 1.25, rate))
        assert track.rate == rate and track.samples.shape[0] == 1
        assert abs(track.seconds - 1.25) < 0.06  # MP3 adds its encoder delay
        if kind != "mp3":
            assert correlation(track.samples[0], np.array(tone(1.25, rate))) > 0.999


def test_gpu_benchmark_learns_ltx2_with_sound_and_lip_sync_on_the_cpu(tmp_path):
    import subprocess
    import sys

    from tests.test_models import REPO

    out = tmp_path / "rows.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "bench/gpu.py", "--tiny", "--runs", "1", "--only", "ltx2-tiny", "--json", str(out)],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=300)
    results = json.loads(out.read_text())
    assert [(r["case"], r["config"]) for r in results["model"]] == [
        ("ltx2-tiny (with sound)", "plain diffusers"), ("ltx2-tiny (with sound)", "reelbot, no knobs"),
        ("ltx2-tiny lip-sync, 5 s track", "reelbot, no knobs")]
    assert all(r["model_s"] > 0 for r in results["model"])
    jobs = results["job"]
    assert [r["case"] for r in jobs] == ["ltx2-tiny (with sound)", "ltx2-tiny lip-sync, 5 s track"]
    assert all(r["s_per_clip"] >= r["model_s"] > 0 for r in jobs)


def test_ltx2_gets_no_step_cache_by_default_and_refuses_one_asked(renderer):
    from inference import knobs as speed
    from inference.render import Renderer

    for name in ("ltx-2", "ltx-2.3-distilled"):
        assert speed.default_knobs(get_model(name), "cuda", 80.0).cache is None  # bf16 + compile only
    assert speed.default_knobs(get_model("ltx-video"), "cuda", 80.0).cache == "first-block"
    with pytest.raises(speed.KnobError, match="take no step cache"):
        Renderer(renderer.spec, knobs=speed.Knobs(dtype="fp32", cache="first-block"), pipeline=renderer.pipeline)
