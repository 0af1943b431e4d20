// FLOP counts of models/flops.h against counts written out term by term, and against the
// structure of the whole-model sums (blocks x block + embeddings + head).
#include "models/flops.h"

#include <gtest/gtest.h>

namespace duet {
namespace {

// A small Wan block: D 64, FFN 128, 10 query tokens, 12 keys (padded), 6 text slots.
TEST(Flops, WanBlockMatchesHandCount) {
  const double D = 64, F = 128, L = 10, Lk = 12, T = 6;
  // Self-attention: q, k, v, o over the L rows of the stream; the scores over Lk keys.
  const double q = 2 * L * D * D, k = 2 * L * D * D, v = 2 * L * D * D, o = 2 * L * D * D;
  const double self_proj = q + k + v + o;
  const double self_qk = 2 * L * Lk * D, self_pv = 2 * L * Lk * D;
  const double cross_q = 2 * L * D * D, cross_o = 2 * L * D * D;
  const double cross_k = 2 * T * D * D, cross_v = 2 * T * D * D;
  const double cross_qk = 2 * L * T * D, cross_pv = 2 * L * T * D;
  const double ffn0 = 2 * L * D * F, ffn2 = 2 * L * F * D;
  const double hand = self_proj + self_qk + self_pv + cross_q + cross_o + cross_k + cross_v +
                      cross_qk + cross_pv + ffn0 + ffn2;
  EXPECT_DOUBLE_EQ(wan_block_flops(64, 128, 10, 12, 6), hand);
  // 4 projections of 10 x 64 x 64, attention 10 x 12, cross 10 x 6 over 6 text rows, FFN.
  EXPECT_DOUBLE_EQ(hand, 327680 + 30720 + 163840 + 98304 + 15360 + 327680);
}

ovi::OviFusionConfig small_ovi() {
  ovi::OviFusionConfig c = ovi::OviFusionConfig::ovi_defaults();
  for (auto* t : {&c.video, &c.audio}) {
    t->dim = 64;
    t->ffn_dim = 128;
    t->num_heads = 2;
    t->num_layers = 3;
    t->text_len = 6;
    t->text_dim = 32;
    t->freq_dim = 16;
  }
  c.audio.patch_embedding_mlp_dim = 96;
  return c;
}

TEST(Flops, OviFusedBlockMatchesHandCount) {
  const double D = 64, F = 128, T = 6, Lv = 10, La = 4;
  auto tower = [&](double L, double Lt) {
    const double self = 4 * (2 * L * D * D) + 2 * (2 * L * L * D);
    const double text = 2 * (2 * L * D * D) + 2 * (2 * T * D * D) + 2 * (2 * L * T * D);
    const double fusion_kv = 2 * (2 * Lt * D * D);  // k_fusion, v_fusion on the other stream
    const double fusion_attn = 2 * (2 * L * Lt * D);
    const double ffn = 2 * (2 * L * D * F);
    return self + text + fusion_kv + fusion_attn + ffn;
  };
  const double hand = tower(Lv, La) + tower(La, Lv);
  EXPECT_DOUBLE_EQ(ovi_fused_block_flops(small_ovi(), 10, 4), hand);
}

TEST(Flops, OviTotalIsBlocksPlusEmbeddingsPlusHead) {
  const auto c = small_ovi();
  const double D = 64, Lv = 10, La = 4, T = 6;
  const ModelFlops f = ovi_fusion_flops(c, 10, 4);
  EXPECT_EQ(f.num_blocks, 3);
  EXPECT_DOUBLE_EQ(f.blocks, 3 * ovi_fused_block_flops(c, 10, 4));
  // Video: Conv3d 48 -> D over 1x2x2 patches; audio: Conv1d k7 20 -> D, SwiGLU ConvMLP (96).
  const double text_time = 2 * T * 32 * D + 2 * T * D * D + 2 * 16 * D + 2 * D * D + 2 * 6 * D * D;
  const double video_embed = 2 * Lv * D * (48 * 4) + text_time;
  const double audio_embed = 2 * La * D * (20 * 7) + 3 * (2 * La * 96 * D * 7) + text_time;
  EXPECT_DOUBLE_EQ(f.embeddings, video_embed + audio_embed);
  EXPECT_DOUBLE_EQ(f.head, 2 * Lv * D * (4 * 48) + 2 * La * D * 20);
  EXPECT_DOUBLE_EQ(f.total(), f.blocks + f.embeddings + f.head);
  // Skip-layer guidance drops one whole fused block.
  const ModelFlops skipped = ovi_fusion_flops(c, 10, 4, 1);
  EXPECT_DOUBLE_EQ(f.total() - skipped.total(), f.per_block);
}

wan::WanDiTConfig wan21_1_3b() {
  wan::WanDiTConfig c;
  c.dim = 1536;
  c.ffn_dim = 8960;
  c.num_heads = 12;
  c.num_layers = 30;
  return c;
}

TEST(Flops, WanTotalIsBlocksPlusEmbeddingsPlusHead) {
  wan::WanDiTConfig c = wan21_1_3b();
  c.num_layers = 2;
  const ModelFlops f = wan_dit_flops(c, 100, 128);
  EXPECT_DOUBLE_EQ(f.per_block, wan_block_flops(1536, 8960, 128, 128, 512));
  EXPECT_DOUBLE_EQ(f.blocks, 2 * f.per_block);
  const double embed = 2.0 * 100 * 1536 * (16 * 4) + 2.0 * 512 * 4096 * 1536 +
                       2.0 * 512 * 1536 * 1536 + 2.0 * 256 * 1536 + 2.0 * 1536 * 1536 +
                       2.0 * 1536 * 6 * 1536;
  EXPECT_DOUBLE_EQ(f.embeddings, embed);
  EXPECT_DOUBLE_EQ(f.head, 2.0 * 128 * 1536 * 64);
  EXPECT_DOUBLE_EQ(f.total(), f.blocks + f.embeddings + f.head);
}

// Wan2.1-T2V-1.3B at 832x480, 81 frames: 21 x 30 x 52 = 32760 tokens. Per block ~9.4 TFLOP
// (self-attention scores 6.6 T, FFN 1.8 T, projections 0.9 T, cross-attention 0.4 T), ~283
// TFLOP per forward, ~566 TFLOP per CFG step, ~28 PFLOP for 50 steps: the order of the
// published figures for this model (a 480p 81-frame clip takes ~4 min on one RTX 4090,
// ~165 TFLOP/s dense bf16 peak with fp32 accumulation: 28 PFLOP / 240 s = 118 TFLOP/s,
// ~70 % of peak, plausible for a flash-attention-bound run; a count off by 2x would not be).
TEST(Flops, Wan21_1_3BAt480pHasTheExpectedOrder) {
  const wan::WanDiTConfig c = wan21_1_3b();
  const int64_t tokens = 21 * 30 * 52;
  ASSERT_EQ(tokens, 32760);
  const ModelFlops f = wan_dit_flops(c, tokens, tokens);
  EXPECT_NEAR(f.per_block / 1e12, 9.43, 0.01);
  EXPECT_NEAR(f.total() / 1e12, 283.0, 1.0);
  EXPECT_LT((f.embeddings + f.head) / f.total(), 0.001);
  // Blocks scale linearly with the block count, the rest does not change.
  wan::WanDiTConfig half = c;
  half.num_layers = 15;
  const ModelFlops h = wan_dit_flops(half, tokens, tokens);
  EXPECT_DOUBLE_EQ(f.blocks, 2 * h.blocks);
  EXPECT_DOUBLE_EQ(f.embeddings + f.head, h.embeddings + h.head);
  // Attention grows with L^2: doubling the frames more than doubles a block.
  EXPECT_GT(wan_block_flops(1536, 8960, 2 * tokens, 2 * tokens, 512), 2.5 * f.per_block);
}

}  // namespace
}  // namespace duet
