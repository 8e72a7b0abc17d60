/* fuzz_alert.c — what the alert worker reads from the network and writes to
 * it (lib/core/alert.c), on arbitrary bytes.
 *
 * Input: byte 0 picks the platform, bytes 1-2 the HTTP status, the rest is
 * the answer's body, which is also tried as the facts of a message (any JSON
 * object).  Invariants checked:
 *   - an answer is read as one of the four outcomes, with a NUL-terminated
 *     printable reason, and a block of at least a second when it blocks;
 *   - a 2xx without the platform's success code is never taken for a
 *     delivery by the robots that answer with one;
 *   - from any facts, every platform's body is valid JSON and the mail has
 *     no bare LF and no body line over 76 characters.
 */
#include <jansson.h>
#include <string.h>

#include "core/alert.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    enum escp_channel_kind kind = (enum escp_channel_kind)(data[0] % ESCP_CH__COUNT);
    long status = (long)((data[1] << 8) | data[2]) % 700;
    const char *body = (const char *)data + 3;
    size_t len = size - 3;
    char why[64];
    memset(why, 'x', sizeof why);
    int block = 0;
    enum escp_alert_outcome o = escp_alert_reply(kind, status, body, len, data[1] % 5 ? 0 : data[2], 600,
                                                 &block, why, sizeof why);
    CHECK(o == ESCP_ALERT_OK || o == ESCP_ALERT_RETRY || o == ESCP_ALERT_BLOCKED || o == ESCP_ALERT_REJECTED);
    CHECK(memchr(why, '\0', sizeof why) != NULL);
    if (o == ESCP_ALERT_BLOCKED)
        CHECK(block >= 1);
    if (o == ESCP_ALERT_OK) {
        CHECK(status >= 200 && status < 300);
        if (kind == ESCP_CH_WECOM || kind == ESCP_CH_DINGTALK || kind == ESCP_CH_FEISHU) {
            json_t *j = json_loadb(body, len, 0, NULL);
            CHECK(j != NULL); /* a robot's success is a JSON answer with code 0 */
            json_decref(j);
        }
    }

    json_t *facts = json_loadb(body, len, 0, NULL);
    if (json_is_object(facts)) {
        struct escp_alert_link links[] = {{"张伟", "https://x.example/ack/t1"}};
        struct escp_alert a = {facts, data[0] & 0x80 ? "en" : "zh", "https://x.example/console/#/ticket/1",
                               links, data[0] & 0x40 ? 1 : 0};
        for (int k = 0; k < ESCP_CH__COUNT; k++) {
            if (k == ESCP_CH_SMTP)
                continue;
            char *b = escp_alert_body((enum escp_channel_kind)k, &a, "secret", 1733450000);
            if (b) {
                json_t *j = json_loads(b, 0, NULL);
                CHECK(j != NULL);
                json_decref(j);
                free(b);
            }
        }
        json_t *to = json_pack("[s]", "a@example.com");
        char *m = escp_alert_mail(&a, "x@example.com", to, "Sun, 06 Dec 2026 04:20:00 +0000", "1@x");
        if (m) {
            const char *bodyp = strstr(m, "\r\n\r\n");
            CHECK(bodyp != NULL);
            for (const char *p = m; *p; p++)
                CHECK(*p != '\n' || (p > m && p[-1] == '\r'));
            for (const char *p = bodyp + 4; *p;) {
                const char *e = strstr(p, "\r\n");
                CHECK(e != NULL && e - p <= 76);
                p = e + 2;
            }
            free(m);
        }
        json_decref(to);
    }
    json_decref(facts);
    return 0;
}
