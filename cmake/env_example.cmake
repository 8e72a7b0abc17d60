# packaging/escalated.env (FILE) is what GEN (esc_settings_doc env) prints from
# the settings table in daemon/settings.c, whole.
#   MODE=check:  fail, with a diff, when the committed file differs
#   MODE=update: rewrite it
execute_process(COMMAND ${GEN} env OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${GEN} env failed (${rc})")
endif()
set(have "")
if(EXISTS ${FILE})
  file(READ ${FILE} have)
endif()
if(have STREQUAL generated)
  message(STATUS "${FILE} matches daemon/settings.c")
elseif(MODE STREQUAL "update")
  file(WRITE ${FILE} "${generated}")
  message(STATUS "${FILE} rewritten from daemon/settings.c")
else()
  set(expected ${BUILD_DIR}/escalated.env.expected)
  file(WRITE ${expected} "${generated}")
  find_program(DIFF diff)
  if(DIFF)
    execute_process(COMMAND ${DIFF} -u ${FILE} ${expected})
  endif()
  message(FATAL_ERROR "${FILE} differs from the settings table in daemon/settings.c "
                      "(what it should be: ${expected}).\n"
                      "Regenerate it with: cmake --build ${BUILD_DIR} --target settings-doc")
endif()
