// A one-line progress bar for long work (training epochs, inference over a data set, simulation):
// done/total, rate, ETA and a caller-supplied status, redrawn at most ten times a second on
// stderr, only when stderr is a terminal (logs and CI get one final line instead).
#pragma once

#include <chrono>
#include <string>

namespace stqn {

class Progress {
 public:
  Progress(std::string label, long total, std::string unit = "images");
  void update(long done, const std::string& status = "");
  void finish(const std::string& status = "");
  double elapsed_seconds() const;

 private:
  void draw(long done, const std::string& status, bool final);
  std::string label_, unit_;
  long total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace stqn
