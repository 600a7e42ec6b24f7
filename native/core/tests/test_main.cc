#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <chrono>
#include <ftw.h>
#include <unistd.h>

#include "testing.h"

namespace xclip::testing {

std::vector<TestCase>& registry() {
  static std::vector<TestCase> r;
  return r;
}

std::string fixtures_dir() {
  if (const char* env = std::getenv("XCLIP_FIXTURES")) return env;
  // The repository's sibling ../shared/fixtures, fixed at configure time.
  return XCLIP_DEFAULT_FIXTURES;
}

std::string fixture(const std::string& relative) {
  std::string path = fixtures_dir() + "/" + relative;
  if (!std::filesystem::exists(path)) XCLIP_FAIL("fixture missing: " << path << " (set XCLIP_FIXTURES)");
  return path;
}

namespace {
std::vector<std::string>& temp_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}
}  // namespace

std::string temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "xclip-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) XCLIP_FAIL("mkdtemp failed");
  temp_dirs().push_back(tmpl);
  return tmpl;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) XCLIP_FAIL("cannot open " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) {
    std::ostringstream os;
    os << "shape mismatch " << a.sizes() << " vs " << b.sizes();
    throw Failure(os.str());
  }
  if (a.numel() == 0) return 0.0;
  return (a.detach().to(at::kCPU).to(at::kDouble) - b.detach().to(at::kCPU).to(at::kDouble)).abs().max().item<double>();
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, double atol, double rtol, const std::string& what,
                  const char* file, int line) {
  if (!actual.defined()) throw Failure(std::string(file) + ":" + std::to_string(line) + ": " + what + " is undefined");
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream os;
    os << file << ":" << line << ": " << what << " shape " << actual.sizes() << " expected " << expected.sizes();
    throw Failure(os.str());
  }
  at::Tensor a = actual.detach().to(at::kCPU).to(at::kDouble);
  at::Tensor e = expected.detach().to(at::kCPU).to(at::kDouble);
  at::Tensor excess = (a - e).abs() - (atol + rtol * e.abs());
  if (a.numel() > 0 && (excess.max().item<double>() > 0 || a.isnan().any().item<bool>())) {
    std::ostringstream os;
    os << file << ":" << line << ": " << what << " max abs diff " << (a - e).abs().max().item<double>() << " exceeds atol "
       << atol << " rtol " << rtol;
    throw Failure(os.str());
  }
}

}  // namespace xclip::testing

// Usage: xclip_core_tests [substring-filter...]
int main(int argc, char** argv) {
  using namespace xclip::testing;
  int passed = 0, failed = 0, skipped = 0;
  for (const auto& tc : registry()) {
    if (argc > 1) {
      bool match = false;
      for (int i = 1; i < argc; ++i) match = match || std::strstr(tc.name, argv[i]) != nullptr;
      if (!match) continue;
    }
    auto t0 = std::chrono::steady_clock::now();
    try {
      tc.fn();
      ++passed;
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::cout << "ok   " << tc.name << " (" << static_cast<int>(ms) << " ms)" << std::endl;
    } catch (const Skip& s) {
      ++skipped;
      std::cout << "skip " << tc.name << " (" << s.reason << ")" << std::endl;
    } catch (const Failure& f) {
      ++failed;
      std::cout << "FAIL " << tc.name << "\n     " << f.message << std::endl;
    } catch (const std::exception& e) {
      ++failed;
      std::cout << "FAIL " << tc.name << "\n     unexpected exception: " << e.what() << std::endl;
    }
  }
  // nftw rather than std::filesystem::remove_all: the latter crashed (jump to 0) in a build against
  // PyTorch 2.11's libtorch on the GPU machine.
  for (const auto& d : temp_dirs()) {
    nftw(d.c_str(), [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
         FTW_DEPTH | FTW_PHYS);
  }
  std::cout << passed << " passed, " << failed << " failed";
  if (skipped) std::cout << ", " << skipped << " skipped";
  std::cout << std::endl;
  return failed == 0 ? 0 : 1;
}
