# Writes the store's Lua scripts into a C++ source as string constants, run
# at build time (cmake -P) so that editing a .lua file rebuilds the library.
#   -DSCRIPT_DIR=<dir of the .lua files> -DNAMES=<name,name,...> -DOUTPUT=<.cpp>
# Whole-line "--" comments are dropped: they explain the scripts to readers,
# and Redis (which hashes the text for EVALSHA) needs only the code.
string(REPLACE "," ";" names "${NAMES}")
set(out "// Generated from src/store/scripts/*.lua by embed.cmake: edit those files.\n")
string(APPEND out "namespace redis_session::detail::embedded_lua {\n")
foreach(name IN LISTS names)
  file(READ "${SCRIPT_DIR}/${name}.lua" text)
  string(REGEX REPLACE "\n[ \t]*--[^\n]*" "" text "\n${text}")
  string(SUBSTRING "${text}" 1 -1 text)
  if(text MATCHES "\\)lua\"")
    message(FATAL_ERROR "${name}.lua contains the raw-string delimiter )lua\"")
  endif()
  string(APPEND out "extern const char ${name}_lua[];\n")
  string(APPEND out "const char ${name}_lua[] = R\"lua(${text})lua\";\n")
endforeach()
string(APPEND out "}  // namespace redis_session::detail::embedded_lua\n")
file(WRITE "${OUTPUT}" "${out}")
