// The decision stage's reader: a `bouncestream.classified` record -> state::Observation, and
// the mapping from a classification (party, action, type, hard) to the policy's Signal.
#ifndef BOUNCESTREAM_STREAM_OBSERVE_H_
#define BOUNCESTREAM_STREAM_OBSERVE_H_

#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "state/observation.h"
#include "stream/arena.h"

namespace bouncestream::stream {

// Which Signal an event carries. Names are the classifier's tokens (classify/taxonomy.h).
// Deferrals never count as soft bounces (the MTA retries them); only a final bounce or an
// expiry does.
state::Signal SignalOf(std::string_view type, std::string_view party, std::string_view reason,
                       bool hard);

// Keyed hash of a recipient address ("h:" + 32 hex digits of HMAC-SHA256, lower-cased input):
// what state stores and decisions publish when [state] hash_recipients is on.
std::string HashRecipient(std::string_view key, std::string_view address);

// The Kafka header of a `bouncestream.classified` record that carries what the decision stage
// needs from it in a compact binary form (stream/internal/observation_header.h), so the record's
// JSON is not parsed a second time. Written by the input stage; optional for other producers.
inline constexpr const char* kObservationHeader = "bouncestream.observation";

class ObservationReader {
 public:
  // `hmac_key` empty = recipients are kept as they are.
  explicit ObservationReader(std::string hmac_key = {});
  ~ObservationReader();
  ObservationReader(const ObservationReader&) = delete;
  ObservationReader& operator=(const ObservationReader&) = delete;

  // Reads one classified record; the observation's views point into the reader's arena and
  // stay valid until Reset(). `domain_key` is the record's Kafka key (the recipient domain).
  // `header` is the record's kObservationHeader value, if it has one: a header of a known
  // version is read instead of the JSON (and must be well formed: a broken one is an error, not
  // a reason to read the JSON); without one, or of an unknown version, the JSON is parsed.
  // Errors name the field, never its value.
  std::expected<state::Observation, std::string> Read(std::string_view payload,
                                                      std::string_view domain_key,
                                                      std::string_view header = {});
  void Reset();

 private:
  std::expected<state::Observation, std::string> ReadHeader(std::string_view header,
                                                            std::string_view payload,
                                                            std::string_view domain_key);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_OBSERVE_H_
