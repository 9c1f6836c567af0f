// Quantizer names, the training configuration and metrics as JSON (torch-free).
#include "stqn/error.hpp"
#include "stqn/json_field.hpp"
#include "stqn/train.hpp"

namespace stqn {

namespace {

// "name" or "name:K" -> (name, K); K = -1 when absent.
std::pair<std::string, int> split_bits(const std::string& text, const std::string& what) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) return {text, -1};
  const std::string digits = text.substr(colon + 1);
  if (digits.size() != 1 || digits.find_first_not_of("0123456789") != std::string::npos) {
    fail(what, "'{}': expected NAME:K with K a number of bits", text);
  }
  return {text.substr(0, colon), std::stoi(digits)};
}

}  // namespace

int WeightSpec::kernels() const {
  switch (kind) {
    case WeightQuant::Sttn: return 2;
    case WeightQuant::Stqn: return (1 << bits) - 1;
    default: return 1;
  }
}

std::string WeightSpec::name() const {
  switch (kind) {
    case WeightQuant::Fp32: return "fp32";
    case WeightQuant::Twn: return "twn";
    case WeightQuant::Sttn: return "sttn";
    case WeightQuant::Stqn: return fmt::format("stqn:{}", bits);
    case WeightQuant::Rtn: return fmt::format("rtn:{}", bits);
  }
  return "?";
}

WeightSpec WeightSpec::parse(const std::string& text, const std::string& option) {
  const auto [name, bits] = split_bits(text, option);
  WeightSpec s;
  if (bits < 0 && name == "fp32") s = {WeightQuant::Fp32, 32};
  else if (bits < 0 && name == "twn") s = {WeightQuant::Twn, 2};
  else if (bits < 0 && name == "sttn") s = {WeightQuant::Sttn, 2};
  else if (name == "stqn" && bits >= 2 && bits <= 4) s = {WeightQuant::Stqn, bits};
  else if (name == "rtn" && bits >= 2 && bits <= 4) s = {WeightQuant::Rtn, bits};
  else fail(option, "'{}': expected fp32, twn, sttn, stqn:K or rtn:K with K in 2..4", text);
  return s;
}

std::string ActSpec::name() const {
  switch (kind) {
    case ActQuant::Relu: return "relu";
    case ActQuant::Ternary: return "ternary";
    case ActQuant::Uint: return fmt::format("uint:{}", bits);
  }
  return "?";
}

ActSpec ActSpec::parse(const std::string& text, const std::string& option) {
  const auto [name, bits] = split_bits(text, option);
  if (bits < 0 && name == "relu") return {ActQuant::Relu, 32};
  if (bits < 0 && name == "ternary") return {ActQuant::Ternary, 2};
  if (name == "uint" && bits >= 1 && bits <= 4) return {ActQuant::Uint, bits};
  fail(option, "'{}': expected relu, ternary or uint:K with K in 1..4", text);
}

nlohmann::json TrainConfig::to_json() const {
  nlohmann::json j = {{"weights", weights.name()},
          {"acts", acts.name()},
          {"head_acts", head().name()},
          {"grad", grad == SoftGrad::Exact ? "exact" : "code"},
          {"epochs", epochs},
          {"batch", batch},
          {"lr", lr},
          {"optimizer", "adam"},
          {"schedule", "cosine"},
          {"seed", seed},
          {"augment", augment},
          {"train_limit", train_limit},
          {"teacher", teacher},
          {"init", init},
          {"kd_temperature", kd_temperature},
          {"kd_weight", kd_weight},
          {"bn_recal", bn_recal},
          {"pool_at", pool_before_act ? "bn" : "codes"}};
  if (teacher_crc32) j["teacher_crc32"] = *teacher_crc32;
  if (init_crc32) j["init_crc32"] = *init_crc32;
  return j;
}

TrainConfig TrainConfig::from_json(const JsonField& f) {
  TrainConfig c;
  try {
    c.weights = WeightSpec::parse(f.at("weights").string());
    c.acts = ActSpec::parse(f.at("acts").string());
    // Checkpoints written before head_acts existed used acts in the head too.
    if (f.has("head_acts")) c.head_acts = ActSpec::parse(f.at("head_acts").string());
  } catch (const Error& e) {
    f.error(std::string("a valid quantizer (") + e.what() + ")");
  }
  c.grad = f.at("grad").one_of({"exact", "code"}) == "exact" ? SoftGrad::Exact : SoftGrad::Code;
  c.epochs = static_cast<int>(f.at("epochs").integer(1, kMaxEpochs));
  c.batch = static_cast<int>(f.at("batch").integer(1, kMaxBatch));
  c.lr = f.at("lr").number(kMinLr, kMaxLr);
  c.seed = static_cast<std::uint64_t>(f.at("seed").integer(0, kMaxSeed));
  c.augment = f.at("augment").boolean();
  c.train_limit = static_cast<int>(f.at("train_limit").integer(0, kMaxImageCount));
  c.teacher = f.at("teacher").string();
  // Checkpoints written before --init existed have no "init": they started from random weights.
  c.init = f.has("init") ? f.at("init").string() : std::string();
  for (auto [key, crc] : {std::pair{"teacher_crc32", &c.teacher_crc32}, std::pair{"init_crc32", &c.init_crc32}}) {
    if (f.has(key)) *crc = static_cast<std::uint32_t>(f.at(key).integer(0, UINT32_MAX));
  }
  c.kd_temperature = f.at("kd_temperature").number(kMinKdTemperature, kMaxKdTemperature);
  c.kd_weight = f.at("kd_weight").number(0.0, 1.0);
  // Checkpoints written before bn_recal existed kept the momentum averages.
  c.bn_recal = f.has("bn_recal") ? static_cast<int>(f.at("bn_recal").integer(0, kMaxImageCount)) : 0;
  // Checkpoints written before pool_at existed pooled the codes.
  c.pool_before_act = f.has("pool_at") && f.at("pool_at").one_of({"bn", "codes"}) == "bn";
  return c;
}

nlohmann::json EpochMetrics::to_json() const {
  return {{"epoch", epoch},
          {"lr", lr},
          {"train_loss", train_loss},
          {"train_top1", train_top1},
          {"test_top1", test_top1},
          {"seconds", seconds},
          {"images_per_second", images_per_second},
          {"wall_seconds", wall_seconds}};
}

EpochMetrics EpochMetrics::from_json(const JsonField& f) {
  EpochMetrics m;
  m.epoch = static_cast<int>(f.at("epoch").integer(1, 10000));
  m.lr = f.at("lr").number();
  m.train_loss = f.at("train_loss").number();
  m.train_top1 = f.at("train_top1").number();
  m.test_top1 = f.at("test_top1").number();
  m.seconds = f.at("seconds").number();
  m.images_per_second = f.at("images_per_second").number();
  m.wall_seconds = f.at("wall_seconds").number();
  return m;
}

nlohmann::json ExportResult::to_json() const {
  auto list = [](const std::vector<Disagreement>& ds) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : ds) {
      out.push_back({{"image", d.image}, {"label", d.label}, {"golden", d.golden},
                     {"trainer", d.trainer}});
    }
    return out;
  };
  return {{"images", images},
          {"golden_top1", golden_top1},
          {"trainer_top1", trainer_top1},
          {"trainer_float_top1", trainer_float_top1},
          {"agreement", agreement},
          {"float_agreement", float_agreement},
          {"disagreements", list(disagreements)},
          {"float_disagreements", list(float_disagreements)}};
}

}  // namespace stqn
