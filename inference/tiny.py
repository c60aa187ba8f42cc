"""Tiny random-weight pipelines for tests and offline smoke runs.

Each has the real architecture of the model it stands in for (same pipeline and model
classes, same compression ratios, same frame rule, the same extra parts such as Wan's
CLIP image encoder or VACE blocks) with a few thousand weights, so every code path runs
in about a second on a CPU and nothing is downloaded. They produce noise, not pictures.

The weights come from a fixed seed, so building twice gives byte-identical folders.
Configurations are taken down from the shapes in diffusers' own pipeline tests.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
import zlib
from pathlib import Path

import torch

from core.catalog import Adapter, ModelSpec

SEED = 0
# The tiny text encoders' width; the transformers' text/caption input must match it.
TEXT_DIM = 16
# One tiny text-encoder size for both families (T5 for LTX, UMT5 for Wan).
TINY_T5_SIZES = dict(d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                     relative_attention_num_buckets=8, relative_attention_max_distance=32)
# Tiny CLIP image encoder: 32 px images in 8 px patches = 16 patches + the class token.
CLIP_IMAGE_SIZE, CLIP_PATCH, CLIP_DIM = 32, 8, 8
CLIP_TOKENS = (CLIP_IMAGE_SIZE // CLIP_PATCH) ** 2 + 1


def build_tiny(spec: ModelSpec, folder: Path) -> Path:
    """Build the tiny pipeline for `spec` and save it to `folder` (replacing nothing).

    The folder appears atomically: two processes building at once both succeed and
    one of the copies is kept.
    """
    return _build(_builder(spec), folder, "model_index.json")


def build_tiny_adapter(spec: ModelSpec, adapter: Adapter, folder: Path) -> Path:
    """A random-weight LoRA for `spec`'s tiny transformer, standing in for `adapter`: rank
    TINY_LORA_RANK on the attention projections (what LoRA trainers target), saved as diffusers
    saves LoRAs (PEFT keys, safetensors) under the adapter's own file name. Each adapter gets
    its own weights (seeded by its name), so two effects change a clip differently."""
    builder = _builder(spec)

    def lora():
        from peft import LoraConfig
        from peft.utils import get_peft_model_state_dict

        pipeline = builder()
        torch.manual_seed(zlib.crc32(f"{adapter.kind}:{adapter.name}".encode()))
        pipeline.transformer.add_adapter(LoraConfig(r=TINY_LORA_RANK, lora_alpha=TINY_LORA_RANK,
                                                    init_lora_weights=False, target_modules=list(LORA_TARGETS)))
        return _LoraFile(type(pipeline), get_peft_model_state_dict(pipeline.transformer), adapter.weight_name)

    return _build(lora, folder, adapter.weight_name)


# Tiny LoRAs: a small rank on the projections of every attention block.
TINY_LORA_RANK = 4
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


class _LoraFile:
    """A LoRA's layers, saved by the pipeline class's own `save_lora_weights`."""

    def __init__(self, pipeline_class, layers: dict, weight_name: str):
        self.pipeline_class, self.layers, self.weight_name = pipeline_class, layers, weight_name

    def save_pretrained(self, folder: Path) -> None:
        self.pipeline_class.save_lora_weights(folder, transformer_lora_layers=self.layers, weight_name=self.weight_name)


def _builder(spec: ModelSpec):
    builders = {
        "ltx-video": _tiny_ltx,
        "wan-t2v-1.3b": _tiny_wan_t2v,
        "wan-vace-1.3b": _tiny_wan_vace,
        "wan-i2v-14b": _tiny_wan_i2v,
        "wan-flf2v-14b": _tiny_wan_flf2v,
        "lucy-edit-dev": _tiny_lucy,
        "ltx-2.3-distilled": _tiny_ltx2,
    }
    if not spec.tiny or spec.mirrors not in builders:
        raise ValueError(f"{spec.name} is not a tiny model this module can build")
    return builders[spec.mirrors]


def build_tiny_segmenter(folder: Path) -> Path:
    """A random-weight CLIPSeg (inference/masks.py) with its processor, saved to `folder`."""
    return _build(_tiny_clipseg, folder, "config.json")


def build_tiny_voice(folder: Path) -> Path:
    """A tiny random-weight VITS text-to-speech model (MMS's architecture) and its
    character tokenizer (inference/speech.py), saved to `folder`."""
    return _build(_tiny_voice, folder, "config.json")


def _build(builder, folder: Path, marker: str) -> Path:
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # fork_rng so that building a model leaves the caller's random state alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        parts = builder()
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for part in parts if isinstance(parts, tuple) else (parts,):
            part.save_pretrained(staging)
        os.rename(staging, folder)
    except OSError:
        if not (folder / marker).exists():
            raise
        # Someone else finished first; theirs is identical.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


# --- LTX-Video ---------------------------------------------------------------------------


def _tiny_ltx():
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )

    tokenizer = _tiny_t5_tokenizer()
    text_encoder = _tiny_t5(len(tokenizer))
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        num_layers=2,  # First-Block Cache needs a first block and the rest
        caption_channels=TEXT_DIM,
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
    return LTXConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )


# --- Wan 2.1 -----------------------------------------------------------------------------


def _wan_parts() -> dict:
    """What every Wan pipeline shares: UMT5 text encoder, tokenizer, VAE and scheduler."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = _tiny_t5_tokenizer()
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tokenizer), **TINY_T5_SIZES)
    )
    # Three spatial halvings (8 px), two temporal (4 frames): Wan 2.1's VAE compression.
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    # The scheduler the Wan 2.1 diffusers checkpoints ship (flow_shift 3.0 for 480p).
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return {"tokenizer": tokenizer, "text_encoder": text_encoder, "vae": vae, "scheduler": scheduler}


def _wan_transformer_config(**overrides) -> dict:
    config = dict(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    return {**config, **overrides}


def _tiny_wan_t2v():
    from diffusers import WanPipeline, WanTransformer3DModel

    return WanPipeline(transformer=WanTransformer3DModel(**_wan_transformer_config()), **_wan_parts())


def _tiny_wan_vace():
    from diffusers import WanVACEPipeline, WanVACETransformer3DModel

    # VACE blocks on layers 0 and 2; its context is 16 latent + 16 reactive + 64 mask channels.
    transformer = WanVACETransformer3DModel(
        **_wan_transformer_config(num_layers=3, vace_layers=[0, 2], vace_in_channels=96)
    )
    return WanVACEPipeline(transformer=transformer, **_wan_parts())


def _tiny_wan_i2v(pos_embed_seq_len: int | None = None):
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    # 16 noise + 16 first-frame latent + 4 mask channels; image tokens through their own
    # key/value projections, as in the 14B checkpoints.
    transformer = WanTransformer3DModel(
        **_wan_transformer_config(
            in_channels=36,
            image_dim=CLIP_DIM,
            added_kv_proj_dim=2 * 12,
            pos_embed_seq_len=pos_embed_seq_len,
        )
    )
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=CLIP_DIM,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=CLIP_IMAGE_SIZE,
            patch_size=CLIP_PATCH,
        )
    )
    image_processor = CLIPImageProcessor(crop_size=CLIP_IMAGE_SIZE, size={"shortest_edge": CLIP_IMAGE_SIZE})
    return WanImageToVideoPipeline(
        transformer=transformer, image_encoder=image_encoder, image_processor=image_processor, **_wan_parts()
    )


def _tiny_wan_flf2v():
    # First-last-frame: the image embedding carries both frames' tokens, with positions.
    return _tiny_wan_i2v(pos_embed_seq_len=2 * CLIP_TOKENS)


# --- Lucy Edit (Wan 2.2 5B) ------------------------------------------------------------------


def _tiny_lucy():
    from diffusers import AutoencoderKLWan, LucyEditPipeline, UniPCMultistepScheduler, WanTransformer3DModel

    parts = _wan_parts()
    # Wan 2.2's VAE: 48 latent channels, pixels folded 2x2 into 12 channels before three
    # halvings, so 16 px and 4 frames per latent (the 5B's compression), as in diffusers' tests.
    parts["vae"] = AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    )
    # Wan 2.2 5B's shift; the scheduler config Lucy ships is not known offline.
    parts["scheduler"] = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                 flow_shift=5.0)
    # Noise and source latents side by side on the channel axis: 48 + 48 in, 48 out.
    transformer = WanTransformer3DModel(**_wan_transformer_config(in_channels=96, out_channels=48))
    return LucyEditPipeline(transformer=transformer, **parts)


# --- the segmenter (CLIPSeg) -----------------------------------------------------------------

# 64 px images in 16 px patches; two layers each side, both read by the decoder.
CLIPSEG_IMAGE_SIZE, CLIPSEG_PATCH = 64, 16


def _tiny_clipseg():
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        ViTImageProcessorPil,
    )

    tokenizer = _tiny_clip_tokenizer()
    # The Pillow processor: workers have no torchvision.
    image_processor = ViTImageProcessorPil(size={"height": CLIPSEG_IMAGE_SIZE, "width": CLIPSEG_IMAGE_SIZE},
                                        image_mean=[0.5] * 3, image_std=[0.5] * 3)
    config = CLIPSegConfig(
        **_tiny_clip_towers(len(tokenizer), CLIPSEG_IMAGE_SIZE, CLIPSEG_PATCH),
        extract_layers=(0, 1),
        reduce_dim=8,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=16,
    )
    model = CLIPSegForImageSegmentation(config).eval()
    return model, CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)


# --- LTX-2 ---------------------------------------------------------------------------------

# The tiny Gemma 3 text encoder: its hidden states, one per layer and the embeddings, are
# what LTX-2's connectors read (caption_channels x (layers + 1)).
GEMMA_DIM, GEMMA_LAYERS = 16, 2
# Tiny audio: mels at the real 16 kHz / 160-sample hop (100 frames a second) in 16 bins, a
# VAE that really halves time and frequency twice (4x, as LATENT_DOWNSAMPLE_FACTOR says),
# and a vocoder that turns each mel frame into 80 samples: 8 kHz sound.
AUDIO_MEL_BINS, AUDIO_LATENT_CHANNELS = 16, 2
VOCODER_RATE, VOCODER_UPSAMPLE = 8000, (10, 8)


def _tiny_ltx2():
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors, LTX2Vocoder

    tokenizer = _tiny_gemma_tokenizer()
    text_encoder = _tiny_gemma3(len(tokenizer))
    transformer = LTX2VideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        audio_in_channels=AUDIO_LATENT_CHANNELS * AUDIO_MEL_BINS // 4,  # a latent frame's channels x mel bins
        audio_out_channels=AUDIO_LATENT_CHANNELS * AUDIO_MEL_BINS // 4,
        audio_num_attention_heads=2,
        audio_attention_head_dim=4,
        audio_cross_attention_dim=8,
        num_layers=2,  # First-Block Cache needs a first block and the rest
        caption_channels=GEMMA_DIM,
        rope_double_precision=False,
        rope_type="split",
    )
    connectors = LTX2TextConnectors(
        caption_channels=GEMMA_DIM,
        text_proj_in_factor=GEMMA_LAYERS + 1,
        video_connector_num_attention_heads=2,
        video_connector_attention_head_dim=8,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32,
        rope_double_precision=False,
        rope_type="split",
    )
    # patch 4 x three space-time halvings = 32 px and 8 frames per latent, like the real VAE.
    vae = AutoencoderKLLTX2Video(
        latent_channels=8,
        block_out_channels=(8, 8, 8),
        decoder_block_out_channels=(8, 8, 8),
        layers_per_block=(1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatiotemporal",) * 3,
        upsample_type=("spatiotemporal",) * 3,
        upsample_residual=(False, False, False),
        upsample_factor=(1, 1, 1),
        patch_size=4,
        patch_size_t=1,
    )
    # Three levels (two stride-2 convolutions): 4x fewer frames and mel bins in the latent.
    # The latent statistics span a latent frame's channels x mel bins: base_channels.
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=AUDIO_LATENT_CHANNELS * AUDIO_MEL_BINS // 4,
        output_channels=2,
        ch_mult=(1, 1, 1),
        num_res_blocks=1,
        in_channels=2,
        resolution=32,
        latent_channels=AUDIO_LATENT_CHANNELS,
        mel_bins=AUDIO_MEL_BINS,
        sample_rate=16000,
        mel_hop_length=160,
    )
    vocoder = LTX2Vocoder(
        in_channels=2 * AUDIO_MEL_BINS,  # stereo mels
        hidden_channels=8,
        out_channels=2,
        upsample_kernel_sizes=[2 * factor for factor in VOCODER_UPSAMPLE],
        upsample_factors=list(VOCODER_UPSAMPLE),
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3]],
        output_sampling_rate=VOCODER_RATE,
    )
    # The distilled checkpoints' schedule is given as final sigmas: no resolution shift.
    return LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
    )


def _tiny_gemma3(vocab_size: int):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    # LTX-2 loads the multimodal Gemma 3 class; its vision tower is never run, so a token one.
    config = Gemma3Config(
        text_config=Gemma3TextConfig(vocab_size=vocab_size, hidden_size=GEMMA_DIM, intermediate_size=32,
                                     num_hidden_layers=GEMMA_LAYERS, num_attention_heads=2, num_key_value_heads=1,
                                     head_dim=8, max_position_embeddings=256, sliding_window=16),
        vision_config=SiglipVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, image_size=16, patch_size=8),
        mm_tokens_per_image=4,
    )
    return Gemma3ForConditionalGeneration(config)


def _tiny_gemma_tokenizer():
    """A Gemma (BPE) tokenizer over single characters, built from a vocabulary in code."""
    from transformers import GemmaTokenizer

    # Gemma's layout: <pad>=0, <eos>=1, <bos>=2, <unk>=3. "▁" marks a space, as in SentencePiece.
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4}
    for char in "▁" + string.ascii_letters + string.digits + string.punctuation:
        vocab.setdefault(char, len(vocab))
    return GemmaTokenizer(vocab=vocab, merges=[], model_max_length=128)


def _tiny_voice():
    from transformers import VitsTokenizer

    # MMS voices read characters; the tokenizer puts a blank between every two.
    vocab = {char: index for index, char in enumerate(["<pad>", "<unk>", *(" " + string.ascii_lowercase + "'.,?!-")])}
    with tempfile.TemporaryDirectory() as folder:  # the tokenizer reads its vocabulary from a file
        (Path(folder) / "vocab.json").write_text(json.dumps(vocab))
        tokenizer = VitsTokenizer(str(Path(folder) / "vocab.json"), add_blank=True, normalize=True, phonemize=False)
    return _tiny_vits(len(vocab)), tokenizer


def _tiny_vits(vocab_size: int):
    from transformers import VitsConfig, VitsModel

    # 8 x 8 x 4 = a 256-sample hop at 16 kHz, as MMS; one layer or flow of everything else.
    return VitsModel(VitsConfig(
        vocab_size=vocab_size, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, window_size=2, ffn_dim=16,
        flow_size=8, spectrogram_bins=9, upsample_initial_channel=16, upsample_rates=[8, 8, 4],
        upsample_kernel_sizes=[16, 16, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        prior_encoder_num_flows=1, prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
        duration_predictor_num_flows=1, duration_predictor_filter_channels=8, depth_separable_num_layers=1,
        sampling_rate=16000,
    ))


# --- shared --------------------------------------------------------------------------------


def _tiny_t5(vocab_size: int):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(vocab_size=vocab_size, **TINY_T5_SIZES)
    )


def _tiny_t5_tokenizer():
    """A T5 (unigram) tokenizer over single characters, built from a vocabulary in code."""
    from transformers import T5Tokenizer

    # T5's layout: <pad>=0, </s>=1, <unk>=2. "▁" marks a word start, as in SentencePiece.
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    for char in string.ascii_letters + string.digits + string.punctuation:
        vocab += [(char, -5.0), ("▁" + char, -4.0)]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=128)


# --- CLIP (prompt adherence, inference/quality.py) ------------------------------------------

def build_tiny_clip(folder: Path) -> Path:
    """A random-weight CLIP with its processor, saved to `folder` (`REELBOT_ADHERENCE_MODEL=clip-tiny`)."""
    return _build(_tiny_clip, folder, "config.json")


def _tiny_clip():
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    tokenizer = _tiny_clip_tokenizer()
    config = CLIPConfig(**_tiny_clip_towers(len(tokenizer), CLIP_IMAGE_SIZE, CLIP_PATCH), reelbot_test_model=True)
    # The Pillow processor: workers have no torchvision.
    images = CLIPImageProcessorPil(size={"shortest_edge": CLIP_IMAGE_SIZE},
                                   crop_size={"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE})
    return CLIPModel(config).eval(), CLIPProcessor(image_processor=images, tokenizer=tokenizer)


def _tiny_clip_towers(vocab_size: int, image_size: int, patch_size: int) -> dict:
    """The text and vision towers of a tiny CLIP (CLIPSeg's too), two layers of 16 each."""
    return dict(
        text_config=dict(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=patch_size),
        projection_dim=16,
    )


def _tiny_clip_tokenizer():
    """A byte-pair tokenizer with no merges: single characters, word ends marked as CLIP does."""
    from transformers import CLIPTokenizer

    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [char + "</w>" for char in chars]
    return CLIPTokenizer(vocab={token: i for i, token in enumerate(tokens)}, merges=[], model_max_length=77)
