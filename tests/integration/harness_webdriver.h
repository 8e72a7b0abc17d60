/* harness_webdriver.h — a headless Chromium for the tests of the daemon's
 * pages: Debian's chromium under Debian's chromedriver (both required: a
 * test that needs them fails when they are missing; scripts/test.sh installs
 * them), driven over the W3C WebDriver HTTP API.
 *
 * One browser session per test program.  Every function asserts (cmocka):
 * call them from the test thread.  Values returned are kept until wd_gc()
 * or wd_stop(). */
#ifndef ESC_TEST_HARNESS_WEBDRIVER_H
#define ESC_TEST_HARNESS_WEBDRIVER_H

#include "harness.h"

/* Start chromedriver (its log: OUTDIR/chromedriver.log) and a browser
 * session (1280x900, English UI); stop both and remove the profile. */
void wd_start(const char *outdir);
void wd_stop(void);
/* The first of `names` found on PATH (or an absolute path that exists). */
char *wd_find_in_path(const char *const *names);

/* A bound on the whole browser part: waits fail once it has passed. */
void wd_time_box_start(double seconds, const char *name);
void wd_time_box(const char *what);

/* One WebDriver command: its "value"; status in *status (0 = no answer).
 * wd_raw's value is the caller's; wd asserts a 200 and keeps the value. */
json_t *wd_raw(const char *method, const char *path, json_t *body, long *status);
json_t *wd(const char *method, const char *path, json_t *body);
void wd_gc(void);
/* "/session/ID" + tail (a static buffer: use it at once). */
const char *wd_spath(const char *tail);
const char *wd_session(void);

/* A script in the page (a function body): its value; as a boolean (not
 * kept, for polling); as a string ("" for none). */
json_t *wd_js(const char *script);
int wd_js_bool(const char *script);
const char *wd_js_str(const char *script);
/* Poll a script until it returns true; fail with `what` after timeout_s,
 * showing the page's visible .error elements. */
void wd_wait_js(const char *script, double timeout_s, const char *what);

const char *wd_element(const char *css);
void wd_click(const char *css);
void wd_type(const char *css, const char *text);   /* clears, then types */
void wd_cdp(const char *cmd, json_t *params);      /* a Chrome DevTools command */
void wd_screenshot(const char *path);               /* PNG of the viewport */
/* Fail on any SEVERE message in the browser's log, but for the refusals a
 * test provokes on purpose: network errors whose message has one of
 * `expected` (NULL-ended, e.g. "status of 401"). */
void wd_check_browser_log(const char *const *expected);

#endif
