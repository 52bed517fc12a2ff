#include "stream/json_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <string>

namespace bouncestream::stream {
namespace {

TEST(JsonWriterTest, ObjectsArraysAndEscapes) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("a", std::string_view("q\"b\\n\n\t\x01"));
  w.Field("n", std::int64_t{-5});
  w.Key("list");
  w.BeginArray();
  w.String("x");
  w.Bool(true);
  w.Null();
  w.EndArray();
  w.Key("d");
  w.Double(0.5, 2);
  w.EndObject();
  EXPECT_EQ(out, R"({"a":"q\"b\\n\n\t\u0001","n":-5,"list":["x",true,null],"d":0.50})");
}

TEST(JsonWriterTest, InvalidUtf8IsReplacedValidIsKept) {
  std::string out;
  JsonWriter w(&out);
  w.String("ok \xc3\xa9 \xe2\x80\x93 bad \xff \xc3 \xed\xa0\x80 end");
  EXPECT_EQ(out, "\"ok \xc3\xa9 \xe2\x80\x93 bad \\ufffd \\ufffd \\ufffd\\ufffd\\ufffd end\"");
}

TEST(JsonWriterTest, NulBytesAreEscaped) {
  std::string out;
  JsonWriter w(&out);
  w.String(std::string_view("a\0b", 3));
  EXPECT_EQ(out, R"("a\u0000b")");
}


// The escape scan works on 16-byte blocks with a byte loop for the rest: a special byte at
// every position of a long string, against a byte-at-a-time reference.
std::string Reference(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c >= 0x80) {
      out += "\\ufffd";  // the inputs below hold only lone (invalid) high bytes
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

TEST(JsonWriterTest, SpecialBytesAtEveryPositionOfALongString) {
  const std::string_view specials[] = {"\"", "\\", "\n", "\x01", "\x1f", "\xff", "\x7f"};
  for (std::size_t len : {1u, 15u, 16u, 17u, 31u, 32u, 33u, 70u}) {
    for (std::size_t at = 0; at < len; ++at) {
      for (std::string_view sp : specials) {
        std::string s(len, 'a');
        s.replace(at, 1, sp);
        std::string out;
        JsonWriter w(&out);
        w.String(s);
        ASSERT_EQ(out, Reference(s)) << "len " << len << " at " << at;
      }
    }
  }
}

TEST(JsonWriterTest, LongUtf8RunsAndInvalidBytesAcrossBlocks) {
  std::string s;
  for (int i = 0; i < 20; ++i) s += "\xc3\xa9\xe2\x80\x93\xf0\x9f\x98\x80";  // é – 😀
  s += "\xe2\x80";  // truncated sequence at the end
  std::string out;
  JsonWriter w(&out);
  w.String(s);
  EXPECT_EQ(out, "\"" + s.substr(0, s.size() - 2) + "\\ufffd\\ufffd\"");
}

TEST(JsonWriterTest, NumbersAndPlainKeys) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("min", std::numeric_limits<std::int64_t>::min());
  w.Field("max", std::numeric_limits<std::int64_t>::max());
  w.PlainKey("zero");
  w.Int(0);
  w.PlainKey("c");
  w.BeginArray();
  for (double v : {0.0, 0.005, 0.125, 0.375, 0.95, 1.0, 0.999, -0.5, 123.456}) w.Double(v, 2);
  w.Double(0.5, 0);
  w.Double(2.5, 0);
  w.EndArray();
  w.EndObject();
  std::string expect = R"({"min":-9223372036854775808,"max":9223372036854775807,"zero":0,"c":[)";
  bool first = true;
  for (double v : {0.0, 0.005, 0.125, 0.375, 0.95, 1.0, 0.999, -0.5, 123.456}) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);  // what the writer must print, as printf does
    expect += (first ? "" : ",") + std::string(buf);
    first = false;
  }
  char b0[8], b1[8];
  std::snprintf(b0, sizeof b0, "%.0f", 0.5);
  std::snprintf(b1, sizeof b1, "%.0f", 2.5);
  expect += "," + std::string(b0) + "," + b1 + "]}";
  EXPECT_EQ(out, expect);
}

TEST(JsonWriterTest, ConfidenceValuesPrintAsPrintfDoes) {
  for (int i = 0; i <= 1000; ++i) {
    const float f = static_cast<float>(i) / 1000.0f;  // Classification::confidence is a float
    std::string out;
    JsonWriter w(&out);
    w.Double(f, 2);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(f));
    ASSERT_EQ(out, buf) << i;
  }
}

}  // namespace
}  // namespace bouncestream::stream
