// One call to produce a copied record with librdkafka (no C-style variadic macros).
#ifndef BOUNCESTREAM_STREAM_KAFKA_PRODUCE_H_
#define BOUNCESTREAM_STREAM_KAFKA_PRODUCE_H_

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace bouncestream::stream {

// Produces `value` keyed by `key` (empty = no key) to `topic`, copying both. `headers`, when
// given, is owned by librdkafka on success and must be destroyed by the caller on failure.
inline rd_kafka_resp_err_t ProduceCopy(rd_kafka_t* producer, const char* topic,
                                       std::string_view key, std::string_view value,
                                       void* opaque = nullptr,
                                       rd_kafka_headers_t* headers = nullptr) {
  rd_kafka_vu_t vu[6];
  std::size_t n = 0;
  vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vu[n++].u.cstr = topic;
  if (!key.empty()) {
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = const_cast<char*>(key.data());
    vu[n++].u.mem.size = key.size();
  }
  vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vu[n].u.mem.ptr = const_cast<char*>(value.data());
  vu[n++].u.mem.size = value.size();
  vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
  vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vu[n++].u.ptr = opaque;
  if (headers != nullptr) {
    vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
    vu[n++].u.headers = headers;
  }
  rd_kafka_error_t* error = rd_kafka_produceva(producer, vu, n);
  if (error == nullptr) return RD_KAFKA_RESP_ERR_NO_ERROR;
  const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  rd_kafka_error_destroy(error);
  return code;
}

// A record for ProduceRecord: an explicit partition (or RD_KAFKA_PARTITION_UA for the
// partitioner), a key, and a value or none (a tombstone), plus headers (owned by librdkafka on
// success only) and the delivery callback's opaque.
struct OutRecord {
  const char* topic = nullptr;
  std::int32_t partition = RD_KAFKA_PARTITION_UA;
  std::string_view key;
  std::string_view value;
  bool tombstone = false;  // no value at all (not an empty one)
  rd_kafka_headers_t* headers = nullptr;
  void* opaque = nullptr;
};

inline rd_kafka_resp_err_t ProduceRecord(rd_kafka_t* producer, const OutRecord& r) {
  rd_kafka_vu_t vu[7];
  std::size_t n = 0;
  vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vu[n++].u.cstr = r.topic;
  if (r.partition != RD_KAFKA_PARTITION_UA) {
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = r.partition;
  }
  if (!r.key.empty()) {
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = const_cast<char*>(r.key.data());
    vu[n++].u.mem.size = r.key.size();
  }
  vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vu[n].u.mem.ptr = r.tombstone ? nullptr : const_cast<char*>(r.value.data());
  vu[n++].u.mem.size = r.tombstone ? 0 : r.value.size();
  vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
  vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vu[n++].u.ptr = r.opaque;
  if (r.headers != nullptr) {
    vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
    vu[n++].u.headers = r.headers;
  }
  rd_kafka_error_t* error = rd_kafka_produceva(producer, vu, n);
  if (error == nullptr) return RD_KAFKA_RESP_ERR_NO_ERROR;
  const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  rd_kafka_error_destroy(error);
  return code;
}

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_KAFKA_PRODUCE_H_
