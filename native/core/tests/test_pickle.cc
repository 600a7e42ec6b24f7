// Legacy torch.save() archives: synthetic archives built byte by byte here (a tiny ZIP writer and pickle
// assembler), the variants torch writes, and malformed inputs that must each fail with their own message.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "testing.h"
#include "xclip/weights.h"

using namespace xclip;

namespace {

void put_le(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Writes STORED entries like torch's PyTorchStreamWriter: data padded to 64 bytes through a local extra field.
struct ZipBuilder {
  std::vector<std::pair<std::string, std::string>> entries;
  uint16_t method = 0;
  bool zip64 = false;
  bool align = true;

  ZipBuilder& add(const std::string& name, const std::string& data) {
    entries.emplace_back(name, data);
    return *this;
  }

  std::string build() const {
    std::string out, cd;
    for (const auto& [name, data] : entries) {
      uint64_t local = out.size();
      size_t pad = 0;
      if (align) {
        size_t data_at = local + 30 + name.size() + 4;
        pad = (64 - data_at % 64) % 64;
      }
      put_le(out, 0x04034b50, 4);
      put_le(out, 20, 2);
      put_le(out, 0, 2);
      put_le(out, method, 2);
      put_le(out, 0, 4);  // time, date
      put_le(out, 0, 4);  // crc (not checked)
      put_le(out, data.size(), 4);
      put_le(out, data.size(), 4);
      put_le(out, name.size(), 2);
      put_le(out, align ? 4 + pad : 0, 2);
      out += name;
      if (align) {
        put_le(out, 0x4246, 2);  // torch's "FB" padding field
        put_le(out, pad, 2);
        out.append(pad, 'Z');
      }
      out += data;

      put_le(cd, 0x02014b50, 4);
      put_le(cd, 45, 2);
      put_le(cd, 45, 2);
      put_le(cd, 0, 2);
      put_le(cd, method, 2);
      put_le(cd, 0, 4);
      put_le(cd, 0, 4);
      put_le(cd, zip64 ? 0xffffffffu : data.size(), 4);
      put_le(cd, zip64 ? 0xffffffffu : data.size(), 4);
      put_le(cd, name.size(), 2);
      put_le(cd, zip64 ? 28 : 0, 2);
      put_le(cd, 0, 2);   // comment
      put_le(cd, 0, 2);   // disk
      put_le(cd, 0, 2);   // internal attributes
      put_le(cd, 0, 4);   // external attributes
      put_le(cd, zip64 ? 0xffffffffu : local, 4);
      cd += name;
      if (zip64) {
        put_le(cd, 1, 2);
        put_le(cd, 24, 2);
        put_le(cd, data.size(), 8);
        put_le(cd, data.size(), 8);
        put_le(cd, local, 8);
      }
    }
    uint64_t cd_off = out.size();
    out += cd;
    if (zip64) {
      uint64_t z = out.size();
      put_le(out, 0x06064b50, 4);
      put_le(out, 44, 8);
      put_le(out, 45, 2);
      put_le(out, 45, 2);
      put_le(out, 0, 4);
      put_le(out, 0, 4);
      put_le(out, entries.size(), 8);
      put_le(out, entries.size(), 8);
      put_le(out, cd.size(), 8);
      put_le(out, cd_off, 8);
      put_le(out, 0x07064b50, 4);
      put_le(out, 0, 4);
      put_le(out, z, 8);
      put_le(out, 1, 4);
    }
    put_le(out, 0x06054b50, 4);
    put_le(out, 0, 2);
    put_le(out, 0, 2);
    put_le(out, zip64 ? 0xffff : entries.size(), 2);
    put_le(out, zip64 ? 0xffff : entries.size(), 2);
    put_le(out, zip64 ? 0xffffffffu : cd.size(), 4);
    put_le(out, zip64 ? 0xffffffffu : cd_off, 4);
    put_le(out, 0, 2);
    return out;
  }
};

// Pickle assembler: one method per opcode family.
struct Pickle {
  std::string b;
  Pickle& op(uint8_t c) {
    b.push_back(static_cast<char>(c));
    return *this;
  }
  Pickle& proto(int v = 2) { return op(0x80).op(static_cast<uint8_t>(v)); }
  Pickle& str(const std::string& s) {
    op('X');
    put_le(b, s.size(), 4);
    b += s;
    return *this;
  }
  Pickle& short_str(const std::string& s) {
    op(0x8c).op(static_cast<uint8_t>(s.size()));
    b += s;
    return *this;
  }
  Pickle& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').op(static_cast<uint8_t>(v));
    if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      put_le(b, static_cast<uint32_t>(v), 4);
      return *this;
    }
    op(0x8a).op(8);
    put_le(b, static_cast<uint64_t>(v), 8);
    return *this;
  }
  Pickle& global(const std::string& module, const std::string& name) {
    op('c');
    b += module + "\n" + name + "\n";
    return *this;
  }
  Pickle& ints(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
  }
  // _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
  Pickle& tensor(const std::string& type, const std::string& key, int64_t numel, int64_t offset, const std::vector<int64_t>& size,
                 const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", type).str(key).str("cpu").integer(numel).op('t').op('Q');
    integer(offset).ints(size).ints(stride).op(0x89);
    return global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
  }
  Pickle& stop() { return op('.'); }
};

std::string floats(std::vector<float> v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }

// {"w": arange(12) as [3,4], "wt": its transpose (same storage), "tail": elements 8..11, "scalar": element 5,
//  "h": f16 [4], "ids": i64 [3]} under archive name `archive`.
std::string good_archive(bool zip64 = false, bool align = true) {
  std::vector<float> f(12);
  for (int i = 0; i < 12; ++i) f[i] = static_cast<float>(i);
  at::Tensor h = at::tensor({0.5, -1.0, 2.0, 1024.0}).to(at::kHalf);
  std::vector<int64_t> ids = {7, -8, int64_t(1) << 40};
  Pickle p;
  p.proto().op('}').op('(');
  p.str("w").tensor("FloatStorage", "0", 12, 0, {3, 4}, {4, 1});
  p.str("wt").tensor("FloatStorage", "0", 12, 0, {4, 3}, {1, 4});
  p.str("tail").tensor("FloatStorage", "0", 12, 8, {4}, {1});
  p.str("scalar").tensor("FloatStorage", "0", 12, 5, {}, {});
  p.str("h").tensor("HalfStorage", "1", 4, 0, {4}, {1});
  p.str("ids").tensor("LongStorage", "2", 3, 0, {3}, {1});
  p.op('u').stop();
  ZipBuilder z;
  z.zip64 = zip64;
  z.align = align;
  z.add("archive/data.pkl", p.b).add("archive/byteorder", "little");
  z.add("archive/data/0", floats(f));
  z.add("archive/data/1", std::string(static_cast<const char*>(h.data_ptr()), 8));
  z.add("archive/data/2", std::string(reinterpret_cast<const char*>(ids.data()), 24));
  z.add("archive/version", "3\n");
  return z.build();
}

std::string write_temp(const std::string& bytes) {
  static int counter = 0;
  std::string path = testing::temp_dir() + "/ckpt" + std::to_string(counter++) + ".bin";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

TensorMap parse_bytes(const std::string& b) { return parse_pytorch_bin(reinterpret_cast<const uint8_t*>(b.data()), b.size()); }

// An archive holding just this pickle plus storage "0" of 4 floats.
std::string archive_with(const Pickle& p) {
  return ZipBuilder().add("archive/data.pkl", p.b).add("archive/data/0", floats({1, 2, 3, 4})).build();
}

void check_good(const TensorMap& m) {
  EXPECT_EQ(m.size(), size_t(6));
  at::Tensor ref = at::arange(12, at::kFloat).reshape({3, 4});
  EXPECT_TRUE(m.at("w").equal(ref));
  EXPECT_TRUE(m.at("wt").equal(ref.t()));
  EXPECT_TRUE(m.at("tail").equal(at::arange(8, 12, at::kFloat)));
  EXPECT_EQ(m.at("scalar").dim(), 0);
  EXPECT_EQ(m.at("scalar").item<float>(), 5.0f);
  EXPECT_TRUE(m.at("h").equal(at::tensor({0.5, -1.0, 2.0, 1024.0}).to(at::kHalf)));
  EXPECT_TRUE(m.at("ids").equal(at::tensor({int64_t(7), int64_t(-8), int64_t(1) << 40}, at::kLong)));
  // Views of one storage share it, as in torch (tied weights stay tied).
  EXPECT_TRUE(m.at("w").storage().data() == m.at("wt").storage().data());
  EXPECT_TRUE(m.at("w").storage().data() == m.at("tail").storage().data());
}

// Both entry points (mmap'd file and caller's buffer) must refuse the bytes with the same message.
#define EXPECT_BIN_ERROR(bytes, ...)                                                                   \
  do {                                                                                              \
    std::string b_ = (bytes);                                                                       \
    EXPECT_ERROR(load_pytorch_bin(write_temp(b_)), ErrorCode::kWeightsCorrupt, __VA_ARGS__);        \
    EXPECT_ERROR(parse_bytes(b_), ErrorCode::kWeightsCorrupt, __VA_ARGS__);                         \
  } while (0)

}  // namespace

TEST(pickle_synthetic_archive_views_and_dtypes) {
  std::string b = good_archive();
  check_good(parse_bytes(b));
  std::string path = write_temp(b);
  TensorMap m = load_pytorch_bin(path);
  check_good(m);
  // The f32 storage aliases a private mapping: in-place writes reach the tied view but never the file.
  m.at("w").add_(1);
  EXPECT_EQ(m.at("wt").index({0, 0}).item<float>(), 1.0f);
  EXPECT_EQ(load_pytorch_bin(path).at("w").index({0, 0}).item<float>(), 0.0f);
}

TEST(pickle_zip64_and_unaligned_records) {
  check_good(parse_bytes(good_archive(/*zip64=*/true)));
  check_good(load_pytorch_bin(write_temp(good_archive(/*zip64=*/true))));
  check_good(load_pytorch_bin(write_temp(good_archive(false, /*align=*/false))));
}

TEST(pickle_ordered_dict_metadata_parameter_nested_protocol4) {
  // Protocol 4 as written by newer torch: FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, BINGET of a memoized
  // storage type, _rebuild_parameter, an OrderedDict with a BUILD state (`_metadata`) nested under "state_dict".
  Pickle p;
  p.proto(4).op(0x95);
  put_le(p.b, 0, 8);
  p.op('}').op(0x94);                                                                      // memo 0: outer dict
  p.short_str("epoch").integer(3).op('s');
  p.short_str("lr").op('G');
  for (uint8_t c : {0x3f, 0x50, 0x62, 0x4d, 0xd2, 0xf1, 0xa9, 0xfc}) p.op(c);              // 1e-3, big-endian
  p.op('s');
  p.short_str("state_dict");
  p.short_str("collections").short_str("OrderedDict").op(0x93).op(')').op('R');
  p.op('}').short_str("_metadata").op('}').short_str("").op('}').short_str("version").integer(1).op('s').op('s').op('s');
  p.op('b');  // BUILD with {"_metadata": {...}}
  p.short_str("enc.weight");
  p.short_str("torch._utils").short_str("_rebuild_parameter").op(0x93);
  p.op('(');
  p.tensor("FloatStorage", "0", 4, 0, {2, 2}, {2, 1});
  p.op(0x88).global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
  p.op('s');
  p.short_str("enc.bias").tensor("FloatStorage", "0", 4, 2, {2}, {1}).op('s');
  p.op('s').stop();
  TensorMap m = parse_bytes(archive_with(p));
  EXPECT_EQ(m.size(), size_t(2));
  EXPECT_TRUE(m.at("enc.weight").equal(at::tensor({1.f, 2.f, 3.f, 4.f}).reshape({2, 2})));
  EXPECT_TRUE(m.at("enc.bias").equal(at::tensor({3.f, 4.f})));
}

TEST(pickle_refuses_non_zip_and_broken_zip) {
  EXPECT_ERROR(load_pytorch_bin(write_temp("")), ErrorCode::kWeightsCorrupt, "file is empty");
  EXPECT_ERROR(load_pytorch_bin(testing::temp_dir() + "/absent.bin"), ErrorCode::kFileNotFound, "absent.bin");
  // torch < 1.6 wrote a bare pickle starting with PROTO 2 and a magic number.
  EXPECT_BIN_ERROR(std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 14), "old non-zip torch.save format",
                   "safetensors");
  EXPECT_BIN_ERROR("hello world, not a checkpoint", "not a torch.save zip archive");
  std::string good = good_archive();
  EXPECT_BIN_ERROR(good.substr(0, good.size() / 2), "end-of-central-directory", "truncated");
  EXPECT_BIN_ERROR(good.substr(0, good.size() - 1), "end-of-central-directory");
  // Central directory offset pointing past the file.
  std::string bad_cd = good;
  bad_cd[bad_cd.size() - 3] = '\x7f';  // high byte of the central directory offset
  EXPECT_BIN_ERROR(bad_cd, "central directory", "outside the file");
  EXPECT_BIN_ERROR(ZipBuilder().add("archive/data/0", floats({1})).build(), "no <archive>/data.pkl");
  ZipBuilder deflated;
  deflated.method = 8;
  deflated.add("archive/data.pkl", Pickle().proto().op('}').stop().b);
  EXPECT_BIN_ERROR(deflated.build(), "'archive/data.pkl' is compressed (method 8)");
  EXPECT_BIN_ERROR(ZipBuilder().add("a/data.pkl", "x").add("a/data.pkl", "y").build(), "appears twice");
  EXPECT_BIN_ERROR(ZipBuilder().add("a/data.pkl", Pickle().proto().op('}').stop().b).add("a/byteorder", "big").build(),
                   "byte order 'big' is not supported");
  // A local header offset that points into another entry's data.
  std::string bad_local = ZipBuilder().add("a/data.pkl", Pickle().proto().op('}').stop().b).build();
  size_t cd = bad_local.rfind(std::string("PK\x01\x02", 4));
  bad_local[cd + 42] = 5;
  EXPECT_BIN_ERROR(bad_local, "local header offset 5 is invalid");
}

TEST(pickle_refuses_globals_by_name_and_executes_nothing) {
  Pickle os_system;
  os_system.proto().global("os", "system").str("touch /tmp/xclip-pwned").op(0x85).op('R').stop();
  EXPECT_BIN_ERROR(archive_with(os_system), "refuses global os.system");
  Pickle eval;
  eval.proto(4).short_str("builtins").short_str("eval").op(0x93).short_str("1+1").op(0x85).op('R').stop();
  EXPECT_BIN_ERROR(archive_with(eval), "refuses global builtins.eval");
  Pickle other_torch;  // torch itself is not trusted wholesale
  other_torch.proto().global("torch", "load").stop();
  EXPECT_BIN_ERROR(archive_with(other_torch), "refuses global torch.load");
  Pickle storage_call;  // an allowed global is still not callable unless it rebuilds a tensor or dict
  storage_call.proto().global("torch", "FloatStorage").op(')').op('R').stop();
  EXPECT_BIN_ERROR(archive_with(storage_call), "refuses to call torch.FloatStorage");
}

TEST(pickle_refuses_malformed_streams) {
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('}').op('i')), "unsupported pickle opcode 0x69 'i'");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op(0x82).op(1)), "unsupported pickle opcode 0x82");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto(6)), "protocol 6");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('}')), "truncated");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('}').op('X').op(0xff).op(0xff).op(0xff).op(0x7f)), "truncated");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('R')), "stack underflow");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('}').op('(').op('s')), "stack underflow");  // the dict is below the MARK
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('t')), "no MARK");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('h').op(9)), "memo key 9");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op(0x8a).op(9)), "9 bytes is too large");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op(']').stop()), "value of type list, not a state dict");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('}').str("epoch").integer(1).op('s').stop()),
                   "entry 'epoch' is of type int, not a tensor");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('}').integer(1).integer(1).op('s').stop()), "key of type int");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op(']').op(']').op('b')), "BUILD on a list");
  // A list that contains itself: no recursion, no leak, just "not a state dict".
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op(']').op('q').op(0).op('h').op(0).op('a').stop()), "not a state dict");
  EXPECT_BIN_ERROR(archive_with(Pickle().proto().op('}').str("w").global("torch._utils", "_rebuild_tensor_v2").ints({1}).op('R')),
                   "expects 6 or 7 arguments");
}

TEST(pickle_refuses_bad_storages_and_views) {
  auto one = [](const std::string& type, const std::string& key, int64_t numel, int64_t offset, std::vector<int64_t> size,
                std::vector<int64_t> stride) {
    Pickle p;
    p.proto().op('}').str("w").tensor(type, key, numel, offset, size, stride).op('s').stop();
    return archive_with(p);
  };
  EXPECT_TRUE(parse_bytes(one("FloatStorage", "0", 4, 0, {2, 2}, {2, 1})).at("w").equal(at::tensor({1.f, 2.f, 3.f, 4.f}).reshape({2, 2})));
  EXPECT_BIN_ERROR(one("FloatStorage", "0", 4, 0, {3, 2}, {2, 1}), "tensor view (size [3,2], storage_offset 0) reaches past its storage of 4");
  EXPECT_BIN_ERROR(one("FloatStorage", "0", 4, 3, {2}, {1}), "reaches past its storage");
  EXPECT_BIN_ERROR(one("FloatStorage", "0", 4, 5, {0}, {1}), "reaches past its storage");
  EXPECT_BIN_ERROR(one("FloatStorage", "0", 4, 0, {2, 2}, {int64_t(1) << 62, 1}), "reaches past its storage");
  EXPECT_BIN_ERROR(one("FloatStorage", "0", 4, 0, {2}, {-1}), "stride has a negative entry");
  EXPECT_BIN_ERROR(one("FloatStorage", "0", 4, 0, {int64_t(1) << 40, int64_t(1) << 40}, {0, 0}), "more than 2^48 elements");
  EXPECT_EQ(parse_bytes(one("FloatStorage", "0", 4, 1, {3, 5}, {1, 0})).at("w").sum().item<float>(), 45.0f);  // expanded view
  EXPECT_BIN_ERROR(one("FloatStorage", "0", 4, 0, {2, 2}, {1}), "different lengths");
  EXPECT_BIN_ERROR(one("FloatStorage", "7", 4, 0, {4}, {1}), "storage record 'archive/data/7' is missing");
  EXPECT_BIN_ERROR(one("FloatStorage", "0", 5, 0, {4}, {1}), "has 16 bytes, fewer than its 5 elements of 4 bytes");
  EXPECT_BIN_ERROR(one("DoubleStorage", "0", 4, 0, {4}, {1}), "fewer than its 4 elements of 8 bytes");
  EXPECT_BIN_ERROR(one("ComplexFloatStorage", "0", 4, 0, {4}, {1}), "refuses global torch.ComplexFloatStorage");
  // An empty view at the very end of its storage is legal.
  EXPECT_EQ(parse_bytes(one("FloatStorage", "0", 4, 4, {0, 3}, {3, 1})).at("w").numel(), 0);
  Pickle two;  // one storage key declared with two dtypes
  two.proto().op('}').op('(').str("a").tensor("FloatStorage", "0", 4, 0, {4}, {1});
  two.str("b").tensor("IntStorage", "0", 4, 0, {4}, {1}).op('u').stop();
  EXPECT_BIN_ERROR(archive_with(two), "storage '0' is declared twice");
  Pickle pid;
  pid.proto().op('(').str("module").str("x").op('t').op('Q').stop();
  EXPECT_BIN_ERROR(archive_with(pid), "persistent id");
}

TEST(pickle_sharded_legacy_checkpoint_dir) {
  // HF's legacy sharded layout: pytorch_model.bin.index.json + pytorch_model-0000k-of-00002.bin.
  std::string dir = testing::temp_dir() + "/bin-shards";
  std::filesystem::create_directories(dir);
  auto shard = [&](const std::string& file, const std::string& key, float first) {
    Pickle p;
    p.proto().op('}').str(key).tensor("FloatStorage", "0", 4, 0, {2, 2}, {2, 1}).op('s').stop();
    std::string b = ZipBuilder().add("archive/data.pkl", p.b).add("archive/data/0", floats({first, 2, 3, 4})).build();
    std::ofstream(dir + "/" + file, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  shard("pytorch_model-00001-of-00002.bin", "a.weight", 10);
  shard("pytorch_model-00002-of-00002.bin", "b.weight", 20);
  std::ofstream(dir + "/pytorch_model.bin.index.json")
      << R"({"metadata":{},"weight_map":{"a.weight":"pytorch_model-00001-of-00002.bin","b.weight":"pytorch_model-00002-of-00002.bin"}})";
  TensorMap m = load_checkpoint_dir(dir);
  EXPECT_EQ(m.size(), size_t(2));
  EXPECT_EQ(m.at("a.weight").index({0, 0}).item<float>(), 10.0f);
  EXPECT_EQ(m.at("b.weight").index({0, 0}).item<float>(), 20.0f);
  std::ofstream(dir + "/pytorch_model.bin.index.json", std::ios::trunc)
      << R"({"weight_map":{"a.weight":"pytorch_model-00001-of-00002.bin","b.weight":"/etc/passwd"}})";
  EXPECT_ERROR(load_checkpoint_dir(dir), ErrorCode::kWeightsCorrupt, "/etc/passwd", "not a plain file name");
}
