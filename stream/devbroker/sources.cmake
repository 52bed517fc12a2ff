# `bouncestream devbroker`: librdkafka's mock cluster as a local broker (included by
# stream/CMakeLists.txt). Dev/test tooling: the mock API is experimental (tested with 2.0.x).
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
target_sources(bouncestream_stream PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/cli/devbroker_cmd.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/devbroker/commands.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/devbroker/control.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/devbroker/devbroker.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/devbroker/forwarder.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/devbroker/log.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/devbroker/mock_broker.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/devbroker/net_util.cc
)
target_link_libraries(bouncestream_stream PUBLIC PkgConfig::RDKAFKA)
