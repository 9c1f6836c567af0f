// The trainer: quantizer gradients against finite differences, the merged (one-code) model
// against the two-kernel model, export -> golden model -> trainer agreement, and exact resume.
#include "net.hpp"

#include "stqn/checkpoint_file.hpp"
#include "stqn/error.hpp"
#include "stqn/fast.hpp"
#include "stqn/fileio.hpp"
#include "stqn/idx.hpp"
#include "stqn/json_field.hpp"
#include "stqn/plot.hpp"
#include "stqn/reference.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace stqn::trainer {
namespace {

namespace fs = std::filesystem;
using torch::Tensor;

fs::path test_dir(const std::string& name) {
  const fs::path dir = fs::path(STQN_TEST_TMP) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

const Dataset& test_set() {
  static const Dataset data = idx_load(STQN_DATA_DIR, "t10k");
  return data;
}

Tensor pixels(const Dataset& d, int first, int count, double scale) {
  Tensor x = torch::empty({count, 1, d.height, d.width}, torch::kDouble);
  for (int n = 0; n < count; ++n) {
    for (int p = 0; p < d.height * d.width; ++p) {
      x.data_ptr<double>()[n * d.height * d.width + p] = d.image(first + n)[p] * scale;
    }
  }
  return x.to(torch::kFloat);
}

// ---- Gradients --------------------------------------------------------------------------------

// Soft threshold (exact gradient): the part of the gradient that is a true derivative (the
// shared scale's term) matches central finite differences; the rest is the STE alpha g 1[|w|<=1].
class SoftGradient : public ::testing::TestWithParam<int> {};

TEST_P(SoftGradient, ScaleTermMatchesFiniteDifferences) {
  const int m = GetParam();
  torch::manual_seed(7);
  const Tensor w0 = torch::rand({m, 3, 2, 3, 3}, torch::kDouble).mul(2.4).sub(1.2);  // some |w| > 1
  const Tensor r = torch::randn({3, 2, 3, 3}, torch::kDouble);
  Tensor w = w0.clone().requires_grad_(true);
  quant_soft(w, SoftGrad::Exact).mul(r).sum().backward();
  const int64_t n = 2 * 9;
  const Tensor alpha = w0.abs().sum({0, 2, 3, 4}).div(double(m * n));
  const Tensor ste = r.unsqueeze(0).mul(alpha.view({1, 3, 1, 1, 1})).mul(w0.abs().le(1).to(torch::kDouble));
  const Tensor scale_term = w.grad() - ste;
  const double eps = 1e-6;
  auto loss = [&](const Tensor& v) { return quant_soft(v, SoftGrad::Exact).mul(r).sum().item<double>(); };
  const Tensor flat = w0.flatten();
  int checked = 0;
  for (int64_t i = 0; i < flat.numel(); i += 5) {
    if (std::abs(flat[i].item<double>()) < 10 * eps) continue;  // sign would flip
    Tensor plus = flat.clone(), minus = flat.clone();
    plus[i] += eps;
    minus[i] -= eps;
    const double fd = (loss(plus.view_as(w0)) - loss(minus.view_as(w0))) / (2 * eps);
    EXPECT_NEAR(scale_term.flatten()[i].item<double>(), fd, 1e-6) << "element " << i;
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

// The exact gradient equals autograd through alpha = sum|w| / (M n) and an STE sign.
TEST_P(SoftGradient, ExactEqualsAutogradComposition) {
  const int m = GetParam();
  torch::manual_seed(8);
  const Tensor w0 = torch::rand({m, 4, 3, 3, 3}, torch::kDouble).mul(2.4).sub(1.2);
  const Tensor r = torch::randn({4, 3, 3, 3}, torch::kDouble);
  Tensor a = w0.clone().requires_grad_(true);
  quant_soft(a, SoftGrad::Exact).mul(r).sum().backward();
  Tensor b = w0.clone().requires_grad_(true);
  const Tensor mask = w0.abs().le(1).to(torch::kDouble);
  const Tensor sign_ste = sign_pos(w0) + b.mul(mask) - b.mul(mask).detach();
  const Tensor alpha = b.abs().sum({0, 2, 3, 4}).div(double(m * 27)).view({4, 1, 1, 1});
  alpha.mul(sign_ste.sum(0)).mul(r).sum().backward();
  EXPECT_TRUE(torch::allclose(a.grad(), b.grad(), 1e-12, 1e-12));
  // Forward: alpha_o * sum_m sign(w_m)
  EXPECT_TRUE(torch::allclose(quant_soft(w0, SoftGrad::Exact), alpha.detach().mul(sign_pos(w0).sum(0))));
}

INSTANTIATE_TEST_SUITE_P(Kernels, SoftGradient, ::testing::Values(2, 3, 7));

// RTN (LSQ): the step gradient minus its STE part (-w/s inside the grid) is the true derivative.
TEST(RtnGradient, StepMatchesFiniteDifferencesPlusSte) {
  for (int bits : {2, 3}) {
    torch::manual_seed(9);
    const int64_t m = (1 << bits) - 1;
    const Tensor w = torch::randn({3, 2, 3, 3}, torch::kDouble).mul(0.5);
    const Tensor s0 = torch::full({3}, 0.2, torch::kDouble);
    const Tensor r = torch::randn({3, 2, 3, 3}, torch::kDouble);
    Tensor s = s0.clone().requires_grad_(true);
    Tensor wv = w.clone().requires_grad_(true);
    quant_rtn(wv, s, bits).mul(r).sum().backward();
    const Tensor x = w.div(s0.view({3, 1, 1, 1}));
    const Tensor inside = x.abs().le(double(m)).to(torch::kDouble);
    const double gscale = 1.0 / std::sqrt(18.0 * double(m));
    const Tensor true_part = s.grad() / gscale + r.mul(x).mul(inside).sum({1, 2, 3});
    for (int o = 0; o < 3; ++o) {
      const double eps = 1e-7;
      Tensor sp = s0.clone(), sm = s0.clone();
      sp[o] += eps;
      sm[o] -= eps;
      const double fd = (quant_rtn(w, sp, bits).mul(r).sum().item<double>() -
                         quant_rtn(w, sm, bits).mul(r).sum().item<double>()) / (2 * eps);
      EXPECT_NEAR(true_part[o].item<double>(), fd, 1e-5) << "bits " << bits << " channel " << o;
    }
    EXPECT_TRUE(torch::equal(wv.grad(), r.mul(inside))) << "STE of w inside the grid";
  }
}

TEST(ActivationQuantizers, TernaryBoundariesAndSteWindow) {
  const Tensor u = torch::tensor({-1.5, -1.0, -0.5000001, -0.5, 0.0, 0.5, 0.5000001, 1.0, 1.5},
                                 torch::kDouble).requires_grad_(true);
  const Tensor codes = act_ternary(u);
  const std::vector<double> expected = {-1, -1, -1, 0, 0, 0, 1, 1, 1};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(codes[int64_t(i)].item<double>(), expected[i]) << i;
  codes.sum().backward();
  const std::vector<double> grad = {0, 1, 1, 1, 1, 1, 1, 1, 0};
  for (std::size_t i = 0; i < grad.size(); ++i) EXPECT_EQ(u.grad()[int64_t(i)].item<double>(), grad[i]) << i;
}

TEST(ActivationQuantizers, UintCodesAndSte) {
  const Tensor u = torch::tensor({-0.2, 0.1, 0.2, 0.5, 0.9, 1.2}, torch::kDouble).requires_grad_(true);
  const Tensor v = act_uint(u, 2);  // M = 3, thresholds 1/6, 1/2, 5/6
  const std::vector<double> codes = {0, 0, 1, 1, 3, 3};
  for (std::size_t i = 0; i < codes.size(); ++i) EXPECT_NEAR(v[int64_t(i)].item<double>() * 3, codes[i], 1e-12) << i;
  v.sum().backward();
  const std::vector<double> grad = {0, 1, 1, 1, 1, 0};
  for (std::size_t i = 0; i < grad.size(); ++i) EXPECT_EQ(u.grad()[int64_t(i)].item<double>(), grad[i]) << i;
}

// threshold_search against an exhaustive scan, for positive, negative and zero k, ties at a
// threshold (u exactly 0.5) and thresholds beyond the reachable range.
TEST(ThresholdSearch, MatchesExhaustiveScan) {
  const std::int64_t bound = 40;
  const std::vector<std::pair<float, float>> cases = {
      {0.25f, 0.0f}, {-0.25f, 0.0f}, {0.0f, 0.7f}, {0.0f, 0.2f}, {0.0f, -0.9f}, {0.013f, -0.31f},
      {-0.0371f, 0.123f}, {1e-4f, 0.1f}, {0.3f, 20.0f}, {0.3f, -20.0f}, {0.1f, 0.4f}};
  for (const ActSpec acts : {ActSpec{ActQuant::Ternary, 2}, ActSpec{ActQuant::Uint, 2}}) {
    for (const auto& [k, c] : cases) {
      const int sign = k < 0 ? -1 : 1;
      for (const ActThreshold& t : act_thresholds(acts)) {
        const std::int32_t theta = threshold_search(k, c, sign, t, bound);
        for (std::int64_t se = -bound; se <= bound; ++se) {
          const float u = static_cast<float>(sign * se) * k + c;  // -ffp-contract=off
          const bool pass = t.strict ? u > t.tau : u >= t.tau;
          EXPECT_EQ(pass, se >= theta) << "k " << k << " c " << c << " tau " << t.tau << " S_e " << se;
        }
      }
    }
  }
  // The tie: u(2) = 0.25 * 2 = 0.5 exactly is not above 0.5, so +1 starts at S = 3; and
  // u(-2) = -0.5 is not below -0.5, so 0 starts at S = -2.
  const auto taus = act_thresholds({ActQuant::Ternary, 2});
  EXPECT_EQ(threshold_search(0.25f, 0.0f, 1, taus[1], bound), 3);
  EXPECT_EQ(threshold_search(0.25f, 0.0f, 1, taus[0], bound), -2);
}

// ---- The merged model -------------------------------------------------------------------------

// Trains `net` briefly so that BN statistics and weights are not at their initial values.
void train_briefly(Net& net, int steps) {
  const Dataset& d = test_set();
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2));
  net->train();
  for (int s = 0; s < steps; ++s) {
    const Tensor x = pixels(d, s * 32, 32, kPixelScale);
    Tensor y = torch::empty({32}, torch::kLong);
    for (int i = 0; i < 32; ++i) y[i] = int64_t{d.labels[std::size_t(s * 32 + i)]};
    const Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    net->clamp_latent();
  }
  net->eval();
}

TrainConfig config_of(const std::string& weights, const std::string& acts, const std::string& head = "") {
  TrainConfig c;
  c.weights = WeightSpec::parse(weights);
  c.acts = ActSpec::parse(acts);
  if (!head.empty()) c.head_acts = ActSpec::parse(head);
  return c;
}

// A short, quiet run on the first `train_limit` training images, evaluated on `test_limit`.
TrainConfig short_config(const std::string& weights, const std::string& acts, int epochs, int train_limit,
                         const std::string& head = "") {
  TrainConfig c = config_of(weights, acts, head);
  c.epochs = epochs;
  c.train_limit = train_limit;
  return c;
}

RunOptions quiet_run(const fs::path& out_dir, int test_limit) {
  RunOptions run;
  run.out_dir = out_dir;
  run.data_dir = STQN_DATA_DIR;
  run.test_limit = test_limit;
  run.quiet = true;
  return run;
}

// The M-kernel model as trained, evaluated on integers: S = sum_m conv(a, sign W_m) with scale
// alpha, against the merged model's one convolution: for STTN (M = 2) t = (sign W1 + sign W2) / 2
// in {-1, 0, 1} with scale 2 alpha; for STQN:K (M = 2^K - 1) the odd codes sum_m sign W_m with
// scale alpha. Codes at every layer and the logits must be identical.
class MergedModel : public ::testing::TestWithParam<const char*> {};

TEST_P(MergedModel, SameCodesAndPredictionsAsTheKernelSum) {
  torch::manual_seed(3);
  Net net(config_of(GetParam(), "ternary"));
  train_briefly(net, 10);
  namespace F = torch::nn::functional;
  const auto params = net->named_parameters();
  const auto buffers = net->named_buffers();
  const Tensor px = pixels(test_set(), 1000, 64, 1.0);

  std::vector<Tensor> merged_codes;
  const Tensor merged_logits = net->forward_integer(px, &merged_codes);

  std::vector<Tensor> two_codes;
  Tensor a = px;
  const auto conv = F::Conv2dFuncOptions().padding(1);
  for (int j = 0; j < kConvs; ++j) {
    if (kPoolBefore[std::size_t(j)]) a = F::max_pool2d(a, F::MaxPool2dFuncOptions(2));
    Tensor s, k;
    const Fold f = net->fold(j);
    if (j == 0) {
      s = F::conv2d(a, net->int_conv(0).codes, conv).round();
      k = f.k;
    } else {
      torch::NoGradGuard no_grad;
      const Tensor w = params[fmt::format("w{}", j)].detach();
      const Tensor b = sign_pos(w);
      s = torch::zeros_like(F::conv2d(a, b[0], conv));
      for (int64_t m = 0; m < b.size(0); ++m) s += F::conv2d(a, b[m], conv).round();
      const Tensor alpha = w.abs().sum({0, 2, 3, 4}).div(double(b.size(0) * w[0][0].numel()));
      const Tensor gamma = params[fmt::format("bn{}.weight", j)].to(torch::kDouble);
      const Tensor var = buffers[fmt::format("bn{}.running_var", j)].to(torch::kDouble);
      const Tensor inv = gamma.div(var.add(kBnEps).sqrt());
      k = alpha.to(torch::kDouble).mul(1.0).mul(inv).to(torch::kFloat);
    }
    const Tensor u = s.mul(k.view({1, -1, 1, 1})).add(f.c.view({1, -1, 1, 1}));
    a = ternary_codes(u);
    two_codes.push_back(a);
  }
  ASSERT_EQ(two_codes.size(), merged_codes.size());
  for (std::size_t j = 0; j < two_codes.size(); ++j) {
    EXPECT_TRUE(torch::equal(two_codes[j], merged_codes[j])) << "layer " << j;
    EXPECT_GT(two_codes[j].eq(0).sum().item<int64_t>(), 0);
    EXPECT_GT(two_codes[j].ne(0).sum().item<int64_t>(), 0);
  }
  const IntHead h = net->int_head();
  const Tensor two_logits = a.sum({2, 3}).matmul(h.codes.t()).add(h.bias);
  EXPECT_TRUE(torch::equal(two_logits, merged_logits));
  EXPECT_EQ(predictions(two_logits), predictions(merged_logits));

  // The ordinary float (here double) evaluation of the two-kernel training graph gives the same
  // codes except where u lies within float rounding of a threshold (docs/training.md).
  net->to(torch::kDouble);
  const std::vector<Tensor> float_codes = net->forward_codes(px.to(torch::kDouble).mul(kPixelScale));
  int64_t total = 0, differ = 0;
  for (std::size_t j = 0; j < float_codes.size(); ++j) {
    total += float_codes[j].numel();
    differ += float_codes[j].ne(merged_codes[j].to(torch::kDouble)).sum().item<int64_t>();
  }
  EXPECT_LE(double(differ), 1e-5 * double(total)) << differ << " of " << total << " codes differ";
}

INSTANTIATE_TEST_SUITE_P(Kernels, MergedModel, ::testing::Values("sttn", "stqn:2", "stqn:3"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), ':', '_');
                           return n;
                         });

// ---- Export -> golden model -> trainer ----------------------------------------------------------

// Weights, activations, and the head's activation ("": the same).
struct Variant {
  const char* weights;
  const char* acts;
  const char* head;
};
void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.weights << " / " << v.acts << (*v.head ? std::string(" / head ") + v.head : std::string());
}
class ExportAgreement : public ::testing::TestWithParam<Variant> {};

// The package reproduces the integer-faithful evaluation layer by layer, including channels with
// a negative or zero BN gamma (negated weights, constant codes).
TEST_P(ExportAgreement, GoldenCodesEqualTrainerCodesAtEveryLayer) {
  const auto [weights, acts, head] = GetParam();
  torch::manual_seed(5);
  Net net(config_of(weights, acts, head));
  train_briefly(net, 6);
  {
    torch::NoGradGuard no_grad;
    auto params = net->named_parameters();
    for (int j = 0; j < kConvs; ++j) {
      Tensor gamma = params[fmt::format("bn{}.weight", j)];
      gamma[0] = -gamma[0].abs() - 0.1;  // k < 0
      gamma[1] = 0.0;                    // k = 0
    }
  }
  const Package pkg = package_build(net, "test");
  const Dataset& d = test_set();
  const int count = 16;
  std::vector<Tensor> codes;
  const Tensor logits = net->forward_integer(pixels(d, 0, count, 1.0), &codes);
  const std::vector<std::size_t> conv_layers = {0, 1, 3, 4, 6};  // stem, block1..4 in the package
  for (int n = 0; n < count; ++n) {
    const stqn::Tensor in = input_from_pixels(pkg, d.image(n), d.height, d.width);
    const std::vector<stqn::Tensor> out = reference_forward(pkg, in);
    for (std::size_t j = 0; j < conv_layers.size(); ++j) {
      const Tensor mine = codes[j][n].contiguous().to(torch::kInt);
      const stqn::Tensor& golden = out[conv_layers[j]];
      ASSERT_EQ(std::size_t(mine.numel()), golden.data.size());
      const std::vector<std::int32_t> v(mine.data_ptr<int>(), mine.data_ptr<int>() + mine.numel());
      EXPECT_EQ(v, golden.data) << "image " << n << " layer " << pkg.layers[conv_layers[j]].name;
    }
    const Tensor l = logits[n].contiguous().to(torch::kInt);
    const std::vector<std::int32_t> lv(l.data_ptr<int>(), l.data_ptr<int>() + l.numel());
    EXPECT_EQ(lv, out.back().data) << "image " << n << " logits";
  }
}

// A short training run end to end: train_run -> export_run; golden accuracy equals the trainer's
// integer evaluation and every prediction agrees.
TEST_P(ExportAgreement, ShortRunExportsWithFullAgreement) {
  const auto [weights, acts, head] = GetParam();
  std::string name = fmt::format("export-{}-{}-{}", weights, acts, head);
  for (char& ch : name) ch = ch == ':' ? '_' : ch;
  const fs::path dir = test_dir(name);
  const TrainConfig c = short_config(weights, acts, 1, 512, head);
  const RunOptions run = quiet_run(dir / "run", 100);
  const TrainResult tr = train_run(c, run);
  ExportOptions ex;
  ex.checkpoint = tr.checkpoint;
  ex.package_dir = dir / "package";
  ex.data_dir = STQN_DATA_DIR;
  ex.report = dir / "report.json";
  ex.test_limit = 400;
  const ExportResult r = export_run(ex);
  EXPECT_EQ(r.images, 400);
  EXPECT_EQ(r.agreement, 1.0);
  EXPECT_TRUE(r.disagreements.empty());
  EXPECT_EQ(r.golden_top1, r.trainer_top1);
  EXPECT_TRUE(fs::exists(ex.package_dir / "manifest.json"));
  EXPECT_TRUE(fs::exists(ex.report));
}

INSTANTIATE_TEST_SUITE_P(
    Variants, ExportAgreement,
    ::testing::Values(Variant{"sttn", "ternary", ""}, Variant{"twn", "ternary", ""},
                      Variant{"stqn:2", "uint:2", ""}, Variant{"rtn:2", "ternary", ""},
                      Variant{"sttn", "ternary", "uint:3"}),
    [](const auto& info) {
      std::string s = std::string(info.param.weights) + "_" + info.param.acts;
      if (*info.param.head) s += std::string("_head_") + info.param.head;
      for (char& ch : s) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      return s;
    });

// ---- Resume -----------------------------------------------------------------------------------

// Two epochs in one go and one epoch + resume + one epoch give bit-identical weights, buffers
// and metrics.
TEST(Resume, ContinuesExactly) {
  const fs::path dir = test_dir("resume");
  TrainConfig c = short_config("sttn", "ternary", 2, 384);
  c.batch = 64;
  RunOptions run = quiet_run(dir / "straight", 50);
  const TrainResult straight = train_run(c, run);
  run.out_dir = dir / "split";
  run.stop_after_epochs = 1;
  const TrainResult first = train_run(c, run);
  ASSERT_EQ(first.history.size(), 1u);
  run.stop_after_epochs = 0;
  run.resume = first.checkpoint;
  const TrainResult resumed = train_run(TrainConfig{}, run);  // the checkpoint's config is used
  ASSERT_EQ(resumed.history.size(), 2u);
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(straight.history[std::size_t(e)].train_loss, resumed.history[std::size_t(e)].train_loss);
    EXPECT_EQ(straight.history[std::size_t(e)].test_top1, resumed.history[std::size_t(e)].test_top1);
  }
  LoadedNet a = net_load(straight.checkpoint), b = net_load(resumed.checkpoint);
  const auto pa = a.net->named_parameters(), pb = b.net->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  const auto ba = a.net->named_buffers(), bb = b.net->named_buffers();
  for (const auto& item : ba) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
}

void expect_same_net(const fs::path& a_ckpt, const fs::path& b_ckpt) {
  LoadedNet a = net_load(a_ckpt), b = net_load(b_ckpt);
  const auto pa = a.net->named_parameters(), pb = b.net->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
}

// A schedule changed on resume (--resume CKPT --epochs N) is part of the run: resuming again
// later follows the same learning-rate curve as running through (4 epochs cut to 3 after epoch 1;
// straight to the end, against stopped after epoch 2 and resumed).
TEST(Resume, AfterAScheduleChangeContinuesExactly) {
  const fs::path dir = test_dir("resume-change");
  TrainConfig c = short_config("sttn", "ternary", 4, 256);
  c.batch = 64;
  auto changed = [&](const std::string& name, int stop_after_change) {
    RunOptions run = quiet_run(dir / name, 50);
    run.stop_after_epochs = 1;
    const TrainResult first = train_run(c, run);
    run.resume = first.checkpoint;
    run.resume_epochs = 3;
    run.stop_after_epochs = stop_after_change;
    TrainResult r = train_run(TrainConfig{}, run);
    if (stop_after_change > 0) {
      run.resume_epochs = 0;
      run.stop_after_epochs = 0;
      r = train_run(TrainConfig{}, run);
    }
    return r;
  };
  const TrainResult straight = changed("straight", 0), split = changed("split", 1);
  ASSERT_EQ(straight.history.size(), 3u);
  ASSERT_EQ(split.history.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(straight.history[e].lr, split.history[e].lr) << "epoch " << e + 1;
    EXPECT_EQ(straight.history[e].train_loss, split.history[e].train_loss) << "epoch " << e + 1;
  }
  // The curve itself (each epoch reports its last step's rate; 4 steps per epoch): a cosine over
  // 16 steps until step 4, then from the rate reached there a cosine down to 0 at step 12.
  // Written out here on its own; same operations, so within a few ulps.
  const double pi = std::acos(-1.0);
  const auto cosine = [&](double base, double step, double total) {
    return base * 0.5 * (1.0 + std::cos(pi * step / total));
  };
  const double at_change = cosine(c.lr, 4, 16);
  EXPECT_DOUBLE_EQ(straight.history[0].lr, cosine(c.lr, 3, 16));
  EXPECT_DOUBLE_EQ(straight.history[1].lr, cosine(at_change, 7 - 4, 12 - 4));
  EXPECT_DOUBLE_EQ(straight.history[2].lr, cosine(at_change, 11 - 4, 12 - 4));
  expect_same_net(straight.checkpoint, split.checkpoint);

  // A finished run has reached a rate of 0: more epochs would train at 0, and are refused.
  RunOptions more = quiet_run(dir / "more", 50);
  more.resume = straight.checkpoint;
  more.resume_epochs = 5;
  try {
    train_run(TrainConfig{}, more);
    ADD_FAILURE() << "extended a finished run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("learning rate of 0"), std::string::npos) << e.what();
  }
}

// The checkpoint's tensors must have the shapes its config implies, its optimizer state the
// shapes of the parameters: an edited or mixed-up file is one error naming the file.
TEST(Resume, RefusesTensorsOfOtherShapes) {
  const fs::path dir = test_dir("resume-shapes");
  const TrainResult sttn = train_run(short_config("sttn", "ternary", 1, 128), quiet_run(dir / "sttn", 50));
  const TrainResult twn = train_run(short_config("twn", "ternary", 1, 128), quiet_run(dir / "twn", 50));
  auto expect_error = [&](const fs::path& ckpt, const std::string& what) {
    RunOptions run = quiet_run(dir / "resumed", 50);
    run.resume = ckpt;
    try {
      train_run(TrainConfig{}, run);
      ADD_FAILURE() << "resumed " << ckpt;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(ckpt.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  CheckpointFile f = checkpoint_file_read(sttn.checkpoint);
  f.header["config"]["weights"] = "twn";  // STTN's (2, O, I, 3, 3) latents under a TWN config
  checkpoint_file_write(dir / "relabelled.bin", f);
  expect_error(dir / "relabelled.bin", "model tensor 'w1'");
  try {
    net_load(dir / "relabelled.bin");
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("relabelled.bin"), std::string::npos) << e.what();
  }
  f = checkpoint_file_read(sttn.checkpoint);
  f.blobs["optimizer"] = checkpoint_file_read(twn.checkpoint).blobs["optimizer"];
  checkpoint_file_write(dir / "mixed.bin", f);
  expect_error(dir / "mixed.bin", "moments of shape");
}

// ---- Distillation -------------------------------------------------------------------------------

// The seed of the randomized tests (STQN_SEED overrides), printed.
uint64_t test_seed() {
  const char* env = std::getenv("STQN_SEED");
  const uint64_t seed = env ? std::strtoull(env, nullptr, 10) : 20261127;
  std::printf("seed %llu (STQN_SEED overrides)\n", static_cast<unsigned long long>(seed));
  return seed;
}

// The soft-target loss against the formula written out in double precision:
// (1 - w) CE + w T^2 (1/N) sum_n sum_c p_c (log p_c - log q_c), p = softmax(t / T), q = softmax(s / T).
TEST(Distillation, LossMatchesTheFormula) {
  torch::manual_seed(test_seed());
  const int n = 16, classes = kClasses;
  const Tensor student = torch::randn({n, classes}).mul(3);
  const Tensor teacher = torch::randn({n, classes}).mul(3);
  const Tensor labels = torch::randint(0, classes, {n}, torch::kLong);
  for (const auto& [t, w] : std::vector<std::pair<double, double>>{{4, 0.5}, {1, 0.9}, {2.5, 0.25}}) {
    TrainConfig c;
    c.kd_temperature = t;
    c.kd_weight = w;
    const double got = training_loss(student, labels, teacher, c).item<double>();
    const Tensor s = student.to(torch::kDouble), te = teacher.to(torch::kDouble);
    double ce = 0, kl = 0;
    for (int i = 0; i < n; ++i) {
      double zs = 0, zt = 0, zs_t = 0;
      for (int k = 0; k < classes; ++k) {
        zs += std::exp(s[i][k].item<double>());
        zs_t += std::exp(s[i][k].item<double>() / t);
        zt += std::exp(te[i][k].item<double>() / t);
      }
      ce -= s[i][labels[i].item<int64_t>()].item<double>() - std::log(zs);
      for (int k = 0; k < classes; ++k) {
        const double log_p = te[i][k].item<double>() / t - std::log(zt);
        const double log_q = s[i][k].item<double>() / t - std::log(zs_t);
        kl += std::exp(log_p) * (log_p - log_q);
      }
    }
    const double expected = (1 - w) * ce / n + w * t * t * kl / n;
    EXPECT_NEAR(got, expected, 1e-5 * std::abs(expected)) << "T " << t << " w " << w;
  }
  // Without a teacher the loss is plain cross-entropy.
  EXPECT_TRUE(torch::equal(training_loss(student, labels, Tensor(), TrainConfig{}),
                           torch::nn::functional::cross_entropy(student, labels)));
}

// A run distilled from an fp32 teacher checkpoint (--teacher): with weight 0 it is bit-identical
// to a run without a teacher (the soft term adds exact zeros); with weight 0.5 it differs.
TEST(Distillation, TeacherCheckpointDrivesTheStudent) {
  const fs::path dir = test_dir("distill");
  RunOptions run = quiet_run(dir / "teacher", 50);
  const TrainResult teacher = train_run(short_config("fp32", "relu", 1, 256), run);

  auto student = [&](const std::string& name, const std::string& teacher_ckpt, double weight) {
    TrainConfig c = short_config("sttn", "ternary", 1, 256);
    c.teacher = teacher_ckpt;
    c.kd_weight = weight;
    run.out_dir = dir / name;
    return train_run(c, run);
  };
  const TrainResult plain = student("plain", "", 0.5);
  const TrainResult zero = student("kd0", teacher.checkpoint.string(), 0.0);
  const TrainResult half = student("kd05", teacher.checkpoint.string(), 0.5);
  EXPECT_EQ(plain.history[0].train_loss, zero.history[0].train_loss);
  EXPECT_NE(plain.history[0].train_loss, half.history[0].train_loss);
  LoadedNet a = net_load(plain.checkpoint), b = net_load(zero.checkpoint), c = net_load(half.checkpoint);
  const auto pa = a.net->named_parameters(), pb = b.net->named_parameters(), pc = c.net->named_parameters();
  EXPECT_TRUE(torch::equal(pa["w1"], pb["w1"]));
  EXPECT_FALSE(torch::equal(pa["w1"], pc["w1"]));
  EXPECT_EQ(c.config.teacher, teacher.checkpoint.string());
  EXPECT_EQ(c.config.teacher_crc32, net_load(teacher.checkpoint).crc32);
}

// A run records which teacher file it was distilled from (its CRC-32); resuming it after that file
// was replaced is refused, naming the checkpoint, the field and the teacher.
TEST(Distillation, ResumeRefusesAReplacedTeacher) {
  const fs::path dir = test_dir("distill-replaced");
  const TrainResult teacher = train_run(short_config("fp32", "relu", 1, 128), quiet_run(dir / "teacher", 50));
  TrainConfig c = short_config("sttn", "ternary", 2, 128);
  c.teacher = teacher.checkpoint.string();
  RunOptions run = quiet_run(dir / "student", 50);
  run.stop_after_epochs = 1;
  const TrainResult first = train_run(c, run);
  TrainConfig other = short_config("fp32", "relu", 1, 128);
  other.seed = 2;
  train_run(other, quiet_run(dir / "teacher", 50));  // a different file at the same path
  run.resume = first.checkpoint;
  run.stop_after_epochs = 0;
  try {
    train_run(TrainConfig{}, run);
    FAIL() << "resumed with a replaced teacher";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(first.checkpoint.string()), std::string::npos) << m;
    EXPECT_NE(m.find("teacher_crc32"), std::string::npos) << m;
    EXPECT_NE(m.find(teacher.checkpoint.string()), std::string::npos) << m;
  }
  // A checkpoint written before the field existed is resumed, and from then on holds the teacher
  // file it was resumed with.
  CheckpointFile legacy = checkpoint_file_read(first.checkpoint);
  legacy.header["config"].erase("teacher_crc32");
  checkpoint_file_write(dir / "legacy.bin", legacy);
  run.resume = dir / "legacy.bin";
  run.out_dir = dir / "legacy";
  const TrainResult resumed = train_run(TrainConfig{}, run);
  EXPECT_EQ(net_load(resumed.checkpoint).config.teacher_crc32, net_load(teacher.checkpoint).crc32);
}

// ---- Starting from an fp32 checkpoint (--init) ------------------------------------------------

// fp32 from fp32 is the same function bit for bit (stem, batch norms with their running
// statistics, blocks and head all copied); STTN's merged codes are the ternarization of the fp32
// weights at +-D, D_o = 0.7 mean|w_o| (written out here elementwise); TWN starts from w itself.
TEST(Init, Fp32CheckpointSeedsTheQuantizers) {
  const fs::path dir = test_dir("init");
  const TrainResult fp = train_run(short_config("fp32", "relu", 1, 256), quiet_run(dir / "fp32", 50));
  const std::string where = fp.checkpoint.string();
  LoadedNet src = net_load(fp.checkpoint);
  const auto from = src.net->named_parameters();

  Net copy(config_of("fp32", "relu"));
  copy->init_from(*src.net, where);
  copy->eval();
  const Tensor x = torch::rand({4, 1, 28, 28});
  EXPECT_TRUE(torch::equal(copy->forward(x), src.net->forward(x)));

  Net sttn(config_of("sttn", "ternary")), twn(config_of("twn", "ternary"));
  sttn->init_from(*src.net, where);
  twn->init_from(*src.net, where);
  EXPECT_TRUE(torch::equal(sttn->named_parameters()["fc_w"], from["fc_w"]));
  for (int j = 1; j < kConvs; ++j) {
    const Tensor w = from[fmt::format("w{}", j)].contiguous();
    EXPECT_TRUE(torch::equal(twn->named_parameters()[fmt::format("w{}", j)], w));
    const Tensor codes = sttn->int_conv(j).codes.contiguous();
    ASSERT_EQ(codes.numel(), w.numel());
    const int64_t per_channel = w[0].numel();
    const float* pw = w.data_ptr<float>();
    const float* pc = codes.data_ptr<float>();
    int zeros = 0;
    for (int64_t o = 0; o < w.size(0); ++o) {
      double sum = 0;
      for (int64_t i = 0; i < per_channel; ++i) sum += std::abs(pw[o * per_channel + i]);
      const double d = 0.7 * sum / double(per_channel);
      for (int64_t i = 0; i < per_channel; ++i) {
        const double v = pw[o * per_channel + i];
        // The trainer computes D in float: a weight within its rounding of +-D may take either code.
        if (std::abs(std::abs(v) - d) < 1e-5 * d) continue;
        const float expected = v >= d ? 1.0f : (v < -d ? -1.0f : 0.0f);
        ASSERT_EQ(pc[o * per_channel + i], expected) << "block " << j << " channel " << o << " weight " << i;
        zeros += expected == 0.0f;
      }
    }
    EXPECT_GT(zeros, 0) << "block " << j;  // the zero level is used, as in TWN
  }
}

// Batch-norm re-estimation: over N images in B batches, the stem's batch norm ends up holding the
// plain average of the B batch means and of the B (unbiased) batch variances of the stem output,
// whatever its running averages held before; the momentum is restored and the net is left in
// eval mode.
TEST(BatchNorm, RecalibrationAveragesTheBatchStatistics) {
  Net net(config_of("sttn", "ternary"));
  auto* bn = net->named_modules()["bn0"]->as<torch::nn::BatchNorm2d>();
  ASSERT_NE(bn, nullptr);
  bn->running_mean.fill_(5.0);
  bn->running_var.fill_(7.0);
  const Dataset& d = test_set();
  constexpr int kBatch = 100, kBatches = 3;
  bn_recalibrate(net, d, kBatch * kBatches, kBatch);

  const IntConv stem = net->int_conv(0);
  const Tensor w = stem.codes.mul(stem.scale.reshape({-1, 1, 1, 1}));
  Tensor mean = torch::zeros({w.size(0)}, torch::kDouble), var = torch::zeros_like(mean);
  for (int b = 0; b < kBatches; ++b) {
    const Tensor z = torch::nn::functional::conv2d(
        pixels(d, b * kBatch, kBatch, kPixelScale), w,
        torch::nn::functional::Conv2dFuncOptions().padding(1)).to(torch::kDouble);
    mean += z.mean({0, 2, 3}) / kBatches;
    var += z.var({0, 2, 3}, /*unbiased=*/true) / kBatches;
  }
  // Float tolerance: torch's batch norm sums the same float products in another order.
  EXPECT_TRUE(torch::allclose(bn->running_mean.to(torch::kDouble), mean, 1e-4, 1e-6));
  EXPECT_TRUE(torch::allclose(bn->running_var.to(torch::kDouble), var, 1e-4, 1e-6));
  ASSERT_TRUE(bn->options.momentum().has_value());
  EXPECT_DOUBLE_EQ(*bn->options.momentum(), 0.1);
  EXPECT_FALSE(net->is_training());
}

// The max-pools on the batch norm's output (pool_before_act) give the same forward values as on
// the codes, since the activation is monotone; only the gradient moves: on codes it goes to the
// first of tied codes, on u to the largest u. Checked on one 2 x 2 window of ternary codes all +1
// and on the whole network.
TEST(PoolPosition, SameValuesGradientToTheLargestInput) {
  namespace F = torch::nn::functional;
  const auto pool = F::MaxPool2dFuncOptions(2);
  const Tensor u0 = torch::tensor({0.6, 0.7, 0.9, 0.8}, torch::kDouble).view({1, 1, 2, 2});
  Tensor on_u = u0.clone().requires_grad_(true), on_codes = u0.clone().requires_grad_(true);
  const Tensor a = act_ternary(F::max_pool2d(on_u, pool));
  const Tensor b = F::max_pool2d(act_ternary(on_codes), pool);
  EXPECT_TRUE(torch::equal(a, b));
  a.sum().backward();
  b.sum().backward();
  EXPECT_TRUE(torch::equal(on_u.grad().flatten(), torch::tensor({0.0, 0.0, 1.0, 0.0}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(on_codes.grad().flatten(), torch::tensor({1.0, 0.0, 0.0, 0.0}, torch::kDouble)));

  TrainConfig bn_cfg = config_of("sttn", "ternary"), codes_cfg = bn_cfg;
  bn_cfg.pool_before_act = true;
  codes_cfg.pool_before_act = false;
  torch::manual_seed(11);
  Net at_bn(bn_cfg);
  torch::manual_seed(11);
  Net at_codes(codes_cfg);
  const Tensor x = pixels(test_set(), 0, 32, kPixelScale);
  const Tensor la = at_bn->forward(x), lb = at_codes->forward(x);  // training mode
  EXPECT_TRUE(torch::equal(la, lb));
  la.sum().backward();
  lb.sum().backward();
  const Tensor ga = at_bn->named_parameters()["w1"].grad(), gb = at_codes->named_parameters()["w1"].grad();
  EXPECT_FALSE(torch::equal(ga, gb)) << "block 1's gradient should change with the pool position";
}

// Checkpoints written before a configuration key existed keep the behaviour they were trained
// with; a written key round-trips.
TEST(Config, KeysAddedLaterMeanTheOldBehaviour) {
  TrainConfig c = config_of("sttn", "ternary", "uint:3");
  c.pool_before_act = true;
  c.bn_recal = 500;
  const auto parse = [](const nlohmann::json& j) { return TrainConfig::from_json(JsonField(j, "config", "test")); };
  const TrainConfig back = parse(c.to_json());
  EXPECT_TRUE(back.pool_before_act);
  EXPECT_EQ(back.bn_recal, 500);
  EXPECT_EQ(back.head().name(), "uint:3");
  EXPECT_EQ(back.acts.name(), "ternary");
  nlohmann::json old = c.to_json();
  c.teacher_crc32 = 0xdeadbeef;
  EXPECT_EQ(parse(c.to_json()).teacher_crc32, 0xdeadbeefu);
  EXPECT_FALSE(parse(c.to_json()).init_crc32.has_value());
  for (const char* key : {"pool_at", "bn_recal", "head_acts", "teacher_crc32"}) old.erase(key);
  const TrainConfig o = parse(old);
  EXPECT_FALSE(o.pool_before_act);
  EXPECT_EQ(o.bn_recal, 0);
  EXPECT_EQ(o.head().name(), "ternary");
  EXPECT_FALSE(o.teacher_crc32.has_value());
}

// A run with --init records its source; a quantized checkpoint or a missing file is refused with
// an error naming the file.
TEST(Init, RunRecordsItsSourceAndRefusesBadOnes) {
  const fs::path dir = test_dir("init-run");
  RunOptions run = quiet_run(dir / "fp32", 50);
  const TrainResult fp = train_run(short_config("fp32", "relu", 1, 256), run);
  TrainConfig c = short_config("sttn", "ternary", 1, 256);
  c.init = fp.checkpoint.string();
  run.out_dir = dir / "sttn";
  const TrainResult st = train_run(c, run);
  EXPECT_EQ(net_load(st.checkpoint).config.init, fp.checkpoint.string());
  EXPECT_EQ(net_load(st.checkpoint).config.init_crc32, net_load(fp.checkpoint).crc32);

  c.init = st.checkpoint.string();  // not fp32
  run.out_dir = dir / "from-sttn";
  try {
    train_run(c, run);
    FAIL() << "a quantized --init checkpoint was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(st.checkpoint.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("config.weights"), std::string::npos) << e.what();
  }
  c.init = (dir / "missing.bin").string();
  run.out_dir = dir / "missing";
  try {
    train_run(c, run);
    FAIL() << "a missing --init checkpoint was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.bin"), std::string::npos) << e.what();
  }
}

// ---- Plots ------------------------------------------------------------------------------------

// Width and height from a PNG's IHDR chunk (after checking the signature).
std::pair<uint32_t, uint32_t> png_size(const fs::path& png) {
  const std::string b = file_read(png);
  EXPECT_GE(b.size(), 24u);
  EXPECT_EQ(b.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(b.substr(12, 4), "IHDR");
  auto be32 = [&](std::size_t at) {
    return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 |
           uint32_t(uint8_t(b[at + 2])) << 8 | uint32_t(uint8_t(b[at + 3]));
  };
  return {be32(16), be32(20)};
}

// Figure 1's data: TWN codes follow the hard threshold 0.7 of the normalised latent weight (no
// overlap), STTN codes follow the signs of the two kernels; and `stqn-train plot` draws PNGs.
TEST(Plot, LatentWeightsAndPngs) {
  const fs::path dir = test_dir("plot");
  for (const char* w : {"twn", "sttn"}) train_run(short_config(w, "ternary", 2, 256), quiet_run(dir / w, 50));
  const LatentPanel twn = latent_weights(dir / "twn" / "checkpoint.bin", 2);
  ASSERT_EQ(twn.value.size(), std::size_t(64 * 32 * 9));
  ASSERT_EQ(twn.code.size(), twn.value.size());
  for (std::size_t i = 0; i < twn.value.size(); ++i) {
    const float v = twn.value[i];
    const int expected = std::abs(v) <= 0.7f ? 0 : (v > 0 ? 1 : -1);
    // Only values within rounding of the threshold may go either way.
    if (std::abs(std::abs(v) - 0.7f) > 1e-5f) {
      ASSERT_EQ(twn.code[i], expected) << "weight " << i << " value " << v;
    }
  }
  const LatentPanel sttn = latent_weights(dir / "sttn" / "checkpoint.bin", 2);
  ASSERT_EQ(sttn.value.size(), twn.value.size());
  long zeros = 0;
  for (int code : sttn.code) {
    ASSERT_TRUE(code >= -1 && code <= 1);
    zeros += code == 0;
  }
  EXPECT_GT(zeros, 0);
  EXPECT_LT(zeros, long(sttn.code.size()));
  EXPECT_THROW(latent_weights(dir / "sttn" / "checkpoint.bin", 0), Error);

  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot is not installed (scripts/setup-deps.sh installs gnuplot-nox)";
  plot_latent({sttn, twn}, dir / "figure1.png");
  const auto [w, h] = png_size(dir / "figure1.png");
  EXPECT_EQ(w, 1280u);
  EXPECT_EQ(h, 420u);
  plot_curves(metrics_read(dir / "sttn" / "metrics.json"), "sttn", dir / "curves.png");
  EXPECT_EQ(png_size(dir / "curves.png").first, 1280u);
  // The command line writes both next to the run's metrics.
  const std::string cmd = std::string(STQN_TRAIN) + " plot --run " + (dir / "sttn").string() +
                          " --compare " + (dir / "twn").string() + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  png_size(dir / "sttn" / "curves.png");
  EXPECT_EQ(png_size(dir / "sttn" / "latent-block2.png").first, 1280u);
}

}  // namespace
}  // namespace stqn::trainer
