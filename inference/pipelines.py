"""Reelbot's LTX-2 pipelines: diffusers' own, taking a waveform where they take audio latents.

diffusers' LTX-2 pipelines take audio as latents. These subclasses take a `Track` (the
member's voice, a parent clip's sound), encode it with the checkpoint's own audio VAE
(log-mel, then the VAE's posterior mode, as ltx-pipelines encodes a conditioning track)
and hand the latents to the diffusers loop unchanged, so `callback_on_step_end`,
`interrupt` and every other argument work as documented upstream.

| class | diffusers class | the track |
|---|---|---|
| `LTX2LipSyncPipeline` | `LTX2DFRPipeline` | held at sigma 0 all through (`freeze_audio`); the video attends to it |
| `LTX2ExtendPipeline` | `LTX2ConditionPipeline` | the parent's sound under the lead-in frames, put back at each |
|  |  | step's noise level (inpainting, as `audio_scheduler`), so the new sound continues it |

`loading.task_pipelines` finds these by name after diffusers' own classes.
"""

from __future__ import annotations

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, LTX2ConditionPipeline, LTX2DFRPipeline
from diffusers.schedulers.scheduling_flow_match_euler_discrete import FlowMatchEulerDiscreteSchedulerOutput
from diffusers.utils.torch_utils import randn_tensor

from .audio import Track, log_mel


def encode_track(pipeline, track: Track, seconds: float) -> torch.Tensor:
    """`track`, fitted to `seconds`, as raw audio latents [1, channels, length, mel bins]: the
    unpacked, unnormalised form the LTX-2 pipelines take as `audio_latents`."""
    config = pipeline.audio_vae.config
    mel = log_mel(track.fitted(seconds), sample_rate=config.sample_rate, hop_length=config.mel_hop_length,
                  mel_bins=config.mel_bins, channels=config.in_channels)
    vae = pipeline.audio_vae
    # The posterior's mode, not a sample: the same track always gives the same latents.
    latents = vae.encode(mel.to(device=pipeline._execution_device, dtype=vae.dtype)).latent_dist.mode()
    # The causal encoder gives a latent or so more than the pipelines expect for this length.
    hops_per_second = pipeline.audio_sampling_rate / pipeline.audio_hop_length
    per_second = hops_per_second / pipeline.audio_vae_temporal_compression_ratio
    return latents[:, :, : max(1, round(seconds * per_second))].float()


class LTX2LipSyncPipeline(LTX2DFRPipeline):
    """A video that follows a given track: one distilled DFR pass with the track's latents
    frozen at sigma 0 (`freeze_audio=True`) while the video tokens attend to them.

    Takes `audio` (a `Track`) instead of `audio_latents`; everything else is
    `LTX2DFRPipeline.__call__`. No generated keyframe slots (`generate_slots=False`), so any
    LTX-2 transformer serves, not only those with a keyframe embedding. The returned `audio`
    is the VAE's rendering of the frozen latents (the latents themselves with
    `output_type="latent"`); a lip-synced clip muxes the member's own waveform instead.
    """

    @torch.no_grad()
    def __call__(self, *, audio: Track, num_frames: int, frame_rate: float = 24.0, **kwargs):
        latents = encode_track(self, audio, num_frames / frame_rate)
        return super().__call__(num_frames=num_frames, frame_rate=frame_rate, audio_latents=latents,
                                freeze_audio=True, generate_slots=False, **kwargs)


class HeldAudioScheduler(FlowMatchEulerDiscreteScheduler):
    """Euler steps that keep the first audio tokens on known latents: after every step they
    are put back as the known latents noised to the next step's sigma (the way diffusers'
    inpainting pipelines keep the unmasked part of an image), so the rest is denoised to
    continue them. `hold` sets what to keep before each call."""

    def hold(self, known: torch.Tensor, noise: torch.Tensor) -> HeldAudioScheduler:
        self.known, self.noise = known, noise  # packed, normalised: [batch, tokens, features]
        return self

    def step(self, model_output, timestep, sample, *args, return_dict: bool = True, **kwargs):
        stepped = super().step(model_output, timestep, sample, *args, return_dict=False, **kwargs)[0]
        sigma = self.sigmas[self.step_index]  # super().step moved on: the next step's noise level
        held = min(self.known.shape[1], stepped.shape[1])
        stepped = stepped.clone()
        noised = (1 - sigma) * self.known[:, :held] + sigma * self.noise[:, :held]
        stepped[:, :held] = noised.to(device=stepped.device, dtype=stepped.dtype)
        return FlowMatchEulerDiscreteSchedulerOutput(prev_sample=stepped) if return_dict else (stepped,)


class LTX2ExtendPipeline(LTX2ConditionPipeline):
    """`LTX2ConditionPipeline` whose sound continues a parent's: `lead_in_audio` (a `Track`)
    is the parent's sound under the lead-in frames, held under them while the rest of the
    track is generated. Without it, exactly `LTX2ConditionPipeline` (keyframes, or a parent
    without sound)."""

    @torch.no_grad()
    def __call__(self, *, lead_in_audio: Track | None = None, generator: torch.Generator | None = None, **kwargs):
        if lead_in_audio is None:
            return super().__call__(generator=generator, **kwargs)
        known = encode_track(self, lead_in_audio, lead_in_audio.seconds)
        known = self._pack_audio_latents(known)
        known = self._normalize_audio_latents(known, self.audio_vae.latents_mean, self.audio_vae.latents_std)
        noise = randn_tensor(known.shape, generator=generator, device=known.device, dtype=known.dtype)
        own = self.audio_scheduler  # a checkpoint may ship one; its schedule is the one held to
        self.audio_scheduler = HeldAudioScheduler.from_config((own or self.scheduler).config).hold(known, noise)
        try:
            return super().__call__(generator=generator, **kwargs)
        finally:
            self.audio_scheduler = own
