"""Frames (and a sound track) to the MP4 Discord plays inline, and a poster image.

H.264 in yuv420p is what every Discord client (and browser) decodes; yuv420p needs even
width and height. Sound goes in as AAC-LC, which every one of them plays too, cut or
padded to exactly the video's length. `+faststart` puts the index (moov) before the data
(mdat) so a clip starts playing before it has fully downloaded.

Encoders: NVIDIA's hardware H.264 encoder (NVENC, FFmpeg's `h264_nvenc` through PyAV)
when `pick_encoder`'s probe finds one that works, libx264 on the CPU otherwise. NVENC
frees the host CPU and takes a fraction of x264's time for a 768x512x121 clip; PyAV hands
it frames from host memory (the render's frames come back from the GPU as uint8). Sound
is AAC on the CPU either way.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image

# Visually near-lossless for generated video, and still small at these sizes.
CRF = 20
# x264 "veryfast": a 768x512x121 clip encodes ~3.5x faster than "medium" (measured on
# this project's 2-core CI box: 1.4 s against 5.0 s) for files of similar size at CRF 20.
# On a GPU worker the model takes seconds, so the encode must not take as long again.
PRESET = "veryfast"
# What the mp4 container adds around the video bits: a fixed header plus a few index
# bytes per frame. Subtracted from a byte budget before computing a bitrate.
CONTAINER_BYTES = 2048
CONTAINER_BYTES_PER_FRAME = 32
# x264's threaded lookahead reads memory FFmpeg leaves uninitialised, so the same frames
# encoded to other bytes from one process (or call) to the next. Without the lookahead
# (and so without mb-tree) every thread count gives the same bytes for the same frames;
# on this project's clips the files were no bigger and the encode a little faster.
X264_PARAMS = "rc-lookahead=0"
# NVENC: preset p4 (the middle of p1 fastest .. p7 best), variable bitrate at constant
# quality 23, which NVIDIA's guide pairs with visually good H.264 (-b:v 0 lifts the cap).
NVENC_OPTIONS = {"preset": "p4", "tune": "hq", "rc": "vbr", "cq": "23", "b": "0"}
SOFTWARE = "libx264"
# Hardware encoders the probe tries, best first.
HARDWARE = ("h264_nvenc",)
# The probe's clip: NVENC refuses frames under 145x49, and needs a few to fill its pipeline.
PROBE_SIZE, PROBE_FRAMES = (256, 128), 8
# Tries at a computed bitrate before giving up on a byte budget.
BUDGET_ATTEMPTS = 3
# Below this x264 cannot go, whatever it is asked; a budget needing less fails at once.
MIN_BITRATE = 16_000
# AAC-LC per channel: clear speech and music at a size a byte budget barely notices (a
# 10 s stereo clip: about 160 kB). The budget counts it, with a few index bytes a frame.
AAC_BITRATE_PER_CHANNEL = 64_000
AAC_FRAME_SAMPLES = 1024
AAC_BYTES_PER_FRAME = 8
# The rates AAC signals directly; a track at any other rate is resampled to the nearest.
AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


class EncodeError(RuntimeError):
    """The frames could not be encoded as asked (for example: no bitrate fits the budget)."""


@dataclass(frozen=True)
class Encoder:
    codec: str  # an FFmpeg encoder name: "h264_nvenc" or "libx264"
    reason: str  # why it was chosen, for the worker's start-up log

    @property
    def hardware(self) -> bool:
        return self.codec != SOFTWARE


def pick_encoder(wanted: str = "auto") -> Encoder:
    """The H.264 encoder this process should use, chosen by a real probe: a hardware
    encoder must encode a short clip that then decodes frame for frame (an FFmpeg built
    with NVENC says nothing about a driver or a card being there). "auto": the first
    hardware encoder that passes, else libx264; a named one is probed and refused
    (EncodeError) when it fails, so a misconfigured GPU host does not quietly use the CPU.
    """
    if wanted == SOFTWARE:
        return Encoder(SOFTWARE, "asked for")
    candidates = HARDWARE if wanted == "auto" else (wanted,)
    failures = []
    for codec in candidates:
        error = _probe(codec)
        if error is None:
            return Encoder(codec, "probe: encoded and decoded a test clip")
        failures.append(f"{codec}: {error}")
    if wanted != "auto":
        raise EncodeError(f"encoder {wanted} does not work here ({failures[0]})")
    return Encoder(SOFTWARE, "no hardware encoder works here (" + "; ".join(failures) + ")")


def _probe(codec: str) -> str | None:
    """None when `codec` encodes PROBE_FRAMES frames that decode back; else why not."""
    width, height = PROBE_SIZE
    ramp = np.linspace(0, 255, width, dtype=np.uint8)[None, None, :, None]
    frames = np.ascontiguousarray(np.broadcast_to(ramp, (PROBE_FRAMES, height, width, 3)))
    try:
        info = probe_mp4(_encode(frames, 24, bitrate=None, codec=codec))
    except Exception as exc:  # noqa: BLE001 — any failure means "not this one", with the reason
        return f"{type(exc).__name__}: {exc}".strip()
    if info["frames"] != PROBE_FRAMES or (info["width"], info["height"]) != (width, height):
        return f"decoded {info['frames']} frames of {info['width']}x{info['height']}"
    return None


def encode_mp4(frames: np.ndarray, fps: int, max_bytes: int | None = None, *, audio: np.ndarray | None = None,
               audio_rate: int | None = None, codec: str = SOFTWARE) -> bytes:
    """Encode (F, H, W, 3) uint8 RGB frames as an H.264 MP4 at exactly `fps`, with `audio`
    ((channels, samples) floats in [-1, 1] at `audio_rate` Hz) as an AAC track as long as
    the frames.

    With libx264 (the default) identical frames and sound give identical bytes. With
    `max_bytes`, a clip that comes out too big at constant quality is re-encoded at a
    bitrate computed to fit (after the sound's share), lowering it a couple of times if
    needed; EncodeError if it still does not fit. `codec` is an Encoder's codec (see
    pick_encoder).
    """
    frames = even_dimensions(_checked(frames))
    seconds = len(frames) / fps
    sound = None if audio is None else _track(audio, audio_rate, seconds)
    data = _encode(frames, fps, bitrate=None, codec=codec, sound=sound)
    if max_bytes is None or len(data) <= max_bytes:
        return data

    payload = max_bytes - CONTAINER_BYTES - CONTAINER_BYTES_PER_FRAME * len(frames) - _sound_bytes(sound)
    bitrate = int(payload * 8 / seconds)
    for _ in range(BUDGET_ATTEMPTS):
        if bitrate < MIN_BITRATE:
            break
        data = _encode(frames, fps, bitrate=bitrate, codec=codec, sound=sound)
        if len(data) <= max_bytes:
            return data
        # Overshot: scale down by how much we missed, with a margin.
        bitrate = int(bitrate * max_bytes / len(data) * 0.9)
    raise EncodeError(
        f"cannot fit {len(frames)} frames of {frames.shape[2]}x{frames.shape[1]} in {max_bytes} bytes "
        f"(smallest try: {len(data)} bytes)"
    )


def even_dimensions(frames: np.ndarray) -> np.ndarray:
    """Pad an odd width or height by one pixel, repeating the edge (yuv420p needs even sides)."""
    _, height, width, _ = frames.shape
    if height % 2 == 0 and width % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def _checked(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise EncodeError(f"expected frames shaped (F, H, W, 3) with F > 0, got {frames.shape}")
    if frames.dtype != np.uint8:
        raise EncodeError(f"expected uint8 frames, got {frames.dtype}")
    return np.ascontiguousarray(frames)


def _encode(frames: np.ndarray, fps: int, bitrate: int | None, codec: str = SOFTWARE,
            sound: tuple[np.ndarray, int] | None = None) -> bytes:
    # The mp4 muxer rewrites the file to move the index to the front (+faststart), so it
    # needs a real, re-openable file rather than a BytesIO.
    with tempfile.TemporaryDirectory(prefix="reelbot-encode-") as folder:
        path = os.path.join(folder, "clip.mp4")
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = _video_stream(container, frames, fps, bitrate, codec)
            audio_stream = None if sound is None else _audio_stream(container, *sound)
            for index, pixels in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = index  # one tick of 1/fps per frame: exact frame rate
                container.mux(stream.encode(frame))
            container.mux(stream.encode())  # flush delayed frames
            if audio_stream is not None:
                _mux_audio(container, audio_stream, sound[0])  # the muxer interleaves by time
        with open(path, "rb") as file:
            return file.read()


def _track(audio: np.ndarray, rate: int | None, seconds: float) -> tuple[np.ndarray, int]:
    """The track at a rate AAC signals, exactly `seconds` long, as float32 in [-1, 1]."""
    from .audio import Track, resample

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or not audio.shape[0] or not rate or rate <= 0:
        raise EncodeError(f"expected audio shaped (channels, samples) with a rate, got {audio.shape} at {rate}")
    track = Track(np.clip(audio[:2], -1.0, 1.0), int(rate))  # AAC here: mono or stereo
    if track.rate not in AAC_RATES:
        track = resample(track, min(AAC_RATES, key=lambda aac: abs(aac - track.rate)))
    return track.fitted(seconds).samples, track.rate


def _sound_bytes(sound: tuple[np.ndarray, int] | None) -> int:
    if sound is None:
        return 0
    samples, rate = sound
    frames = -(-samples.shape[1] // AAC_FRAME_SAMPLES) + 2  # and the encoder's priming frames
    return int(AAC_BITRATE_PER_CHANNEL * len(samples) * samples.shape[1] / rate / 8) + AAC_BYTES_PER_FRAME * frames


def _audio_stream(container, samples: np.ndarray, rate: int):
    stream = container.add_stream("aac", rate=rate)
    stream.layout = "stereo" if len(samples) == 2 else "mono"
    stream.bit_rate = AAC_BITRATE_PER_CHANNEL * len(samples)
    stream.codec_context.time_base = Fraction(1, rate)
    return stream


def _mux_audio(container, stream, samples: np.ndarray) -> None:
    for start in range(0, samples.shape[1], AAC_FRAME_SAMPLES):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + AAC_FRAME_SAMPLES]),
                                           format="fltp", layout=stream.layout.name)
        frame.sample_rate = stream.codec_context.sample_rate
        frame.pts = start  # in samples: the track starts with the first frame
        container.mux(stream.encode(frame))
    container.mux(stream.encode())  # flush the encoder's delay


def _video_stream(container, frames: np.ndarray, fps: int, bitrate: int | None, codec: str):
    _, height, width, _ = frames.shape
    stream = container.add_stream(codec, rate=fps)
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = Fraction(1, fps)
    software = codec == SOFTWARE
    if bitrate is None:
        stream.options = ({"crf": str(CRF), "preset": PRESET, "x264-params": X264_PARAMS} if software
                          else dict(NVENC_OPTIONS))
    else:
        # Average bitrate, with the rate-control buffer capping peaks so the total lands
        # close to bitrate × duration.
        stream.bit_rate = bitrate
        budget = {"maxrate": str(bitrate), "bufsize": str(2 * bitrate)}
        stream.options = ({"preset": PRESET, "x264-params": X264_PARAMS, **budget} if software
                          else {"preset": NVENC_OPTIONS["preset"], "rc": "vbr", **budget})
    return stream


def poster_jpeg(frames: np.ndarray, quality: int = 85) -> bytes:
    """The middle frame as a JPEG, for previews and gallery thumbnails."""
    frames = _checked(frames)
    buffer = io.BytesIO()
    Image.fromarray(frames[len(frames) // 2]).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def probe_mp4(data: bytes) -> dict:
    """What a decoder sees in an MP4 (or any container PyAV reads): size, rate, frame
    count, codec, pixel format, duration in seconds, whether it is faststart, and its
    sound: codec, rate, channels and decoded length in seconds (None when silent)."""
    audio = _probe_audio(data)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        rate = stream.average_rate or stream.guessed_rate or 0
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        else:  # some containers only know the overall duration (in microseconds)
            duration = (container.duration or 0) / 1_000_000
        return {
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "fps": float(rate),
            "frames": frames,
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "duration": duration,
            "faststart": _is_faststart(data),
            **audio,
        }


def _probe_audio(data: bytes) -> dict:
    from .audio import read

    with av.open(io.BytesIO(data)) as container:
        if not container.streams.audio:
            return {"audio_codec": None, "audio_rate": None, "audio_channels": None, "audio_seconds": None}
        codec = container.streams.audio[0].codec_context.name
    track = read(data)
    return {"audio_codec": codec, "audio_rate": track.rate, "audio_channels": track.samples.shape[0],
            "audio_seconds": track.seconds}


def _is_faststart(data: bytes) -> bool:
    """Whether the index (moov) comes before the media data (mdat) at the top level."""
    boxes = _top_level_boxes(data)
    return "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")


def _top_level_boxes(data: bytes) -> list[str]:
    # An MP4 is a sequence of boxes: 4-byte big-endian size, 4-byte type, payload.
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        boxes.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size == 1:  # 64-bit size follows the type
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size < 8:  # 0 means "to the end of the file"
            break
        offset += size
    return boxes


# Sound codecs an MP4 carries that every player decodes: copied as they are; any other
# (Opus or Vorbis from a WebM) is re-encoded to AAC.
MP4_SOUND = ("aac", "mp3")
AAC_BITRATE = 2 * AAC_BITRATE_PER_CHANNEL  # a source's sound, re-encoded in stereo


def add_sound(mp4: bytes, source: bytes, seconds: float) -> bytes:
    """`mp4` (video only) with the first `seconds` of `source`'s sound track beside it.

    For clips made from a member's video (an edit, a restyle): the clip keeps the sound
    the member gave, in step with the frames it was made from (both start at the source's
    first video frame). The video is copied as it is; `mp4` comes back unchanged when the
    source has no sound.
    """
    with av.open(io.BytesIO(source)) as src:
        if not src.streams.audio:
            return mp4
        with tempfile.TemporaryDirectory(prefix="reelbot-sound-") as folder:
            path = os.path.join(folder, "clip.mp4")
            with av.open(io.BytesIO(mp4)) as video, \
                    av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
                video_in = video.streams.video[0]
                video_out = out.add_stream_from_template(video_in)
                _sound(src, out, seconds)
                for packet in video.demux(video_in):
                    if packet.dts is not None:
                        packet.stream = video_out
                        out.mux(packet)
            with open(path, "rb") as file:
                return file.read()


def _sound(src, out, seconds: float) -> None:
    """Mux src's first audio track into `out`, from src's first video frame, for `seconds`."""
    audio_in = src.streams.audio[0]
    start = _start(src.streams.video[0]) if src.streams.video else 0.0
    if audio_in.codec_context.name in MP4_SOUND:
        audio_out = out.add_stream_from_template(audio_in)
        base = audio_in.time_base
        for packet in src.demux(audio_in):
            if packet.pts is None or packet.dts is None:
                continue
            at = float(packet.pts * base) - start
            if at < 0 or at >= seconds:
                continue
            shift = round(start / base)
            packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
            packet.stream = audio_out
            out.mux(packet)
        return
    rate = audio_in.codec_context.sample_rate or 48_000
    audio_out = out.add_stream("aac", rate=rate, layout="stereo")
    audio_out.bit_rate = AAC_BITRATE
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
    wanted, written = round(seconds * rate), 0
    skip = round(start * rate) - round(_start(audio_in) * rate)
    for frame in src.decode(audio_in):
        for chunk in resampler.resample(frame):
            samples = chunk.to_ndarray()
            if skip > 0:
                cut = min(skip, samples.shape[1])
                samples, skip = samples[:, cut:], skip - cut
            samples = samples[:, : wanted - written]
            if samples.shape[1] == 0:
                continue
            piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout="stereo")
            piece.sample_rate, piece.pts = rate, written
            written += samples.shape[1]
            out.mux(audio_out.encode(piece))
        if written >= wanted:
            break
    out.mux(audio_out.encode(None))


def _start(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
