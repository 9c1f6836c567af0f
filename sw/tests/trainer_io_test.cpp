// Bad input to the trainer: corrupt checkpoints and data sets get one clear error naming the file,
// from the library and from the stqn-train command line (non-zero exit).
#include "stqn/checkpoint_file.hpp"
#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/plot.hpp"
#include "stqn/train_data.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <sys/wait.h>

namespace stqn {
namespace {

namespace fs = std::filesystem;

fs::path test_dir(const std::string& name) {
  const fs::path dir = fs::path(STQN_TEST_TMP) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

CheckpointFile sample() {
  CheckpointFile f;
  f.header = {{"format", "stqn-checkpoint"}, {"epoch", 3}};
  f.blobs["model"] = std::string("model bytes\0with a zero", 23);
  f.blobs["optimizer"] = "opt";
  return f;
}

// Expects checkpoint_file_read to throw an Error that names the file and contains `what`.
void expect_bad(const fs::path& path, const std::string& what) {
  try {
    checkpoint_file_read(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

TEST(CheckpointFile, RoundTrips) {
  const fs::path p = test_dir("ckpt-ok") / "c.bin";
  checkpoint_file_write(p, sample());
  const CheckpointFile back = checkpoint_file_read(p);
  EXPECT_EQ(back.header, sample().header);
  EXPECT_EQ(back.blobs, sample().blobs);
}

TEST(CheckpointFile, BadInputsNameTheFile) {
  const fs::path dir = test_dir("ckpt-bad");
  checkpoint_file_write(dir / "good.bin", sample());
  const std::string good = file_read(dir / "good.bin");

  expect_bad(dir / "missing.bin", "missing.bin");
  file_write_atomic(dir / "empty.bin", "");
  expect_bad(dir / "empty.bin", "not an stqn checkpoint");
  file_write_atomic(dir / "magic.bin", "XXXXXXXX" + good.substr(8));
  expect_bad(dir / "magic.bin", "not an stqn checkpoint");
  std::string version = good;
  version[8] = 9;
  file_write_atomic(dir / "version.bin", version);
  expect_bad(dir / "version.bin", "version");
  file_write_atomic(dir / "truncated.bin", good.substr(0, good.size() - 10));
  expect_bad(dir / "truncated.bin", "CRC-32 mismatch");
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x10;
  file_write_atomic(dir / "flipped.bin", flipped);
  expect_bad(dir / "flipped.bin", "CRC-32 mismatch");
  std::string huge = good;
  huge[19] = 0x7f;  // header size far beyond the file
  file_write_atomic(dir / "header.bin", huge);
  expect_bad(dir / "header.bin", "header size");
}

TEST(TrainData, AugmentationShiftsAndFlipsWithZeroFill) {
  Dataset d;
  d.count = 1;
  d.height = d.width = 4;
  for (int i = 0; i < 16; ++i) d.images.push_back(std::uint8_t(i + 1));
  d.labels = {0};
  TrainRng rng(1);
  const int idx = 0;
  std::vector<float> out(16);
  batch_fill(d, &idx, 1, false, rng, 1.0f, out.data());
  for (int i = 0; i < 16; ++i) EXPECT_EQ(out[std::size_t(i)], float(i + 1));
  // Every augmented image is a shifted (and maybe flipped) copy: pixel sums shrink only by
  // zero fill, and values come from the image.
  for (int trial = 0; trial < 50; ++trial) {
    batch_fill(d, &idx, 1, true, rng, 1.0f, out.data());
    for (float v : out) EXPECT_TRUE(v == 0.0f || (v >= 1 && v <= 16));
  }
  // RNG state round trip.
  const std::string state = rng_save(rng);
  TrainRng copy = rng_load(state, "test");
  EXPECT_EQ(copy(), rng());
  EXPECT_THROW(rng_load("not a state", "x.bin"), Error);
}

// ---- The command line ---------------------------------------------------------------------------

struct CliResult {
  int status;
  std::string output;
};

CliResult cli(const std::string& args) {
  const std::string cmd = std::string(STQN_TRAIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

void expect_one_line_error(const CliResult& r, const std::string& names) {
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("stqn-train: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(names), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

TEST(TrainCli, MissingOrCorruptCheckpointIsOneLineError) {
  const fs::path dir = test_dir("cli");
  expect_one_line_error(cli("export --checkpoint " + (dir / "nope.bin").string() + " --package " +
                            (dir / "pkg").string()),
                        "nope.bin");
  file_write_atomic(dir / "junk.bin", "STQNCKPT but not really a checkpoint");
  expect_one_line_error(cli("export --checkpoint " + (dir / "junk.bin").string() + " --package " +
                            (dir / "pkg").string()),
                        "junk.bin");
  expect_one_line_error(cli("train --out " + (dir / "r").string() + " --resume " +
                            (dir / "junk.bin").string()),
                        "junk.bin");
  // A well-formed container whose config is invalid: the error names the file and the field.
  CheckpointFile f = sample();
  f.header["config"] = {{"weights", "sttn"}, {"acts", "quinary"}};
  checkpoint_file_write(dir / "config.bin", f);
  const CliResult r = cli("export --checkpoint " + (dir / "config.bin").string() + " --package " +
                    (dir / "pkg").string());
  expect_one_line_error(r, "config.bin");
  EXPECT_NE(r.output.find("config"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "pkg"));
}

TEST(TrainCli, BadDataDirectoryNamesTheIdxFile) {
  const fs::path dir = test_dir("cli-data");
  file_write_atomic(dir / "train-images-idx3-ubyte", std::string("\x00\x00\x08\x03 too short", 15));
  expect_one_line_error(cli("train --quiet --epochs 1 --out " + (dir / "r").string() + " --data " +
                            dir.string()),
                        "train-");
}

TEST(TrainCli, BadQuantizerNameIsRejected) {
  const fs::path dir = test_dir("cli-q");
  expect_one_line_error(cli("train --weights stqn:9 --out " + (dir / "r").string()), "stqn:9");
  expect_one_line_error(cli("train --acts uint:0 --out " + (dir / "r").string()), "uint:0");
  expect_one_line_error(cli("train --weights stqn:02 --out " + (dir / "r").string()), "--weights");
  expect_one_line_error(cli("train --head-acts foo --out " + (dir / "r").string()), "--head-acts");
}

// Numbers out of the range the checkpoint reader accepts are refused before anything runs (a run
// that starts must be resumable and exportable), by CLI11 with the option's name.
TEST(TrainCli, OutOfRangeNumbersAreRejected) {
  const fs::path dir = test_dir("cli-range");
  for (const std::string bad : {"--kd-temperature 0", "--kd-temperature -4", "--seed 18446744073709551615",
                                "--train-limit -5", "--test-limit -1", "--stop-after -1", "--lr inf",
                                "--lr 0", "--lr nan", "--kd-weight 1.5", "--kd-weight nan", "--kd-temperature nan"}) {
    const CliResult r = cli("train --quiet " + bad + " --out " + (dir / "r").string());
    EXPECT_NE(r.status, 0) << bad << ": " << r.output;
    EXPECT_NE(r.output.find(bad.substr(0, bad.find(' '))), std::string::npos) << bad << ": " << r.output;
    EXPECT_LT(r.output.size(), 300u) << bad << ": " << r.output;
  }
  EXPECT_FALSE(fs::exists(dir / "r"));
}

// A run directory that already holds a checkpoint is not overwritten by a fresh start.
TEST(TrainCli, FreshStartKeepsAnExistingRun) {
  const fs::path dir = test_dir("cli-existing");
  fs::create_directories(dir / "r");
  checkpoint_file_write(dir / "r" / "checkpoint.bin", sample());
  const std::string before = file_read(dir / "r" / "checkpoint.bin");
  expect_one_line_error(cli("train --quiet --epochs 1 --out " + (dir / "r").string()), "--resume");
  EXPECT_EQ(file_read(dir / "r" / "checkpoint.bin"), before);
}

// The reference network takes 28 x 28 images: a well-formed IDX file of another size is refused,
// naming the file.
TEST(TrainCli, ImagesOfAnotherSizeAreRefused) {
  const fs::path dir = test_dir("cli-size");
  auto be32 = [](std::uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  for (const std::string split : {"train", "t10k"}) {
    file_write_atomic(dir / (split + "-images-idx3-ubyte"),
                      be32(0x803) + be32(1) + be32(14) + be32(56) + std::string(14 * 56, '\0'));
    file_write_atomic(dir / (split + "-labels-idx1-ubyte"), be32(0x801) + be32(1) + std::string(1, '\3'));
  }
  expect_one_line_error(cli("train --quiet --epochs 1 --out " + (dir / "r").string() + " --data " + dir.string()),
                        "train-images-idx3-ubyte: dimensions: the reference network takes 28x28 images");
}

// Plot input is validated: a metrics file without epochs is one error naming the file.
TEST(Plot, BadMetricsFileNamesTheFile) {
  const fs::path dir = test_dir("plot-bad");
  file_write_atomic(dir / "metrics.json", "{\"config\": {}, \"epochs\": []}");
  try {
    metrics_read(dir / "metrics.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.json"), std::string::npos) << e.what();
  }
  file_write_atomic(dir / "metrics.json", "{\"config\": {}, \"epochs\": [{\"epoch\": 1}]}");
  EXPECT_THROW(metrics_read(dir / "metrics.json"), Error);
  EXPECT_THROW(plot_latent({}, dir / "x.png"), Error);
}

}  // namespace
}  // namespace stqn
