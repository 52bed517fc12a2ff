// Appends JSON to a reused std::string. Strings are escaped and invalid UTF-8 is replaced with
// U+FFFD, so the output is always valid JSON whatever bytes the input held.
#ifndef BOUNCESTREAM_STREAM_JSON_WRITER_H_
#define BOUNCESTREAM_STREAM_JSON_WRITER_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace bouncestream::stream {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject() { Sep(); out_->push_back('{'); first_ = true; }
  void EndObject() { out_->push_back('}'); first_ = false; }
  void BeginArray() { Sep(); out_->push_back('['); first_ = true; }
  void EndArray() { out_->push_back(']'); first_ = false; }
  void Key(std::string_view key) {
    Sep();
    AppendString(key);
    out_->push_back(':');
    first_ = true;  // the value follows without a comma
  }
  // A key known to need no escaping (a literal of printable ASCII without '"' or '\\'): written
  // as it is, without the escape scan.
  void PlainKey(std::string_view key) {
    char buf[64];  // ,"key": in one append
    if (key.size() > sizeof buf - 4) {
      Key(key);
      return;
    }
    char* p = buf;
    if (!first_) *p++ = ',';
    *p++ = '"';
    std::memcpy(p, key.data(), key.size());
    p += key.size();
    *p++ = '"';
    *p++ = ':';
    out_->append(buf, static_cast<std::size_t>(p - buf));
    first_ = true;
  }
  void String(std::string_view s) { Sep(); AppendString(s); }
  void Int(std::int64_t v);
  void Bool(bool v) { Sep(); out_->append(v ? "true" : "false"); }
  void Null() { Sep(); out_->append("null"); }
  void Double(double v, int decimals);
  // Bytes in the output so far (where the next value's text will start, separators aside).
  std::size_t size() const { return out_->size(); }
  // How many invalid UTF-8 bytes were written as U+FFFD so far.
  std::size_t repairs() const { return repairs_; }

  // Key + value shorthands.
  void Field(std::string_view key, std::string_view v) { Key(key); String(v); }
  void Field(std::string_view key, std::int64_t v) { Key(key); Int(v); }
  void FieldBool(std::string_view key, bool v) { Key(key); Bool(v); }

 private:
  void Sep() {
    if (!first_) out_->push_back(',');
    first_ = false;
  }
  void AppendString(std::string_view s);

  std::string* out_;
  bool first_ = true;
  std::size_t repairs_ = 0;
};

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_JSON_WRITER_H_
