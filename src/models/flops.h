#pragma once
// Forward FLOPs of the denoisers from their configs and token counts, for `duet bench`'s
// achieved TFLOP/s and for sizing runs. Every matmul counts 2·m·n·k (a multiply and an add),
// the convention of published DiT figures (Wan, Ovi, the PaLM/Chinchilla 6N rule is its
// training form).
//
// Counted, per forward of one sample (B = 1; scale by the batch):
//   self-attention   q, k, v, o projections (4 · 2·L·D²), QKᵀ and PV (2 · 2·L·Lk·D, Lk = the
//                    padded sequence length: dense kernels compute masked keys too)
//   cross-attention  q and o over the stream (2 · 2·L·D²), k and v over all text_len text
//                    slots (2 · 2·T·D²; Wan pads the text to 512 and attends over every slot,
//                    no key mask), QKᵀ and PV over them (2 · 2·L·T·D)
//   Ovi fusion       k_fusion / v_fusion on the other tower's stream (2 · 2·Lt·D²) and the
//                    attention of this tower's queries over it (2 · 2·L·Lt·D); q and o are
//                    shared with the text cross-attention and counted there
//   FFN              two linears (2 · 2·L·D·F)
//   embeddings       patch embedding (Conv3d as a matmul: 2·L·D·C·pt·ph·pw; Ovi audio: Conv1d
//                    k7 20→D, then the SwiGLU ConvMLP w1, w3, w2, each 2·L·D·H·7), the text
//                    MLP (2·T·(text_dim·D + D²)), the time MLP (2·(freq·D + D² + 6·D²) per
//                    timestep row)
//   head             2·L·D·(pt·ph·pw·out_dim)
// Not counted: layer/RMS norms, RoPE, softmax, modulation, GELU/SiLU, residual adds, CFG and the
// scheduler. They are elementwise, O(L·D) or O(L·Lk·H) against the O(L·D²) and O(L·Lk·D) terms
// above: at D ≥ 1536 they are well under 1 % of a block (e.g. softmax ≈ 5·L·Lk·H against
// 4·L·Lk·D, with D/H = 128: ~1 %; a norm ≈ 5·L·D against 8·L·D²: 0.03 %).
#include <cstdint>

#include "models/ovi/ovi_config.h"
#include "models/wan/wan_dit.h"

namespace duet {

// One Wan DiT block over `tokens` queries, `keys` self-attention keys (the padded seq_len) and
// `text_len` text slots.
double wan_block_flops(int64_t dim, int64_t ffn_dim, int64_t tokens, int64_t keys,
                       int64_t text_len);

// Parts of a whole-model count, so the sum can be checked and printed.
struct ModelFlops {
  double blocks = 0;      // all blocks
  double per_block = 0;   // one block (Ovi: both towers of one fused block)
  double embeddings = 0;  // patch, text, time embeddings
  double head = 0;
  int64_t num_blocks = 0;
  double total() const { return blocks + embeddings + head; }
};

// One Wan DiT forward: `tokens` video tokens (after patching), padded to `seq_len` keys
// (>= tokens), text padded to config.text_len.
ModelFlops wan_dit_flops(const wan::WanDiTConfig& config, int64_t tokens, int64_t seq_len);

// One fused Ovi block: the video tower's block over `video_tokens` (fusion keys: the audio
// stream) and the audio tower's over `audio_tokens` (fusion keys: the video stream).
double ovi_fused_block_flops(const ovi::OviFusionConfig& config, int64_t video_tokens,
                             int64_t audio_tokens);

// One Ovi fusion forward (both towers); `skip_block` blocks skipped (skip-layer guidance: 1).
ModelFlops ovi_fusion_flops(const ovi::OviFusionConfig& config, int64_t video_tokens,
                            int64_t audio_tokens, int64_t skipped_blocks = 0);

}  // namespace duet
