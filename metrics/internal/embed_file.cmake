# cmake -DINPUT=<file> -DOUTPUT=<header> -DSYMBOL=<name> -DGUARD=<macro> -P embed_file.cmake
# Writes a header that holds INPUT as a C++ raw string literal:
#   inline constexpr std::string_view <SYMBOL> = R"bshtml(...)bshtml";
file(READ "${INPUT}" content)
string(FIND "${content}" ")bshtml\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )bshtml\"")
endif()
set(text "// Generated from ${INPUT} by metrics/internal/embed_file.cmake. Do not edit.\n")
string(APPEND text "#ifndef ${GUARD}\n#define ${GUARD}\n\n#include <string_view>\n\n")
string(APPEND text "namespace bouncestream::metrics::internal {\n\n")
string(APPEND text "inline constexpr std::string_view ${SYMBOL} = R\"bshtml(${content})bshtml\";\n\n")
string(APPEND text "}  // namespace bouncestream::metrics::internal\n\n#endif  // ${GUARD}\n")
file(WRITE "${OUTPUT}.tmp" "${text}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
