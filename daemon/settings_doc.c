/* esc_settings_doc — prints the settings section of docs/operations.md from
 * the settings table (settings.c).  cmake/settings_doc.cmake runs it to check
 * the committed docs (CTest unit.settings_doc) or to rewrite them
 * (`cmake --build build --target settings-doc`), so the docs cannot drift
 * from what `escalated --help` prints. */
#include <stdio.h>

#include "daemon/settings.h"

int main(void)
{
    escp_settings_print_markdown(stdout);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
