// The control-socket command language of `bouncestream devbroker`. One command per line;
// the reply is "OK" (sometimes "OK <info>") or "ERR <reason>":
//
//   ping                                    liveness check
//   help                                    lists the commands
//   topic NAME PARTITIONS [RF]              create a topic (RF default min(3, brokers))
//   down BROKER_ID | up BROKER_ID           take a broker down (connections closed) / back up
//   rtt BROKER_ID MS                        delay every response of a broker by MS ms (0 = off)
//   err APIKEY ERR [ERR...]                 the next requests of APIKEY (cluster-wide, any
//                                           client) fail with these errors, in order
//   berr BROKER_ID APIKEY ERR MS [ERR MS...]  same, on one broker, each with a response delay
//   clear APIKEY                            drop pending cluster-wide errors for APIKEY
//   leader TOPIC PARTITION BROKER_ID        move a partition leader (-1 = no leader)
//   coord group|transaction KEY BROKER_ID   pin the group / transaction coordinator
//
// APIKEY is a number or a name (Produce, Fetch, Metadata, OffsetCommit, JoinGroup, ...).
// ERR is a librdkafka error name (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT, _TRANSPORT,
// MSG_SIZE_TOO_LARGE, ...; "RD_KAFKA_RESP_ERR_" prefix optional) or a numeric code.
#ifndef BOUNCESTREAM_STREAM_DEVBROKER_COMMANDS_H_
#define BOUNCESTREAM_STREAM_DEVBROKER_COMMANDS_H_

#include <string>
#include <string_view>

#include "stream/devbroker/mock_broker.h"

namespace bouncestream::stream::devbroker {

std::string ExecuteControlCommand(MockCluster& cluster, std::string_view line);

}  // namespace bouncestream::stream::devbroker

#endif  // BOUNCESTREAM_STREAM_DEVBROKER_COMMANDS_H_
