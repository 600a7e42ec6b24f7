// Legacy `pytorch_model.bin` = torch.save(state_dict): a ZIP archive of STORED entries holding
// `<archive>/data.pkl` (a pickle of the state dict) and one raw little-endian record `<archive>/data/<key>` per
// storage. torch::pickle_load cannot read an OrderedDict (libtorch 1.13's unpickler turns the OrderedDict global
// into None outside tensor deserialization, so every state_dict() file fails) and a full unpickler would run
// whatever the file names, so this is a small VM that accepts only what a state dict needs and executes nothing.
// Every offset and length comes from the file and is checked against it before use.

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "mapped_file.h"
#include "zip_archive.h"
#include "xclip/error.h"
#include "xclip/weights.h"

namespace xclip {
namespace {

// ---- storages -------------------------------------------------------------------------------------------

struct StorageType {
  const char* name;
  at::ScalarType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", at::kFloat}, {"HalfStorage", at::kHalf},   {"BFloat16Storage", at::kBFloat16},
    {"DoubleStorage", at::kDouble}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
    {"ShortStorage", at::kShort}, {"CharStorage", at::kChar},   {"ByteStorage", at::kByte},
    {"BoolStorage", at::kBool},
};

class Archive {
 public:
  Archive(const uint8_t* data, size_t size, std::string source, std::shared_ptr<MappedFile> keep)
      : data_(data), src_(std::move(source)), keep_(std::move(keep)) {
    entries_ = read_zip(data, size, src_);
    // torch names every record "<archive>/..."; the archive name is whatever holds data.pkl.
    for (const auto& [name, e] : entries_) {
      auto slash = name.find('/');
      if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
        if (!prefix_.empty()) weights_corrupt(src_, "archive holds more than one data.pkl");
        prefix_ = name.substr(0, slash + 1);
      }
    }
    if (prefix_.empty()) weights_corrupt(src_, "zip archive has no <archive>/data.pkl record: not a torch.save checkpoint");
    auto bo = entries_.find(prefix_ + "byteorder");
    if (bo != entries_.end()) {
      std::string order(reinterpret_cast<const char*>(data_ + bo->second.offset), bo->second.size);
      if (order != "little") weights_corrupt(src_, "byte order '" + printable_name(order) + "' is not supported (only little-endian)");
    }
  }

  const std::string& source() const { return src_; }
  ZipEntry pickle() const { return entries_.at(prefix_ + "data.pkl"); }
  const uint8_t* bytes(const ZipEntry& e) const { return data_ + e.offset; }

  // A flat 1-D tensor over storage `key` holding `numel` elements; repeated keys share one storage (tied weights).
  at::Tensor storage(const std::string& key, at::ScalarType dtype, int64_t numel) {
    auto hit = cache_.find(key);
    if (hit != cache_.end()) {
      if (hit->second.scalar_type() != dtype || hit->second.numel() != numel) {
        weights_corrupt(src_, "storage '" + printable_name(key) + "' is declared twice with different types or sizes");
      }
      return hit->second;
    }
    auto it = entries_.find(prefix_ + "data/" + key);
    if (it == entries_.end()) weights_corrupt(src_, "storage record '" + printable_name(prefix_ + "data/" + key) + "' is missing from the archive");
    const uint64_t elsize = c10::elementSize(dtype);
    if (numel < 0 || static_cast<uint64_t>(numel) > it->second.size / elsize) {
      weights_corrupt(src_, "storage record '" + printable_name(it->first) + "' has " + std::to_string(it->second.size) + " bytes, fewer than its " +
                        std::to_string(numel) + " elements of " + std::to_string(elsize) + " bytes");
    }
    const uint8_t* p = data_ + it->second.offset;
    at::Tensor t;
    if (keep_ && numel > 0 && reinterpret_cast<uintptr_t>(p) % elsize == 0) {
      // Aliases the private mapping; each storage holds a reference, the last one released unmaps.
      auto keep = keep_;
      t = at::from_blob(const_cast<uint8_t*>(p), {numel}, [keep](void*) {}, at::TensorOptions().dtype(dtype));
    } else {
      t = at::empty({numel}, at::TensorOptions().dtype(dtype));
      if (numel > 0) std::memcpy(t.data_ptr(), p, numel * elsize);
    }
    cache_.emplace(key, t);
    return t;
  }

 private:
  const uint8_t* data_;
  std::string src_;
  std::shared_ptr<MappedFile> keep_;
  std::map<std::string, ZipEntry> entries_;
  std::string prefix_;
  std::map<std::string, at::Tensor> cache_;
};

// ---- pickle VM ------------------------------------------------------------------------------------------

enum class Kind : uint8_t { kNone, kBool, kInt, kFloat, kStr, kTuple, kList, kDict, kGlobal, kStorage, kTensor };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kStr: return "str";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kGlobal: return "global";
    case Kind::kStorage: return "storage";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

enum class Callable : uint8_t { kRebuildTensorV2, kRebuildParameter, kOrderedDict, kStorageType };

// Scalars live in the value; everything else in the VM's arena, so shared references (memo) and even cycles are
// plain indices: nothing is reference-counted and nothing is destroyed recursively.
struct Value {
  Kind kind = Kind::kNone;
  int64_t i = 0;  // bool/int value, or arena index
  double f = 0;
};

struct Object {
  std::string str;                 // kStr; kGlobal: "module.name"
  std::vector<Value> items;        // kTuple, kList; kDict: key, value, key, value, ...
  std::unordered_map<std::string, size_t> str_keys;  // kDict: string key -> index of its key in items
  at::Tensor tensor;               // kStorage (flat), kTensor
  Callable callable{};             // kGlobal
  at::ScalarType dtype{};          // kGlobal storage types
};

constexpr size_t kMaxObjects = size_t(1) << 24;  // a state dict of 100k tensors needs ~1M
constexpr int64_t kMaxDims = 64;
constexpr uint64_t kMaxViewElements = uint64_t(1) << 48;

class Unpickler {
 public:
  Unpickler(const uint8_t* p, size_t n, Archive& archive) : p_(p), n_(n), ar_(archive), src_(archive.source()) {}

  Value run() {
    while (true) {
      op_pos_ = pos_;
      uint8_t op = take(1)[0];
      switch (op) {
        case 0x80: {  // PROTO
          uint8_t v = take(1)[0];
          if (v > 5) fail("pickle protocol " + std::to_string(v) + " is not supported");
          break;
        }
        case 0x95: take(8); break;  // FRAME: framing is only a read-ahead hint
        case '(': marks_.push_back(stack_.size()); break;
        case '}': push(make(Kind::kDict)); break;
        case ']': push(make(Kind::kList)); break;
        case ')': push(make(Kind::kTuple)); break;
        case 'N': push(Value{}); break;
        case 0x88: push(Value{Kind::kBool, 1}); break;
        case 0x89: push(Value{Kind::kBool, 0}); break;
        case 'J': push(Value{Kind::kInt, static_cast<int32_t>(read_le(take(4), 4))}); break;
        case 'K': push(Value{Kind::kInt, static_cast<int64_t>(take(1)[0])}); break;
        case 'M': push(Value{Kind::kInt, static_cast<int64_t>(read_le(take(2), 2))}); break;
        case 0x8a: {  // LONG1: little-endian two's complement of n bytes
          uint8_t n = take(1)[0];
          if (n > 8) fail("integer of " + std::to_string(n) + " bytes is too large");
          const uint8_t* b = take(n);
          uint64_t v = n ? read_le(b, n) : 0;
          if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);
          push(Value{Kind::kInt, static_cast<int64_t>(v)});
          break;
        }
        case 'G': {  // BINFLOAT: big-endian double
          const uint8_t* b = take(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | b[k];
          Value v{Kind::kFloat};
          std::memcpy(&v.f, &bits, 8);
          push(v);
          break;
        }
        case 'X': push(string(read_le(take(4), 4))); break;   // BINUNICODE
        case 0x8c: push(string(take(1)[0])); break;       // SHORT_BINUNICODE
        case 'q': memo_[take(1)[0]] = top(); break;       // BINPUT
        case 'r': memo_[read_le(take(4), 4)] = top(); break;   // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;    // MEMOIZE
        case 'h': push(memo(take(1)[0])); break;          // BINGET
        case 'j': push(memo(read_le(take(4), 4))); break;      // LONG_BINGET
        case 't': push(tuple(pop_mark())); break;
        case 0x85: push(tuple(pop_n(1))); break;
        case 0x86: push(tuple(pop_n(2))); break;
        case 0x87: push(tuple(pop_n(3))); break;
        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          push(global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Value name = pop(), module = pop();
          if (name.kind != Kind::kStr || module.kind != Kind::kStr) fail("STACK_GLOBAL needs two strings");
          push(global(obj(module).str, obj(name).str));
          break;
        }
        case 'R': {
          Value args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 's': {
          Value v = pop(), k = pop();
          set_item(top(), k, v);
          break;
        }
        case 'u': {
          std::vector<Value> kv = pop_mark();
          if (kv.size() % 2) fail("SETITEMS needs key/value pairs");
          for (size_t k = 0; k < kv.size(); k += 2) set_item(top(), kv[k], kv[k + 1]);
          break;
        }
        case 'a': {
          Value v = pop();
          append(top(), {v});
          break;
        }
        case 'e': append_mark(); break;
        case 'b': {  // BUILD: only the `_metadata` state of a module's OrderedDict state dict, which we drop
          pop();
          if (top().kind != Kind::kDict) fail(std::string("BUILD on a ") + kind_name(top().kind) + " is not supported");
          break;
        }
        case '.': return pop();
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + hex + (op >= 0x20 && op < 0x7f ? std::string(" '") + char(op) + "'" : "") +
               " (a torch state dict never needs it)");
        }
      }
    }
  }

  const Object& obj(const Value& v) const { return arena_[v.i]; }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    weights_corrupt(src_, "data.pkl byte " + std::to_string(op_pos_) + ": " + what);
  }

  const uint8_t* take(uint64_t k) {
    if (k > n_ - pos_) fail("pickle is truncated (needs " + std::to_string(k) + " more bytes)");
    const uint8_t* b = p_ + pos_;
    pos_ += k;
    return b;
  }

  std::string line() {
    const uint8_t* start = p_ + pos_;
    const void* nl = std::memchr(start, '\n', n_ - pos_);
    if (!nl) fail("GLOBAL name is not terminated");
    size_t len = static_cast<const uint8_t*>(nl) - start;
    pos_ += len + 1;
    return std::string(reinterpret_cast<const char*>(start), len);
  }

  Value make(Kind k) {
    if (arena_.size() >= kMaxObjects) fail("pickle creates more than " + std::to_string(kMaxObjects) + " objects");
    arena_.emplace_back();
    return Value{k, static_cast<int64_t>(arena_.size() - 1)};
  }
  Object& mut(const Value& v) { return arena_[v.i]; }

  Value string(uint64_t len) {
    const uint8_t* b = take(len);
    Value v = make(Kind::kStr);
    mut(v).str.assign(reinterpret_cast<const char*>(b), len);
    return v;
  }

  Value tuple(std::vector<Value> items) {
    Value v = make(Kind::kTuple);
    mut(v).items = std::move(items);
    return v;
  }

  void push(const Value& v) { stack_.push_back(v); }
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  // Like CPython, values below the innermost MARK are out of reach until it is popped.
  Value pop() {
    if (stack_.size() <= base()) fail("pickle stack underflow");
    Value v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value& top() {
    if (stack_.size() <= base()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::vector<Value> pop_n(size_t k) {
    if (stack_.size() - base() < k) fail("pickle stack underflow");
    std::vector<Value> out(stack_.end() - k, stack_.end());
    stack_.resize(stack_.size() - k);
    return out;
  }
  std::vector<Value> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value> out(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return out;
  }

  Value memo(uint64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("memo key " + std::to_string(k) + " was never stored");
    return it->second;
  }

  void set_item(Value& dict, const Value& k, const Value& v) {
    if (dict.kind != Kind::kDict) fail(std::string("SETITEM on a ") + kind_name(dict.kind));
    Object& d = mut(dict);
    if (k.kind == Kind::kStr) {
      auto [it, fresh] = d.str_keys.emplace(obj(k).str, d.items.size());
      if (!fresh) {
        d.items[it->second + 1] = v;  // Python semantics: the later value wins
        return;
      }
    }
    d.items.push_back(k);
    d.items.push_back(v);
  }

  void append(Value& list, std::vector<Value> vs) {
    if (list.kind != Kind::kList) fail(std::string("APPEND on a ") + kind_name(list.kind));
    auto& items = mut(list).items;
    items.insert(items.end(), vs.begin(), vs.end());
  }
  void append_mark() {
    std::vector<Value> vs = pop_mark();
    append(top(), std::move(vs));
  }

  Value global(const std::string& module, const std::string& name) {
    Value v = make(Kind::kGlobal);
    Object& g = mut(v);
    g.str = module + "." + name;
    if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
      g.callable = Callable::kRebuildTensorV2;
    } else if (module == "torch._utils" && name == "_rebuild_parameter") {
      g.callable = Callable::kRebuildParameter;
    } else if (module == "collections" && name == "OrderedDict") {
      g.callable = Callable::kOrderedDict;
    } else {
      bool found = false;
      if (module == "torch") {
        for (const auto& st : kStorageTypes) {
          if (name == st.name) {
            g.callable = Callable::kStorageType;
            g.dtype = st.dtype;
            found = true;
          }
        }
      }
      if (!found) {
        fail("refuses global " + printable_name(g.str) +
             ": only torch._utils._rebuild_tensor_v2/_rebuild_parameter, torch.*Storage and collections.OrderedDict may appear "
             "in a state dict, and nothing in the file is ever executed");
      }
    }
    return v;
  }

  int64_t as_int(const Value& v, const char* what) {
    if (v.kind != Kind::kInt) fail(std::string(what) + " must be an int, not a " + kind_name(v.kind));
    return v.i;
  }

  std::vector<int64_t> int_tuple(const Value& v, const char* what) {
    if (v.kind != Kind::kTuple) fail(std::string(what) + " must be a tuple, not a " + kind_name(v.kind));
    const auto& items = obj(v).items;
    if (static_cast<int64_t>(items.size()) > kMaxDims) fail(std::string(what) + " has too many dimensions");
    std::vector<int64_t> out;
    for (const Value& x : items) {
      int64_t n = as_int(x, what);
      if (n < 0) fail(std::string(what) + " has a negative entry " + std::to_string(n));
      out.push_back(n);
    }
    return out;
  }

  Value reduce(const Value& fn, const Value& args) {
    if (fn.kind != Kind::kGlobal) fail(std::string("cannot call a ") + kind_name(fn.kind));
    if (args.kind != Kind::kTuple) fail("REDUCE arguments must be a tuple");
    const std::vector<Value> a = obj(args).items;
    const Object& f = obj(fn);
    switch (f.callable) {
      case Callable::kOrderedDict:
        if (!a.empty()) fail("OrderedDict() takes no arguments here");
        return make(Kind::kDict);
      case Callable::kRebuildParameter:
        // (data, requires_grad, backward_hooks): a Parameter is just its data for inference.
        if (a.size() != 3 || a[0].kind != Kind::kTensor) fail("_rebuild_parameter expects (tensor, requires_grad, hooks)");
        return a[0];
      case Callable::kRebuildTensorV2:
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.size() != 6 && a.size() != 7) fail("_rebuild_tensor_v2 expects 6 or 7 arguments, got " + std::to_string(a.size()));
        if (a[0].kind != Kind::kStorage) fail("_rebuild_tensor_v2's first argument must be a storage");
        return rebuild_tensor(obj(a[0]).tensor, as_int(a[1], "storage_offset"), int_tuple(a[2], "size"), int_tuple(a[3], "stride"));
      case Callable::kStorageType: break;
    }
    fail("refuses to call " + printable_name(f.str));
  }

  Value rebuild_tensor(const at::Tensor& storage, int64_t offset, const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    if (size.size() != stride.size()) fail("tensor size and stride have different lengths");
    if (offset < 0) fail("negative storage_offset " + std::to_string(offset));
    const uint64_t numel = static_cast<uint64_t>(storage.numel());
    // Extent = offset + sum((size_i - 1) * stride_i) + 1 elements; computed so that it cannot overflow.
    bool empty = false;
    uint64_t count = 1;  // stride-0 (expanded) views may exceed their storage, but not without bound
    for (int64_t s : size) {
      empty |= (s == 0);
      count = (s == 0 || count == 0) ? 0 : (static_cast<uint64_t>(s) > kMaxViewElements / count ? kMaxViewElements + 1 : count * s);
    }
    if (count > kMaxViewElements) fail("tensor view has more than 2^48 elements");
    uint64_t last = static_cast<uint64_t>(offset);
    bool fits = last <= numel;
    for (size_t k = 0; k < size.size() && fits && !empty; ++k) {
      uint64_t span = static_cast<uint64_t>(size[k] - 1);
      uint64_t st = static_cast<uint64_t>(stride[k]);
      if (st != 0 && span > (numel - last) / st) fits = false;
      else last += span * st;
    }
    if (fits && !empty) fits = last < numel;
    if (!fits) {
      std::string shape;
      for (size_t k = 0; k < size.size(); ++k) shape += (k ? "," : "") + std::to_string(size[k]);
      fail("tensor view (size [" + shape + "], storage_offset " + std::to_string(offset) + ") reaches past its storage of " +
           std::to_string(numel) + " elements");
    }
    Value v = make(Kind::kTensor);
    mut(v).tensor = storage.as_strided(size, stride, offset);
    return v;
  }

  Value persistent_load(const Value& pid) {
    // ('storage', torch.<Type>Storage, key, location, numel)
    if (pid.kind != Kind::kTuple) fail("persistent id must be a tuple");
    const auto& t = obj(pid).items;
    if (t.size() != 5 || t[0].kind != Kind::kStr || obj(t[0]).str != "storage") fail("persistent id is not a ('storage', ...) tuple");
    if (t[1].kind != Kind::kGlobal || obj(t[1]).callable != Callable::kStorageType) fail("persistent id does not name a storage type");
    if (t[2].kind != Kind::kStr || t[3].kind != Kind::kStr) fail("persistent id storage key and location must be strings");
    int64_t numel = as_int(t[4], "storage numel");
    Value v = make(Kind::kStorage);
    mut(v).tensor = ar_.storage(obj(t[2]).str, obj(t[1]).dtype, numel);  // the location (cpu, cuda:0) is ignored: we load to CPU
    return v;
  }

  const uint8_t* p_;
  uint64_t n_;
  uint64_t pos_ = 0, op_pos_ = 0;
  Archive& ar_;
  const std::string& src_;
  std::deque<Object> arena_;  // a deque: growing it never moves the objects references point at
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value> memo_;
};

const Object* string_key(const Unpickler& vm, const Object& dict, const std::string& key) {
  auto it = dict.str_keys.find(key);
  if (it == dict.str_keys.end()) return nullptr;
  const Value& v = dict.items[it->second + 1];
  return v.kind == Kind::kDict ? &vm.obj(v) : nullptr;
}

TensorMap parse_archive(Archive& archive) {
  ZipEntry pkl = archive.pickle();
  Unpickler vm(archive.bytes(pkl), pkl.size, archive);
  Value root = vm.run();
  if (root.kind != Kind::kDict) weights_corrupt(archive.source(), std::string("pickle holds a value of type ") + kind_name(root.kind) + ", not a state dict");
  const Object* dict = &vm.obj(root);
  // Training checkpoints nest the weights: {"state_dict": {...}, "epoch": ...}.
  if (const Object* nested = string_key(vm, *dict, "state_dict")) dict = nested;
  TensorMap out;
  for (size_t k = 0; k < dict->items.size(); k += 2) {
    const Value& key = dict->items[k];
    const Value& value = dict->items[k + 1];
    if (key.kind != Kind::kStr) weights_corrupt(archive.source(), std::string("state dict has a key of type ") + kind_name(key.kind));
    const std::string& name = vm.obj(key).str;
    if (value.kind != Kind::kTensor) {
      weights_corrupt(archive.source(), "state dict entry '" + printable_name(name) + "' is of type " + kind_name(value.kind) + ", not a tensor");
    }
    out[name] = vm.obj(value).tensor;
  }
  return out;
}

[[noreturn]] void not_a_zip(const uint8_t* d, size_t size, const std::string& src) {
  // torch.save before 1.6 (or with _use_new_zipfile_serialization=False) wrote a bare pickle stream (0x80 = PROTO)
  // or, before 0.4, a tar file.
  if ((size > 0 && d[0] == 0x80) || (size > 262 && std::memcmp(d + 257, "ustar", 5) == 0)) {
    weights_corrupt(src, "this is the old non-zip torch.save format (PyTorch < 1.6 or _use_new_zipfile_serialization=False), which is "
                 "not supported; convert it with Python: `sd = torch.load(path, map_location=\"cpu\", weights_only=True)` then "
                 "`safetensors.torch.save_file(sd, \"model.safetensors\")` (or torch.save(sd, path) with PyTorch >= 1.6)");
  }
  weights_corrupt(src, "not a torch.save zip archive (no zip signature)");
}

TensorMap parse(const uint8_t* d, size_t size, const std::string& src, std::shared_ptr<MappedFile> keep) {
  if (size == 0) weights_corrupt(src, "file is empty");
  if (size < 4 || read_le(d, 4) != kZipLocalSig) not_a_zip(d, size, src);
  Archive archive(d, size, src, std::move(keep));
  return translating_errors(src.c_str(), [&] { return parse_archive(archive); });
}

}  // namespace

TensorMap parse_pytorch_bin(const uint8_t* data, size_t size, const std::string& source) {
  return parse(data, size, source, nullptr);
}

TensorMap load_pytorch_bin(const std::string& path) {
  // Copy-on-write, as for safetensors: in-place ops on the zero-copy tensors never reach the file.
  std::shared_ptr<MappedFile> map = MappedFile::open(path);
  return parse(map->data(), map->size(), path, map);
}

}  // namespace xclip
