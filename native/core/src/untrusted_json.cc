#include "untrusted_json.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace xclip {
namespace {

struct TooDeep {};

}  // namespace

std::string read_file_limited(const std::string& path, size_t max_bytes, ErrorCode missing, ErrorCode too_large) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(missing, "cannot open " + path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw Error(missing, "cannot open " + path + ": it is a directory");
  // A FIFO would block the open, a device (/dev/zero) never end: only regular files (symlinks followed, as the
  // hub cache's snapshot links are) are read.
  if (!S_ISREG(st.st_mode)) throw Error(missing, "cannot open " + path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw Error(too_large, path + " is " + std::to_string(st.st_size) + " bytes, above the " +
                               std::to_string(max_bytes >> 20) + " MiB limit for this kind of file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(missing, "cannot open " + path);
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  // The size can change between stat and read; the cap holds either way.
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > max_bytes)
      throw Error(too_large, path + " is larger than the " + std::to_string(max_bytes >> 20) + " MiB limit for this kind of file");
  }
  if (in.bad()) throw Error(missing, "cannot read " + path);
  return out;
}

nlohmann::json parse_json_limited(std::string_view text, ErrorCode code, const std::string& prefix, const JsonCallback& extra) {
  using json = nlohmann::json;
  auto guard = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) && depth >= kMaxJsonDepth)
      throw TooDeep{};
    return extra ? extra(depth, event, parsed) : true;
  };
  try {
    return json::parse(text.begin(), text.end(), guard);
  } catch (const json::exception& e) {
    throw Error(code, prefix + e.what());
  } catch (const TooDeep&) {
    throw Error(code, prefix + "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
}

}  // namespace xclip
