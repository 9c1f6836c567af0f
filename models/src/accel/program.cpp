// The layer-program compiler (see stqn/accel/program.hpp and docs/registers.md).
#include "stqn/accel/program.hpp"
#include "stqn/accel/regs.hpp"

#include "stqn/error.hpp"
#include "stqn/fileio.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>

namespace stqn::accel {

using format::ActKind;
using format::Op;
using format::WeightKind;

// ---- Descriptor words -----------------------------------------------------------------------------
// w0: [3:0] op, [7:4] aplanes, [11:8] wplanes, [15:12] out_planes, [16] out_ternary,
//     [17] out_signed, [19:18] fused pool, [20] int8 stem mode, [31:21] reserved (0)
// w1: [15:0] in_c, [31:16] out_c        w2: [15:0] in_h, [31:16] in_w
// w3: [15:0] out_h, [31:16] out_w       w4: [7:0] kernel, [15:8] pad, [23:16] stride, [31:24] levels
// w5: [15:0] in_base, [31:16] out_base  w6: [15:0] w_base, [31:16] thr_base
// w7: [15:0] act_min (two's complement), [31:16] reserved (0)
namespace {
Word pack16(int lo, int hi) {
  return (static_cast<Word>(lo) & 0xffffu) | ((static_cast<Word>(hi) & 0xffffu) << 16);
}
int lo16(Word w) { return static_cast<int>(w & 0xffffu); }
int hi16(Word w) { return static_cast<int>(w >> 16); }
}  // namespace

std::vector<Word> Descriptor::encode() const {
  std::vector<Word> w(kDescriptorWords, 0);
  w[0] = (static_cast<Word>(op) & 0xfu) | (Word(aplanes & 0xf) << 4) | (Word(wplanes & 0xf) << 8) |
         (Word(out_planes & 0xf) << 12) | (Word(out_ternary) << 16) | (Word(out_signed) << 17) |
         ((static_cast<Word>(pool) & 0x3u) << 18) | (Word(int8) << 20) | ((reserved & 0x7ffu) << 21);
  w[1] = pack16(in_c, out_c);
  w[2] = pack16(in_h, in_w);
  w[3] = pack16(out_h, out_w);
  w[4] = Word(kernel & 0xff) | (Word(pad & 0xff) << 8) | (Word(stride & 0xff) << 16) |
         (Word(levels & 0xff) << 24);
  w[5] = pack16(in_base, out_base);
  w[6] = pack16(w_base, thr_base);
  w[7] = (static_cast<Word>(act_min) & 0xffffu) | (reserved & 0xffff0000u);
  return w;
}

Descriptor Descriptor::decode(const Word* w) {
  Descriptor d;
  d.op = static_cast<Opcode>(w[0] & 0xfu);
  d.aplanes = (w[0] >> 4) & 0xf;
  d.wplanes = (w[0] >> 8) & 0xf;
  d.out_planes = (w[0] >> 12) & 0xf;
  d.out_ternary = (w[0] >> 16) & 1;
  d.out_signed = (w[0] >> 17) & 1;
  d.pool = static_cast<Pool>((w[0] >> 18) & 0x3u);
  d.int8 = (w[0] >> 20) & 1;
  d.reserved = (w[0] >> 21) | (w[7] & 0xffff0000u);
  d.in_c = lo16(w[1]), d.out_c = hi16(w[1]);
  d.in_h = lo16(w[2]), d.in_w = hi16(w[2]);
  d.out_h = lo16(w[3]), d.out_w = hi16(w[3]);
  d.kernel = w[4] & 0xff, d.pad = (w[4] >> 8) & 0xff, d.stride = (w[4] >> 16) & 0xff;
  d.levels = (w[4] >> 24) & 0xff;
  d.in_base = lo16(w[5]), d.out_base = hi16(w[5]);
  d.w_base = lo16(w[6]), d.thr_base = hi16(w[6]);
  d.act_min = static_cast<std::int16_t>(w[7] & 0xffffu);
  return d;
}

Derived descriptor_derive(const Descriptor& d, const Config& c) {
  auto ceil_div = [](std::int64_t a, std::int64_t b) { return static_cast<int>((a + b - 1) / b); };
  Derived r;
  r.chunks = ceil_div(d.in_c, c.lanes);
  r.out_chunks = ceil_div(d.out_c, c.lanes);
  r.ogroups = ceil_div(d.out_c, c.rows);
  r.in_wb = ceil_div(d.in_w, c.cols);
  r.out_wb = ceil_div(d.out_w, c.cols);
  r.thr_words = d.op == Opcode::Logits ? 1 : ceil_div(d.levels, c.nth);
  r.pix_words = std::int64_t{r.chunks} * d.aplanes;
  r.row_words = r.pix_words * r.in_wb;
  const std::uint32_t mask = static_cast<std::uint32_t>(c.act_bank_depth - 1);
  // Int8 stem mode: the image's rows are packed pack_rows to a word (section 4), so the region
  // and the padding rows above the image count word rows.
  const int pack = d.int8 && pack_rows(c.lanes) >= 1 ? pack_rows(c.lanes) : 1;
  const int in_rows = ceil_div(d.in_h, pack), pad_rows = ceil_div(d.pad, pack);
  r.row_off = static_cast<std::uint32_t>(-(pad_rows * r.row_words)) & mask;
  r.col_off = static_cast<std::uint32_t>(-(ceil_div(d.pad, c.cols) * r.pix_words)) & mask;
  r.in_words = r.row_words * in_rows;
  r.pool_h = d.out_h, r.pool_w = d.out_w;
  if (d.pool == Pool::Max2) r.pool_h = d.out_h / 2, r.pool_w = d.out_w / 2;
  if (d.pool == Pool::Sum) r.pool_h = r.pool_w = 1;
  r.out_words = std::int64_t{r.pool_h} * ceil_div(r.pool_w, c.cols) * r.out_chunks * d.out_planes;
  r.line_words = d.pool == Pool::None ? 0 : std::int64_t{d.pool == Pool::Max2 ? r.out_wb : 1} * r.ogroups;
  const int code_lo = d.act_min, code_hi = d.act_min + d.levels;
  r.sum_bound = std::int64_t{d.out_h} * d.out_w * std::max(std::abs(code_lo), std::abs(code_hi));
  r.w_words = std::int64_t{d.kernel} * d.kernel * r.ogroups * r.chunks * d.wplanes;
  r.thr_total = std::int64_t{r.ogroups} * c.rows * r.thr_words;
  // Largest |weight| x |input| of a tap: digit spans (section 5), or -128 x 255 in int8 mode.
  const std::int64_t dw = d.int8 ? kInt8MaxAbsWeight : (1 << d.wplanes) - 1;
  const std::int64_t da = d.int8 ? kInt8MaxPixel : (1 << d.aplanes) - 1;
  r.acc_bound = std::int64_t{d.kernel} * d.kernel * d.in_c * dw * da;
  return r;
}

ErrorCode descriptor_check(const Descriptor& d, const Config& c) {
  const bool conv = d.op == Opcode::Conv, logits = d.op == Opcode::Logits;
  if (!(conv || logits) || d.reserved != 0 || static_cast<std::uint32_t>(d.pool) > 2) return ErrorCode::Opcode;
  const bool fuse_max = d.pool == Pool::Max2, fuse_sum = d.pool == Pool::Sum;
  const Derived r = descriptor_derive(d, c);
  const bool dims_bad = d.in_c == 0 || d.out_c == 0 || d.in_h == 0 || d.in_w == 0 || d.out_h == 0 ||
                        d.out_w == 0 || d.in_h > kMaxDim || d.in_w > kMaxDim || d.out_h > kMaxDim ||
                        d.out_w > kMaxDim || d.kernel == 0 || d.pad >= d.kernel || r.chunks > kMaxCount ||
                        d.aplanes == 0 || d.aplanes > kMaxPlanes;
  const bool conv_bad = d.stride != 1 || d.in_h + 2 * d.pad < d.kernel || d.in_w + 2 * d.pad < d.kernel ||
                        d.out_h != d.in_h + 2 * d.pad - d.kernel + 1 ||
                        d.out_w != d.in_w + 2 * d.pad - d.kernel + 1 || r.ogroups > kMaxCount ||
                        d.wplanes == 0 || d.wplanes > kMaxPlanes;
  const bool thr_bad = d.levels == 0 || d.out_planes == 0 || d.out_planes > (fuse_sum ? kMaxSumPoolPlanes : kMaxPlanes) ||
                       d.act_min < -256 || d.act_min > 255 || (d.out_ternary && d.out_planes != 1);
  const bool fuse_bad = (d.pool != Pool::None && !conv) || (fuse_max && (d.out_h < 2 || d.out_w < 2)) ||
                        (fuse_sum && (d.out_ternary || !d.out_signed));
  const bool logits_bad = d.out_c > kMaxLogits || d.out_h != 1 || d.out_w != 1;
  // Int8 stem mode: a conv on one channel of one plane (a uint8 per pixel), one weight plane.
  const bool int8_bad = d.int8 && (pack_rows(c.lanes) < 1 || !conv || d.in_c != 1 || d.aplanes != 1 ||
                                   d.wplanes != 1);
  if (dims_bad || conv_bad || (conv && thr_bad) || (logits && logits_bad) || fuse_bad || int8_bad) {
    return ErrorCode::Shape;
  }
  if (d.in_base + r.in_words > c.act_bank_depth) return ErrorCode::Region;
  if (d.w_base + r.w_words > c.wgt_depth) return ErrorCode::Region;
  if (d.thr_base + r.thr_total > c.thr_depth) return ErrorCode::Region;
  if (!logits) {
    if (d.out_base + r.out_words > c.act_bank_depth) return ErrorCode::Region;
    if (d.in_base < d.out_base + r.out_words && d.out_base < d.in_base + r.in_words) return ErrorCode::Overlap;
  }
  if (r.acc_bound >= (std::int64_t{1} << (c.acc_w - 1)) - 1) return ErrorCode::Accumulator;
  if (d.pool != Pool::None && r.line_words > c.line_depth) return ErrorCode::Region;
  if (fuse_sum && r.sum_bound >= (std::int64_t{1} << (d.out_planes - 1))) return ErrorCode::Accumulator;
  return ErrorCode::None;
}

std::vector<Word> Compiled::program() const {
  std::vector<Word> words;
  for (const Step& s : steps) {
    const auto w = s.desc.encode();
    words.insert(words.end(), w.begin(), w.end());
  }
  return words;
}

std::vector<Word> digits_pack(const Digits& digits) {
  std::vector<Word> slices(word_slices(2 * static_cast<int>(digits.size())), 0);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    const int d = digits[i] == kUnwritten ? 0 : digits[i];
    slices[(2 * i) / 32] |= digit_encode(d) << ((2 * i) % 32);
  }
  return slices;
}

Digits digits_unpack(const std::vector<Word>& slices, int lanes) {
  Digits d(lanes);
  for (int i = 0; i < lanes; ++i) d[i] = digit_decode((slices.at((2 * i) / 32) >> ((2 * i) % 32)) & 3u);
  return d;
}

// ---- The compiler ---------------------------------------------------------------------------------
namespace {

int planes_of(const ActType& t) { return t.kind == ActKind::Ternary ? 1 : t.bits; }
int weight_planes(const WeightType& t) { return t.kind == WeightKind::Ternary ? 1 : t.bits; }
// Sum of 2^b over an operand's digit planes (docs/architecture.md section 5).
std::int64_t digit_span(int planes, bool ternary) { return ternary ? 1 : (std::int64_t{1} << planes) - 1; }

// A tensor's layout in the banks: what flows between steps.
struct Flow {
  ConvGeometry g;          // c, h, w, aplanes, asigned, in_base
  bool ternary = true;     // ternary codes (1 plane) or k-bit planes
  std::int64_t max_abs = 1;
};

class Planner {
 public:
  Planner(const Package& p, const Config& c) : pkg_(p), cfg_(c) {}

  Compiled run() {
    out_.config = cfg_;
    out_.package_name = pkg_.name;
    out_.weights.bits = cfg_.wgt_word_bits();
    out_.thresholds.bits = cfg_.thr_word_bits();
    if (pkg_.layers.empty()) problem("the package has no layers");
    Flow cur = input_flow();
    for (std::size_t i = 0; i < pkg_.layers.size(); ++i) {
      const Layer& l = pkg_.layers[i];
      const std::string where = fmt::format("layer {} ({})", i, l.name);
      switch (l.op) {
        case Op::Conv2d:
        case Op::Dense: {
          // A pool right after a thresholded layer runs in that layer's write-back.
          const bool fuse = i + 1 < pkg_.layers.size() && l.output == format::Output::Threshold &&
                            (pkg_.layers[i + 1].op == Op::MaxPool || pkg_.layers[i + 1].op == Op::GlobalAvgPool);
          cur = weighted(static_cast<int>(i), where, cur, fuse ? static_cast<int>(i + 1) : -1);
          if (fuse) ++i;
          break;
        }
        case Op::MaxPool:
        case Op::GlobalAvgPool:
          problem(fmt::format("{}: a {} runs fused into the write-back of the conv or dense layer before it, "
                              "and this one does not follow one", where,
                              l.op == Op::MaxPool ? "max-pool" : "global average pool"));
          cur.g.h = l.out_shape.h, cur.g.w = l.out_shape.w;
          break;
      }
    }
    if (static_cast<int>(out_.steps.size()) > cfg_.max_descriptors()) {
      problem(fmt::format("program: {} descriptors > {} (PROG_DEPTH {} words)", out_.steps.size(),
                          cfg_.max_descriptors(), cfg_.prog_depth));
    }
    if (out_.weights.words.size() > std::size_t(cfg_.wgt_depth)) {
      problem(fmt::format("weights: {} words > WGT_DEPTH {}", out_.weights.words.size(), cfg_.wgt_depth));
    }
    if (out_.thresholds.words.size() > std::size_t(cfg_.thr_depth)) {
      problem(fmt::format("thresholds: {} words > THR_DEPTH {}", out_.thresholds.words.size(),
                          cfg_.thr_depth));
    }
    // What fits must also pass the controller's own check (the two are written separately).
    for (std::size_t i = 0; problems_.empty() && i < out_.steps.size(); ++i) {
      const ErrorCode e = descriptor_check(out_.steps[i].desc, cfg_);
      if (e != ErrorCode::None) {
        problem(fmt::format("step {} ({}): the controller would refuse it (error code {})", i,
                            out_.steps[i].name, static_cast<int>(e)));
      }
    }
    return out_;
  }

  const std::vector<std::string>& problems() const { return problems_; }

 private:
  void problem(std::string text) { problems_.push_back(std::move(text)); }
  void limit(const std::string& where, const char* what, std::int64_t v, std::int64_t lo, std::int64_t hi) {
    if (v < lo || v > hi) problem(fmt::format("{}: {} {} outside [{}, {}]", where, what, v, lo, hi));
  }

  ConvGeometry geometry() const {
    ConvGeometry g;
    g.lanes = cfg_.lanes, g.rows = cfg_.rows, g.cols = cfg_.cols, g.k = 1;
    return g;
  }

  // Whether the first layer runs in the int8 stem mode: a stride-1 conv with int weights of at
  // most 8 bits on a one-channel image of uint pixels of at most 8 bits, on words of a byte or more.
  bool stem_int8() const {
    if (pkg_.layers.empty() || pack_rows(cfg_.lanes) < 1) return false;
    const Layer& l = pkg_.layers[0];
    return l.op == Op::Conv2d && l.stride == 1 && pkg_.input_shape.c == 1 &&
           pkg_.input_act.kind == ActKind::Uint && pkg_.input_act.bits <= 8 &&
           l.weight_type.kind == WeightKind::Int && l.weight_type.bits <= 8;
  }

  // The input image. A first conv the int8 stem mode takes reads the image as packed rows of
  // uint8 pixels (section 8); any other first conv gets it im2col'd: the host writes each output
  // pixel's k x k x C window as channels, so the stem runs as a 1x1 conv.
  Flow input_flow() {
    Flow f;
    f.g = geometry();
    f.g.c = pkg_.input_shape.c, f.g.h = pkg_.input_shape.h, f.g.w = pkg_.input_shape.w;
    f.g.aplanes = planes_of(pkg_.input_act);
    f.g.asigned = pkg_.input_act.kind != ActKind::Uint;
    f.ternary = pkg_.input_act.kind == ActKind::Ternary;
    f.max_abs = pkg_.input_act.range().max_abs();
    if (stem_int8()) {
      f.g.packed = true, f.g.aplanes = 1;  // one byte per pixel in one word plane
    } else if (!pkg_.layers.empty() && pkg_.layers[0].op == Op::Conv2d) {
      const Layer& l = pkg_.layers[0];
      out_.input_im2col = true;
      out_.input_kernel = l.kernel, out_.input_pad = l.padding, out_.input_stride = l.stride;
      f.g.c = l.kernel * l.kernel * pkg_.input_shape.c;
      f.g.h = l.out_shape.h, f.g.w = l.out_shape.w;
    }
    f.g.in_base = 0;
    out_.input = f.g;
    return f;
  }

  // Output region opposite the input: bottom of the banks if the input is at the top and v.v.
  int place(const std::string& where, const ConvGeometry& in, int out_words) {
    const int depth = cfg_.act_bank_depth;
    if (in.tensor_words() + out_words > depth) {
      problem(fmt::format("{}: activation bank words: input {} + output {} > ACT_BANK_DEPTH {}", where,
                          in.tensor_words(), out_words, depth));
      return 0;
    }
    return in.in_base == 0 ? depth - out_words : 0;
  }

  void common_limits(const std::string& where, const Descriptor& d) {
    limit(where, "input channels", d.in_c, 1, 0xffff);
    limit(where, "output channels", d.out_c, 1, 0xffff);
    limit(where, "input height", d.in_h, 1, kMaxDim);
    limit(where, "input width", d.in_w, 1, kMaxDim);
    limit(where, "output height", d.out_h, 1, kMaxDim);
    limit(where, "output width", d.out_w, 1, kMaxDim);
    limit(where, "kernel", d.kernel, 1, kMaxKernel);
    limit(where, "padding", d.pad, 0, std::min(kMaxPad, d.kernel - 1));
    limit(where, "input planes", d.aplanes, 1, kMaxPlanes);
    limit(where, "channel chunks", (d.in_c + cfg_.lanes - 1) / cfg_.lanes, 1, kMaxCount);
  }

  // A conv or dense layer; `fused_pool` >= 0: the index of the pool fused into it.
  Flow weighted(int index, const std::string& where, const Flow& cur, int fused_pool) {
    const Layer& l = pkg_.layers[index];
    Step s;
    s.layer = index, s.name = l.name, s.in = cur.g;
    Descriptor& d = s.desc;
    ConvGeometry g = cur.g;  // the conv as the array runs it
    std::vector<WeightValue> weights = l.weights;
    const bool int8 = index == 0 && cur.g.packed;
    if (int8) {
      g.k = l.kernel, g.pad = l.padding;  // the image as it is, one beat per tap
    } else if (l.op == Op::Conv2d && index == 0) {
      g.k = 1, g.pad = 0;  // im2col'd: (O, K, K, C) read as (O, 1, 1, K*K*C), the same order
    } else if (l.op == Op::Conv2d) {
      g.k = l.kernel, g.pad = l.padding;
      if (l.stride != 1) problem(fmt::format("{}: conv stride {} (the array runs stride 1 only)", where, l.stride));
    } else {  // dense: a conv whose kernel covers the whole (square) map; weights CHW -> HWC
      if (cur.g.h != cur.g.w) {
        problem(fmt::format("{}: dense layer on a {}x{} map (needs a square map)", where, cur.g.h, cur.g.w));
      }
      g.k = cur.g.h, g.pad = 0;
      const int hw = cur.g.h * cur.g.w;
      for (int o = 0; o < l.out_channels; ++o)
        for (int p = 0; p < hw; ++p)
          for (int c = 0; c < cur.g.c; ++c)
            weights[(std::size_t(o) * hw + p) * cur.g.c + c] = l.weights[(std::size_t(o) * cur.g.c + c) * hw + p];
    }
    g.o = l.out_channels;
    g.wplanes = int8 ? 1 : weight_planes(l.weight_type);
    g.wint = l.weight_type.kind == WeightKind::Int;
    d.int8 = int8;
    g.w_base = static_cast<int>(out_.weights.words.size());
    const bool logits = l.output == format::Output::Logits;
    d.op = logits ? Opcode::Logits : Opcode::Conv;
    d.aplanes = g.aplanes, d.wplanes = g.wplanes;
    d.in_c = g.c, d.out_c = g.o, d.in_h = g.h, d.in_w = g.w;
    d.out_h = g.ho(), d.out_w = g.wo(), d.kernel = g.k, d.pad = g.pad, d.stride = 1;
    d.in_base = g.in_base, d.w_base = g.w_base;
    d.thr_base = static_cast<int>(out_.thresholds.words.size());
    common_limits(where, d);
    limit(where, "weight planes", d.wplanes, 1, kMaxPlanes);
    limit(where, "output channel groups", g.ogroups(), 1, kMaxCount);
    if (d.aplanes - 1 + d.wplanes - 1 > kMaxShift) {
      problem(fmt::format("{}: {} weight planes x {} input planes need a shift of {} > {}", where,
                          d.wplanes, d.aplanes, d.aplanes + d.wplanes - 2, kMaxShift));
    }
    // The controller's bound (descriptor_derive): digit spans, or |int8| x uint8 per tap.
    const std::int64_t bound =
        int8 ? std::int64_t{g.k} * g.k * g.c * kInt8MaxAbsWeight * kInt8MaxPixel
             : std::int64_t{g.k} * g.k * g.c * digit_span(g.wplanes, g.wplanes == 1 && !g.wint) *
                   digit_span(g.aplanes, cur.ternary);
    const std::int64_t acc_limit = (std::int64_t{1} << (cfg_.acc_w - 1)) - 1;
    if (bound >= acc_limit) {
      problem(fmt::format("{}: accumulator bound {} does not fit ACC_W {} (needs < {})", where, bound,
                          cfg_.acc_w, acc_limit));
    }
    // Weights: appended to the weight memory image.
    {
      ConvGeometry wg = g;
      wg.w_base = 0;
      if (int8) {
        for (RawWord& word : int8_weight_image(wg, weights, wg.weight_words())) {
          out_.weights.words.push_back(std::move(word));
        }
      } else {
        for (const Digits& word : weight_image(wg, weights, wg.weight_words())) {
          out_.weights.words.push_back(digits_pack(word));
        }
      }
    }
    s.beats = g.beats();
    s.macs = l.macs();
    // Thresholds (or biases): channel o at thr_base + o * thr_words, padded to ogroups * ROWS.
    const int channels = g.ogroups() * cfg_.rows;
    const int nslices = word_slices(cfg_.thr_word_bits());
    Flow next;
    if (logits) {
      d.out_planes = 1, d.levels = 1;
      if (d.out_h != 1 || d.out_w != 1) problem(fmt::format("{}: logits need a 1x1 output", where));
      limit(where, "classes", g.o, 1, kMaxLogits);
      for (int o = 0; o < channels; ++o) {
        std::vector<Word> w(nslices, 0);
        if (o < g.o) w[0] = static_cast<Word>(l.bias[o]);
        out_.thresholds.words.push_back(w);
      }
      out_.num_classes = g.o;
      next = cur;
    } else {
      const ActType& act = l.out_act;
      const int levels = act.num_thresholds();
      const int thr_words = (levels + cfg_.nth - 1) / cfg_.nth;
      d.out_planes = planes_of(act);
      d.out_ternary = act.kind == ActKind::Ternary;
      d.out_signed = act.kind == ActKind::Int;
      d.levels = levels;
      d.act_min = act.range().lo;
      limit(where, "thresholds per channel", levels, 1, kMaxLevels);
      for (int o = 0; o < channels; ++o)
        for (int j = 0; j < thr_words; ++j) {
          std::vector<Word> w(nslices, 0);
          for (int n = 0; n < cfg_.nth; ++n) {
            const int idx = j * cfg_.nth + n;
            if (o >= g.o || idx >= levels) continue;
            std::int32_t t = 0;
            if (bound < acc_limit) t = threshold_saturate(l.thresholds[std::size_t(o) * levels + idx], cfg_.acc_w, bound);
            const std::uint64_t bits = static_cast<std::uint64_t>(static_cast<std::uint32_t>(t)) &
                                       ((std::uint64_t{1} << cfg_.acc_w) - 1);
            const int lsb = n * cfg_.acc_w;
            for (int b = 0; b < cfg_.acc_w; ++b)
              if ((bits >> b) & 1) w[(lsb + b) / 32] |= Word{1} << ((lsb + b) % 32);
          }
          out_.thresholds.words.push_back(w);
        }
      next.g = geometry();
      next.g.c = g.o, next.g.h = g.ho(), next.g.w = g.wo();
      if (fused_pool >= 0) {
        const Layer& p = pkg_.layers[fused_pool];
        const std::string pwhere = fmt::format("layer {} ({})", fused_pool, p.name);
        s.layer = fused_pool, s.name = l.name + "+" + p.name;
        // The pool's own shape, so the layers after it line up with the package even when this
        // pool is refused.
        next.g.h = p.out_shape.h, next.g.w = p.out_shape.w;
        if (p.op == Op::MaxPool) {
          if (p.kernel != 2 || p.stride != 2) {
            problem(fmt::format("{}: max-pool kernel {} stride {} is not supported (the write-back fuses "
                                "2x2 windows with stride 2 only)", pwhere, p.kernel, p.stride));
          }
          d.pool = Pool::Max2;
          const std::int64_t line = std::int64_t{g.xgroups()} * g.ogroups();
          if (line > cfg_.line_depth) {
            problem(fmt::format("{}: max-pool line buffer words: {} pixel groups x {} channel groups = {} > "
                                "LINE_DEPTH {}", pwhere, g.xgroups(), g.ogroups(), line, cfg_.line_depth));
          }
        } else {  // global average pool: per-channel sums of the map's codes, as int:P planes
          d.pool = Pool::Sum;
          const std::int64_t sum_abs = std::int64_t{g.ho()} * g.wo() * act.range().max_abs();
          if (sum_abs > kMaxPoolSum) {
            problem(fmt::format("{}: sums up to {} exceed {} (16-bit line-buffer lanes)", pwhere, sum_abs, kMaxPoolSum));
          }
          int planes = 2;
          while ((std::int64_t{1} << (planes - 1)) <= sum_abs) ++planes;
          limit(pwhere, "sum planes", planes, 1, kMaxSumPoolPlanes);
          d.out_planes = planes, d.out_ternary = false, d.out_signed = true;
          if (g.ogroups() > cfg_.line_depth) {
            problem(fmt::format("{}: sum-pool line buffer words: {} channel groups > LINE_DEPTH {}", pwhere,
                                g.ogroups(), cfg_.line_depth));
          }
        }
      }
      next.g.aplanes = d.out_planes, next.g.asigned = d.out_signed || d.out_ternary;
      next.ternary = d.out_ternary;
      next.max_abs = d.pool == Pool::Sum ? std::int64_t{g.ho()} * g.wo() * act.range().max_abs()
                                         : act.range().max_abs();
      next.g.in_base = place(where, g, next.g.tensor_words());
      d.out_base = next.g.in_base;
      s.out = next.g;
    }
    out_.steps.push_back(s);
    return next;
  }

  const Package& pkg_;
  const Config& cfg_;
  Compiled out_;
  std::vector<std::string> problems_;
};

}  // namespace

std::vector<std::string> fit_problems(const Package& package, const Config& config) {
  Planner p(package, config);
  p.run();
  return p.problems();
}

Compiled compile(const Package& package, const Config& config, const std::filesystem::path& configs_file) {
  Planner p(package, config);
  Compiled c = p.run();
  if (p.problems().empty()) return c;
  std::string fits;
  for (const Config& other : configs_load(configs_file)) {
    if (other.name != config.name && fit_problems(package, other).empty()) {
      fits += (fits.empty() ? "" : ", ") + other.name;
    }
  }
  std::string text = fmt::format("package \"{}\" does not fit configuration \"{}\":", package.name, config.name);
  for (const std::string& s : p.problems()) text += "\n  " + s;
  text += fits.empty() ? "\n  no named configuration holds it" : "\n  configurations that hold it: " + fits;
  throw Error(text);
}

Tensor input_tensor(const Compiled& c, const Tensor& input) {
  if (!c.input_im2col) return input;
  const int k = c.input_kernel, pad = c.input_pad, stride = c.input_stride;
  const ConvGeometry& g = c.input;
  Tensor taps(Shape{g.c, g.h, g.w});
  const int channels = input.shape.c;
  for (int ky = 0; ky < k; ++ky)
    for (int kx = 0; kx < k; ++kx)
      for (int ch = 0; ch < channels; ++ch)
        for (int y = 0; y < g.h; ++y)
          for (int x = 0; x < g.w; ++x) {
            const int iy = y * stride + ky - pad, ix = x * stride + kx - pad;
            const bool inside = iy >= 0 && iy < input.shape.h && ix >= 0 && ix < input.shape.w;
            taps.at((ky * k + kx) * channels + ch, y, x) = inside ? input.at(ch, iy, ix) : 0;
          }
  return taps;
}

std::vector<ActWord> input_words(const Compiled& c, const Tensor& input) {
  const ConvGeometry& g = c.input;
  if (g.packed) {
    std::vector<ActWord> out;
    const auto banks = packed_image(g, input, g.act_words_per_bank());
    for (int b = 0; b < g.cols; ++b)
      for (int a = g.in_base; a < g.act_words_per_bank(); ++a)
        if (!banks[b][a].empty()) out.push_back({b, a, banks[b][a]});
    return out;
  }
  const Tensor t = input_tensor(c, input);
  const auto banks = act_image(g, t, g.act_words_per_bank());
  std::vector<ActWord> out;
  for (int b = 0; b < g.cols; ++b)
    for (int a = g.in_base; a < g.act_words_per_bank(); ++a) {
      if (banks[b][a][0] == kUnwritten) continue;
      out.push_back({b, a, digits_pack(banks[b][a])});
    }
  return out;
}

namespace {
std::string wide_hex(const WideImage& image, const std::string& comment) {
  const int digits = (image.bits + 3) / 4;
  std::string out = "// " + comment + "\n";
  for (const auto& word : image.words) {
    std::string line(digits, '0');
    for (int d = 0; d < digits; ++d) {
      const int bit = 4 * d;
      const Word nibble = (word[bit / 32] >> (bit % 32)) & 0xfu;
      line[digits - 1 - d] = "0123456789abcdef"[nibble];
    }
    out += line + "\n";
  }
  return out;
}

const char* opcode_name(Opcode op) {
  switch (op) {
    case Opcode::Conv: return "conv";
    case Opcode::Logits: return "logits";
  }
  return "?";
}

const char* pool_name(Pool pool) {
  switch (pool) {
    case Pool::None: return "none";
    case Pool::Max2: return "max2x2";
    case Pool::Sum: return "sum";
  }
  return "?";
}

nlohmann::json layout_json(const ConvGeometry& g) {
  return {{"shape", {g.c, g.h, g.w}}, {"planes", g.aplanes}, {"signed", g.asigned},
          {"packed_rows", g.packed ? pack_rows(g.lanes) : 0},
          {"base", g.in_base}, {"words_per_bank", g.tensor_words()}};
}
}  // namespace

void compiled_write(const Compiled& c, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  file_write_atomic(dir / "program.hex",
                    hex_format(c.program(), fmt::format("stqn layer program: {} descriptors of {} words ({}, {})",
                                                        c.steps.size(), kDescriptorWords, c.package_name,
                                                        c.config.name)));
  file_write_atomic(dir / "weights.hex",
                    wide_hex(c.weights, fmt::format("stqn weight memory: {} words of {} bits", c.weights.words.size(), c.weights.bits)));
  file_write_atomic(dir / "thresholds.hex",
                    wide_hex(c.thresholds, fmt::format("stqn threshold memory: {} words of {} bits",
                                                       c.thresholds.words.size(), c.thresholds.bits)));
  nlohmann::json steps = nlohmann::json::array();
  for (const Step& s : c.steps) {
    nlohmann::json j = {{"layer", s.layer}, {"name", s.name}, {"op", opcode_name(s.desc.op)},
                        {"pool", pool_name(s.desc.pool)}, {"int8", s.desc.int8},
                        {"in", layout_json(s.in)}, {"beats", s.beats}, {"macs", s.macs}};
    if (s.desc.op != Opcode::Logits) j["out"] = layout_json(s.out);
    steps.push_back(j);
  }
  const nlohmann::json doc = {
      {"map_version", regs::kMapVersion},  // the layouts below (packed rows: one per half word since 4)
      {"package", c.package_name}, {"config", c.config.name}, {"classes", c.num_classes},
      {"input", {{"im2col", c.input_im2col}, {"kernel", c.input_kernel}, {"padding", c.input_pad},
                 {"stride", c.input_stride}, {"layout", layout_json(c.input)}}},
      {"steps", steps}};
  file_write_atomic(dir / "layout.json", doc.dump(2) + "\n");
}

}  // namespace stqn::accel
