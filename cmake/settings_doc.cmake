# The settings section of DOC (docs/operations.md), between the two marker
# lines below, is what GEN (esc_settings_doc) prints from the settings table
# in daemon/settings.c.
#   MODE=check:  fail, with a diff, when the committed section differs
#   MODE=update: rewrite the section
set(begin_marker "<!-- BEGIN settings: generated from daemon/settings.c; edit the table there, then run `cmake --build build --target settings-doc` -->\n")
set(end_marker "<!-- END settings -->")
set(regen "cmake --build ${BUILD_DIR} --target settings-doc")

execute_process(COMMAND ${GEN} OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${GEN} failed (${rc})")
endif()

file(READ ${DOC} doc)
string(FIND "${doc}" "${begin_marker}" b)
string(FIND "${doc}" "${end_marker}" e)
if(b EQUAL -1 OR e EQUAL -1 OR e LESS b)
  message(FATAL_ERROR "${DOC}: the settings markers are missing; the section must sit between\n"
                      "${begin_marker}and\n${end_marker}")
endif()
string(LENGTH "${begin_marker}" blen)
math(EXPR head_len "${b} + ${blen}")
string(SUBSTRING "${doc}" 0 ${head_len} head)
string(SUBSTRING "${doc}" ${e} -1 tail)
set(want "${head}${generated}${tail}")

if(want STREQUAL doc)
  message(STATUS "${DOC}: the settings section matches daemon/settings.c")
elseif(MODE STREQUAL "update")
  file(WRITE ${DOC} "${want}")
  message(STATUS "${DOC}: settings section rewritten from daemon/settings.c")
else()
  set(expected ${BUILD_DIR}/operations.md.expected)
  file(WRITE ${expected} "${want}")
  find_program(DIFF diff)
  if(DIFF)
    execute_process(COMMAND ${DIFF} -u ${DOC} ${expected})
  endif()
  message(FATAL_ERROR "${DOC}: the settings section differs from the settings table in "
                      "daemon/settings.c (what it should be: ${expected}).\n"
                      "Regenerate it with: ${regen}")
endif()
