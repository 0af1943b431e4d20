#!/usr/bin/env python3
"""Write tiny random-weight checkpoints in the exact file and key layouts users download.

duet's loaders, `duet info` and `duet convert` are tested on these folders. Every file name, key
name, tensor shape convention, dtype and container format follows the real hub folders; only the
sizes are tiny. The weights are random but deterministic: each tensor is drawn from a generator
seeded by a hash of "<component>/<key>", so re-running gives byte-identical tensors and the same
tensor has the same values in every layout that holds it (an Ovi folder and the duet package made
from it; a Wan original folder and its diffusers export, whose keys are renamed but seeded by the
original name). Tensors whose original file is bf16 (Ovi fusion, Wan T5) are drawn already rounded
to bf16, so converting them to any wider dtype is exact.

    make_tiny_model.py --layout {ovi,wan21,wan22-ti2v,wan22-a14b,wan-diffusers,duet-package} --out DIR
    make_tiny_model.py --all --out DIR      # DIR/ovi, DIR/wan21, DIR/wan22-ti2v, ...

For a single layout DIR is the model folder itself. Files are overwritten in place.
Needs only torch, safetensors, numpy and sentencepiece (tools/requirements.txt); the key names are
checked against the reference implementations by tools/fixtures/check_tiny_layouts.py.

Where the names come from (read from the public reference code, not copied):
  Wan DiT / VAE / T5      Wan-Video/Wan2.1 and Wan2.2: wan/modules/{model,vae,vae2_2,t5}.py
  Ovi fusion              character-ai/Ovi: ovi/modules/{model,fusion}.py, ovi/utils/model_loading_utils.py
  MMAudio 16k VAE         ovi/modules/mmaudio/ext/autoencoder/{vae,vae_modules,edm2_utils}.py (= MMAudio's)
  BigVGAN 16k vocoder     ovi/modules/mmaudio/ext/bigvgan/models.py + Make-An-Audio's vocoder/bigvgan,
                          which trained best_netG.pt with the legacy torch.nn.utils.weight_norm
  diffusers export        diffusers WanTransformer3DModel / AutoencoderKLWan, transformers UMT5EncoderModel
  tokenizer files         google/umt5-xxl as shipped inside the Wan-AI repos: with umT5's vocabulary
                          these field sets reproduce the real tokenizer_config.json (61,728 B) and
                          special_tokens_map.json (6,623 B) byte for byte
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import math
import random
import sys
from collections import OrderedDict
from pathlib import Path

import torch
from safetensors.torch import save_file

LAYOUTS = ("ovi", "wan21", "wan22-ti2v", "wan22-a14b", "wan-diffusers", "duet-package")

# ---------------------------------------------------------------------------------------------
# Tiny hyperparameters. Structure is the real one (levels, blocks, kernels, z channels, patch
# sizes, head dim 128, text_len 512, freq_dim 256); only widths and depths shrink.
# ---------------------------------------------------------------------------------------------

SPM_VOCAB = 320  # real umT5: 256000 SentencePiece pieces
EXTRA_IDS = 300  # <extra_id_0..299>, appended after the pieces as in umT5


def t5_rows(spm_vocab: int) -> int:
    # umT5's embedding has 256384 rows for 256300 tokens: rounded up to a multiple of 128.
    return -(-(spm_vocab + EXTRA_IDS) // 128) * 128


# Wan's own T5 encoder (wan/modules/t5.py umt5_xxl: dim 4096, dim_attn 4096, dim_ffn 10240,
# 64 heads, 24 layers, 32 buckets, shared_pos False).
T5 = dict(vocab_size=t5_rows(SPM_VOCAB), dim=64, dim_attn=64, dim_ffn=128, num_heads=4,
          num_layers=2, num_buckets=32, shared_pos=False, text_len=512)

# Wan DiTs (config.json field names of the Wan original folders). dim = 128 * num_heads.
WAN21_DIT = dict(model_type="t2v", patch_size=[1, 2, 2], text_len=512, in_dim=16, dim=256,
                 ffn_dim=512, freq_dim=256, text_dim=T5["dim"], out_dim=16, num_heads=2,
                 num_layers=2, qk_norm=True, cross_attn_norm=True, eps=1e-6)
WAN22_DIT = dict(WAN21_DIT, model_type="ti2v", in_dim=48, out_dim=48)

# Ovi fusion towers (field names of Ovi's ovi/configs/model/dit/{video,audio}.json, plus text_dim
# and the audio patch-embedding MLP width, which Ovi derives from dim: int(2*4*dim/3) rounded up
# to 256 = 8192 for dim 3072). One head (dim 128) keeps the random duet-package under 6 MB.
OVI_VIDEO = dict(patch_size=[1, 2, 2], model_type="ti2v", dim=128, ffn_dim=256, freq_dim=256,
                 num_heads=1, num_layers=2, in_dim=48, out_dim=48, text_len=512,
                 window_size=[-1, -1], qk_norm=True, cross_attn_norm=True, eps=1e-6,
                 text_dim=T5["dim"])
OVI_AUDIO = dict(OVI_VIDEO, patch_size=[1], model_type="t2a", in_dim=20, out_dim=20,
                 temporal_rope_scaling_factor=0.19676, patch_embedding_mlp_dim=32)

# Wan VAEs (WanVAE_ keyword names). Real: 2.1 dim 96; 2.2 encoder 160 / decoder 256 (kept
# different here too, so encoder and decoder widths cannot be confused).
WAN21_VAE = dict(dim=4, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                 temperal_downsample=[False, True, True])
WAN22_VAE = dict(dim=3, dec_dim=4, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                 attn_scales=[], temperal_downsample=[False, True, True], patch_size=2,
                 in_channels=12)

# MMAudio 16 kHz mel VAE (VAE_16k: data_dim 80, embed_dim 20, hidden_dim 384).
MMAUDIO_VAE = dict(data_dim=80, embed_dim=20, hidden_dim=8, ch_mult=[1, 2, 4], num_res_blocks=2,
                   attn_layers=[3], down_layers=[0], kernel_size=3)
MEL_16K = dict(sampling_rate=16000, n_fft=1024, num_mels=80, hop_size=256, win_size=1024,
               fmin=0, fmax=8000)

# BigVGAN 16k generator (bigvgan_vocoder.yml: upsample_initial_channel 1536). 64 is the smallest
# width that survives six halvings.
BIGVGAN = dict(num_mels=80, upsample_rates=[4, 4, 2, 2, 2, 2],
               upsample_kernel_sizes=[8, 8, 4, 4, 4, 4], upsample_initial_channel=64,
               resblock="1", resblock_kernel_sizes=[3, 7, 11],
               resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
               activation="snakebeta", snake_logscale=True, sampling_rate=16000)

# MMAudio keeps the mel normalisation in the VAE checkpoint (buffers data_mean / data_std,
# shape [1, 80, 1]); these are its DATA_MEAN_80D / DATA_STD_80D.
MEL_MEAN_80 = [
    -1.6058, -1.3676, -1.2520, -1.2453, -1.2078, -1.2224, -1.2419, -1.2439, -1.2922, -1.2927,
    -1.3170, -1.3543, -1.3401, -1.3836, -1.3907, -1.3912, -1.4313, -1.4152, -1.4527, -1.4728,
    -1.4568, -1.5101, -1.5051, -1.5172, -1.5623, -1.5373, -1.5746, -1.5687, -1.6032, -1.6131,
    -1.6081, -1.6331, -1.6489, -1.6489, -1.6700, -1.6738, -1.6953, -1.6969, -1.7048, -1.7280,
    -1.7361, -1.7495, -1.7658, -1.7814, -1.7889, -1.8064, -1.8221, -1.8377, -1.8417, -1.8643,
    -1.8857, -1.8929, -1.9173, -1.9379, -1.9531, -1.9673, -1.9824, -2.0042, -2.0215, -2.0436,
    -2.0766, -2.1064, -2.1418, -2.1855, -2.2319, -2.2767, -2.3161, -2.3572, -2.3954, -2.4282,
    -2.4659, -2.5072, -2.5552, -2.6074, -2.6584, -2.7107, -2.7634, -2.8266, -2.8981, -2.9673]
MEL_STD_80 = [
    1.0291, 1.0411, 1.0043, 0.9820, 0.9677, 0.9543, 0.9450, 0.9392, 0.9343, 0.9297, 0.9276,
    0.9263, 0.9242, 0.9254, 0.9232, 0.9281, 0.9263, 0.9315, 0.9274, 0.9247, 0.9277, 0.9199,
    0.9188, 0.9194, 0.9160, 0.9161, 0.9146, 0.9161, 0.9100, 0.9095, 0.9145, 0.9076, 0.9066,
    0.9095, 0.9032, 0.9043, 0.9038, 0.9011, 0.9019, 0.9010, 0.8984, 0.8983, 0.8986, 0.8961,
    0.8962, 0.8978, 0.8962, 0.8973, 0.8993, 0.8976, 0.8995, 0.9016, 0.8982, 0.8972, 0.8974,
    0.8949, 0.8940, 0.8947, 0.8936, 0.8939, 0.8951, 0.8956, 0.9017, 0.9167, 0.9436, 0.9690,
    1.0003, 1.0225, 1.0381, 1.0491, 1.0545, 1.0604, 1.0761, 1.0929, 1.1089, 1.1196, 1.1176,
    1.1156, 1.1117, 1.1070]

# Wan2.1 VAE latent statistics, as the diffusers vae/config.json carries them.
WAN21_LATENTS_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                      0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
WAN21_LATENTS_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                     3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]


# ---------------------------------------------------------------------------------------------
# Deterministic tensors
# ---------------------------------------------------------------------------------------------

def seed_of(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") & (2**63 - 1)


def draw(seed_name: str, shape, kind: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed_of(seed_name))
    x = torch.randn(tuple(shape), generator=g, dtype=torch.float32)
    if kind == "w":  # weights: ~ N(0, 0.02)
        return x * 0.02
    if kind == "b":  # biases, LayerNorm shifts, log-scale snake parameters, scalar gains
        return x * 0.002
    if kind == "norm":  # RMSNorm / LayerNorm / RMS_norm gamma: ~ 1
        return 1.0 + x * 0.02
    raise ValueError(kind)


class StateDict:
    """Ordered tensor specs of one component; keys in the order the reference module's
    state_dict() yields them (own parameters, then buffers, then child modules)."""

    def __init__(self, component: str):
        self.component = component  # seeds are "<component>/<original key>"
        self.specs = []  # (key, alias, shape, kind)

    def add(self, key, shape, kind="w", alias=None):
        self.specs.append((key, alias, tuple(shape), kind))

    def linear(self, key, out_f, in_f, bias=True, alias=None):
        self.add(f"{key}.weight", (out_f, in_f), "w", alias and f"{alias}.weight")
        if bias:
            self.add(f"{key}.bias", (out_f,), "b", alias and f"{alias}.bias")

    def conv(self, key, out_c, in_c, kernel, bias=True, alias=None):
        self.add(f"{key}.weight", (out_c, in_c, *kernel), "w", alias and f"{alias}.weight")
        if bias:
            self.add(f"{key}.bias", (out_c,), "b", alias and f"{alias}.bias")

    def norm(self, key, dim, bias=False, alias=None):
        self.add(f"{key}.weight", (dim,), "norm", alias and f"{alias}.weight")
        if bias:
            self.add(f"{key}.bias", (dim,), "b", alias and f"{alias}.bias")

    def build(self, *, dtype=torch.float32, bf16_exact=False, use_alias=False) -> OrderedDict:
        made = {}
        for key, _, shape, kind in self.specs:  # random tensors first ...
            if not callable(kind):
                made[key] = draw(f"{self.component}/{key}", shape, kind)
        for key, _, shape, kind in self.specs:  # ... then those computed from them / constants
            if callable(kind):
                made[key] = kind(made)
        out = OrderedDict()
        for key, alias, shape, _ in self.specs:
            t = made[key]
            assert tuple(t.shape) == shape, (key, t.shape, shape)
            if bf16_exact:
                t = t.to(torch.bfloat16).to(torch.float32)
            name = alias if use_alias else key
            assert name is not None, f"{key} has no alias"
            out[name] = t.to(dtype).contiguous()
        return out


def params(sd) -> int:
    return sum(t.numel() for t in sd.values())


# ---------------------------------------------------------------------------------------------
# Components: each returns a StateDict (key specs) built from a config dict.
# ---------------------------------------------------------------------------------------------

def wan_dit(cfg: dict, component: str, *, ovi: bool = False, fusion: bool = False) -> StateDict:
    """WanModel (wan/modules/model.py; Ovi's copy in ovi/modules/model.py). Aliases are the
    diffusers WanTransformer3DModel names (Wan2.1 video only)."""
    sd = StateDict(component)
    d, ffn, heads = cfg["dim"], cfg["ffn_dim"], cfg["num_heads"]
    assert d == 128 * heads, "Wan/Ovi head dim is 128"
    audio = "a" in cfg["model_type"]
    patch = cfg["patch_size"]
    if audio:
        # patch_embedding = Sequential(ChannelLastConv1d(in,d,k7,p3), SiLU, ConvMLP(d, 4d, k7, p3))
        h = cfg["patch_embedding_mlp_dim"]
        sd.conv("patch_embedding.0", d, cfg["in_dim"], (7,))          # [d, 20, 7]
        sd.add("patch_embedding.2.w1.weight", (h, d, 7))              # [h, d, 7], no bias
        sd.add("patch_embedding.2.w2.weight", (d, h, 7))              # [d, h, 7]
        sd.add("patch_embedding.2.w3.weight", (h, d, 7))              # [h, d, 7]
    else:
        sd.conv("patch_embedding", d, cfg["in_dim"], patch, alias="patch_embedding")  # [d,in,1,2,2]
    ce = "condition_embedder"
    sd.linear("text_embedding.0", d, cfg["text_dim"], alias=f"{ce}.text_embedder.linear_1")
    sd.linear("text_embedding.2", d, d, alias=f"{ce}.text_embedder.linear_2")
    sd.linear("time_embedding.0", d, cfg["freq_dim"], alias=f"{ce}.time_embedder.linear_1")
    sd.linear("time_embedding.2", d, d, alias=f"{ce}.time_embedder.linear_2")
    sd.linear("time_projection.1", 6 * d, d, alias=f"{ce}.time_proj")   # [6d, d]
    for i in range(cfg["num_layers"]):
        b, a = f"blocks.{i}", f"blocks.{i}"
        if not ovi:  # Wan: nn.Parameter registered on the block -> listed before its children
            sd.add(f"{b}.modulation", (1, 6, d), "w", f"{a}.scale_shift_table")
        for wan_name, hf_name in (("self_attn", "attn1"), ("cross_attn", "attn2")):
            if wan_name == "cross_attn":  # norm3: affine LayerNorm in front of cross-attention
                sd.norm(f"{b}.norm3", d, bias=True, alias=f"{a}.norm2")
            for p, q in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("o", "to_out.0")):
                sd.linear(f"{b}.{wan_name}.{p}", d, d, alias=f"{a}.{hf_name}.{q}")
            sd.norm(f"{b}.{wan_name}.norm_q", d, alias=f"{a}.{hf_name}.norm_q")  # RMSNorm over d
            sd.norm(f"{b}.{wan_name}.norm_k", d, alias=f"{a}.{hf_name}.norm_k")
            if wan_name == "cross_attn" and fusion:  # FusionModel.inject_cross_attention_kv_projections
                sd.linear(f"{b}.cross_attn.k_fusion", d, d)
                sd.linear(f"{b}.cross_attn.v_fusion", d, d)
                sd.norm(f"{b}.cross_attn.pre_attn_norm_fusion", d, bias=True)
                sd.norm(f"{b}.cross_attn.norm_k_fusion", d)
        sd.linear(f"{b}.ffn.0", ffn, d, alias=f"{a}.ffn.net.0.proj")
        sd.linear(f"{b}.ffn.2", d, ffn, alias=f"{a}.ffn.net.2")
        if ovi:  # Ovi: ModulationAdd child module holding .modulation
            sd.add(f"{b}.modulation.modulation", (1, 6, d))
    sd.add("head.modulation", (1, 2, d), "w", "scale_shift_table")
    sd.linear("head.head", math.prod(patch) * cfg["out_dim"], d, alias="proj_out")  # [prod(p)*out, d]
    return sd


def ovi_fusion(video: dict, audio: dict) -> StateDict:
    """FusionModel{video_model, audio_model} (ovi/modules/fusion.py), as in Ovi/model.safetensors."""
    sd = StateDict("ovi_fusion")
    for prefix, cfg in (("video_model", video), ("audio_model", audio)):
        tower = wan_dit(cfg, "unused", ovi=True, fusion=True)
        for key, _, shape, kind in tower.specs:
            sd.add(f"{prefix}.{key}", shape, kind)
    return sd


def wan_t5(cfg: dict) -> StateDict:
    """T5Encoder of wan/modules/t5.py (umt5_xxl, encoder_only, shared_pos=False: every block has
    its own relative position embedding). Aliases: transformers UMT5EncoderModel."""
    sd = StateDict("wan_t5")
    d, da, df, nh = cfg["dim"], cfg["dim_attn"], cfg["dim_ffn"], cfg["num_heads"]
    sd.add("token_embedding.weight", (cfg["vocab_size"], d), "w", "shared.weight")
    for i in range(cfg["num_layers"]):
        b, e = f"blocks.{i}", f"encoder.block.{i}.layer"
        sd.norm(f"{b}.norm1", d, alias=f"{e}.0.layer_norm")
        for p in "qkv":
            sd.linear(f"{b}.attn.{p}", da, d, bias=False, alias=f"{e}.0.SelfAttention.{p}")
        sd.linear(f"{b}.attn.o", d, da, bias=False, alias=f"{e}.0.SelfAttention.o")
        sd.norm(f"{b}.norm2", d, alias=f"{e}.1.layer_norm")
        sd.linear(f"{b}.ffn.gate.0", df, d, bias=False, alias=f"{e}.1.DenseReluDense.wi_0")  # GELU gate
        sd.linear(f"{b}.ffn.fc1", df, d, bias=False, alias=f"{e}.1.DenseReluDense.wi_1")
        sd.linear(f"{b}.ffn.fc2", d, df, bias=False, alias=f"{e}.1.DenseReluDense.wo")
        sd.add(f"{b}.pos_embedding.embedding.weight", (cfg["num_buckets"], nh), "w",
               f"{e}.0.SelfAttention.relative_attention_bias.weight")  # [32, heads]
    sd.norm("norm", d, alias="encoder.final_layer_norm")
    return sd


def _vae_resblock(sd, key, alias, cin, cout):
    """ResidualBlock of wan/modules/vae*.py: residual = Sequential(RMS_norm, SiLU, CausalConv3d,
    RMS_norm, SiLU, Dropout, CausalConv3d); shortcut CausalConv3d(k1) when widths differ.
    Aliases: diffusers WanResidualBlock (norm1/conv1/norm2/conv2/conv_shortcut)."""
    al = (lambda s: f"{alias}.{s}") if alias else (lambda s: None)
    sd.add(f"{key}.residual.0.gamma", (cin, 1, 1, 1), "norm", al("norm1.gamma"))
    sd.conv(f"{key}.residual.2", cout, cin, (3, 3, 3), alias=al("conv1"))
    sd.add(f"{key}.residual.3.gamma", (cout, 1, 1, 1), "norm", al("norm2.gamma"))
    sd.conv(f"{key}.residual.6", cout, cout, (3, 3, 3), alias=al("conv2"))
    if cin != cout:
        sd.conv(f"{key}.shortcut", cout, cin, (1, 1, 1), alias=al("conv_shortcut"))


def _vae_attention(sd, key, alias, c):
    """AttentionBlock: RMS_norm (2d gamma [c,1,1]), to_qkv Conv2d(c,3c,1), proj Conv2d(c,c,1)."""
    al = (lambda s: f"{alias}.{s}") if alias else (lambda s: None)
    sd.add(f"{key}.norm.gamma", (c, 1, 1), "norm", al("norm.gamma"))
    sd.conv(f"{key}.to_qkv", 3 * c, c, (1, 1), alias=al("to_qkv"))
    sd.conv(f"{key}.proj", c, c, (1, 1), alias=al("proj"))


def _vae_resample(sd, key, alias, c, mode, up_halves):
    """Resample: resample.1 = Conv2d (after ZeroPad2d for down, Upsample for up); time_conv =
    CausalConv3d (3,1,1) for the 3d modes (down: c->c stride 2; up: c->2c)."""
    al = (lambda s: f"{alias}.{s}") if alias else (lambda s: None)
    out = c // 2 if (mode.startswith("up") and up_halves) else c
    sd.conv(f"{key}.resample.1", out, c, (3, 3), alias=al("resample.1"))
    if mode == "downsample3d":
        sd.conv(f"{key}.time_conv", c, c, (3, 1, 1), alias=al("time_conv"))
    elif mode == "upsample3d":
        sd.conv(f"{key}.time_conv", 2 * c, c, (3, 1, 1), alias=al("time_conv"))


def _vae_middle(sd, side, c, alias_side):
    mid = f"{alias_side}.mid_block" if alias_side else None
    _vae_resblock(sd, f"{side}.middle.0", mid and f"{mid}.resnets.0", c, c)
    _vae_attention(sd, f"{side}.middle.1", mid and f"{mid}.attentions.0", c)
    _vae_resblock(sd, f"{side}.middle.2", mid and f"{mid}.resnets.1", c, c)


def wan21_vae(cfg: dict) -> StateDict:
    """WanVAE_ of Wan2.1 wan/modules/vae.py (Wan2.1_VAE.pth is a plain state dict of it).
    Aliases: diffusers AutoencoderKLWan."""
    sd = StateDict("wan2.1_vae")
    d, z, mult, nres = cfg["dim"], cfg["z_dim"], cfg["dim_mult"], cfg["num_res_blocks"]
    tdown = cfg["temperal_downsample"]
    # encoder: conv1(3->d), flat downsamples [res x nres (+ Resample)] per level, middle, head
    dims = [d * u for u in [1] + mult]
    sd.conv("encoder.conv1", dims[0], 3, (3, 3, 3), alias="encoder.conv_in")
    k = 0
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
        for _ in range(nres):
            _vae_resblock(sd, f"encoder.downsamples.{k}", f"encoder.down_blocks.{k}", cin, cout)
            cin, k = cout, k + 1
        if i != len(mult) - 1:
            mode = "downsample3d" if tdown[i] else "downsample2d"
            _vae_resample(sd, f"encoder.downsamples.{k}", f"encoder.down_blocks.{k}", cout, mode, True)
            k += 1
    _vae_middle(sd, "encoder", dims[-1], "encoder")
    sd.add("encoder.head.0.gamma", (dims[-1], 1, 1, 1), "norm", "encoder.norm_out.gamma")
    sd.conv("encoder.head.2", 2 * z, dims[-1], (3, 3, 3), alias="encoder.conv_out")
    sd.conv("conv1", 2 * z, 2 * z, (1, 1, 1), alias="quant_conv")
    sd.conv("conv2", z, z, (1, 1, 1), alias="post_quant_conv")
    # decoder: conv1(z->4d), middle, flat upsamples [res x (nres+1) (+ Resample)], head
    dims = [d * u for u in [mult[-1]] + mult[::-1]]
    tup = tdown[::-1]
    sd.conv("decoder.conv1", dims[0], z, (3, 3, 3), alias="decoder.conv_in")
    _vae_middle(sd, "decoder", dims[0], "decoder")
    k = 0
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
        if i in (1, 2, 3):  # the Wan2.1 upsample conv halves the width
            cin = cin // 2
        for j in range(nres + 1):
            _vae_resblock(sd, f"decoder.upsamples.{k}", f"decoder.up_blocks.{i}.resnets.{j}", cin, cout)
            cin, k = cout, k + 1
        if i != len(mult) - 1:
            mode = "upsample3d" if tup[i] else "upsample2d"
            _vae_resample(sd, f"decoder.upsamples.{k}", f"decoder.up_blocks.{i}.upsamplers.0",
                          cout, mode, True)
            k += 1
    sd.add("decoder.head.0.gamma", (dims[-1], 1, 1, 1), "norm", "decoder.norm_out.gamma")
    sd.conv("decoder.head.2", 3, dims[-1], (3, 3, 3), alias="decoder.conv_out")
    _reorder_wan_vae(sd)
    return sd


def _reorder_wan_vae(sd: StateDict):
    # WanVAE_ registers encoder, conv1, conv2, decoder: keep that order for the .pth.
    rank = lambda k: 0 if k.startswith("encoder.") else 3 if k.startswith("decoder.") else (
        1 if k.startswith("conv1.") else 2)
    sd.specs.sort(key=lambda s: rank(s[0]))  # stable


def wan22_vae(cfg: dict) -> StateDict:
    """WanVAE_ of wan/modules/vae2_2.py (Wan2.2_VAE.pth, plain state dict): 2x2 patchify (12 input
    channels), Down_/Up_ResidualBlock levels with parameter-free avg/dup shortcuts, separate
    encoder (dim) and decoder (dec_dim) widths, z 48."""
    sd = StateDict("wan_vae22")
    d, dd, z, mult, nres = cfg["dim"], cfg["dec_dim"], cfg["z_dim"], cfg["dim_mult"], cfg["num_res_blocks"]
    tdown = cfg["temperal_downsample"]
    cin0 = cfg["in_channels"]  # 3 * 2 * 2
    dims = [d * u for u in [1] + mult]
    sd.conv("encoder.conv1", dims[0], cin0, (3, 3, 3))
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
        base = f"encoder.downsamples.{i}.downsamples"
        for j in range(nres):
            _vae_resblock(sd, f"{base}.{j}", None, cin, cout)
            cin = cout
        if i != len(mult) - 1:
            mode = "downsample3d" if tdown[i] else "downsample2d"
            _vae_resample(sd, f"{base}.{nres}", None, cout, mode, False)
    _vae_middle(sd, "encoder", dims[-1], None)
    sd.add("encoder.head.0.gamma", (dims[-1], 1, 1, 1), "norm")
    sd.conv("encoder.head.2", 2 * z, dims[-1], (3, 3, 3))
    sd.conv("conv1", 2 * z, 2 * z, (1, 1, 1))
    sd.conv("conv2", z, z, (1, 1, 1))
    dims = [dd * u for u in [mult[-1]] + mult[::-1]]
    tup = tdown[::-1]
    sd.conv("decoder.conv1", dims[0], z, (3, 3, 3))
    _vae_middle(sd, "decoder", dims[0], None)
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
        base = f"decoder.upsamples.{i}.upsamples"
        for j in range(nres + 1):
            _vae_resblock(sd, f"{base}.{j}", None, cin, cout)
            cin = cout
        if i != len(mult) - 1:
            mode = "upsample3d" if tup[i] else "upsample2d"
            _vae_resample(sd, f"{base}.{nres + 1}", None, cout, mode, False)
    sd.add("decoder.head.0.gamma", (dims[-1], 1, 1, 1), "norm")
    sd.conv("decoder.head.2", cin0, dims[-1], (3, 3, 3))
    _reorder_wan_vae(sd)
    return sd


def mmaudio_vae(cfg: dict) -> StateDict:
    """MMAudio VAE (ext/autoencoder/vae.py, v1-16.pth is its plain state dict): EDM2 MPConv1D
    weights only (no biases; weight norm applied at load), data_mean / data_std buffers first."""
    sd = StateDict("mmaudio_vae")
    c, mult, nres, k = cfg["hidden_dim"], cfg["ch_mult"], cfg["num_res_blocks"], cfg["kernel_size"]
    n = cfg["data_dim"]
    sd.add("data_mean", (1, n, 1), lambda _: torch.tensor(MEL_MEAN_80).view(1, n, 1))
    sd.add("data_std", (1, n, 1), lambda _: torch.tensor(MEL_STD_80).view(1, n, 1))

    def res(key, cin, cout, kk=3):  # ResnetBlock1D
        sd.add(f"{key}.conv1.weight", (cout, cin, kk))
        sd.add(f"{key}.conv2.weight", (cout, cout, kk))
        if cin != cout:
            sd.add(f"{key}.nin_shortcut.weight", (cout, cin, 1))

    def attn(key, ch):  # AttnBlock1D
        sd.add(f"{key}.qkv.weight", (3 * ch, ch, 1))
        sd.add(f"{key}.proj_out.weight", (ch, ch, 1))

    # Encoder1D
    sd.add("encoder.learnable_gain", (), "b")
    sd.add("encoder.conv_in.weight", (c, n, k))
    in_mult = [1] + mult
    for i in range(len(mult)):
        cin, cout = c * in_mult[i], c * mult[i]
        for j in range(nres):
            res(f"encoder.down.{i}.block.{j}", cin, cout, k)
            cin = cout
            if i in cfg["attn_layers"]:
                attn(f"encoder.down.{i}.attn.{j}", cout)
        if i in cfg["down_layers"]:
            sd.add(f"encoder.down.{i}.downsample.conv1.weight", (cout, cout, 1))
            sd.add(f"encoder.down.{i}.downsample.conv2.weight", (cout, cout, 1))
    top = c * mult[-1]
    res("encoder.mid.block_1", top, top, k)
    attn("encoder.mid.attn_1", top)
    res("encoder.mid.block_2", top, top, k)
    sd.add("encoder.conv_out.weight", (2 * cfg["embed_dim"], top, k))
    # Decoder1D: up[i] built from the top level down, stored in level order
    sd.add("decoder.learnable_gain", (), "b")
    sd.add("decoder.conv_in.weight", (top, cfg["embed_dim"], k))
    res("decoder.mid.block_1", top, top)
    attn("decoder.mid.attn_1", top)
    res("decoder.mid.block_2", top, top)
    levels, cin = {}, top
    for i in reversed(range(len(mult))):
        specs_before = len(sd.specs)
        cout = c * mult[i]
        for j in range(nres + 1):
            res(f"decoder.up.{i}.block.{j}", cin, cout)
            cin = cout
            if i in cfg["attn_layers"]:
                attn(f"decoder.up.{i}.attn.{j}", cout)
        if i in [x + 1 for x in cfg["down_layers"]]:
            sd.add(f"decoder.up.{i}.upsample.conv.weight", (cout, cout, 3))
        levels[i] = sd.specs[specs_before:]
        del sd.specs[specs_before:]
    for i in range(len(mult)):
        sd.specs.extend(levels[i])
    sd.add("decoder.conv_out.weight", (n, c * mult[0], k))
    return sd


def kaiser_sinc_lowpass(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """The anti-aliasing filter BigVGAN stores as a buffer: Kaiser-windowed sinc, unit sum."""
    half = kernel_size // 2
    delta_f = 4 * half_width
    att = 2.285 * (half - 1) * math.pi * delta_f + 7.95  # Kaiser attenuation estimate, dB
    beta = 0.1102 * (att - 8.7) if att > 50 else (
        0.5842 * (att - 21) ** 0.4 + 0.07886 * (att - 21) if att >= 21 else 0.0)
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta)
    t = torch.arange(-half, half) + 0.5 if kernel_size % 2 == 0 else torch.arange(kernel_size) - half
    f = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (f / f.sum()).view(1, 1, kernel_size)


def bigvgan(cfg: dict) -> StateDict:
    """BigVGAN v1 generator (mmaudio/ext/bigvgan/models.py BigVGANVocoder) with the legacy
    weight-norm parametrisation best_netG.pt was saved with: <conv>.bias, .weight_g, .weight_v.
    Anti-aliasing filters are persistent buffers, so they are in the checkpoint."""
    sd = StateDict("bigvgan")

    def wn_conv(key, cout, cin, kk, transposed=False):
        w_shape = (cin, cout, kk) if transposed else (cout, cin, kk)  # ConvTranspose1d: [in,out,k]
        sd.add(f"{key}.bias", (cout,), "b")
        # weight_norm(dim=0): g = ||v|| over all dims but 0, so that weight == weight_v
        sd.add(f"{key}.weight_g", (w_shape[0], 1, 1),
               lambda made, k=key: made[f"{k}.weight_v"].norm(dim=(1, 2), keepdim=True))
        sd.add(f"{key}.weight_v", w_shape)

    lowpass = lambda _: kaiser_sinc_lowpass(0.25, 0.3, 12)  # ratio 2, kernel 12

    def activation(key, ch):  # Activation1d(SnakeBeta(ch, log-scale)) with up/down filters
        sd.add(f"{key}.act.alpha", (ch,), "b")
        sd.add(f"{key}.act.beta", (ch,), "b")
        sd.add(f"{key}.upsample.filter", (1, 1, 12), lowpass)
        sd.add(f"{key}.downsample.lowpass.filter", (1, 1, 12), lowpass)

    c0 = cfg["upsample_initial_channel"]
    wn_conv("conv_pre", c0, cfg["num_mels"], 7)
    for i, (u, kk) in enumerate(zip(cfg["upsample_rates"], cfg["upsample_kernel_sizes"])):
        wn_conv(f"ups.{i}.0", c0 // 2 ** (i + 1), c0 // 2 ** i, kk, transposed=True)
    n = 0
    for i in range(len(cfg["upsample_rates"])):
        ch = c0 // 2 ** (i + 1)
        for kk, dil in zip(cfg["resblock_kernel_sizes"], cfg["resblock_dilation_sizes"]):
            for group in ("convs1", "convs2"):
                for m in range(len(dil)):
                    wn_conv(f"resblocks.{n}.{group}.{m}", ch, ch, kk)
            for m in range(2 * len(dil)):
                activation(f"resblocks.{n}.activations.{m}", ch)
            n += 1
    activation("activation_post", ch)
    wn_conv("conv_post", 1, ch, 7)
    return sd


# ---------------------------------------------------------------------------------------------
# Tokenizer: a tiny SentencePiece unigram model plus the google/umt5-xxl side files
# ---------------------------------------------------------------------------------------------

_SUBJECTS = ("a young woman|an old man|two children|a fisherman in a yellow raincoat|a golden retriever|"
             "a street musician|a chef in a white apron|a small robot|a ballet dancer|a tabby cat|a news anchor|"
             "a group of friends|a tired nurse|a farmer|a teenage skateboarder|an astronaut|a grandmother|"
             "a jazz trio|a police officer|a barista|a violinist|a mountain climber|a lifeguard|a baker|"
             "a scientist in a lab coat|a bride and groom|a taxi driver|a puppet|a parrot|a horse").split("|")
_ACTIONS = ("walks slowly along|sings softly beside|laughs loudly near|runs across|sits quietly on|"
            "plays guitar by|cooks dinner in|waves at the camera from|looks out over|dances on|"
            "whispers a secret in|reads a letter at|pours coffee in|paints a mural on|repairs a bicycle outside|"
            "argues with a friend in|feeds pigeons in|rides a bicycle through|drums on buckets at|"
            "tells a story in").split("|")
_PLACES = ("a rainy city street|a sunny beach at sunset|a crowded night market|a quiet library|"
           "a neon-lit stage|a snowy mountain village|a cozy wooden kitchen|a misty forest path|"
           "an empty parking lot|a busy train station|a desert highway|a small fishing boat|a rooftop garden|"
           "a candle-lit restaurant|a school classroom|a hospital corridor|an old cathedral|a windy harbor|"
           "a football stadium|a recording studio").split("|")
_MOODS = "calm|tense|joyful|melancholic|dreamy|chaotic|romantic|mysterious|playful|solemn|nostalgic|energetic".split("|")
_TIMES = ("at dawn|in the afternoon|late at night|during a storm|on a foggy morning|in early spring|"
          "in the middle of winter|just before sunset").split("|")
_COLORS = "red|orange|amber|green|teal|blue|violet|purple|pink|silver|white|black|brown|grey|crimson|turquoise".split("|")
_OBJECTS = ("umbrella|scarf|lantern|backpack|microphone|teacup|bicycle|camera|notebook|violin|suitcase|kite|"
            "hat|jacket|candle|mirror").split("|")
_CAMERA = ("The camera slowly pushes in.|The shot is handheld and shaky.|Warm golden light fills the frame.|"
           "The scene is shot in black and white.|Soft focus blurs the background.|"
           "A drone shot reveals the whole area.|Cinematic lighting with deep shadows.|"
           "The colors are bright and saturated.").split("|")
_SPEECH = ("I never thought we would make it here.|Can you hear the music tonight?|We fight back with courage.|"
           "This is the best coffee in town!|Please, listen to me carefully.|Tomorrow everything will change.|"
           "Look at the stars, they are beautiful.|Hold on, I am almost there.|Thank you for coming, everyone.|"
           "Where did you put the keys?").split("|")
_SOUNDS = ("Gentle rain, distant thunder, soft male voice.|Electric guitar riffs, cheering crowd, shouted voices.|"
           "Birds chirping, wind in the trees, footsteps on gravel.|Sizzling pan, clinking plates, calm female voice.|"
           "Waves crashing, seagulls, children laughing.|Traffic noise, car horns, a busy city ambience.|"
           "Piano melody, quiet room tone, a whisper.|Crackling fire, wind howling, creaking wood.").split("|")


def caption_corpus(n: int = 600) -> list:
    """Generated captions in the prompt style Ovi uses (<S>speech<E>, <AUDCAP>...<ENDAUDCAP>, Audio:)."""
    rng = random.Random(1234)
    out = []
    for i in range(n):
        s = (f"{rng.choice(_SUBJECTS).capitalize()} holding a {rng.choice(_COLORS)} {rng.choice(_OBJECTS)} "
             f"{rng.choice(_ACTIONS)} {rng.choice(_PLACES)} {rng.choice(_TIMES)}. "
             f"The mood is {rng.choice(_MOODS)}. {rng.choice(_CAMERA)}")
        if i % 3 == 0:
            s += f" They say <S>{rng.choice(_SPEECH)}<E>."
        if i % 4 == 0:
            s += f" <AUDCAP>{rng.choice(_SOUNDS)}<ENDAUDCAP>"
        elif i % 4 == 1:
            s += f" Audio: {rng.choice(_SOUNDS)}"
        out.append(s)
    return out


def train_spiece() -> bytes:
    """Unigram SentencePiece model with umT5's special ids: <pad>=0, </s>=1, <s>=2, <unk>=3."""
    import sentencepiece as spm
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(caption_corpus()), model_writer=buf, model_type="unigram",
        vocab_size=SPM_VOCAB, pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>",
        eos_piece="</s>", bos_piece="<s>", unk_piece="<unk>", character_coverage=1.0,
        normalization_rule_name="nmt_nfkc", num_threads=1, minloglevel=2)
    return buf.getvalue()


def _protobuf_fields(buf: bytes):
    """Minimal protobuf wire-format reader: yields (field number, wire type, value)."""
    i = 0

    def varint():
        nonlocal i
        shift = result = 0
        while True:
            byte = buf[i]
            i += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while i < len(buf):
        tag = varint()
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            yield field, wire, varint()
        elif wire == 1:
            yield field, wire, buf[i:i + 8]
            i += 8
        elif wire == 2:
            n = varint()
            yield field, wire, buf[i:i + n]
            i += n
        elif wire == 5:
            yield field, wire, buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"protobuf wire type {wire}")


def spiece_charsmap(model: bytes) -> bytes:
    """ModelProto.normalizer_spec (3).precompiled_charsmap (2)."""
    for field, _, value in _protobuf_fields(model):
        if field == 3:
            for f2, _, v2 in _protobuf_fields(value):
                if f2 == 2:
                    return bytes(v2)
    return b""


def _added(content):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": True}


def tokenizer_files(model: bytes) -> dict:
    """The four files of google/umt5-xxl (as in Wan-AI repos and the diffusers tokenizer/)."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_proto=model)
    n = sp.get_piece_size()
    specials = ["<pad>", "</s>", "<s>", "<unk>"]
    assert [sp.id_to_piece(i) for i in range(4)] == specials
    extra = {n + i: f"<extra_id_{EXTRA_IDS - 1 - i}>" for i in range(EXTRA_IDS)}  # <extra_id_0> last
    decoder = {str(i): _added(t) for i, t in enumerate(specials)}
    decoder.update({str(i): _added(t) for i, t in extra.items()})
    # Field set and formatting of the real tokenizer_config.json (T5Tokenizer, extra_ids 300):
    # with the real vocabulary this reproduces its 61,728 bytes exactly.
    config = {
        "added_tokens_decoder": decoder,
        "additional_special_tokens": [f"<extra_id_{i}>" for i in range(EXTRA_IDS)],
        "bos_token": "<s>", "clean_up_tokenization_spaces": True, "eos_token": "</s>",
        "extra_ids": EXTRA_IDS, "model_max_length": 1000000000000000019884624838656,
        "pad_token": "<pad>", "sp_model_kwargs": {}, "spaces_between_special_tokens": False,
        "tokenizer_class": "T5Tokenizer", "unk_token": "<unk>",
    }
    special_map = {"additional_special_tokens": [f"<extra_id_{i}>" for i in range(EXTRA_IDS)],
                   "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    # tokenizer.json as transformers' T5 converter writes it: Unigram over the pieces plus the
    # extra ids, nmt_nfkc charsmap + space squeeze, Metaspace, "$A </s>" post-processor.
    vocab = [[sp.id_to_piece(i), 0.0 if i < 4 else sp.get_score(i)] for i in range(n)]
    vocab += [[t, 0.0] for t in extra.values()]
    added = [dict(id=i, **{k: v for k, v in _added(t).items()}) for i, t in enumerate(specials)]
    added += [dict(id=i, **_added(t)) for i, t in extra.items()]
    for a in added:  # field order of tokenizers' AddedToken serialisation
        a_sorted = {k: a[k] for k in ("id", "content", "single_word", "lstrip", "rstrip", "normalized", "special")}
        a.clear()
        a.update(a_sorted)
    fast = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled",
             "precompiled_charsmap": base64.b64encode(spiece_charsmap(model)).decode()},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
        "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab},
    }
    return {
        "special_tokens_map.json": (json.dumps(special_map, indent=2) + "\n").encode(),
        "spiece.model": model,
        "tokenizer.json": json.dumps(fast, indent=2, ensure_ascii=False).encode(),
        "tokenizer_config.json": (json.dumps(config, indent=2) + "\n").encode(),
    }


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------

class Folder:
    """Writes files under one model folder and keeps the totals for the summary line."""

    def __init__(self, root: Path):
        self.root = root
        self.params = 0
        root.mkdir(parents=True, exist_ok=True)

    def path(self, rel: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def bytes(self, rel: str, data: bytes):
        self.path(rel).write_bytes(data)
        self.done(rel)

    def done(self, rel: str):
        (self.root / rel).chmod(0o644)  # safetensors creates 0600 files

    def json(self, rel: str, obj, sort_keys=True):
        # diffusers / transformers / huggingface_hub write json.dumps(indent=2, sort_keys=True) + "\n"
        self.bytes(rel, (json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n").encode())

    def torch(self, rel: str, obj, count):
        torch.save(obj, self.path(rel))
        self.done(rel)
        self.params += params(count)

    def safetensors(self, rel: str, sd: OrderedDict):
        save_file(dict(sd), str(self.path(rel)), metadata={"format": "pt"})
        self.done(rel)
        self.params += params(sd)

    def sharded(self, stem: str, sd: OrderedDict, shards: int):
        """HF sharding: consecutive runs of the state dict, '<stem>-0000i-of-0000n.safetensors' +
        '<stem>.safetensors.index.json' {"metadata": {"total_size"}, "weight_map"}; stem may name a
        subfolder ('high_noise_model/diffusion_pytorch_model')."""
        for old in self.root.glob(f"{stem}-*-of-*.safetensors"):
            old.unlink()
        nbytes = {k: t.numel() * t.element_size() for k, t in sd.items()}
        total = sum(nbytes.values())
        groups, acc = [[] for _ in range(shards)], 0
        for k in sd:
            groups[min(shards - 1, acc * shards // total)].append(k)
            acc += nbytes[k]
        weight_map = {}
        for i, keys in enumerate(groups):
            name = f"{stem}-{i + 1:05d}-of-{shards:05d}.safetensors"
            self.safetensors(name, OrderedDict((k, sd[k]) for k in keys))
            weight_map.update({k: Path(name).name for k in keys})  # relative to the index
        self.json(f"{stem}.safetensors.index.json",
                  {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})

    def tokenizer(self, rel_dir: str, files: dict):
        for name, data in files.items():
            self.bytes(f"{rel_dir}/{name}", data)

    def summary(self, label: str) -> str:
        size = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        return f"{label}: {self.params:,} params, {size:,} bytes in {self.root}"


def wan_config_json(dit: dict, version: str) -> dict:
    """The fields of the real Wan original config.json (a diffusers ConfigMixin save of WanModel).
    There is no text_dim: WanModel lists it in ignore_for_config, so the real files never carry
    it (it is 4096 there); read it from text_embedding.0.weight ([dim, text_dim])."""
    keys = ("dim", "eps", "ffn_dim", "freq_dim", "in_dim", "model_type", "num_heads", "num_layers",
            "out_dim", "text_len")
    return {"_class_name": "WanModel", "_diffusers_version": version, **{k: dit[k] for k in keys}}


def write_ovi(out: Path, tok: dict) -> Folder:
    """Ovi checkpoint folder as download_weights.py lays it out."""
    f = Folder(out)
    wan = "Wan2.2-TI2V-5B"
    t5 = wan_t5(T5).build(dtype=torch.bfloat16, bf16_exact=True)
    f.torch(f"{wan}/models_t5_umt5-xxl-enc-bf16.pth", t5, t5)
    vae = wan22_vae(WAN22_VAE).build()
    f.torch(f"{wan}/Wan2.2_VAE.pth", vae, vae)
    f.tokenizer(f"{wan}/google/umt5-xxl", tok)
    mm = "MMAudio/ext_weights"
    a = mmaudio_vae(MMAUDIO_VAE).build()
    f.torch(f"{mm}/v1-16.pth", a, a)
    g = bigvgan(BIGVGAN).build()
    f.torch(f"{mm}/best_netG.pt", {"generator": g}, g)
    f.safetensors("Ovi/model.safetensors",
                  ovi_fusion(OVI_VIDEO, OVI_AUDIO).build(dtype=torch.bfloat16, bf16_exact=True))
    return f


def write_wan21(out: Path, tok: dict) -> Folder:
    """Wan-AI/Wan2.1-T2V-1.3B: DiT and VAE fp32, T5 bf16."""
    f = Folder(out)
    f.json("config.json", wan_config_json(WAN21_DIT, "0.30.0"))
    f.safetensors("diffusion_pytorch_model.safetensors", wan_dit(WAN21_DIT, "wan2.1_dit").build())
    vae = wan21_vae(WAN21_VAE).build()
    f.torch("Wan2.1_VAE.pth", vae, vae)
    t5 = wan_t5(T5).build(dtype=torch.bfloat16, bf16_exact=True)
    f.torch("models_t5_umt5-xxl-enc-bf16.pth", t5, t5)
    f.tokenizer("google/umt5-xxl", tok)
    return f


def write_wan22_ti2v(out: Path, tok: dict) -> Folder:
    """Wan-AI/Wan2.2-TI2V-5B: the DiT is fp32 in three shards (like the real repo) + index."""
    f = Folder(out)
    f.json("config.json", wan_config_json(WAN22_DIT, "0.33.0"))
    f.sharded("diffusion_pytorch_model", wan_dit(WAN22_DIT, "wan2.2_dit").build(), shards=3)
    vae = wan22_vae(WAN22_VAE).build()
    f.torch("Wan2.2_VAE.pth", vae, vae)
    t5 = wan_t5(T5).build(dtype=torch.bfloat16, bf16_exact=True)
    f.torch("models_t5_umt5-xxl-enc-bf16.pth", t5, t5)
    f.tokenizer("google/umt5-xxl", tok)
    return f


def write_wan22_a14b(out: Path, tok: dict) -> Folder:
    """Wan-AI/Wan2.2-T2V-A14B: two t2v experts of the Wan2.1 DiT shape (in_dim 16), each fp32 in
    six shards + index under high_noise_model/ and low_noise_model/ (random weights of their own:
    distinct seed names), the Wan2.1 VAE, T5 and tokenizer (the wan21 tensors)."""
    f = Folder(out)
    for sub in ("high_noise_model", "low_noise_model"):
        f.json(f"{sub}/config.json", wan_config_json(WAN21_DIT, "0.33.0"))
        sd = wan_dit(WAN21_DIT, f"wan2.2_a14b_{sub}").build()
        f.sharded(f"{sub}/diffusion_pytorch_model", sd, shards=6)
    vae = wan21_vae(WAN21_VAE).build()
    f.torch("Wan2.1_VAE.pth", vae, vae)
    t5 = wan_t5(T5).build(dtype=torch.bfloat16, bf16_exact=True)
    f.torch("models_t5_umt5-xxl-enc-bf16.pth", t5, t5)
    f.tokenizer("google/umt5-xxl", tok)
    return f


def write_wan_diffusers(out: Path, tok: dict) -> Folder:
    """Wan-AI/Wan2.1-T2V-1.3B-Diffusers: the wan21 tensors under diffusers/transformers names."""
    f = Folder(out)
    v = "0.33.0.dev0"
    f.json("model_index.json", {
        "_class_name": "WanPipeline", "_diffusers_version": v,
        "scheduler": ["diffusers", "UniPCMultistepScheduler"],
        "text_encoder": ["transformers", "UMT5EncoderModel"],
        "tokenizer": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "WanTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLWan"]})
    dit = WAN21_DIT
    f.json("transformer/config.json", {
        "_class_name": "WanTransformer3DModel", "_diffusers_version": v, "added_kv_proj_dim": None,
        "attention_head_dim": dit["dim"] // dit["num_heads"], "cross_attn_norm": True, "eps": 1e-06,
        "ffn_dim": dit["ffn_dim"], "freq_dim": dit["freq_dim"], "image_dim": None,
        "in_channels": dit["in_dim"], "num_attention_heads": dit["num_heads"],
        "num_layers": dit["num_layers"], "out_channels": dit["out_dim"],
        "patch_size": dit["patch_size"], "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 1024,
        "text_dim": dit["text_dim"]})
    f.safetensors("transformer/diffusion_pytorch_model.safetensors",
                  wan_dit(dit, "wan2.1_dit").build(use_alias=True))
    vae = WAN21_VAE
    f.json("vae/config.json", {
        "_class_name": "AutoencoderKLWan", "_diffusers_version": v, "attn_scales": vae["attn_scales"],
        "base_dim": vae["dim"], "dim_mult": vae["dim_mult"], "dropout": 0.0,
        "latents_mean": WAN21_LATENTS_MEAN, "latents_std": WAN21_LATENTS_STD,
        "num_res_blocks": vae["num_res_blocks"], "temperal_downsample": vae["temperal_downsample"],
        "z_dim": vae["z_dim"]})
    f.safetensors("vae/diffusion_pytorch_model.safetensors", wan21_vae(vae).build(use_alias=True))
    t5 = T5
    f.json("text_encoder/config.json", {
        "_name_or_path": "google/umt5-xxl", "architectures": ["UMT5EncoderModel"],
        "classifier_dropout": 0.0, "d_ff": t5["dim_ffn"], "d_kv": t5["dim_attn"] // t5["num_heads"],
        "d_model": t5["dim"], "decoder_start_token_id": 0, "dense_act_fn": "gelu_new",
        "dropout_rate": 0.1, "eos_token_id": 1, "feed_forward_proj": "gated-gelu",
        "initializer_factor": 1.0, "is_encoder_decoder": True, "is_gated_act": True,
        "layer_norm_epsilon": 1e-06, "model_type": "umt5", "num_decoder_layers": t5["num_layers"],
        "num_heads": t5["num_heads"], "num_layers": t5["num_layers"], "output_past": True,
        "pad_token_id": 0, "relative_attention_max_distance": 128,
        "relative_attention_num_buckets": t5["num_buckets"], "scalable_attention": True,
        "tie_word_embeddings": False, "tokenizer_class": "T5Tokenizer", "torch_dtype": "float32",
        "transformers_version": "4.49.0.dev0", "use_cache": True, "vocab_size": t5["vocab_size"]})
    f.safetensors("text_encoder/model.safetensors", wan_t5(t5).build(bf16_exact=True, use_alias=True))
    f.tokenizer("tokenizer", tok)
    f.json("scheduler/scheduler_config.json", {
        "_class_name": "UniPCMultistepScheduler", "_diffusers_version": v, "beta_end": 0.02,
        "beta_schedule": "linear", "beta_start": 0.0001, "disable_corrector": [],
        "dynamic_thresholding_ratio": 0.995, "final_sigmas_type": "zero", "flow_shift": 3.0,
        "lower_order_final": True, "num_train_timesteps": 1000, "predict_x0": True,
        "prediction_type": "flow_prediction", "rescale_betas_zero_snr": False, "sample_max_value": 1.0,
        "solver_order": 2, "solver_p": None, "solver_type": "bh2", "steps_offset": 0,
        "thresholding": False, "timestep_spacing": "linspace", "trained_betas": None,
        "use_beta_sigmas": False, "use_exponential_sigmas": False, "use_flow_sigmas": True,
        "use_karras_sigmas": False})
    return f


# What the package's fusion model makes (duet's OviSpec): clip length in latents, the pixel area
# sizes snap to, and the audio-caption format of its prompts. 121 frames with 157 audio latents
# is Ovi's 5 s clip; 128x128 keeps a CPU run to seconds.
DUET_TINY_SPEC = {"name": "duet-tiny", "width": 128, "height": 128, "video_latent_frames": 31,
                  "audio_latents": 157, "fps": 24, "caption": "audcap"}


def duet_manifest() -> dict:
    video = {k: v for k, v in OVI_VIDEO.items()}
    audio = {k: v for k, v in OVI_AUDIO.items()}
    return {
        "format": "duet-package", "format_version": 1, "name": "duet-tiny", "family": "ovi",
        "description": ("Random-weight placeholder in the Ovi architecture (video + audio Wan towers "
                        "fused in every block, Wan2.2 VAE, MMAudio 16 kHz VAE, BigVGAN, umT5 encoder); "
                        "tiny widths, for tests. Outputs noise."),
        "license": "Apache-2.0",
        "components": {
            "fusion": {"file": "fusion.safetensors", "layout": "ovi",
                       "config": {"video": video, "audio": audio, "spec": DUET_TINY_SPEC}},
            "video_vae": {"file": "video_vae.safetensors", "layout": "wan_vae22",
                          "config": dict(WAN22_VAE, stride=[4, 16, 16])},
            "audio_vae": {"file": "audio_vae.safetensors", "layout": "mmaudio_vae",
                          "config": dict(MMAUDIO_VAE, mel=MEL_16K)},
            "vocoder": {"file": "vocoder.safetensors", "layout": "bigvgan", "config": dict(BIGVGAN)},
            "text_encoder": {"file": "text_encoder.safetensors", "layout": "wan_t5", "config": dict(T5)},
            "tokenizer": {"file": "tokenizer.model", "layout": "sentencepiece",
                          "config": {"vocab_size": SPM_VOCAB, "extra_ids": EXTRA_IDS, "pad_id": 0,
                                     "eos_id": 1, "bos_id": 2, "unk_id": 3}},
        },
    }


DUET_TINY_COMMAND = ".venv/bin/python tools/make_tiny_model.py --layout duet-package --out /tmp/duet-package"


def write_duet_package(out: Path, tok: dict) -> Folder:
    """duet's own package: one safetensors per component, the original keys of that component
    (BigVGAN without the 'generator.' wrapper), values identical to the Ovi folder's."""
    f = Folder(out)
    f.json("duet.json", duet_manifest(), sort_keys=False)
    f.safetensors("fusion.safetensors",
                  ovi_fusion(OVI_VIDEO, OVI_AUDIO).build(dtype=torch.bfloat16, bf16_exact=True))
    f.safetensors("video_vae.safetensors", wan22_vae(WAN22_VAE).build())
    f.safetensors("audio_vae.safetensors", mmaudio_vae(MMAUDIO_VAE).build())
    f.safetensors("vocoder.safetensors", bigvgan(BIGVGAN).build())
    f.safetensors("text_encoder.safetensors", wan_t5(T5).build(dtype=torch.bfloat16, bf16_exact=True))
    f.bytes("tokenizer.model", tok["spiece.model"])
    f.bytes("README.md", duet_readme().encode())
    return f


def duet_readme() -> str:
    return f"""# duet-package (random weights)

A random-weight model in duet's own package format and the Ovi architecture (text to video with
synchronized audio: a Wan video tower and a Wan audio tower fused in every block, the Wan2.2
video VAE, the MMAudio 16 kHz audio VAE, a BigVGAN vocoder and a umT5 text encoder), at tiny
widths, for tests of the package loader and the pipeline. Its weights are random: it generates
noise. The embedded model models/duet-tiny has the same format with trained weights (written by
tools/train).

Generated, deterministically, from the repository root by

    {DUET_TINY_COMMAND}

Each component is a safetensors file with the same tensor keys as the original checkpoint of
that component (the BigVGAN generator without its "generator" wrapper) and in the original's
dtype: bf16 for the fusion model and the text encoder, fp32 for the VAEs and the vocoder.
`duet.json` names the files and gives each component's hyperparameters. The widths are tiny
(transformer dim 128 = one 128-wide head, 2 fused blocks, text encoder dim 64); the structure,
file keys and tensor layouts are those of the real Ovi checkpoint.

Licence: Apache-2.0 (see the repository's LICENSE). No trained weights are included.
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--layout", choices=LAYOUTS)
    group.add_argument("--all", action="store_true", help="write every layout into OUT/<layout>")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)

    tok = tokenizer_files(train_spiece())
    jobs = LAYOUTS if args.all else (args.layout,)
    for layout in jobs:
        out = args.out / layout if args.all else args.out
        folder = {
            "ovi": lambda: write_ovi(out, tok),
            "wan21": lambda: write_wan21(out, tok),
            "wan22-ti2v": lambda: write_wan22_ti2v(out, tok),
            "wan22-a14b": lambda: write_wan22_a14b(out, tok),
            "wan-diffusers": lambda: write_wan_diffusers(out, tok),
            "duet-package": lambda: write_duet_package(out, tok),
        }[layout]()
        print(folder.summary(layout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
