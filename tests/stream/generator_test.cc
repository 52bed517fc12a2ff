// The demo's traffic generator must produce what the decoders accept: every valid record decodes
// (auto-detected) into its events, every malformed one fails, and the mix covers the formats.
#include "stream/demo/generator.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "stream/decode.h"

namespace bouncestream::stream {
namespace {

TEST(GeneratorTest, EveryRecordDecodesAsIntended) {
  TrafficGenerator gen;
  Decoder decoder;
  std::vector<classify::BounceEvent> events;
  std::map<InputFormat, int> formats;
  int malformed = 0, duplicates = 0;
  std::set<std::string> ids;
  for (int i = 0; i < 5000; ++i) {
    const GeneratedRecord r = gen.Next();
    events.clear();
    decoder.Reset();
    auto decoded = decoder.Decode(r.value, InputFormat::kAuto, &events);
    if (r.malformed) {
      ++malformed;
      EXPECT_FALSE(decoded.has_value()) << r.value;
      continue;
    }
    ASSERT_TRUE(decoded.has_value()) << ToString(r.format) << ": " << decoded.error().kind << " "
                                     << decoded.error().detail << "\n" << r.value;
    EXPECT_EQ(*decoded, r.format) << r.value;
    ASSERT_EQ(static_cast<int>(events.size()), r.events) << r.value;
    const auto& ev = events[0];
    EXPECT_FALSE(ev.id.empty()) << r.value;
    EXPECT_NE(ev.recipient.find('@'), std::string_view::npos) << r.value;
    if (ev.type != classify::EventType::kComplaint) {
      EXPECT_FALSE(ev.text.empty()) << r.value;
    }
    ++formats[r.format];
    if (r.duplicate) {
      ++duplicates;
      EXPECT_TRUE(ids.contains(std::string(ev.id))) << "a duplicate repeats an earlier id";
    } else {
      EXPECT_TRUE(ids.insert(std::string(ev.id)).second) << "ids are unique: " << r.value;
    }
  }
  EXPECT_GE(formats.size(), 6u);
  EXPECT_GT(malformed, 5);
  EXPECT_GT(duplicates, 10);
}

TEST(GeneratorTest, IsDeterministic) {
  TrafficGenerator a, b;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Next().value, b.Next().value);
}

}  // namespace
}  // namespace bouncestream::stream
