#include "stqn/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace stqn {

namespace {
constexpr int kBarWidth = 24;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
}  // namespace

Progress::Progress(std::string label, long total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      tty_(::isatty(::fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(long done, const std::string& status) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < kRedrawInterval && done < total_) return;
  last_draw_ = now;
  draw(done, status, false);
}

void Progress::finish(const std::string& status) { draw(total_, status, true); }

void Progress::draw(long done, const std::string& status, bool final) {
  const double seconds = elapsed_seconds();
  const double rate = seconds > 0 ? done / seconds : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  const double fraction = total_ > 0 ? double(done) / double(total_) : 1.0;
  const int filled = static_cast<int>(fraction * kBarWidth);
  const std::string bar = std::string(std::size_t(filled), '#') +
                          std::string(std::size_t(kBarWidth - filled), '.');
  const std::string line =
      fmt::format("{} [{}] {}/{} {:.0f} {}/s {} {}", label_, bar, done, total_, rate, unit_,
                  final ? fmt::format("in {:.1f}s", seconds) : fmt::format("ETA {:.0f}s", eta),
                  status);
  if (tty_) std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  else if (final) std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace stqn
