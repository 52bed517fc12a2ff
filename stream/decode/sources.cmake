# The MTA/ESP input adapters (included by stream/CMakeLists.txt).
target_sources(bouncestream_stream PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/common.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/kumomta.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/powermta.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/postfix.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/postal.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/ses.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/sendgrid.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/mailgun.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/postmark.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/decode/sparkpost.cc
)
