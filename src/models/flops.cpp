#include "models/flops.h"

#include "core/error.h"

namespace duet {
namespace {

// 2·m·n·k: one [m, k] x [k, n] matmul.
double mm(double m, double n, double k) { return 2.0 * m * n * k; }

// Text MLP (text_dim -> D -> D over text_len slots) and time MLP (freq -> D -> D -> 6D, one row).
double text_time_flops(int64_t text_len, int64_t text_dim, int64_t dim, int64_t freq_dim) {
  const double text = mm(text_len, dim, text_dim) + mm(text_len, dim, dim);
  const double time = mm(1, dim, freq_dim) + mm(1, dim, dim) + mm(1, 6 * dim, dim);
  return text + time;
}

// The part of a block every Wan-style block shares: self-attention, text cross-attention, FFN.
double shared_block_flops(double d, double f, double l, double lk, double t) {
  const double self_attn = 4 * mm(l, d, d) + mm(l, lk, d) + mm(l, d, lk);
  const double cross_attn = 2 * mm(l, d, d) + 2 * mm(t, d, d) + mm(l, t, d) + mm(l, d, t);
  const double ffn = mm(l, f, d) + mm(l, d, f);
  return self_attn + cross_attn + ffn;
}

// An Ovi tower's block: the shared part plus fusion k/v over the other tower's `lt` tokens and
// the attention over them.
double ovi_block_flops(const ovi::OviTowerConfig& c, int64_t l, int64_t lt) {
  const double d = static_cast<double>(c.dim);
  return shared_block_flops(d, c.ffn_dim, l, l, c.text_len) + 2 * mm(lt, d, d) + mm(l, lt, d) +
         mm(l, d, lt);
}

double ovi_embed_flops(const ovi::OviTowerConfig& c, int64_t l) {
  double patch = 0;
  if (c.is_audio()) {
    const double h = static_cast<double>(c.conv_mlp_dim());
    patch = mm(l, c.dim, c.in_dim * 7.0) + 3 * mm(l, h, c.dim * 7.0);  // conv, then w1, w3, w2
  } else {
    patch = mm(l, c.dim, static_cast<double>(c.in_dim) * c.patch_volume());
  }
  return patch + text_time_flops(c.text_len, c.text_dim, c.dim, c.freq_dim);
}

double ovi_head_flops(const ovi::OviTowerConfig& c, int64_t l) {
  return mm(l, static_cast<double>(c.patch_volume()) * c.out_dim, c.dim);
}

}  // namespace

double wan_block_flops(int64_t dim, int64_t ffn_dim, int64_t tokens, int64_t keys,
                       int64_t text_len) {
  return shared_block_flops(dim, ffn_dim, tokens, keys, text_len);
}

ModelFlops wan_dit_flops(const wan::WanDiTConfig& c, int64_t tokens, int64_t seq_len) {
  DUET_CHECK(tokens > 0 && seq_len >= tokens, "flops: {} tokens padded to {}", tokens, seq_len);
  ModelFlops f;
  f.num_blocks = c.num_layers;
  // The blocks run over the padded sequence (queries and keys): Wan pads x to seq_len.
  f.per_block = wan_block_flops(c.dim, c.ffn_dim, seq_len, seq_len, c.text_len);
  f.blocks = f.per_block * static_cast<double>(c.num_layers);
  const int64_t text_dim = c.text_dim > 0 ? c.text_dim : 4096;
  f.embeddings = mm(tokens, c.dim, static_cast<double>(c.in_dim) * c.patch_volume()) +
                 text_time_flops(c.text_len, text_dim, c.dim, c.freq_dim);
  f.head = mm(seq_len, static_cast<double>(c.patch_volume()) * c.out_dim, c.dim);
  return f;
}

double ovi_fused_block_flops(const ovi::OviFusionConfig& c, int64_t video_tokens,
                             int64_t audio_tokens) {
  return ovi_block_flops(c.video, video_tokens, audio_tokens) +
         ovi_block_flops(c.audio, audio_tokens, video_tokens);
}

ModelFlops ovi_fusion_flops(const ovi::OviFusionConfig& c, int64_t video_tokens,
                            int64_t audio_tokens, int64_t skipped_blocks) {
  DUET_CHECK(video_tokens > 0 && audio_tokens > 0, "flops: {} video / {} audio tokens",
             video_tokens, audio_tokens);
  DUET_CHECK(skipped_blocks >= 0 && skipped_blocks <= c.video.num_layers,
             "flops: {} of {} blocks skipped", skipped_blocks, c.video.num_layers);
  ModelFlops f;
  f.num_blocks = c.video.num_layers - skipped_blocks;
  f.per_block = ovi_fused_block_flops(c, video_tokens, audio_tokens);
  f.blocks = f.per_block * static_cast<double>(f.num_blocks);
  f.embeddings = ovi_embed_flops(c.video, video_tokens) + ovi_embed_flops(c.audio, audio_tokens);
  f.head = ovi_head_flops(c.video, video_tokens) + ovi_head_flops(c.audio, audio_tokens);
  return f;
}

}  // namespace duet
