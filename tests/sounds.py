"""Sound files for tests, written by PyAV in memory: a voice-like tone in each format members
attach, plus the broken kinds (silent, empty, mislabelled, a video, random bytes)."""

from __future__ import annotations

import io
import math
import wave
from array import array

import av

# (container, codec, extension, content type) per kind of file a member attaches.
FORMATS = {
    "wav": ("wav", "pcm_s16le", "wav", "audio/wav"),
    "mp3": ("mp3", "libmp3lame", "mp3", "audio/mpeg"),
    "m4a": ("ipod", "aac", "m4a", "audio/mp4"),
    "ogg-vorbis": ("ogg", "vorbis", "ogg", "audio/ogg"),
    "ogg-opus": ("ogg", "libopus", "opus", "audio/ogg"),
    "flac": ("flac", "flac", "flac", "audio/flac"),
}
RATES = {"libopus": 48000}  # Opus runs at 48 kHz only


def tone(seconds: float, rate: int, pitch: float = 220.0, silent: bool = False) -> list[float]:
    """A voice-like sound: a tone whose loudness rises and falls a few times a second."""
    count = round(seconds * rate)
    if silent:
        return [0.0] * count
    return [0.4 * math.sin(2 * math.pi * pitch * i / rate) * (0.55 + 0.45 * math.sin(2 * math.pi * 3 * i / rate))
            for i in range(count)]


def sound_file(kind: str = "wav", seconds: float = 1.5, rate: int = 22050, *, silent: bool = False,
               pitch: float = 220.0, samples: list[float] | None = None) -> bytes:
    """`kind` (a FORMATS key) holding `seconds` of tone (or `samples`), mono."""
    container_format, codec, _, _ = FORMATS[kind]
    rate = RATES.get(codec, rate)
    samples = samples if samples is not None else tone(seconds, rate, pitch, silent)
    pcm16 = array("h", (int(max(-1.0, min(1.0, v)) * 32767) for v in samples)).tobytes()
    if kind == "wav":  # the standard library's writer also makes a valid WAV of no samples
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as file:
            file.setnchannels(1)
            file.setsampwidth(2)
            file.setframerate(rate)
            file.writeframes(pcm16)
        return buffer.getvalue()
    # FFmpeg's own Vorbis encoder is experimental and writes stereo only.
    layout = "stereo" if codec == "vorbis" else "mono"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, options={"strict": "experimental"} if codec == "vorbis" else {})
        stream.layout = layout
        sample_format = stream.codec_context.format.name  # what this encoder takes
        pcm = av.AudioFrame(format="s16", layout="mono", samples=len(samples))
        pcm.planes[0].update(pcm16)
        pcm.sample_rate, pcm.pts = rate, 0
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        for frame in resampler.resample(pcm) + resampler.resample(None):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def video_file(seconds: float = 1.0, with_sound: bool = True) -> bytes:
    """A small MP4 with a picture (and a tone): the kind of file that is not an audio file."""
    import numpy as np

    from inference.encode import encode_mp4

    frames = np.full((round(seconds * 12), 64, 64, 3), 120, np.uint8)
    audio = np.array([tone(seconds, 16000)], np.float32) if with_sound else None
    return encode_mp4(frames, 12, audio=audio, audio_rate=16000 if with_sound else None)
