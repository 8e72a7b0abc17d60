/* log.c — one line per call on stderr: time, level, message; as text or as
 * a JSON object (for log collectors that parse lines as JSON). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"

/* Atomics: serve changes both on SIGHUP while other threads log. */
static atomic_int current_level = ESC_LOG_INFO;
static atomic_int current_format = ESC_LOG_TEXT;
static const char *const names[] = {"error", "warn", "info", "debug"};
static const char *const formats[] = {"text", "json"};

void esc_log_set_level(enum esc_log_level level) { atomic_store(&current_level, (int)level); }
void esc_log_set_format(enum esc_log_format format) { atomic_store(&current_format, (int)format); }

int esc_log_level_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcasecmp(name, names[i]) == 0)
            return i;
    return -1;
}

int esc_log_format_from_name(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (name && strcasecmp(name, formats[i]) == 0)
            return i;
    return -1;
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xe0 && s[0] <= 0xef) {
        unsigned char lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        unsigned char lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* msg as the body of a JSON string: quotes, backslashes and control
 * characters escaped, and bytes that are not UTF-8 replaced by U+FFFD, so
 * that every line parses whatever a message quotes. */
static size_t json_text(char *buf, size_t len, const char *msg)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 7 < len;) {
        size_t n = utf8_len(p);
        if (n == 0) {
            memcpy(buf + o, "\\ufffd", 6);
            o += 6;
            p++;
        } else if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)*p++;
        } else if (*p == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\u%04x", *p++);
        } else {
            memcpy(buf + o, p, n);
            o += n;
            p += n;
        }
    }
    buf[o] = '\0';
    return o;
}

void esc_log_format_line(char *buf, size_t len, enum esc_log_format format, long long sec,
                         long nsec, enum esc_log_level level, const char *msg)
{
    struct tm tm;
    time_t t = (time_t)sec;
    char ts[64];
    gmtime_r(&t, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nsec / 1000000);
    if (format != ESC_LOG_JSON) {
        snprintf(buf, len, "%s %-5s %s", ts, names[level], msg);
        return;
    }
    int n = snprintf(buf, len, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, names[level]);
    if (n < 0 || (size_t)n + 3 >= len) {
        if (len)
            buf[0] = '\0';
        return;
    }
    size_t o = (size_t)n;
    o += json_text(buf + o, len - o - 2, msg); /* room for the closing "} */
    memcpy(buf + o, "\"}", 3);
}

void esc_log(enum esc_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&current_level))
        return;
    char msg[1024], line[1024 * 6 + 128]; /* every byte escaped as \ufffd still fits */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    esc_log_format_line(line, sizeof line, (enum esc_log_format)atomic_load(&current_format),
                        (long long)ts.tv_sec, ts.tv_nsec, level, msg);
    /* one fprintf call: stdio locks the stream, so lines never interleave */
    fprintf(stderr, "%s\n", line);
}

char *esc_log_escape(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    if (!len)
        return buf;
    for (; s && *s && o + 5 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c < 0x20 || c == 0x7f || c == '\\') {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o] = '\0';
    return buf;
}
