"""Tiny random-weight pipelines for tests and offline smoke runs.

They have the real architecture (same classes, same compression ratios, same frame
rule) with a few thousand weights, so every code path runs in well under a second on a
CPU and nothing is downloaded. They produce noise, not pictures.

The weights come from a fixed seed, so building twice gives byte-identical folders.
"""

from __future__ import annotations

import os
import shutil
import string
import tempfile
from pathlib import Path

import torch

from .registry import ModelSpec

SEED = 0


def build_tiny(spec: ModelSpec, folder: Path) -> Path:
    """Build the tiny pipeline for `spec` and save it to `folder` (replacing nothing).

    The folder appears atomically: two processes building at once both succeed and
    one of the copies is kept.
    """
    builders = {"ltx": _tiny_ltx_pipeline}
    if not spec.tiny or spec.family not in builders:
        raise ValueError(f"{spec.name} is not a tiny model this module can build")
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)

    pipeline = builders[spec.family]()
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        pipeline.save_pretrained(staging)
        os.rename(staging, folder)
    except OSError:
        if not (folder / "model_index.json").exists():
            raise
        # Someone else finished first; theirs is identical.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _tiny_ltx_pipeline():
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    tokenizer = _tiny_t5_tokenizer()
    # fork_rng so that building a model leaves the caller's random state alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        text_encoder = T5EncoderModel(
            T5Config(
                vocab_size=len(tokenizer),
                d_model=16,
                d_kv=8,
                d_ff=32,
                num_layers=1,
                num_heads=2,
                relative_attention_num_buckets=8,
                relative_attention_max_distance=32,
            )
        )
        transformer = LTXVideoTransformer3DModel(
            in_channels=8,
            out_channels=8,
            patch_size=1,
            patch_size_t=1,
            num_attention_heads=2,
            attention_head_dim=8,
            cross_attention_dim=16,
            num_layers=1,
            caption_channels=16,  # = the text encoder's d_model
        )
        # patch 4 × three 2× stages = 32 px and 8 frames per latent, like the real VAE.
        vae = AutoencoderKLLTXVideo(
            latent_channels=8,
            block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8),
            layers_per_block=(1, 1, 1, 1, 1),
            decoder_layers_per_block=(1, 1, 1, 1, 1),
            spatio_temporal_scaling=(True, True, True, False),
            decoder_spatio_temporal_scaling=(True, True, True, False),
            patch_size=4,
            patch_size_t=1,
        )
    return LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )


def _tiny_t5_tokenizer():
    """A T5 (unigram) tokenizer over single characters, built from a vocabulary in code."""
    from transformers import T5Tokenizer

    # T5's layout: <pad>=0, </s>=1, <unk>=2. "▁" marks a word start, as in SentencePiece.
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    for char in string.ascii_letters + string.digits + string.punctuation:
        vocab += [(char, -5.0), ("▁" + char, -4.0)]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=128)
