"""Real-size architectures with random weights, for benchmarks where no weights are on disk.

The arithmetic of a denoising step, the VAE decode and the text encoder depends on the
shapes, not on the values, so timing these is timing the real model. Configurations
are those of the published checkpoints (diffusers layout):

- `ltx-video`: LTX-Video 2B transformer (28 layers, 32 heads × 64), the 0.9.1 VAE
  (128 latent channels, 32 px × 8 frames, timestep-aware decoder), T5-XXL encoder.
- `wan-t2v-1.3b`: Wan 2.1 1.3B transformer (30 layers, 12 heads × 128), the Wan 2.1
  VAE (16 latent channels, 8 px × 4 frames), UMT5-XXL encoder.

The tokenizer is the tiny character tokenizer (the real vocabularies are downloads);
prompts are padded to the model's fixed length either way, so the compute is the same.
Build under `torch.device("meta")` to check shapes and sizes without memory.
"""

from __future__ import annotations

import contextlib

import torch

from .tiny import _tiny_t5_tokenizer

# google/t5-v1_1-xxl and google/umt5-xxl encoders.
T5_XXL = dict(d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24, vocab_size=32128,
              feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, relative_attention_max_distance=128)
UMT5_XXL = {**T5_XXL, "vocab_size": 256384}


def build_fullsize(name: str, dtype=torch.bfloat16, vae_dtype=None):
    """The pipeline for `name` at real size with random weights, built on the current
    default device (use `with torch.device("cuda"):` to build straight on a GPU)."""
    builders = {"ltx-video": _ltx_2b, "wan-t2v-1.3b": _wan_1_3b}
    if name not in builders:
        raise ValueError(f"no real-size architecture for {name}; known: {', '.join(builders)}")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise in the target dtype: no float32 copy of 5B weights
    try:
        pipeline = builders[name]()
    finally:
        torch.set_default_dtype(previous)
    _keep_in_fp32(pipeline.transformer)
    if vae_dtype is not None:
        pipeline.vae.to(vae_dtype)
    return pipeline


def _keep_in_fp32(model) -> None:
    """What from_pretrained does for a low-precision load: the modules the model names
    (norms, embeddings of time and position) stay float32."""
    keep = getattr(model, "_keep_in_fp32_modules", None) or []
    for name, module in model.named_modules():
        if any(part in keep for part in name.split(".")):
            module.to(torch.float32)


@contextlib.contextmanager
def _plain_tensors():
    """float32 on the CPU, whatever the builder's defaults: for schedulers' sigma tables."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        with torch.device("cpu"):
            yield
    finally:
        torch.set_default_dtype(previous)


def _ltx_2b():
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    transformer = LTXVideoTransformer3DModel(
        in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32,
        attention_head_dim=64, cross_attention_dim=2048, num_layers=28, caption_channels=4096,
    )
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=128,
        block_out_channels=(128, 256, 512, 512), decoder_block_out_channels=(256, 512, 1024),
        layers_per_block=(4, 3, 3, 3, 4), decoder_layers_per_block=(5, 6, 7, 8),
        spatio_temporal_scaling=(True, True, True, False), decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, True, True, True), upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2), timestep_conditioning=True, patch_size=4, patch_size_t=1,
        resnet_norm_eps=1e-6, scaling_factor=1.0, encoder_causal=True, decoder_causal=False,
    )
    with _plain_tensors():
        scheduler = FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
            max_image_seq_len=4096, shift_terminal=0.1,
        )
    return LTXConditionPipeline(scheduler=scheduler, vae=vae, text_encoder=T5EncoderModel(T5Config(**T5_XXL)),
                                tokenizer=_tiny_t5_tokenizer(), transformer=transformer)


def _wan_1_3b():
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
    )
    vae = AutoencoderKLWan(base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                           temperal_downsample=[False, True, True])
    with _plain_tensors():
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return WanPipeline(tokenizer=_tiny_t5_tokenizer(), text_encoder=UMT5EncoderModel(UMT5Config(**UMT5_XXL)),
                       vae=vae, scheduler=scheduler, transformer=transformer)


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())
