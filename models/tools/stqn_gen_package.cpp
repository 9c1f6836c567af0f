// stqn-gen-package: writes a valid model package with random codes and calibrated thresholds,
// either of random shape or of the reference network's topology (for tests and benchmarks).
#include "stqn/error.hpp"
#include "stqn/package.hpp"
#include "stqn/random_package.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

int main(int argc, char** argv) {
  CLI::App app{"stqn-gen-package: write a random valid model package"};
  std::string out, topology = "random", weights = "ternary", acts = "ternary";
  std::uint64_t seed = 1;
  app.add_option("--out", out, "package directory to write")->required();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--topology", topology, "random or reference")
      ->check(CLI::IsMember({"random", "reference"}))
      ->capture_default_str();
  app.add_option("--weights", weights, "reference topology: ternary or odd2..odd4")
      ->check(CLI::IsMember({"ternary", "odd2", "odd3", "odd4"}))
      ->capture_default_str();
  app.add_option("--acts", acts, "reference topology: ternary or uint2..uint4")
      ->check(CLI::IsMember({"ternary", "uint2", "uint3", "uint4"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    stqn::Package package;
    if (topology == "random") {
      package = stqn::random_package(seed);
    } else {
      const stqn::WeightType wt = weights == "ternary"
                                      ? stqn::WeightType{stqn::format::WeightKind::Ternary, 2}
                                      : stqn::WeightType{stqn::format::WeightKind::Odd, weights[3] - '0'};
      const stqn::ActType at = acts == "ternary"
                                   ? stqn::ActType{stqn::format::ActKind::Ternary, 2}
                                   : stqn::ActType{stqn::format::ActKind::Uint, acts[4] - '0'};
      package = stqn::reference_topology_package(seed, wt, at);
    }
    stqn::package_save(package, out);
    fmt::print("wrote {} ({} layers, {} MACs per image, seed {})\n", out, package.layers.size(),
               package.macs(), seed);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "stqn-gen-package: error: {}\n", e.what());
    return 1;
  }
}
