"""Sound tracks in and out of the models: decoding a member's file, resampling, fitting a
track to a clip's length, and the log-mel spectrogram LTX-2's audio VAE encodes.

A `Track` is float32 samples shaped (channels, samples) in [-1, 1] at `rate` Hz. The
member's own track is muxed as decoded (lip-sync plays their sound, not a re-synthesis);
only the copy the model hears is resampled to the audio VAE's rate and turned into mels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

# LTX-2's audio processor (ltx-core): a 1024-point Hann STFT (64 ms at 16 kHz), magnitude
# (power 1), Slaney mel scale and norm from 0 Hz to Nyquist, natural log floored at 1e-5.
# The sample rate, hop and mel bins come from the audio VAE's config.
MEL_N_FFT = 1024
MEL_FLOOR = 1e-5


@dataclass(frozen=True)
class Track:
    samples: np.ndarray  # (channels, samples) float32
    rate: int

    def __post_init__(self):
        if self.samples.ndim != 2 or self.rate <= 0:
            raise ValueError(f"a track is (channels, samples) at a positive rate, got {self.samples.shape} "
                             f"at {self.rate}")

    @property
    def seconds(self) -> float:
        return self.samples.shape[1] / self.rate

    def fitted(self, seconds: float) -> Track:
        """Exactly `seconds` long: cut, or padded with silence at the end."""
        return Track(fit(self.samples, round(seconds * self.rate)), self.rate)

    def after(self, seconds: float) -> Track:
        """What follows the first `seconds`."""
        return Track(np.ascontiguousarray(self.samples[:, round(seconds * self.rate):]), self.rate)

    def window(self, start: float, end: float) -> Track:
        """The part from `start` to `end` seconds (negative: from the end), silence where it runs out."""
        length = self.samples.shape[1]
        first, last = (round((t if t >= 0 else self.seconds + t) * self.rate) for t in (start, end))
        piece = self.samples[:, max(first, 0):max(min(last, length), 0)]
        return Track(np.pad(piece, ((0, 0), (max(-first, 0), 0))).astype(np.float32), self.rate)


def fit(samples: np.ndarray, count: int) -> np.ndarray:
    """(channels, count): cut at the end, or padded with zeros (silence)."""
    samples = samples[:, :count]
    if samples.shape[1] < count:
        samples = np.pad(samples, ((0, 0), (0, count - samples.shape[1])))
    return np.ascontiguousarray(samples, dtype=np.float32)


def read(data: bytes) -> Track:
    """Every sample of the first audio stream of a file PyAV reads, at its own rate."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels or 1
        # Planar float keeps channels apart; one layout for every codec's own sample format.
        resampler = av.AudioResampler(format="fltp", layout=_layout(channels), rate=stream.codec_context.sample_rate)
        chunks = [frame.to_ndarray() for decoded in container.decode(stream) for frame in resampler.resample(decoded)]
        chunks += [frame.to_ndarray() for frame in resampler.resample(None)]
        rate = stream.codec_context.sample_rate
        # An AAC track ends on a whole frame of 1024 samples; an MP4 says how many play (other
        # containers' durations can be estimates, so those keep every decoded sample).
        exact = "mp4" in container.format.name.split(",") and stream.duration
        playing = round(float(stream.duration * stream.time_base) * rate) if exact else None
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    return Track(np.ascontiguousarray(samples[:, :playing], dtype=np.float32), rate)


def resample(track: Track, rate: int) -> Track:
    """The track at `rate` Hz (libswresample through PyAV), the same length in seconds."""
    import av

    if track.rate == rate:
        return track
    channels = track.samples.shape[0]
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(track.samples, dtype=np.float32), format="fltp",
                                       layout=_layout(channels))
    frame.sample_rate = track.rate
    resampler = av.AudioResampler(format="fltp", layout=_layout(channels), rate=rate)
    chunks = [out.to_ndarray() for out in [*resampler.resample(frame), *resampler.resample(None)]]
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    return Track(fit(samples, round(track.seconds * rate)), rate)


def log_mel(track: Track, *, sample_rate: int, hop_length: int, mel_bins: int, channels: int):
    """(1, channels, frames, mel_bins) log-mel spectrogram, as LTX-2's audio VAE takes it.

    Mono is repeated to fill the channels the VAE expects; extra channels are dropped.
    """
    import torch
    from transformers.audio_utils import mel_filter_bank

    track = resample(track, sample_rate)
    samples = track.samples[:channels]
    if len(samples) < channels:
        samples = np.repeat(samples[:1], channels, axis=0)
    waveform = torch.from_numpy(np.ascontiguousarray(samples))
    spectrum = torch.stft(waveform, n_fft=MEL_N_FFT, hop_length=hop_length, win_length=MEL_N_FFT,
                          window=torch.hann_window(MEL_N_FFT), center=True, pad_mode="reflect",
                          return_complex=True).abs()  # (channels, n_fft // 2 + 1, frames)
    filters = mel_filter_bank(num_frequency_bins=MEL_N_FFT // 2 + 1, num_mel_filters=mel_bins, min_frequency=0.0,
                              max_frequency=sample_rate / 2, sampling_rate=sample_rate, norm="slaney",
                              mel_scale="slaney")  # (frequency bins, mel bins)
    mel = torch.einsum("cft,fm->ctm", spectrum, torch.from_numpy(filters).float())
    return torch.log(mel.clamp(min=MEL_FLOOR)).unsqueeze(0)


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
