// Redirects fd 2 (where colo logs) into a temp file for the life of the object.
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "userspace/util/fs.h"

namespace colo::test {

class StderrCapture {
 public:
  StderrCapture() {
    fd_ = mkstemp(path_);
    saved_ = dup(STDERR_FILENO);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() {
    restore();
    unlink(path_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  // What was logged so far; ends the capture.
  std::string text() {
    restore();
    return read_file(path_).value_or("<unreadable>");
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fd_);
    saved_ = -1;
  }
  char path_[32] = "/tmp/colo_log_testXXXXXX";
  int fd_ = -1, saved_ = -1;
};

}  // namespace colo::test
