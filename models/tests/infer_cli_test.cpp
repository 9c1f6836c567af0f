// stqn-infer as a user runs it: a good package gives results and JSON; a bad one gives one line
// on stderr naming the file, and a non-zero exit.
#include "stqn/fileio.hpp"
#include "stqn/package.hpp"
#include "stqn/random_package.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

namespace stqn {
namespace {

namespace fs = std::filesystem;

struct CliResult {
  int status;
  std::string out, err;
};

// Each test works in its own directory, so that ctest -j can run them side by side.
fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(STQN_TEST_TMP) / (std::string("cli-") + info->name());
  fs::create_directories(dir);
  return dir;
}

CliResult cli_run(const std::string& args) {
  const fs::path dir = test_dir();
  fs::create_directories(dir);
  const std::string cmd = std::string(STQN_INFER) + " " + args + " >" + (dir / "out").string() +
                          " 2>" + (dir / "err").string();
  const int raw = std::system(cmd.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, file_read(dir / "out"), file_read(dir / "err")};
}

fs::path reference_package_dir() {
  const fs::path dir = test_dir() / "package";
  package_save(reference_topology_package(3, {format::WeightKind::Ternary, 2},
                                          {format::ActKind::Ternary, 2}),
               dir);
  return dir;
}

TEST(InferCli, RunsAPackageAndWritesJson) {
  if (!fs::exists(STQN_DATA_DIR)) GTEST_SKIP() << STQN_DATA_DIR << " not installed";
  const fs::path pkg = reference_package_dir();
  const fs::path json = test_dir() / "result.json";
  const CliResult r = cli_run("--model " + pkg.string() + " --limit 300 --json " + json.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("300 images"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(file_read(json));
  EXPECT_EQ(doc["images"], 300);
  EXPECT_EQ(doc["predictions"].size(), 300u);
  EXPECT_EQ(doc["correct"].get<int>(),
            static_cast<int>(doc["accuracy"].get<double>() * 300 + 0.5));
  // The reference engine gives the same predictions.
  const fs::path json2 = test_dir() / "result-ref.json";
  ASSERT_EQ(cli_run("--model " + pkg.string() + " --limit 40 --engine reference --json " +
                json2.string())
                .status,
            0);
  const auto doc2 = nlohmann::json::parse(file_read(json2));
  for (int i = 0; i < 40; ++i) EXPECT_EQ(doc2["predictions"][i], doc["predictions"][i]) << i;
}

TEST(InferCli, DumpsOneLayer) {
  if (!fs::exists(STQN_DATA_DIR)) GTEST_SKIP() << STQN_DATA_DIR << " not installed";
  const fs::path pkg = reference_package_dir();
  const CliResult r = cli_run("--model " + pkg.string() + " --dump-layer 2 --image 5");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["name"], "pool1");
  EXPECT_EQ(doc["shape"], nlohmann::json({32, 14, 14}));
  EXPECT_EQ(doc["values"].size(), 32u * 14 * 14);
}

TEST(InferCli, BadPackageGivesOneLineAndNonZeroExit) {
  const fs::path pkg = reference_package_dir();
  fs::remove(pkg / "04_block3.weights.hex");
  const CliResult r = cli_run("--model " + pkg.string() + " --data " + STQN_DATA_DIR);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("04_block3.weights.hex"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
}

TEST(InferCli, BadDataDirectoryGivesOneLineAndNonZeroExit) {
  const fs::path pkg = reference_package_dir();
  const CliResult r = cli_run("--model " + pkg.string() + " --data /nonexistent");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/nonexistent/t10k-images-idx3-ubyte"), std::string::npos) << r.err;
}

TEST(InferCli, BadOptionIsAUsageError) {
  const CliResult r = cli_run("--model x --limit -3");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--limit"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stqn
