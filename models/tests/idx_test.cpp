// The IDX reader: valid plain and gzip files load; each malformed file gets an Error naming it.
#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/idx.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

namespace stqn {
namespace {

namespace fs = std::filesystem;

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(STQN_TEST_TMP) /
           ("idx-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    images_ = be32(kIdxImagesMagic) + be32(3) + be32(2) + be32(4);
    for (int i = 0; i < 3 * 2 * 4; ++i) images_ += char(i * 10);
    labels_ = be32(kIdxLabelsMagic) + be32(3) + std::string{0, 9, 4};
  }
  void write(bool gzip = false) const {
    write_file("t10k-images-idx3-ubyte", images_, gzip);
    write_file("t10k-labels-idx1-ubyte", labels_, gzip);
  }
  void write_file(const std::string& name, const std::string& bytes, bool gzip) const {
    if (!gzip) {
      file_write_atomic(dir_ / name, bytes);
      return;
    }
    gzFile f = gzopen((dir_ / (name + ".gz")).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
    gzclose(f);
  }
  void expect_error(const std::string& file, const std::string& part) const {
    try {
      idx_load(dir_, "t10k");
      FAIL() << "idx_load accepted a bad file";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(file), std::string::npos) << message;
      EXPECT_NE(message.find(part), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
    }
  }
  fs::path dir_;
  std::string images_, labels_;
};

TEST_F(IdxTest, LoadsPlainFiles) {
  write();
  const Dataset ds = idx_load(dir_, "t10k");
  EXPECT_EQ(ds.count, 3);
  EXPECT_EQ(ds.height, 2);
  EXPECT_EQ(ds.width, 4);
  EXPECT_EQ(ds.image(2)[7], std::uint8_t(23 * 10));
  EXPECT_EQ(ds.labels, (std::vector<std::uint8_t>{0, 9, 4}));
}

TEST_F(IdxTest, LoadsGzipFiles) {
  write(true);
  const Dataset ds = idx_load(dir_, "t10k");
  EXPECT_EQ(ds.count, 3);
  EXPECT_EQ(ds.image(1)[0], std::uint8_t(8 * 10));
}

TEST_F(IdxTest, MissingFile) { expect_error("t10k-images-idx3-ubyte", "not found"); }

TEST_F(IdxTest, WrongImageMagic) {
  images_[3] = 0x01;
  write();
  expect_error("t10k-images-idx3-ubyte", "magic");
}

TEST_F(IdxTest, WrongLabelMagic) {
  labels_[3] = 0x03;
  write();
  expect_error("t10k-labels-idx1-ubyte", "magic");
}

TEST_F(IdxTest, TruncatedImages) {
  images_.pop_back();
  write();
  expect_error("t10k-images-idx3-ubyte", "need 40 bytes, file has 39");
}

TEST_F(IdxTest, TruncatedHeader) {
  images_.resize(10);
  write();
  expect_error("t10k-images-idx3-ubyte", "header");
}

TEST_F(IdxTest, CountMismatch) {
  labels_ = be32(kIdxLabelsMagic) + be32(2) + std::string{0, 9};
  write();
  expect_error("t10k-labels-idx1-ubyte", "count");
}

TEST_F(IdxTest, AbsurdDimensions) {
  images_ = be32(kIdxImagesMagic) + be32(1) + be32(0) + be32(4);
  write();
  expect_error("t10k-images-idx3-ubyte", "dimensions");
}

TEST_F(IdxTest, LabelOutOfRange) {
  labels_.back() = 10;
  write();
  expect_error("t10k-labels-idx1-ubyte", "label 2");
}

TEST_F(IdxTest, NoImages) {
  images_ = be32(kIdxImagesMagic) + be32(0) + be32(28) + be32(28);
  labels_ = be32(kIdxLabelsMagic) + be32(0);
  write();
  expect_error("t10k-images-idx3-ubyte", "count: expected 1 to");
}

// A small gzip file that inflates to far more than its header promises is refused without
// inflating all of it.
TEST_F(IdxTest, GzipBomb) {
  write(true);
  gzFile f = gzopen((dir_ / "t10k-images-idx3-ubyte.gz").c_str(), "wb9");
  ASSERT_NE(f, nullptr);
  gzwrite(f, images_.data(), unsigned(images_.size()));
  const std::string zeros(1 << 20, '\0');
  for (int i = 0; i < 64; ++i) gzwrite(f, zeros.data(), unsigned(zeros.size()));
  gzclose(f);
  EXPECT_LT(fs::file_size(dir_ / "t10k-images-idx3-ubyte.gz"), 1u << 20);
  expect_error("t10k-images-idx3-ubyte.gz", "decompresses to more than the 40 bytes expected");
}

TEST_F(IdxTest, CorruptGzip) {
  write(true);
  std::string bytes = file_read(dir_ / "t10k-images-idx3-ubyte.gz");
  bytes.resize(bytes.size() / 2);
  file_write_atomic(dir_ / "t10k-images-idx3-ubyte.gz", bytes);
  expect_error("t10k-images-idx3-ubyte.gz", "gzip");
}

TEST(IdxFashionMnist, TestSplitHasTenThousandImages) {
  if (!fs::exists(STQN_DATA_DIR)) GTEST_SKIP() << STQN_DATA_DIR << " not installed";
  const Dataset ds = idx_load(STQN_DATA_DIR, "t10k");
  EXPECT_EQ(ds.count, 10000);
  EXPECT_EQ(ds.height, 28);
  EXPECT_EQ(ds.width, 28);
}

}  // namespace
}  // namespace stqn
