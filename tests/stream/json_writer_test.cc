#include "stream/json_writer.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace bouncestream::stream
