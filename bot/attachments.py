"""Attachments are checked by decoding them, never by their name or declared type.

Images go through Pillow (PNG, JPEG, WebP up to `image_max_side` px a side; the size is
read from the header before any pixel is decoded, so a decompression bomb costs
nothing), videos through PyAV (MP4, MOV, WebM up to `video_max_seconds`; the length is
measured from the packets, not trusted from the header, and every frame is decoded, so a
file that is cut short or damaged past its first frames is refused here, in the member's
words, instead of failing on the worker; decoding stops at `video_decode_seconds`, and what
was not decoded by then is left to the worker), sound through PyAV too (WAV, MP3, M4A/AAC,
OGG Vorbis or Opus, FLAC up to `audio_max_seconds`: every sample is decoded, which measures
the length and finds a silent file). A file whose declared type
disagrees with what it is gets refused too: it is usually a mislabelled export, and
the member should know. Every refusal is a `MediaError` with one sentence that says
what to change.

The checks are blocking (decoding); callers run them in a thread.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from dataclasses import dataclass, field

MiB = 1024 * 1024
MIN_SIDE = 16

IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
IMAGE_NAMES = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
DECLARED_IMAGE = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/pjpeg": "JPEG",
                  "image/webp": "WEBP", "image/gif": "GIF", "image/bmp": "BMP", "image/tiff": "TIFF"}
IMAGE_EXTENSIONS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "jfif": "JPEG", "webp": "WEBP", "gif": "GIF",
                    "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF"}
# Video families: MP4 and MOV are the same container to PyAV and to most phones.
DECLARED_VIDEO = {"video/mp4": "mp4", "video/quicktime": "mp4", "video/x-m4v": "mp4", "video/webm": "webm",
                  "video/x-matroska": "webm"}
VIDEO_EXTENSIONS = {"mp4": "mp4", "m4v": "mp4", "mov": "mp4", "webm": "webm", "mkv": "webm"}
VIDEO_NAMES = {"mp4": "MP4/MOV", "webm": "WebM"}
_PICTURE_DEMUXERS = ("png_pipe", "jpeg_pipe", "webp_pipe", "gif", "image2", "bmp_pipe", "tiff_pipe", "svg_pipe")
_MAX_PACKETS = 200_000  # a 10 s clip has a few hundred; more is a crafted file
# Sound: PyAV's demuxer name → how it is stored, and the codecs taken in each container.
AUDIO_FORMATS = {"wav": "wav", "mp3": "mp3", "mp4": "m4a", "aac": "aac", "ogg": "ogg", "flac": "flac"}
AUDIO_CODECS = {"wav": None, "mp3": {"mp3", "mp3float"}, "m4a": {"aac"}, "aac": {"aac"}, "ogg": {"vorbis", "opus"},
                "flac": {"flac"}}
AUDIO_NAMES = {"wav": "WAV", "mp3": "MP3", "m4a": "M4A", "aac": "AAC", "ogg": "OGG", "flac": "FLAC"}
DECLARED_AUDIO = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
                  "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/mp4": "m4a", "audio/x-m4a": "m4a",
                  "audio/m4a": "m4a", "audio/aac": "aac", "audio/x-aac": "aac", "audio/ogg": "ogg",
                  "audio/opus": "ogg", "audio/vorbis": "ogg", "audio/flac": "flac", "audio/x-flac": "flac"}
AUDIO_EXTENSIONS = {"wav": "wav", "wave": "wav", "mp3": "mp3", "m4a": "m4a", "aac": "aac", "ogg": "ogg",
                    "oga": "ogg", "opus": "ogg", "flac": "flac"}
AUDIO_LIST = "a WAV, MP3, M4A, OGG or FLAC file"
# Below this peak (-80 dBFS, 16-bit) a track is silence: nothing for a face to say.
SILENT_PEAK = 3
# Silence is looked for in a mono 8 kHz copy: plenty to tell sound from none, and cheap.
_SILENCE_RATE = 8000


@dataclass(frozen=True)
class MediaLimits:
    image_max_bytes: int = 10 * MiB
    image_max_side: int = 4096
    video_max_bytes: int = 50 * MiB
    video_max_seconds: float = 10.0
    video_max_side: int = 4096
    # Decoding every frame of the largest video allowed takes seconds; past this, the rest of the
    # file is only measured (the member is waiting; the interaction was deferred).
    video_decode_seconds: float = 20.0
    audio_max_bytes: int = 10 * MiB
    audio_max_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings) -> "MediaLimits":
        return cls(settings.image_max_bytes, settings.image_max_side, settings.video_max_bytes,
                   settings.video_max_seconds, settings.image_max_side,
                   audio_max_bytes=settings.audio_max_bytes, audio_max_seconds=settings.audio_max_seconds)


@dataclass(frozen=True)
class Media:
    kind: str  # "image" | "video" | "audio"
    ext: str  # how it is stored: png, jpg, webp, mp4, mov, webm, wav, mp3, m4a, aac, ogg, flac
    data: bytes = field(repr=False)
    width: int = 0
    height: int = 0
    seconds: float | None = None  # videos and sound

    @property
    def content_type(self) -> str:
        return {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "mp4": "video/mp4",
                "mov": "video/quicktime", "webm": "video/webm", "wav": "audio/wav", "mp3": "audio/mpeg",
                "m4a": "audio/mp4", "aac": "audio/aac", "ogg": "audio/ogg", "flac": "audio/flac"}[self.ext]


@dataclass(frozen=True)
class MediaError:
    message: str

    def __str__(self) -> str:
        return self.message


def shown(name: str) -> str:
    """A file name safe to quote in `backticks` and short enough for a message."""
    name = (name or "the file").replace("`", "'").replace("\n", " ")
    return f"`{name if len(name) <= 60 else name[:59] + '…'}`"


def size_text(n: int) -> str:
    if n < MiB:
        return f"{max(1, math.ceil(n / 1024))} KiB"
    return f"{n / MiB:.1f} MiB"


def _extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in (filename or "") else ""


def _sniff(data: bytes) -> str | None:
    """A name for well-known non-media content, for a clearer refusal."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf"):
        return "a PDF document"
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in data[:4096].lower()):
        return "an SVG drawing"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head:
        return "a web page (HTML)"
    if head.startswith((b"pk\x03\x04", b"rar!", b"\x1f\x8b", b"7z\xbc\xaf")):
        return "an archive"
    return None


def _looks_like_video(data: bytes) -> bool:
    return data[4:8] == b"ftyp" or data[:4] == b"\x1a\x45\xdf\xa3"  # ISO BMFF (MP4/MOV) or EBML (WebM)


def _size_error(name: str, size: int, limit: int, what: str) -> MediaError | None:
    if size == 0:
        return MediaError(f"{name} is empty (0 bytes): attach the {what} again.")
    if size > limit:
        return MediaError(f"{name} is {size_text(size)}: {what}s can be up to {size_text(limit)}. "
                          f"Make it smaller and try again.")
    return None


# --- Images ------------------------------------------------------------------------

def check_image(data: bytes, filename: str = "image", content_type: str | None = None,
                limits: MediaLimits = MediaLimits()) -> Media | MediaError:
    from PIL import Image, UnidentifiedImageError

    name = shown(filename)
    if error := _size_error(name, len(data), limits.image_max_bytes, "image"):
        return error
    if _looks_like_video(data):
        return MediaError(f"{name} is a video, not a picture: put it in the `video` option instead.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return _check_opened_image(image, data, name, filename, content_type, limits)
    except Image.DecompressionBombError:
        return MediaError(f"{name} is far too large in pixels: images can be at most "
                          f"{limits.image_max_side} px a side.")
    except UnidentifiedImageError:
        what = _sniff(data)
        if what:
            return MediaError(f"{name} is {what}, not a picture: attach a PNG, JPEG or WebP image.")
        return MediaError(f"{name} isn't an image Reelbot can read: attach a PNG, JPEG or WebP image.")
    except Exception:  # noqa: BLE001 — Pillow raises OSError, SyntaxError, ValueError … on damaged files
        return MediaError(f"{name} couldn't be decoded: it looks damaged or cut short. "
                          "Export it again as PNG, JPEG or WebP.")


def _check_opened_image(image, data: bytes, name: str, filename: str, content_type: str | None,
                        limits: MediaLimits) -> Media | MediaError:
    fmt = image.format or "?"
    if fmt not in IMAGE_FORMATS:
        if fmt == "GIF":
            return MediaError(f"{name} is a GIF: GIFs aren't supported. Attach a PNG, JPEG or WebP "
                              "image (or an MP4 in the `video` option for moving pictures).")
        return MediaError(f"{name} is a {fmt} image: attach a PNG, JPEG or WebP image instead.")
    declared = _declared_image(filename, content_type)
    if declared is not None and declared != fmt:
        return MediaError(f"{name} says it is {_image_name(declared)} but it is really a {IMAGE_NAMES[fmt]} "
                          f"image: save it again as {_image_name(declared)}, or upload it with the right "
                          f"extension (.{IMAGE_FORMATS[fmt]}).")
    width, height = image.size  # from the header: nothing decoded yet
    if width > limits.image_max_side or height > limits.image_max_side:
        return MediaError(f"{name} is {width}×{height} px: images can be at most {limits.image_max_side} px "
                          "a side. Scale it down and try again.")
    if width < MIN_SIDE or height < MIN_SIDE:
        return MediaError(f"{name} is only {width}×{height} px: images need at least {MIN_SIDE} px a side.")
    image.load()  # decodes every pixel: a truncated or corrupt file fails here
    return Media("image", IMAGE_FORMATS[fmt], data, width, height)


def _declared_image(filename: str, content_type: str | None) -> str | None:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in DECLARED_IMAGE:
        return DECLARED_IMAGE[ctype]
    if not ctype or ctype == "application/octet-stream":
        return IMAGE_EXTENSIONS.get(_extension(filename))
    return None


def _image_name(fmt: str) -> str:
    return IMAGE_NAMES.get(fmt, fmt)


# --- Videos ------------------------------------------------------------------------

def check_video(data: bytes, filename: str = "video", content_type: str | None = None,
                limits: MediaLimits = MediaLimits()) -> Media | MediaError:
    import av

    name = shown(filename)
    if error := _size_error(name, len(data), limits.video_max_bytes, "video"):
        return error
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            return _check_opened_video(container, data, name, filename, content_type, limits)
    except av.FFmpegError:
        what = _sniff(data)
        if what:
            return MediaError(f"{name} is {what}, not a video: attach an MP4, WebM or MOV video.")
        return MediaError(f"{name} isn't a video Reelbot can read (it may be damaged or incomplete): "
                          "attach an MP4, WebM or MOV video.")
    except Exception:  # noqa: BLE001 — PyAV surfaces damaged streams as several error types
        return MediaError(f"{name} couldn't be decoded: it looks damaged or cut short. "
                          "Export it again as MP4 (H.264) and try again.")


def _video_family(container) -> str | None:
    names = set(container.format.name.split(","))
    if "mp4" in names or "mov" in names:
        return "mp4"
    if "webm" in names or "matroska" in names:
        return "webm"
    return None


def _media_format(container) -> str | None:
    """The container's name when it really holds sound or pictures (an AVI, a TS), else None.

    FFmpeg's probe can take random bytes for a text demuxer such as LRC lyrics; naming that
    format would tell the member their noise is a lyrics file.
    """
    if not container.streams.video and not container.streams.audio:
        return None
    return container.format.name.split(",")[0].upper()


def _mp4_ext(data: bytes) -> str:
    # ftyp major brand "qt  " is QuickTime; everything else in the family is stored as .mp4.
    return "mov" if data[4:8] == b"ftyp" and data[8:12] == b"qt  " else "mp4"


def _check_opened_video(container, data: bytes, name: str, filename: str, content_type: str | None,
                        limits: MediaLimits) -> Media | MediaError:
    family = _video_family(container)
    if family is None:
        fmt = container.format.name
        if any(picture in fmt for picture in _PICTURE_DEMUXERS):
            what = "a GIF" if "gif" in fmt else "a picture"
            return MediaError(f"{name} is {what}, not a video: attach an MP4, WebM or MOV video"
                              + (" (pictures go in the `image` option)." if "gif" not in fmt else "."))
        if shown_format := _media_format(container):
            return MediaError(f"{name} is a {shown_format} file: attach an MP4, WebM or MOV video.")
        return MediaError(f"{name} isn't a video Reelbot can read (it may be damaged or only named like one): "
                          "attach an MP4, WebM or MOV video.")
    declared = _declared_video(filename, content_type)
    if declared is not None and declared != family:
        return MediaError(f"{name} says it is {_declared_name(declared)} but it is really a "
                          f"{VIDEO_NAMES[family]} video: upload it with the right extension.")
    streams = container.streams.video
    if not streams:
        return MediaError(f"{name} has no video in it (no video track, or no frames): "
                          "attach an MP4, WebM or MOV video.")
    stream = streams[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        return MediaError(f"{name} has a video track Reelbot can't read: export it again as MP4 (H.264).")
    if width > limits.video_max_side or height > limits.video_max_side:
        return MediaError(f"{name} is {width}×{height} px: videos can be at most {limits.video_max_side} px "
                          "a side. Scale it down and try again.")
    seconds, frames, packets, damaged_at = _measure(container, stream, limits.video_decode_seconds)
    if frames == 0:
        return MediaError(f"{name} has no frames Reelbot can decode: export it again as MP4 (H.264).")
    if stream.frames and packets < stream.frames:
        return MediaError(f"{name} is cut short: only {packets} of its {stream.frames} frames are in the file. "
                          "Upload the whole video again.")
    if damaged_at is not None:
        return MediaError(f"{name} is damaged: it stops decoding after {damaged_at:.1f} s. "
                          "Export it again as MP4 (H.264) and try again.")
    if seconds > limits.video_max_seconds + 0.05:  # a frame's worth of slack for rounding
        return MediaError(f"{name} is {seconds:.1f} s long: videos can be up to "
                          f"{limits.video_max_seconds:g} s. Trim it and try again.")
    ext = _mp4_ext(data) if family == "mp4" else "webm"
    return Media("video", ext, data, width, height, seconds=round(seconds, 3))


def _measure(container, stream, decode_seconds: float) -> tuple[float, int, int, float | None]:
    """(seconds, frames decoded, packets, where decoding broke in seconds or None).

    The length comes from the packets, not the header. Every packet is decoded (the first
    frame at least, the rest until `decode_seconds` have been spent), so damage anywhere in
    the file shows: a packet the decoder refuses, or packets that stop short.
    """
    import av

    stream.thread_type = "AUTO"  # frame threads: the whole file in a fraction of real time
    started = time.monotonic()
    start, end, packets, decoded, damaged_at = None, None, 0, 0, None

    def at(pts) -> float:
        return float(((pts or 0) - (start or 0)) * stream.time_base) if stream.time_base else 0.0

    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                first = packet.pts
                last = packet.pts + (packet.duration or 0)
                start = first if start is None else min(start, first)
                end = last if end is None else max(end, last)
            # The first frame always (it proves the stream decodes at all), the rest while time lasts.
            in_time = decoded == 0 or time.monotonic() - started < decode_seconds
            if packet.size and damaged_at is None and in_time:
                try:
                    decoded += len(packet.decode())
                except av.FFmpegError:
                    damaged_at = at(packet.pts)
            packets += 1 if packet.size else 0
            if packets > _MAX_PACKETS:
                break
    except av.FFmpegError:  # the container itself breaks off mid-file
        damaged_at = at(end) if damaged_at is None else damaged_at
    decoded += sum(1 for _ in _flush(stream))
    if start is None or end is None or stream.time_base is None:
        return 0.0, decoded, packets, damaged_at
    return float((end - start) * stream.time_base), decoded, packets, damaged_at


def _flush(stream):
    try:
        return stream.codec_context.decode(None)
    except Exception:  # noqa: BLE001 — nothing more to decode
        return []


def _declared_video(filename: str, content_type: str | None) -> str | None:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in DECLARED_VIDEO:
        return DECLARED_VIDEO[ctype]
    if not ctype or ctype == "application/octet-stream":
        return VIDEO_EXTENSIONS.get(_extension(filename))
    return None


def _declared_name(family: str) -> str:
    return VIDEO_NAMES[family]


# --- Sound -------------------------------------------------------------------------

def check_audio(data: bytes, filename: str = "audio", content_type: str | None = None,
                limits: MediaLimits = MediaLimits()) -> Media | MediaError:
    import av

    name = shown(filename)
    if error := _size_error(name, len(data), limits.audio_max_bytes, "audio file"):
        return error
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            return _check_opened_audio(container, data, name, filename, content_type, limits)
    except av.FFmpegError:
        what = _sniff(data)
        if what:
            return MediaError(f"{name} is {what}, not sound: attach {AUDIO_LIST}.")
        return MediaError(f"{name} isn't a sound file Reelbot can read (it may be damaged or only named like one): "
                          f"attach {AUDIO_LIST}.")
    except Exception:  # noqa: BLE001 — PyAV surfaces damaged streams as several error types
        return MediaError(f"{name} couldn't be decoded: it looks damaged or cut short. Export it again as "
                          f"{AUDIO_LIST}.")


def _check_opened_audio(container, data: bytes, name: str, filename: str, content_type: str | None,
                        limits: MediaLimits) -> Media | MediaError:
    fmt = _audio_family(container)
    if any(picture in container.format.name for picture in _PICTURE_DEMUXERS):
        return MediaError(f"{name} is a picture, not sound: pictures of the face go in `face`; attach {AUDIO_LIST} "
                          "here.")
    moving = [stream for stream in container.streams.video if not stream.disposition & _ATTACHED_PICTURE]
    if moving:
        return MediaError(f"{name} is a video: the `audio` option takes a sound file. Put a video of the face in "
                          f"`face`, and its voice here as {AUDIO_LIST}.")
    if fmt is None:
        if shown_format := _media_format(container):
            return MediaError(f"{name} is a {shown_format} file: attach {AUDIO_LIST}.")
        return MediaError(f"{name} isn't a sound file Reelbot can read (it may be damaged or only named like one): "
                          f"attach {AUDIO_LIST}.")
    if not container.streams.audio:
        return MediaError(f"{name} has no sound in it: attach {AUDIO_LIST}.")
    stream = container.streams.audio[0]
    codec = stream.codec_context.name
    if AUDIO_CODECS[fmt] is not None and codec not in AUDIO_CODECS[fmt]:
        return MediaError(f"{name} holds {codec} sound, which Reelbot doesn't take in {AUDIO_NAMES[fmt]}: "
                          f"export it as {AUDIO_LIST}.")
    declared = _declared_audio(filename, content_type)
    if declared is not None and declared != fmt and {declared, fmt} != {"m4a", "aac"}:
        return MediaError(f"{name} says it is {AUDIO_NAMES[declared]} but it is really {AUDIO_NAMES[fmt]}: "
                          f"upload it with the right extension (.{fmt}).")
    seconds, peak = _listen(container, stream, limits.audio_max_seconds)
    if seconds == 0:
        return MediaError(f"{name} has no sound in it (zero length): attach a recording of the voice.")
    if seconds > limits.audio_max_seconds + 0.05:  # a frame's worth of slack for rounding
        length = "longer than" if seconds > limits.audio_max_seconds + 1 else f"{seconds:.1f} s long:"
        return MediaError(f"{name} is {length} {'' if ':' in length else f'{limits.audio_max_seconds:g} s: '}"
                          f"sound can be up to {limits.audio_max_seconds:g} s. Trim it and try again.")
    if peak < SILENT_PEAK:
        return MediaError(f"{name} is silent: there is nothing in it for the face to say. Attach a recording "
                          "of the voice.")
    return Media("audio", fmt, data, seconds=round(seconds, 3))


_ATTACHED_PICTURE = 0x400  # AV_DISPOSITION_ATTACHED_PIC: an MP3's cover art, not a video


def _audio_family(container) -> str | None:
    for demuxer in container.format.name.split(","):
        if demuxer in AUDIO_FORMATS:
            return AUDIO_FORMATS[demuxer]
    return None


def _listen(container, stream, max_seconds: float) -> tuple[float, int]:
    """(seconds decoded, loudest 16-bit sample) of the stream, reading a second past the
    limit at most: the length comes from the samples, not from the header."""
    import array

    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=_SILENCE_RATE)
    samples, peak = 0, 0
    for frame in container.decode(stream):
        samples += frame.samples / (frame.sample_rate or stream.codec_context.sample_rate or 1)
        for quiet in resampler.resample(frame):
            values = array.array("h", bytes(quiet.planes[0])[: 2 * quiet.samples])
            peak = max(peak, max(values, default=0), -min(values, default=0))
        if samples > max_seconds + 1:
            break
    return samples, peak


def _declared_audio(filename: str, content_type: str | None) -> str | None:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in DECLARED_AUDIO:
        return DECLARED_AUDIO[ctype]
    if not ctype or ctype == "application/octet-stream":
        return AUDIO_EXTENSIONS.get(_extension(filename))
    return None


# --- Any ---------------------------------------------------------------------------

def check(kind: str, data: bytes, filename: str, content_type: str | None, limits: MediaLimits) -> Media | MediaError:
    """`kind` is image, video, audio, or face: an image or a video, whichever the file is."""
    if kind == "face":
        kind = "video" if _looks_like_video(data) else "image"
    if kind == "video":
        return check_video(data, filename, content_type, limits)
    if kind == "audio":
        return check_audio(data, filename, content_type, limits)
    return check_image(data, filename, content_type, limits)


def max_bytes(kind: str, limits: MediaLimits) -> int:
    return {"video": limits.video_max_bytes, "face": limits.video_max_bytes,
            "audio": limits.audio_max_bytes}.get(kind, limits.image_max_bytes)


async def fetch(attachment, kind: str, limits: MediaLimits) -> Media | MediaError:
    """Download a Discord attachment and check it. `attachment` is a discord.Attachment."""
    import asyncio

    name = shown(attachment.filename)
    limit = max_bytes(kind, limits)
    # The declared size is checked first, so an oversize file is never downloaded.
    if error := _size_error(name, attachment.size, limit, {"audio": "audio file", "face": "file"}.get(kind, kind)):
        return error
    try:
        data = await attachment.read()
    except Exception:  # noqa: BLE001 — CDN errors: the member can only try again
        return MediaError(f"{name} couldn't be downloaded from Discord: attach it again.")
    return await asyncio.to_thread(check, kind, data, attachment.filename, attachment.content_type, limits)
