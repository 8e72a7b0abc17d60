/* escalated — logging to stderr, PgBouncer-style levels, as text or as JSON
 * lines.  Thread-safe; level and format may change while threads log
 * (SIGHUP).
 * Untrusted text must go through esc_log_escape (or the %s of a value that
 * is already known safe). */
#ifndef ESCALATED_LOG_H
#define ESCALATED_LOG_H

#include <stddef.h>

enum esc_log_level { ESC_LOG_ERROR, ESC_LOG_WARN, ESC_LOG_INFO, ESC_LOG_DEBUG };

enum esc_log_format {
    ESC_LOG_TEXT, /* 2026-11-23T16:20:30.212Z info  message */
    ESC_LOG_JSON  /* {"ts":"2026-11-23T16:20:30.212Z","level":"info","msg":"message"} */
};

void esc_log_set_level(enum esc_log_level level);
void esc_log_set_format(enum esc_log_format format);
int esc_log_format_from_name(const char *name); /* "text", "json"; -1 when unknown */
/* One log line as esc_log would write it (without the newline) for a time
 * (seconds, nanoseconds since the epoch): into buf, truncated to fit.  For
 * the tests. */
void esc_log_format_line(char *buf, size_t len, enum esc_log_format format, long long sec,
                         long nsec, enum esc_log_level level, const char *msg);
int esc_log_level_from_name(const char *name); /* -1 when unknown */
void esc_log(enum esc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copy `s` into buf with control characters and non-printables escaped (\n, \xNN);
 * truncated to fit. Returns buf. */
char *esc_log_escape(const char *s, char *buf, size_t len);

#define log_error(...) esc_log(ESC_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) esc_log(ESC_LOG_WARN, __VA_ARGS__)
#define log_info(...) esc_log(ESC_LOG_INFO, __VA_ARGS__)
#define log_debug(...) esc_log(ESC_LOG_DEBUG, __VA_ARGS__)

#endif
