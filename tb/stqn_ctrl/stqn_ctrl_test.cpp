// stqn_ctrl alone, with C++ models of its program memory, of the datapath's busy flags and of
// the logit registers: random descriptors (valid ones and single-field mutations, fused pools and
// int8 stems included) get the error code of the library's descriptor_check and, when valid, start the
// datapath with the derived fields of descriptor_derive; argmax with ties; run and
// per-descriptor cycle counts; with CHECK_AHEAD, the next descriptor checked while a layer runs
// (the running layer's fields held still, a failed check raised after the running layer).
#include STQN_TB_HEADER

#include "stqn/accel/program.hpp"
#include "stqn_tb/harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using Dut = STQN_TB_MODEL;
namespace accel = stqn::accel;
using accel::Descriptor;
using accel::ErrorCode;
using accel::Opcode;

accel::Config point_config() {
  accel::Config c;
  c.name = STQN_TB_POINT;
  c.lanes = STQN_P_LANES, c.rows = STQN_P_ROWS, c.cols = STQN_P_COLS;
  c.acc_w = STQN_P_ACC_W, c.nth = STQN_P_NTH;
  c.act_bank_depth = STQN_P_ACT_BANK_DEPTH, c.wgt_depth = STQN_P_WGT_DEPTH;
  c.thr_depth = STQN_P_THR_DEPTH, c.prog_depth = accel::kDefaultProgDepth;
  c.line_depth = STQN_P_LINE_DEPTH;
  return c;
}

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};
  accel::Config config = point_config();
  std::vector<std::uint32_t> program = std::vector<std::uint32_t>(config.prog_depth, 0);
  std::vector<std::int32_t> logits = std::vector<std::int32_t>(64, 0);
  std::vector<std::uint32_t> step_ends = std::vector<std::uint32_t>(config.prog_depth / 8, 0);
  int busy_left = 0;              // cycles the started datapath stays busy
  int busy_lo = 3, busy_hi = 40;  // how long a layer keeps it busy (drawn per layer)
  std::uint32_t prog_word = 0, logit_word = 0;  // registered read data
  // cycles: from the start of the run; idle_gap: from the previous layer's end (busy falling).
  struct Launch { Descriptor fields; accel::Derived derived; long cycles = 0, idle_gap = 0; };
  long cycle_count = 0, run_start = 0, layer_end = 0, error_cycle = -1;
  std::vector<Launch> launches;
  int cfg_changes = 0;  // cycles where the datapath's fields moved while it was busy

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

  void SetUp() override {
    h->start_i = 0;
    h->program_len_i = 0;
    h->core_busy_i = 0;
    h.reset();
  }

  // Every field the controller drives into the datapath, which must hold still while it is busy.
  std::vector<std::uint32_t> cfg_now() {
    return {h->cfg_in_h_o, h->cfg_in_w_o, h->cfg_out_h_o, h->cfg_out_w_o, h->cfg_pix_words_o,
            h->cfg_row_words_o, h->cfg_row_off_o, h->cfg_col_off_o, h->cfg_kernel_o, h->cfg_pad_o,
            h->cfg_chunks_o, h->cfg_ogroups_o, h->cfg_wplanes_o, h->cfg_aplanes_o,
            h->cfg_out_planes_o, h->cfg_out_ternary_o, h->cfg_out_signed_o, h->cfg_act_min_o,
            h->cfg_levels_o, h->cfg_thr_words_o, h->cfg_thr_base_o, h->cfg_in_base_o,
            h->cfg_out_base_o, h->cfg_w_base_o, h->cfg_logits_o, h->cfg_pool_o, h->cfg_int8_o};
  }
  std::vector<std::uint32_t> cfg_held;

  // One cycle of the models around the controller.
  void cycle() {
    h->prog_rd_data_i = prog_word;
    h->logit_rd_data_i = static_cast<std::uint32_t>(logit_word);
    h->core_busy_i = busy_left > 0;
    h.settle();
    if (h->prog_rd_en_o) prog_word = program.at(h->prog_rd_addr_o);
    logit_word = static_cast<std::uint32_t>(logits.at(h->logit_rd_addr_o));
    if (h->step_cyc_wr_en_o) step_ends.at(h->step_cyc_wr_addr_o) = h->step_cyc_wr_data_o;
    if (busy_left > 0 && cfg_now() != cfg_held) ++cfg_changes;
    if (busy_left > 0 && --busy_left == 0) layer_end = cycle_count + 1;
    ++cycle_count;
    if (h->core_start_o) {
      Launch l;
      Descriptor& f = l.fields;
      f.in_h = h->cfg_in_h_o, f.in_w = h->cfg_in_w_o, f.out_h = h->cfg_out_h_o, f.out_w = h->cfg_out_w_o;
      f.kernel = h->cfg_kernel_o, f.pad = h->cfg_pad_o, f.wplanes = h->cfg_wplanes_o, f.aplanes = h->cfg_aplanes_o;
      f.out_planes = h->cfg_out_planes_o, f.out_ternary = h->cfg_out_ternary_o, f.out_signed = h->cfg_out_signed_o;
      f.levels = h->cfg_levels_o, f.in_base = h->cfg_in_base_o, f.out_base = h->cfg_out_base_o;
      f.w_base = h->cfg_w_base_o, f.thr_base = h->cfg_thr_base_o;
      f.act_min = static_cast<int>(stqn_tb::sign_extend(h->cfg_act_min_o, 9));
      f.pool = static_cast<accel::Pool>(h->cfg_pool_o);
      f.op = h->cfg_logits_o ? Opcode::Logits : Opcode::Conv;
      f.int8 = h->cfg_int8_o;
      accel::Derived& r = l.derived;
      r.chunks = h->cfg_chunks_o, r.ogroups = h->cfg_ogroups_o, r.thr_words = h->cfg_thr_words_o;
      r.pix_words = h->cfg_pix_words_o, r.row_words = h->cfg_row_words_o;
      r.row_off = h->cfg_row_off_o, r.col_off = h->cfg_col_off_o;
      l.cycles = cycle_count - run_start;
      l.idle_gap = cycle_count - layer_end;
      launches.push_back(l);
      busy_left = pick(busy_lo, busy_hi);
      cfg_held = cfg_now();
    }
    h.tick();
    if (h->error_o && error_cycle < 0) error_cycle = cycle_count;  // raised at this edge
  }

  // One descriptor with the error code written from docs/registers.md: the C++ check and the
  // controller both give it, and only an accepted descriptor launches the datapath.
  struct BoundaryCase { const char* name; Descriptor d; ErrorCode want; };
  void expect_one(const BoundaryCase& c) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(accel::descriptor_check(c.d, config), c.want);
    run({c.d});
    EXPECT_EQ(h->error_code_o, static_cast<unsigned>(c.want));
    EXPECT_EQ(launches.size(), c.want == ErrorCode::None ? 1u : 0u);
  }

  // Runs `descs` as a program; returns after busy falls (or fails after a bound).
  void run(const std::vector<Descriptor>& descs, int length = -1) {
    for (std::size_t i = 0; i < descs.size(); ++i) {
      const auto w = descs[i].encode();
      std::copy(w.begin(), w.end(), program.begin() + 8 * i);
    }
    launches.clear();
    h->program_len_i = length < 0 ? static_cast<int>(descs.size()) : length;
    run_start = layer_end = cycle_count;
    error_cycle = -1;
    cfg_changes = 0;
    h->start_i = 1;
    cycle();
    h->start_i = 0;
    for (int n = 0; n < 100000 && h->busy_o; ++n) cycle();
    ASSERT_EQ(h->busy_o, 0) << "the controller hangs";
    EXPECT_FALSE(h.assertion_failed());
    EXPECT_EQ(cfg_changes, 0) << "the datapath's fields moved while a layer ran";
  }

  // The fields a launch drove against the descriptor and descriptor_derive.
  void expect_launched(const Descriptor& d, const Launch& l) {
    const accel::Derived want = accel::descriptor_derive(d, config);
    const std::uint32_t amask = static_cast<std::uint32_t>(config.act_bank_depth - 1);
    EXPECT_EQ(l.fields.in_h, d.in_h);
    EXPECT_EQ(l.fields.in_w, d.in_w);
    EXPECT_EQ(l.fields.out_h, d.out_h);
    EXPECT_EQ(l.fields.out_w, d.out_w);
    EXPECT_EQ(l.fields.kernel, d.kernel);
    EXPECT_EQ(l.fields.aplanes, d.aplanes);
    EXPECT_EQ(l.fields.out_planes, d.out_planes);
    EXPECT_EQ(l.fields.in_base, d.in_base);
    if (d.op != Opcode::Logits) {  // logits write no codes: out_base is not used
      EXPECT_EQ(l.fields.out_base, d.out_base);
    }
    EXPECT_EQ(l.derived.chunks, want.chunks);
    EXPECT_EQ(l.fields.op, d.op);
    EXPECT_EQ(l.fields.int8, d.int8);
    EXPECT_EQ(l.fields.pad, d.pad);
    EXPECT_EQ(l.fields.wplanes, d.wplanes);
    EXPECT_EQ(l.fields.w_base, d.w_base);
    EXPECT_EQ(l.fields.thr_base, d.thr_base);
    EXPECT_EQ(l.derived.ogroups, want.ogroups);
    EXPECT_EQ(l.derived.thr_words, want.thr_words);
    EXPECT_EQ(l.derived.pix_words, want.pix_words);
    EXPECT_EQ(l.derived.row_words, want.row_words);
    EXPECT_EQ(l.derived.row_off, want.row_off & amask);
    EXPECT_EQ(l.derived.col_off, want.col_off & amask);
    if (d.op == Opcode::Conv) {
      EXPECT_EQ(l.fields.levels, d.levels);
      EXPECT_EQ(l.fields.act_min, d.act_min);
      EXPECT_EQ(l.fields.out_ternary, d.out_ternary);
      EXPECT_EQ(l.fields.out_signed, d.out_signed);
      EXPECT_EQ(l.fields.pool, d.pool);
    }
  }

  // The step-cycle memory holds the number of each descriptor's last cycle, from 0 at the run's
  // first (docs/registers.md): descriptor i took step_ends[i] - step_ends[i - 1] cycles, descriptor
  // 0 step_ends[0] + 1. Returns the sum of the first n counts, each checked positive.
  std::int64_t step_counts_sum(std::size_t n) {
    std::int64_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t before = i == 0 ? -1 : std::int64_t{step_ends[i - 1]};
      EXPECT_GT(std::int64_t{step_ends[i]}, before) << "descriptor " << i << " took no cycles";
      sum += std::int64_t{step_ends[i]} - before;
    }
    return sum;
  }

  // A random descriptor that passes descriptor_check (conv with or without a fused pool, an int8
  // stem, logits).
  Descriptor valid_descriptor() {
    for (;;) {
      Descriptor d;
      d.op = static_cast<Opcode>(pick(1, 2));
      // Int8 stem mode: one channel of packed uint8 rows, one weight plane; taller images so that
      // the packed region and the padding rows above it span several word rows.
      const bool int8 = d.op == Opcode::Conv && pick(0, 3) == 0;
      d.aplanes = pick(1, 8);
      d.in_c = pick(1, 3 * config.lanes);
      d.in_h = pick(1, 12), d.in_w = pick(1, 12);
      d.in_base = pick(0, 20);
      d.wplanes = pick(1, 3);
      d.kernel = pick(1, 5);
      d.pad = pick(0, d.kernel - 1);
      d.stride = 1;
      d.out_h = d.in_h + 2 * d.pad - d.kernel + 1, d.out_w = d.in_w + 2 * d.pad - d.kernel + 1;
      d.out_c = pick(1, 3 * config.lanes);
      d.w_base = pick(0, 50), d.thr_base = pick(0, 20);
      if (d.op == Opcode::Logits) {
        d.out_c = pick(1, 64);
        d.kernel = d.in_h, d.in_w = d.in_h, d.pad = 0, d.out_h = d.out_w = 1, d.levels = 1;
      } else {
        d.out_planes = pick(1, 4);
        d.out_ternary = d.out_planes == 1 && pick(0, 1);
        d.out_signed = !d.out_ternary && pick(0, 1);
        d.levels = d.out_ternary ? 2 : (1 << d.out_planes) - 1;
        d.act_min = d.out_ternary ? -1 : (d.out_signed ? -(1 << (d.out_planes - 1)) : 0);
        // Pooling fused into the write-back: a 2 x 2 max-pool, or sums as int:P planes.
        d.pool = static_cast<accel::Pool>(pick(0, 2));
        if (d.pool == accel::Pool::Sum) {
          d.out_planes = pick(2, accel::kMaxSumPoolPlanes);
          d.out_ternary = false, d.out_signed = true;
        }
      }
      if (int8) {
        d.int8 = true;
        d.in_c = 1, d.aplanes = 1, d.wplanes = 1;
        d.in_h = pick(1, 40);
        d.out_h = d.in_h + 2 * d.pad - d.kernel + 1;
      }
      const accel::Derived r = accel::descriptor_derive(d, config);
      d.out_base = static_cast<int>(d.in_base + r.in_words + pick(0, 8));
      if (accel::descriptor_check(d, config) == ErrorCode::None) return d;
    }
  }

  // One field of a valid descriptor changed at random (often making it invalid).
  Descriptor mutated(Descriptor d) {
    switch (pick(0, 20)) {
      case 14:  // an 11x11 kernel over 8 x 8 planes: only the accumulator bound is out of range
        d.aplanes = d.wplanes = 8;
        d.in_h = d.in_w = d.kernel = 11, d.pad = 0, d.out_h = d.out_w = 1;
        d.in_c = config.lanes, d.out_c = config.rows, d.out_planes = 1, d.levels = 2;
        d.out_ternary = true, d.out_signed = false, d.act_min = -1, d.pool = accel::Pool::None;
        d.out_base = config.act_bank_depth - 1;
        break;
      case 0: d.op = static_cast<Opcode>(pick(0, 15)); break;
      case 1: d.reserved = 1u << (pick(0, 1) ? pick(0, 10) : pick(16, 31)); break;
      case 2: d.in_c = pick(0, 70000) & 0xffff; break;
      case 3: d.in_h = pick(0, 3000); break;
      case 4: d.out_w = pick(0, 20); break;
      case 5: d.kernel = pick(0, 9); break;
      case 6: d.pad = pick(0, 6); break;
      case 7: d.stride = pick(0, 3); break;
      case 8: d.aplanes = pick(0, 15); d.wplanes = pick(0, 15); break;
      case 9: d.in_base = pick(0, config.act_bank_depth + 10); break;
      case 10: d.out_base = pick(0, config.act_bank_depth + 10); break;
      case 11: d.w_base = pick(0, config.wgt_depth + 10); break;
      case 12: d.thr_base = pick(0, config.thr_depth + 10); break;
      case 15: d.pool = static_cast<accel::Pool>(pick(0, 3)); break;
      case 16: d.out_planes = pick(1, 15); break;
      case 17: d.out_base = d.in_base + pick(0, 2); break;  // an output over the input
      case 18: d.int8 = !d.int8; break;  // the mode on any descriptor, or off on a stem
      case 19:  // an int8 stem whose packed region ends within a word row of the banks' end
        d.int8 = true, d.op = Opcode::Conv, d.in_c = 1, d.aplanes = 1, d.wplanes = 1;
        d.in_base = std::max(0, config.act_bank_depth -
                                    static_cast<int>(accel::descriptor_derive(d, config).in_words) - pick(-2, 2));
        break;
      case 20: d.out_c = pick(0, 1) ? pick(0, 70000) & 0xffff : pick(0, 80); break;
      default: d.levels = pick(0, 255); d.out_planes = pick(0, 15); d.act_min = pick(-300, 300); break;
    }
    return d;
  }
};

TEST_F(Fixture, ErrorCodesMatchTheLibraryCheck) {
  int counts[8] = {};
  for (int n = 0; n < 400; ++n) {
    const Descriptor d = n % 4 == 0 ? valid_descriptor() : mutated(valid_descriptor());
    const ErrorCode want = accel::descriptor_check(d, config);
    ++counts[static_cast<int>(want)];
    run({d});
    SCOPED_TRACE(testing::Message() << "descriptor " << n << " words " << std::hex << d.encode()[0]);
    EXPECT_EQ(h->error_code_o, static_cast<unsigned>(want));
    EXPECT_EQ(h->error_o, want != ErrorCode::None);
    EXPECT_EQ(h->done_o, want == ErrorCode::None);
    EXPECT_EQ(launches.size(), want == ErrorCode::None ? 1u : 0u) << "a refused descriptor started nothing";
    if (HasFailure()) return;
  }
  for (int code = 1; code <= 5; ++code) EXPECT_GT(counts[code], 0) << "error code " << code << " never drawn";
}

TEST_F(Fixture, ValidDescriptorsDriveTheirDerivedFields) {
  std::vector<Descriptor> descs;
  for (int n = 0; n < 40; ++n) descs.push_back(valid_descriptor());
  run(descs);
  ASSERT_EQ(h->done_o, 1);
  ASSERT_EQ(launches.size(), descs.size());
  for (std::size_t i = 0; i < descs.size(); ++i) {
    SCOPED_TRACE(i);
    expect_launched(descs[i], launches[i]);
  }
  EXPECT_EQ(step_counts_sum(descs.size()), std::int64_t{h->cycles_o})
      << "the per-descriptor counts add up to CYCLES (docs/registers.md)";
}

// Layers longer than a check (600-800 cycles): with CHECK_AHEAD the next descriptor is fetched and
// checked while a layer runs and starts in the cycle after the layer (and its argmax) ends; without,
// its fetch and check follow the layer. Either way the running layer's fields hold still, and the
// counts add up to CYCLES.
TEST_F(Fixture, NextDescriptorIsCheckedWhileALayerRuns) {
  busy_lo = 600, busy_hi = 800;
  for (int n = 0; n < 4; ++n) {
    std::vector<Descriptor> descs;
    for (int i = 0; i < 6; ++i) descs.push_back(valid_descriptor());
    run(descs);
    ASSERT_EQ(h->done_o, 1);
    ASSERT_EQ(launches.size(), descs.size());
    for (std::size_t i = 0; i < descs.size(); ++i) {
      SCOPED_TRACE(i);
      expect_launched(descs[i], launches[i]);
      if (i == 0) continue;
      // After a logits layer the argmax reads out_c logits (two cycles more for the pipeline).
      const long argmax = descs[i - 1].op == Opcode::Logits ? descs[i - 1].out_c + 2 : 0;
      if (STQN_P_CHECK_AHEAD) EXPECT_LE(launches[i].idle_gap, argmax + 3);
      else EXPECT_GT(launches[i].idle_gap, argmax + 200);
    }
    EXPECT_EQ(step_counts_sum(descs.size()), std::int64_t{h->cycles_o});
    if (HasFailure()) return;
  }
}

// A descriptor that fails its check while the layer before it runs: that layer ends (its count is
// written), then the error is raised at the failing descriptor's index, which starts nothing and
// writes no count (docs/registers.md).
TEST_F(Fixture, FailedCheckWaitsForTheRunningLayer) {
  busy_lo = 600, busy_hi = 800;
  constexpr std::uint32_t kStale = 0xdeadbeef;
  for (int n = 0; n < 20; ++n) {
    Descriptor bad;
    do {
      bad = mutated(valid_descriptor());
    } while (accel::descriptor_check(bad, config) == ErrorCode::None);
    const std::vector<Descriptor> descs = {valid_descriptor(), valid_descriptor(), bad, valid_descriptor()};
    std::fill(step_ends.begin(), step_ends.end(), kStale);
    run(descs);
    SCOPED_TRACE(testing::Message() << "case " << n << " w0 " << std::hex << bad.encode()[0]);
    EXPECT_EQ(h->error_o, 1);
    EXPECT_EQ(h->done_o, 0);
    EXPECT_EQ(h->error_code_o, static_cast<unsigned>(accel::descriptor_check(bad, config)));
    EXPECT_EQ(h->error_pc_o, 2u);
    ASSERT_EQ(launches.size(), 2u) << "the failing descriptor and the one after it start nothing";
    EXPECT_GE(error_cycle, layer_end) << "the error waits for the running layer";
    EXPECT_NE(step_ends[0], kStale);
    EXPECT_NE(step_ends[1], kStale);
    EXPECT_EQ(step_ends[2], kStale);
    EXPECT_EQ(step_ends[3], kStale);
    // With CHECK_AHEAD the error comes in the last cycle of layer 1; without, after descriptor 2's
    // fetch and check.
    if (STQN_P_CHECK_AHEAD) EXPECT_EQ(step_counts_sum(2), std::int64_t{h->cycles_o});
    else EXPECT_GT(std::int64_t{h->cycles_o}, step_counts_sum(2));
    if (HasFailure()) return;
  }
}

// The fused pools' own checks at their boundaries: line-buffer words (max-pool: 4 pixel groups x
// G channel groups against LINE_DEPTH) and the sum bound (an 8 x 8 map of ternary codes sums to
// at most 64: int8 holds it, int7 does not; codes of magnitude 2 at either end of their range).
TEST_F(Fixture, FusedPoolLimitsAreCheckedAtTheirBoundaries) {
  auto conv = [&](accel::Pool pool, int size, int out_c, int out_planes) {
    Descriptor d;
    d.op = Opcode::Conv, d.pool = pool;
    d.in_c = 1, d.out_c = out_c, d.in_h = d.in_w = d.out_h = d.out_w = size;
    d.kernel = 1, d.pad = 0, d.stride = 1, d.aplanes = 1, d.wplanes = 1;
    d.levels = 2, d.act_min = -1;  // ternary codes
    d.out_planes = out_planes;
    d.out_ternary = pool != accel::Pool::Sum, d.out_signed = true;
    d.out_base = static_cast<int>(accel::descriptor_derive(d, config).in_words);
    return d;
  };
  const int groups = config.line_depth / 4;  // 4 pixel groups per row
  const BoundaryCase cases[] = {
      {"max-pool line buffer full", conv(accel::Pool::Max2, 4 * config.cols, groups * config.rows, 1), ErrorCode::None},
      {"max-pool line buffer + 1 group", conv(accel::Pool::Max2, 4 * config.cols, (groups + 1) * config.rows, 1),
       ErrorCode::Region},
      {"sums of 64 codes as int8", conv(accel::Pool::Sum, 8, config.rows, 8), ErrorCode::None},
      {"sums of 64 codes as int7", conv(accel::Pool::Sum, 8, config.rows, 7), ErrorCode::Accumulator},
      {"max-pool of a 1-pixel-high map", conv(accel::Pool::Max2, 1, config.rows, 1), ErrorCode::Shape},
  };
  for (const BoundaryCase& c : cases) expect_one(c);
  // The largest |code| from either end of the range (the check engine takes max(act_min + levels,
  // 0) and max(-act_min, 0) separately): codes -2..-1 and 1..2 sum to at most 128 over 8 x 8.
  auto codes = [&](int act_min, int planes) {
    Descriptor d = conv(accel::Pool::Sum, 8, config.rows, planes);
    d.act_min = act_min, d.levels = 1;
    return d;
  };
  const BoundaryCase ends[] = {
      {"sums of codes down to -2 as int9", codes(-2, 9), ErrorCode::None},
      {"sums of codes down to -2 as int8", codes(-2, 8), ErrorCode::Accumulator},
      {"sums of codes up to 2 as int9", codes(1, 9), ErrorCode::None},
      {"sums of codes up to 2 as int8", codes(1, 8), ErrorCode::Accumulator},
  };
  for (const BoundaryCase& c : ends) expect_one(c);
}

// The output channel count at its limits (docs/registers.md): none is a shape error; a conv's
// output-channel groups ceil(out_c / ROWS) fit 10 bits, so 1,023 groups pass the shape check (and
// then need more threshold words than any configuration holds) and one channel more does not; a
// logits layer has at most 64 classes.
TEST_F(Fixture, OutputChannelLimitsAreCheckedAtTheirBoundaries) {
  auto layer = [&](Opcode op, int out_c) {
    Descriptor d;
    d.op = op, d.pool = accel::Pool::None;
    d.in_c = 1, d.out_c = out_c, d.in_h = d.in_w = d.out_h = d.out_w = 1;
    d.kernel = 1, d.pad = 0, d.stride = 1, d.aplanes = 1, d.wplanes = 1;
    d.levels = 2, d.act_min = -1, d.out_planes = 1, d.out_ternary = true, d.out_signed = true;
    d.out_base = 1;  // after the one-word input
    return d;
  };
  ASSERT_LT(config.thr_depth, 1023 * config.rows);
  const BoundaryCase cases[] = {
      {"no output channels", layer(Opcode::Conv, 0), ErrorCode::Shape},
      {"1,023 output-channel groups", layer(Opcode::Conv, 1023 * config.rows), ErrorCode::Region},
      {"1,024 output-channel groups", layer(Opcode::Conv, 1023 * config.rows + 1), ErrorCode::Shape},
      {"64 classes", layer(Opcode::Logits, 64), ErrorCode::None},
      {"65 classes", layer(Opcode::Logits, 65), ErrorCode::Shape},
      {"no classes", layer(Opcode::Logits, 0), ErrorCode::Shape},
  };
  for (const BoundaryCase& c : cases) expect_one(c);
}

// The int8 stem mode's own checks at their boundaries, with the expected values written from
// docs/registers.md: the accumulator bound K^2 * 128 * 255 < 2^(ACC_W-1) - 1 (K = 16 fits 24
// bits, K = 17 does not), the packed input region ceil(in_h / R) * ceil(in_w / COLS) words
// (R = 2 rows per word, one per half word; 1 if LANES = 4) ending at the banks' end or one word beyond, and the fields the
// mode needs (a conv on one channel, one input and one weight plane).
TEST_F(Fixture, Int8StemLimitsAreCheckedAtTheirBoundaries) {
  const int rows_per_word = accel::pack_rows(config.lanes);
  ASSERT_GE(rows_per_word, 1);
  auto stem = [&](int kernel, int in_h) {
    Descriptor d;
    d.op = Opcode::Conv, d.int8 = true;
    d.in_c = 1, d.out_c = 2 * config.rows, d.in_h = in_h, d.in_w = 3 * config.cols + 1;
    d.kernel = kernel, d.pad = kernel / 2, d.stride = 1, d.aplanes = 1, d.wplanes = 1;
    d.out_h = d.in_h + 2 * d.pad - kernel + 1, d.out_w = d.in_w + 2 * d.pad - kernel + 1;
    d.levels = 2, d.act_min = -1, d.out_planes = 1, d.out_ternary = true;
    d.in_base = 0, d.out_base = config.act_bank_depth / 2;
    return d;
  };
  const int words = (2 * rows_per_word + 1 + rows_per_word - 1) / rows_per_word * 4;  // in_w = 3 COLS + 1
  ASSERT_EQ(static_cast<int>(accel::descriptor_derive(stem(3, 2 * rows_per_word + 1), config).in_words), words);
  std::vector<BoundaryCase> cases = {
      {"16x16 kernel: bound 8,355,840", stem(16, 20), ErrorCode::None},
      {"17x17 kernel: bound 9,432,960", stem(17, 20), ErrorCode::Accumulator},
  };
  Descriptor at_end = stem(3, 2 * rows_per_word + 1);
  at_end.in_base = config.act_bank_depth - words;
  at_end.out_base = at_end.in_base - 2 * 4 * (2 * rows_per_word + 1);  // below, clear of the input
  cases.push_back({"packed input ends at the banks' end", at_end, ErrorCode::None});
  Descriptor beyond = at_end;
  beyond.in_base += 1;
  cases.push_back({"packed input one word beyond", beyond, ErrorCode::Region});
  Descriptor overlap = stem(3, 2 * rows_per_word + 1);
  overlap.out_base = words - 1;  // the output starts on the packed input's last word
  cases.push_back({"output over the packed input", overlap, ErrorCode::Overlap});
  Descriptor two_channels = stem(3, 8);
  two_channels.in_c = 2;
  cases.push_back({"two input channels", two_channels, ErrorCode::Shape});
  Descriptor planes = stem(3, 8);
  planes.aplanes = 2;
  cases.push_back({"two input planes", planes, ErrorCode::Shape});
  planes = stem(3, 8);
  planes.wplanes = 2;
  cases.push_back({"two weight planes", planes, ErrorCode::Shape});
  Descriptor logits = stem(3, 3);
  logits.op = Opcode::Logits, logits.pad = 0, logits.in_w = 3, logits.out_h = logits.out_w = 1;
  logits.levels = 1;
  cases.push_back({"logits", logits, ErrorCode::Shape});
  for (const BoundaryCase& c : cases) expect_one(c);
}

// The fetch and check of one descriptor (start to the datapath's start) take a bounded number of
// cycles: docs/architecture.md section 7 quotes the range printed here.
TEST_F(Fixture, CheckCyclesAreBounded) {
  constexpr long kMaxCheckCycles = 500;
  long lo = kMaxCheckCycles, hi = 0;
  for (int n = 0; n < 200; ++n) {
    run({valid_descriptor()});
    ASSERT_EQ(launches.size(), 1u);
    lo = std::min(lo, launches[0].cycles);
    hi = std::max(hi, launches[0].cycles);
  }
  std::printf("[ cycles   ] descriptor fetch and check: %ld .. %ld cycles\n", lo, hi);
  EXPECT_LE(hi, kMaxCheckCycles);
}

TEST_F(Fixture, ArgmaxTakesTheFirstLargestLogit) {
  for (int n = 0; n < 30; ++n) {
    Descriptor d;
    do {
      d = valid_descriptor();
    } while (d.op != Opcode::Logits);
    for (int o = 0; o < 64; ++o) logits[o] = pick(-4, 4) * (n % 3 == 0 ? 1 : 1000003);  // ties
    if (n % 5 == 0) logits[pick(0, d.out_c - 1)] = INT32_MAX;
    if (n % 7 == 0) for (auto& v : logits) v = INT32_MIN;
    run({d});
    ASSERT_EQ(h->done_o, 1);
    int best = 0;
    for (int o = 1; o < d.out_c; ++o) if (logits[o] > logits[best]) best = o;
    EXPECT_EQ(static_cast<int>(h->class_o), best) << "classes " << d.out_c;
  }
}

TEST_F(Fixture, ProgramLengthIsChecked) {
  const Descriptor d = valid_descriptor();
  for (int len : {0, config.prog_depth / 8 + 1, 0xffff}) {
    run({d}, len);
    EXPECT_EQ(h->error_o, 1);
    EXPECT_EQ(h->error_code_o, static_cast<unsigned>(ErrorCode::ProgramLength));
    EXPECT_TRUE(launches.empty());
  }
  run({d, d, d}, 3);
  EXPECT_EQ(h->done_o, 1);
  EXPECT_EQ(h->error_o, 0) << "a valid start clears the error";
  EXPECT_EQ(launches.size(), 3u);
}

}  // namespace
