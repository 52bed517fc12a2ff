# stream/config.cc: the `bouncestream run` configuration (TOML file + environment + flags).
# toml++ is header-only here; TOML_EXCEPTIONS/TOML_HEADER_ONLY must match every other target
# that includes it (classify/CMakeLists.txt).
target_sources(bouncestream_stream PRIVATE ${CMAKE_CURRENT_LIST_DIR}/config.cc)
target_compile_definitions(bouncestream_stream PRIVATE TOML_EXCEPTIONS=0 TOML_HEADER_ONLY=1)
target_include_directories(bouncestream_stream SYSTEM PRIVATE ${TOMLPP_INCLUDE_DIRS})
