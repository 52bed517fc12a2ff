// A realistic, deterministic mixed bounce stream for the demo and the end-to-end tests: many
// tenants and senders; Gmail, Microsoft, Yahoo, Mimecast, Proofpoint, Barracuda and ISP
// recipients; hard and soft bounces, Mimecast platform/admin/end-user blocks, complaints; in
// several input formats; with retried duplicates and a few malformed records.
#ifndef BOUNCESTREAM_STREAM_DEMO_GENERATOR_H_
#define BOUNCESTREAM_STREAM_DEMO_GENERATOR_H_

#include <cstdint>
#include <string>

#include "stream/decode.h"

namespace bouncestream::stream {

struct GeneratedRecord {
  std::string key;
  std::string value;
  InputFormat format = InputFormat::kCanonical;
  bool malformed = false;  // expected to land in the dead-letter topic
  bool duplicate = false;  // a retried copy of an earlier record
  int events = 0;          // events the record holds (0 for malformed)
};

struct GeneratorOptions {
  std::uint64_t seed = 42;
  double malformed_rate = 0.005;
  double duplicate_rate = 0.01;
  double complaint_rate = 0.02;
  // Event time of the first record (Unix seconds); events advance 10 ms each. Tests keep the
  // fixed default; the demo starts at the wall clock.
  std::int64_t start_time_s = 1796032800;
};

class TrafficGenerator {
 public:
  explicit TrafficGenerator(GeneratorOptions options = {});
  GeneratedRecord Next();

 private:
  std::uint64_t Rand();
  double Unit();
  std::uint64_t state_;
  GeneratorOptions options_;
  std::uint64_t sequence_ = 0;
  GeneratedRecord last_;
};

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_DEMO_GENERATOR_H_
