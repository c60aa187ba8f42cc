"""Attachments are checked by decoding them (bot/attachments.py): at least fifteen kinds of
bad file are refused with a sentence that says what to change, and the good kinds pass.

`SAMPLES` is shared with the end-to-end tests, which send the same files through Discord.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import av
import numpy as np
import pytest
from PIL import Image

from bot.attachments import Media, MediaError, MediaLimits, check, check_audio, check_image, check_video
from tests.sounds import FORMATS


# --- Building files -------------------------------------------------------------------

def image_bytes(fmt: str = "PNG", size=(64, 48), mode="RGB", **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (200, 80, 20) if mode == "RGB" else 128).save(buf, fmt, **save)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height, followed by a tiny IDAT: a decompression bomb's shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def video_bytes(fmt: str = "mp4", codec: str = "libx264", seconds: float = 1.0, fps: int = 8,
                size=(64, 48), frames: int | None = None) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        count = int(seconds * fps) if frames is None else frames
        if count == 0:
            out.start_encoding()
        for i in range(count):
            pixels = np.full((size[1], size[0], 3), (i * 9) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def indexed_video(seconds: float = 3.0, fps: int = 8, size=(64, 48)) -> bytes:
    """An MP4 of noise with its index first (+faststart), as phones and exporters write them: cut
    short or damaged, its index still opens and its first frames still decode."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "clip.mp4")
        with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            rng = np.random.default_rng(1)
            for _ in range(int(seconds * fps)):
                pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        with open(path, "rb") as f:
            return f.read()


def damaged_after_first_frames(data: bytes) -> bytes:
    """The same file with its picture data scrambled past the first sixth: the index is intact."""
    media = data.find(b"mdat")
    scrambled = bytearray(data)
    for i in range(media + (len(data) - media) // 6, len(data), 5):
        scrambled[i] ^= 0xA5
    return bytes(scrambled)


def corrupt_moov(data: bytes) -> bytes:
    at = data.find(b"moov")
    return data[:at] + b"xxxx" + data[at + 4:]


def audio_only() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
LYRICS = b"[ar:Someone]\n[00:01.00]hello there\n[00:02.00]more words\n"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
LIMITS = MediaLimits(image_max_bytes=2 * 1024 * 1024, image_max_side=4096, video_max_bytes=5 * 1024 * 1024,
                     video_max_seconds=10.0)


def _bad_samples():
    png = image_bytes("PNG", (640, 480))
    mp4 = video_bytes()
    indexed = indexed_video()
    # (id, option, filename, content type, builder, words the refusal must contain)
    return [
        ("zero-bytes", "image", "empty.png", "image/png", lambda: b"", "empty"),
        ("html-named-png", "image", "cat.png", "image/png", lambda: HTML, "web page"),
        ("truncated-png", "image", "cut.png", "image/png", lambda: png[: len(png) // 2], "damaged"),
        ("png-header-20000", "image", "bomb.png", "image/png", lambda: png_header_only(20000, 20000), "4096"),
        ("png-declared-jpeg", "image", "fox.jpg", "image/jpeg", lambda: image_bytes("PNG"), "really a PNG"),
        ("random-bytes-video", "video", "clip.mp4", "video/mp4", lambda: os.urandom(4096), "isn't a video"),
        # FFmpeg probes this text as LRC lyrics (random bytes sometimes are, too): no "is a LRC file".
        ("lyrics-named-mp4", "video", "clip.mp4", "video/mp4", lambda: LYRICS, "isn't a video"),
        ("sixty-second-video", "video", "long.mp4", "video/mp4", lambda: video_bytes(seconds=60, fps=4), "60.0 s"),
        ("oversize-image", "image", "huge.png", "image/png", lambda: b"\x89PNG" + b"\x00" * (2 * 1024 * 1024 + 1),
         "2.0 MiB"),
        ("gif", "image", "anim.gif", "image/gif", lambda: image_bytes("GIF", mode="P"), "GIF"),
        ("svg", "image", "logo.svg", "image/svg+xml", lambda: SVG, "SVG"),
        ("corrupt-moov", "video", "broken.mp4", "video/mp4", lambda: corrupt_moov(mp4), "isn't a video"),
        ("zero-frame-video", "video", "none.mp4", "video/mp4", lambda: video_bytes(frames=0), "no video"),
        ("image-5000-wide", "image", "wide.png", "image/png", lambda: image_bytes("PNG", (5000, 16)), "5000×16"),
        ("truncated-mp4", "video", "half.mp4", "video/mp4", lambda: mp4[: len(mp4) // 3], "video"),
        ("picture-as-video", "video", "still.png", "image/png", lambda: image_bytes("PNG"), "picture"),
        ("video-as-image", "image", "clip.png", "image/png", lambda: mp4, "is a video"),
        ("bmp", "image", "old.bmp", "image/bmp", lambda: image_bytes("BMP"), "BMP"),
        ("tiny-image", "image", "dot.png", "image/png", lambda: image_bytes("PNG", (4, 4)), "at least"),
        ("audio-only", "video", "song.m4a", "audio/mp4", audio_only, "no video"),
        ("pdf", "image", "doc.png", "image/png", lambda: b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj", "PDF"),
        ("gif-as-video", "video", "anim.gif", "image/gif", lambda: image_bytes("GIF", mode="P"), "GIF"),
        # Their first frames decode, the rest does not: judged here, not on the worker.
        ("cut-short-indexed-mp4", "video", "upload.mp4", "video/mp4", lambda: indexed[: len(indexed) // 3],
         "cut short"),
        ("damaged-past-its-first-frames", "video", "scratched.mp4", "video/mp4",
         lambda: damaged_after_first_frames(indexed), "damaged"),
    ]


BAD = _bad_samples()
GOOD = [
    ("png", "image", "fox.png", "image/png", lambda: image_bytes("PNG"), "png"),
    ("jpeg", "image", "fox.jpg", "image/jpeg", lambda: image_bytes("JPEG"), "jpg"),
    ("webp", "image", "fox.webp", "image/webp", lambda: image_bytes("WEBP"), "webp"),
    ("png-4096", "image", "big.png", "image/png", lambda: image_bytes("PNG", (4096, 64)), "png"),
    ("png-no-type", "image", "upload", None, lambda: image_bytes("PNG"), "png"),
    ("mp4", "video", "clip.mp4", "video/mp4", lambda: video_bytes(), "mp4"),
    ("mov", "video", "clip.mov", "video/quicktime", lambda: video_bytes("mov"), "mov"),
    ("webm", "video", "clip.webm", "video/webm", lambda: video_bytes("webm", "libvpx"), "webm"),
    ("ten-seconds", "video", "ten.mp4", "video/mp4", lambda: video_bytes(seconds=10, fps=8), "mp4"),
]


@pytest.mark.parametrize("name, option, filename, ctype, build, words", BAD, ids=[s[0] for s in BAD])
def test_bad_files_are_refused_with_a_reason(name, option, filename, ctype, build, words):
    result = check(option, build(), filename, ctype, LIMITS)
    assert isinstance(result, MediaError), result
    assert words in result.message
    assert f"`{filename}`" in result.message  # the member can tell which file
    assert result.message.endswith((".", ")")) and len(result.message) < 400


@pytest.mark.parametrize("name, option, filename, ctype, build, ext", GOOD, ids=[s[0] for s in GOOD])
def test_good_files_pass_with_what_they_are(name, option, filename, ctype, build, ext):
    data = build()
    result = check(option, data, filename, ctype, LIMITS)
    assert isinstance(result, Media), result
    assert (result.kind, result.ext, result.data) == (option, ext, data)
    assert result.width > 0 and result.height > 0
    if option == "video":
        assert 0 < result.seconds <= 10.0


def test_there_are_at_least_fifteen_kinds_of_bad_file():
    assert len({name for name, *_ in BAD}) >= 15


def test_a_bomb_is_refused_from_its_header_without_decoding(monkeypatch):
    # If pixels were decoded, load() would run: make it explode to prove it never does.
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded a bomb"))
    result = check_image(png_header_only(20000, 20000), "bomb.png", "image/png", LIMITS)
    assert isinstance(result, MediaError) and "4096 px a side" in result.message
    # Below Pillow's own bomb limit the header's size is reported as it is.
    result = check_image(png_header_only(9000, 9000), "big.png", "image/png", LIMITS)
    assert isinstance(result, MediaError) and "9000×9000" in result.message


def test_a_video_that_lies_about_its_length_is_measured_from_its_packets():
    data = video_bytes(seconds=12, fps=4)
    result = check_video(data, "long.mp4", "video/mp4", LIMITS)
    assert isinstance(result, MediaError) and "12.0 s" in result.message


def test_the_whole_video_is_decoded_within_its_deadline():
    whole = indexed_video()
    assert isinstance(check_video(whole, "clip.mp4", "video/mp4", LIMITS), Media)
    damaged = damaged_after_first_frames(whole)
    refused = check_video(damaged, "clip.mp4", "video/mp4", LIMITS)
    assert isinstance(refused, MediaError) and "stops decoding after" in refused.message
    # Out of time: what was not decoded is left to the worker (a cut-short file is still caught,
    # from its packets, which cost no decoding).
    hurried = MediaLimits(**{**LIMITS.__dict__, "video_decode_seconds": 0.0})
    assert isinstance(check_video(damaged, "clip.mp4", "video/mp4", hurried), Media)
    cut = check_video(whole[: len(whole) // 3], "clip.mp4", "video/mp4", hurried)
    assert isinstance(cut, MediaError) and "cut short" in cut.message


def test_file_names_cannot_break_out_of_their_quotes():
    result = check_image(b"", "a`b\nc.png", "image/png", LIMITS)
    assert "`a'b c.png`" in result.message


# --- sound ------------------------------------------------------------------------------

def _bad_sounds():
    from tests.sounds import sound_file, video_file

    wav, mp3 = sound_file("wav"), sound_file("mp3", 2.0)
    # (id, filename, content type, builder, words the refusal must contain)
    return [
        ("silent-wav", "quiet.wav", "audio/wav", lambda: sound_file("wav", silent=True), "silent"),
        ("zero-length-wav", "none.wav", "audio/wav", lambda: sound_file("wav", 0.0), "zero length"),
        ("zero-bytes", "empty.mp3", "audio/mpeg", lambda: b"", "empty"),
        ("random-bytes-named-mp3", "voice.mp3", "audio/mpeg", lambda: os.urandom(6000), "isn't a sound file"),
        ("lyrics-named-mp3", "voice.mp3", "audio/mpeg", lambda: LYRICS, "isn't a sound file"),
        ("eleven-seconds", "long.wav", "audio/wav", lambda: sound_file("wav", 11.0, 8000), "10 s"),
        ("a-minute", "speech.flac", "audio/flac", lambda: sound_file("flac", 60.0, 8000), "longer than 10 s"),
        ("wav-named-mp3", "voice.mp3", "audio/mpeg", lambda: wav, "really WAV"),
        ("a-video", "clip.mp4", "video/mp4", lambda: video_file(), "is a video"),
        ("a-picture", "face.png", "image/png", lambda: image_bytes("PNG"), "picture"),
        ("pdf-named-mp3", "doc.mp3", "audio/mpeg", lambda: b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj", "PDF"),
        ("truncated-mp3", "cut.mp3", "audio/mpeg", lambda: mp3[:300], "sound"),
        ("oversize", "huge.wav", "audio/wav", lambda: b"RIFF" + b"\x00" * (2 * 1024 * 1024 + 1), "2.0 MiB"),
    ]


SOUND_LIMITS = MediaLimits(audio_max_bytes=2 * 1024 * 1024, audio_max_seconds=10.0)
BAD_SOUNDS = _bad_sounds()
GOOD_SOUNDS = [(kind, f"voice.{FORMATS[kind][2]}", FORMATS[kind][3]) for kind in FORMATS] + [
    ("wav", "upload", None),  # no name, no type: what it is decides
    ("m4a", "voice.aac", "audio/aac"),  # AAC in an M4A, named as plain AAC: the same sound
]


@pytest.mark.parametrize("name, filename, ctype, build, words", BAD_SOUNDS, ids=[s[0] for s in BAD_SOUNDS])
def test_bad_sound_is_refused_with_a_reason(name, filename, ctype, build, words):
    result = check("audio", build(), filename, ctype, SOUND_LIMITS)
    assert isinstance(result, MediaError), result
    assert words in result.message and f"`{filename}`" in result.message
    assert result.message.endswith((".", ")")) and len(result.message) < 400


@pytest.mark.parametrize("kind, filename, ctype", GOOD_SOUNDS, ids=[f"{k}:{f}" for k, f, _ in GOOD_SOUNDS])
def test_good_sound_passes_measured_from_its_samples(kind, filename, ctype):
    from tests.sounds import sound_file

    data = sound_file(kind, 2.5)
    result = check("audio", data, filename, ctype, SOUND_LIMITS)
    assert isinstance(result, Media), result
    assert (result.kind, result.ext, result.data) == ("audio", FORMATS[kind][2].replace("opus", "ogg"), data)
    assert result.content_type.startswith("audio/")
    assert abs(result.seconds - 2.5) < 0.1  # encoders pad a frame at most


def test_ten_seconds_of_sound_is_the_limit():
    from tests.sounds import sound_file

    assert isinstance(check_audio(sound_file("wav", 10.0, 8000), "ten.wav", "audio/wav", SOUND_LIMITS), Media)
    assert isinstance(check_audio(sound_file("mp3", 10.5, 8000), "more.mp3", "audio/mpeg", SOUND_LIMITS), MediaError)


def test_a_face_is_a_picture_or_a_video_whichever_it_is():
    from tests.sounds import video_file

    assert check("face", image_bytes("PNG"), "face.png", "image/png", LIMITS).kind == "image"
    assert check("face", video_file(), "face.mp4", "video/mp4", LIMITS).kind == "video"
    assert isinstance(check("face", b"not a face", "face.png", "image/png", LIMITS), MediaError)


def test_there_are_at_least_eight_kinds_of_bad_sound():
    assert len({name for name, *_ in BAD_SOUNDS}) >= 8
