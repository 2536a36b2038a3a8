# Writes OUTPUT, a C++ file holding INPUT (the admin listener's page) as a
# raw string literal; run at build time by the rule in CMakeLists.txt, so an
# edit of the page rebuilds the binary:
#   cmake -DINPUT=admin_page.html -DOUTPUT=admin_page_data.cpp -P embed_page.cmake
file(READ "${INPUT}" page)
if(page MATCHES "\\)mcpfwd_page\"")
  message(FATAL_ERROR "${INPUT} contains the raw string's delimiter )mcpfwd_page\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from cpp/src/server/admin_page.html by embed_page.cmake: do not edit.\n"
  "#include \"server/admin_page.hpp\"\n\n"
  "namespace mcpfwd {\n\n"
  "const std::string_view admin_page_source = R\"mcpfwd_page(${page})mcpfwd_page\";\n\n"
  "}  // namespace mcpfwd\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
