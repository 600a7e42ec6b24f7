// A small test runner: the core must be testable without Node, gtest or network access.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "xclip/error.h"

namespace xclip::testing {

struct TestCase {
  const char* name;
  std::function<void()> fn;
};
std::vector<TestCase>& registry();

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

struct Failure : std::exception {
  std::string message;
  explicit Failure(std::string m) : message(std::move(m)) {}
  const char* what() const noexcept override { return message.c_str(); }
};

// A test that cannot run on this machine says so (counted and printed as skipped, never as passed).
struct Skip : std::exception {
  std::string reason;
  explicit Skip(std::string r) : reason(std::move(r)) {}
  const char* what() const noexcept override { return reason.c_str(); }
};

// Root of ../shared/fixtures (XCLIP_FIXTURES overrides); tests that need it fail loudly if it is missing.
std::string fixtures_dir();
std::string fixture(const std::string& relative);
std::string temp_dir();  // a fresh directory under $TMPDIR, removed at exit
std::string read_text(const std::string& path);  // whole file; fails the test if unreadable

// Max |a-b| after moving both to CPU float64; shapes must match.
double max_abs_diff(const at::Tensor& a, const at::Tensor& b);
void expect_close(const at::Tensor& actual, const at::Tensor& expected, double atol, double rtol, const std::string& what,
                  const char* file, int line);

}  // namespace xclip::testing

#define XCLIP_CONCAT_(a, b) a##b
#define XCLIP_CONCAT(a, b) XCLIP_CONCAT_(a, b)
#define TEST(name)                                                                                 \
  static void XCLIP_CONCAT(test_fn_, name)();                                                      \
  static ::xclip::testing::Registrar XCLIP_CONCAT(test_reg_, name)(#name, XCLIP_CONCAT(test_fn_, name)); \
  static void XCLIP_CONCAT(test_fn_, name)()

#define XCLIP_FAIL(msg)                                                              \
  do {                                                                               \
    std::ostringstream os_;                                                          \
    os_ << __FILE__ << ":" << __LINE__ << ": " << msg;                               \
    throw ::xclip::testing::Failure(os_.str());                                      \
  } while (0)

#define SKIP_TEST(reason) throw ::xclip::testing::Skip(reason)

#define EXPECT_TRUE(cond) \
  do {                    \
    if (!(cond)) XCLIP_FAIL("expected " #cond); \
  } while (0)

#define EXPECT_EQ(a, b)                                                                      \
  do {                                                                                       \
    auto va_ = (a);                                                                          \
    auto vb_ = (b);                                                                          \
    if (!(va_ == vb_)) XCLIP_FAIL("expected " #a " == " #b " but got " << va_ << " vs " << vb_); \
  } while (0)

#define EXPECT_CLOSE(actual, expected, atol, rtol, what) \
  ::xclip::testing::expect_close((actual), (expected), (atol), (rtol), (what), __FILE__, __LINE__)

// Runs `stmt`, expects an xclip::Error with `expected_code` whose message contains every substring given.
#define EXPECT_ERROR(stmt, expected_code, ...)                                                                  \
  do {                                                                                                 \
    bool thrown_ = false;                                                                              \
    try {                                                                                              \
      stmt;                                                                                            \
    } catch (const ::xclip::Error& e_) {                                                               \
      thrown_ = true;                                                                                  \
      if (e_.code() != (expected_code))                                                                         \
        XCLIP_FAIL(#stmt " threw " << e_.code_name() << " (" << e_.what() << "), expected "           \
                                   << ::xclip::error_code_name(expected_code));                                 \
      for (const char* s_ : std::vector<const char*>{__VA_ARGS__})                                     \
        if (std::string(e_.what()).find(s_) == std::string::npos)                                      \
          XCLIP_FAIL(#stmt " message \"" << e_.what() << "\" lacks \"" << s_ << "\"");                \
    }                                                                                                  \
    if (!thrown_) XCLIP_FAIL(#stmt " did not throw");                                                 \
  } while (0)
