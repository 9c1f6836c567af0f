// Package round trip and bad-input handling: every malformed manifest or memory image gets an
// stqn::Error whose message names the file and the field, and nothing crashes.
#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/package.hpp"
#include "stqn/random_package.hpp"
#include "stqn/reference.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

namespace stqn {
namespace {

namespace fs = std::filesystem;

class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(STQN_TEST_TMP) / (std::string(info->test_suite_name()) + "." + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_.parent_path());
    package_ = reference_topology_package(7, {format::WeightKind::Ternary, 2},
                                          {format::ActKind::Ternary, 2});
    package_save(package_, dir_);
  }

  nlohmann::json manifest() const {
    return nlohmann::json::parse(file_read(dir_ / "manifest.json"));
  }
  void write_manifest(const nlohmann::json& doc) const {
    file_write_atomic(dir_ / "manifest.json", doc.dump(1));
  }
  void edit_manifest(const std::function<void(nlohmann::json&)>& edit) const {
    nlohmann::json doc = manifest();
    edit(doc);
    write_manifest(doc);
  }
  // Replaces the `index`-th data word (0-based, comments skipped) of a memory image.
  void edit_word(const std::string& file, std::size_t index, const std::string& text) const {
    std::ifstream in(dir_ / file);
    std::string line, out;
    std::size_t word = 0;
    while (std::getline(in, line)) {
      if (line.rfind("//", 0) != 0 && word++ == index) line = text;
      out += line + "\n";
    }
    file_write_atomic(dir_ / file, out);
  }
  void drop_last_word(const std::string& file) const {
    std::string text = file_read(dir_ / file);
    text.resize(text.rfind('\n', text.size() - 2) + 1);
    file_write_atomic(dir_ / file, text);
  }

  // Loading must fail with a message that contains every one of `parts`.
  void expect_error(std::initializer_list<std::string> parts) const {
    try {
      package_load(dir_);
      FAIL() << "package_load accepted a bad package";
    } catch (const Error& e) {
      const std::string message = e.what();
      for (const auto& part : parts) {
        EXPECT_NE(message.find(part), std::string::npos)
            << "message \"" << message << "\" lacks \"" << part << "\"";
      }
      EXPECT_EQ(message.find('\n'), std::string::npos) << "message is not one line: " << message;
    }
  }

  fs::path dir_;
  Package package_;
};

TEST_F(PackageTest, RoundTripKeepsEveryValue) {
  const Package loaded = package_load(dir_);
  ASSERT_EQ(loaded.layers.size(), package_.layers.size());
  for (std::size_t i = 0; i < loaded.layers.size(); ++i) {
    EXPECT_EQ(loaded.layers[i].weights, package_.layers[i].weights) << "layer " << i;
    EXPECT_EQ(loaded.layers[i].thresholds, package_.layers[i].thresholds) << "layer " << i;
    EXPECT_EQ(loaded.layers[i].bias, package_.layers[i].bias) << "layer " << i;
    EXPECT_EQ(loaded.layers[i].out_shape, package_.layers[i].out_shape) << "layer " << i;
  }
}

TEST_F(PackageTest, RoundTripOfRandomPackagesOfEveryKind) {
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    const Package p = random_package(seed);
    const fs::path d = dir_.string() + "-" + std::to_string(seed);
    package_save(p, d);
    const Package q = package_load(d);
    for (std::size_t i = 0; i < p.layers.size(); ++i) {
      ASSERT_EQ(p.layers[i].weights, q.layers[i].weights) << "seed " << seed << " layer " << i;
      ASSERT_EQ(p.layers[i].thresholds, q.layers[i].thresholds) << "seed " << seed;
    }
    fs::remove_all(d);
  }
}

// The documented packing example of docs/formats.md: ternary codes -1, 0, +1, +1, -1 pack
// LSB-first at 2 bits each into 0x00000353 (0b11_01_01_00_11).
TEST(Packing, WorkedExampleOfTheFormatDocument) {
  Layer layer;
  layer.op = format::Op::Dense;
  layer.out_channels = 1;
  layer.in_shape = {5, 1, 1};
  layer.weight_type = {format::WeightKind::Ternary, 2};
  layer.weights = {-1, 0, 1, 1, -1};
  EXPECT_EQ(weights_pack(layer), std::vector<format::Word>{0x00000353});
  layer.weight_type = {format::WeightKind::Odd, 2};  // values -3,-1,1,3 <-> codes 0..3
  layer.weights = {-3, -1, 1, 3, 3};
  EXPECT_EQ(weights_pack(layer), std::vector<format::Word>{0x000003e4});
}

// odd8 levels reach +-255, beyond int8: code 0xff is +255 and code 0x00 is -255.
TEST(Packing, Odd8LevelsKeepTheirFullRange) {
  const WeightType odd8{format::WeightKind::Odd, 8};
  EXPECT_EQ(odd8.decode(0xff), 255);
  EXPECT_EQ(odd8.decode(0x00), -255);
  Layer layer;
  layer.op = format::Op::Dense;
  layer.out_channels = 1;
  layer.in_shape = {3, 1, 1};
  layer.weight_type = odd8;
  layer.weights = {255, -255, 1};
  EXPECT_EQ(weights_pack(layer), (std::vector<format::Word>{0x0080'00ff}));
}

TEST_F(PackageTest, MissingManifest) {
  fs::remove(dir_ / "manifest.json");
  expect_error({"manifest.json", "not found"});
}

TEST_F(PackageTest, ManifestNotJson) {
  file_write_atomic(dir_ / "manifest.json", "{ \"format\": ");
  expect_error({"manifest.json", "invalid JSON"});
}

TEST_F(PackageTest, JsonTypeError) {
  edit_manifest([](nlohmann::json& m) { m["layers"][1]["kernel"] = "3"; });
  expect_error({"manifest.json", "layers[1].kernel", "expected an integer"});
}

TEST_F(PackageTest, WrongFormatName) {
  edit_manifest([](nlohmann::json& m) { m["format"] = "onnx"; });
  expect_error({"manifest.json", "format", "stqn-package"});
}

TEST_F(PackageTest, UnknownFormatVersion) {
  edit_manifest([](nlohmann::json& m) { m["version"] = 99; });
  expect_error({"manifest.json", "version", "99"});
}

TEST_F(PackageTest, MissingField) {
  edit_manifest([](nlohmann::json& m) { m["layers"][0].erase("stride"); });
  expect_error({"manifest.json", "layers[0].stride", "missing"});
}

TEST_F(PackageTest, NegativeDimension) {
  edit_manifest([](nlohmann::json& m) { m["input"]["shape"][1] = -28; });
  expect_error({"manifest.json", "input.shape[1]", "expected an integer in [1, 1024]"});
}

TEST_F(PackageTest, AbsurdDimension) {
  edit_manifest([](nlohmann::json& m) { m["layers"][1]["out_channels"] = 1000000000; });
  expect_error({"manifest.json", "layers[1].out_channels"});
}

TEST_F(PackageTest, ShapesThatDoNotChain) {
  edit_manifest([](nlohmann::json& m) { m["layers"][3]["in_shape"][0] = 64; });
  expect_error({"manifest.json", "layers[3]", "in_shape", "expected [32, 14, 14]"});
}

TEST_F(PackageTest, OutShapeThatDisagreesWithGeometry) {
  edit_manifest([](nlohmann::json& m) { m["layers"][2]["stride"] = 1; });
  expect_error({"manifest.json", "layers[2]", "out_shape", "expected [32, 27, 27]"});
}

TEST_F(PackageTest, UnknownOp) {
  edit_manifest([](nlohmann::json& m) { m["layers"][2]["op"] = "avgpool"; });
  expect_error({"manifest.json", "layers[2].op", "one of"});
}

TEST_F(PackageTest, FileNameOutsideThePackage) {
  edit_manifest([](nlohmann::json& m) { m["layers"][0]["weights"]["file"] = "../etc/passwd"; });
  expect_error({"manifest.json", "layers[0].weights.file", "plain file name"});
}

TEST_F(PackageTest, MissingImage) {
  fs::remove(dir_ / weights_file_name(1, package_.layers[1]));
  expect_error({weights_file_name(1, package_.layers[1]), "not found"});
}

TEST_F(PackageTest, TruncatedImage) {
  drop_last_word(weights_file_name(3, package_.layers[3]));
  expect_error({weights_file_name(3, package_.layers[3]), "expected 1152 words, found 1151"});
}

TEST_F(PackageTest, ExtraWordsInImage) {
  const std::string file = thresholds_file_name(0, package_.layers[0]);
  file_write_atomic(dir_ / file, file_read(dir_ / file) + "00000000\n");
  expect_error({file, "more words than the 64 expected"});
}

TEST_F(PackageTest, NonHexImage) {
  edit_word(weights_file_name(1, package_.layers[1]), 5, "0000zz00");
  expect_error({weights_file_name(1, package_.layers[1]), "line", "not a hex digit"});
}

TEST_F(PackageTest, ShortWordInImage) {
  edit_word(weights_file_name(1, package_.layers[1]), 5, "123");
  expect_error({weights_file_name(1, package_.layers[1]), "exactly 8 hex digits"});
}

TEST_F(PackageTest, WordCountInManifestDisagrees) {
  edit_manifest([](nlohmann::json& m) { m["layers"][1]["weights"]["words"] = 575; });
  expect_error({"manifest.json", "layers[1].weights.words", "[576, 576]"});
}

TEST_F(PackageTest, TernaryCodeOutOfRange) {
  edit_word(weights_file_name(1, package_.layers[1]), 0, "00000002");  // 0b10 is no ternary code
  expect_error({weights_file_name(1, package_.layers[1]), "not a valid ternary code"});
}

TEST_F(PackageTest, UnusedBitsSet) {
  // The stem's rows hold one int8 code per word; bits 8..31 must be zero.
  edit_word(weights_file_name(0, package_.layers[0]), 0, "00000100");
  expect_error({weights_file_name(0, package_.layers[0]), "unused bits"});
}

TEST_F(PackageTest, ThresholdsNotSorted) {
  const std::string file = thresholds_file_name(1, package_.layers[1]);
  edit_word(file, 0, "7fffffff");  // line 2; the word on line 3 is now below it
  expect_error({file, "line 3", "non-decreasing"});
}

TEST_F(PackageTest, BiasBeyondTheAccumulatorRange) {
  const std::string file = bias_file_name(8, package_.layers[8]);
  edit_word(file, 4, "7fffffff");
  expect_error({file, "line 6", "bias 2147483647"});
}

TEST_F(PackageTest, NonPositiveLogitScale) {
  edit_manifest([](nlohmann::json& m) { m["layers"][8]["output"]["scale"] = -0.5; });
  expect_error({"manifest.json", "layers[8].output.scale", "positive"});
}

TEST_F(PackageTest, NumberTooLargeForADouble) {
  std::string text = file_read(dir_ / "manifest.json");
  text.replace(text.find("\"scale\": "), 9, "\"scale\": 1e400, \"x\": ");
  file_write_atomic(dir_ / "manifest.json", text);
  expect_error({"manifest.json", "invalid JSON"});
}

TEST_F(PackageTest, UnknownField) {
  edit_manifest([](nlohmann::json& m) { m["layers"][1]["strides"] = 1; });
  expect_error({"manifest.json", "layers[1]", "unknown field \"strides\""});
}

TEST_F(PackageTest, FieldOfAnotherOp) {
  edit_manifest([](nlohmann::json& m) { m["layers"][2]["padding"] = 1; });  // a maxpool
  expect_error({"manifest.json", "layers[2]", "unknown field \"padding\""});
}

TEST_F(PackageTest, DuplicateKey) {
  std::string text = file_read(dir_ / "manifest.json");
  text.replace(text.find("\"version\""), 0, "\"version\": 2, ");
  file_write_atomic(dir_ / "manifest.json", text);
  expect_error({"manifest.json", "duplicate key \"version\""});
}

TEST_F(PackageTest, DeeplyNestedJson) {
  nlohmann::json doc = manifest();
  std::string text = doc.dump();
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  text.replace(text.rfind('}'), 1, ", \"deep\": " + deep + "}");
  file_write_atomic(dir_ / "manifest.json", text);
  expect_error({"manifest.json", "nesting deeper than 64"});
}

TEST_F(PackageTest, EmptyManifest) {
  file_write_atomic(dir_ / "manifest.json", "");
  expect_error({"manifest.json", "invalid JSON"});
}

TEST_F(PackageTest, ManifestIsADirectory) {
  fs::remove(dir_ / "manifest.json");
  fs::create_directory(dir_ / "manifest.json");
  expect_error({"manifest.json", "not a regular file"});
}

TEST_F(PackageTest, ControlCharacterInAName) {
  edit_manifest([](nlohmann::json& m) { m["name"] = "two\nlines"; });
  expect_error({"manifest.json", "name", "control characters"});
}

TEST_F(PackageTest, InputLargerThanAnyTensor) {
  edit_manifest([](nlohmann::json& m) { m["input"]["shape"] = {4096, 1024, 1024}; });
  expect_error({"manifest.json", "input.shape"});
}

TEST_F(PackageTest, ImageLargerThanItsWordsCouldBe) {
  const std::string file = weights_file_name(1, package_.layers[1]);
  file_write_atomic(dir_ / file, std::string(4 << 20, '/') + file_read(dir_ / file));
  expect_error({file, "exceeds the limit"});
}

TEST_F(PackageTest, LogitsLayerNotLast) {
  edit_manifest([](nlohmann::json& m) {
    m["layers"][1]["output"] = {{"kind", "logits"}, {"scale", 1.0}, {"file", "x"}, {"words", 32}};
  });
  expect_error({"layers[1]", "logits"});
}

TEST(PackageSave, ReplacesAPackageAtomically) {
  const fs::path parent = fs::path(STQN_TEST_TMP) / "PackageSave";  // this test's alone
  const fs::path dir = parent / "pkg";
  fs::remove_all(parent);
  fs::create_directories(parent);
  const Package a = random_package(1), b = random_package(2);
  package_save(a, dir);
  package_save(b, dir);
  EXPECT_EQ(package_load(dir).name, b.name);
  for (const auto& entry : fs::directory_iterator(parent)) {
    EXPECT_EQ(entry.path().string().find(".tmp-"), std::string::npos) << entry.path();
  }
  // A trailing slash names the same directory.
  package_save(a, parent / "pkg/");
  EXPECT_EQ(package_load(dir).name, a.name);
}

// Only a package (or nothing, or an empty directory) is replaced: a run directory or a file given
// as --package by mistake is kept, with an error naming it.
TEST(PackageSave, RefusesToReplaceWhatIsNotAPackage) {
  const fs::path parent = fs::path(STQN_TEST_TMP) / "PackageSaveRefuses";
  fs::remove_all(parent);
  fs::create_directories(parent / "run");
  { std::ofstream(parent / "run" / "checkpoint.bin") << "precious"; }
  { std::ofstream(parent / "file") << "precious"; }
  for (const fs::path& target : {parent / "run", parent / "file"}) {
    try {
      package_save(random_package(1), target);
      FAIL() << "replaced " << target;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(target.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not a model package"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(fs::is_regular_file(parent / "run" / "checkpoint.bin"));
  EXPECT_TRUE(fs::is_regular_file(parent / "file"));
  fs::create_directories(parent / "empty");
  package_save(random_package(1), parent / "empty");
  EXPECT_EQ(package_load(parent / "empty").name, random_package(1).name);
}

TEST(PackageValidate, RejectsWeightsThatAreNotOfTheirKind) {
  Package p = random_package(3);
  for (Layer& l : p.layers) {
    if (l.has_weights() && l.weight_type.kind == format::WeightKind::Odd) {
      l.weights[0] = 0;  // odd levels have no zero
      EXPECT_THROW(package_validate(p), Error);
      return;
    }
  }
  p.layers.back().weights[0] = -128;
  p.layers.back().weight_type = {format::WeightKind::Int, 4};
  EXPECT_THROW(package_validate(p), Error);
}

}  // namespace
}  // namespace stqn
