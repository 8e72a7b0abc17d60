/* netaddr.c — address classes for webhook destinations (netaddr.h).  The
 * ranges are IANA's special-purpose registries (RFC 6890 and its updates). */
#include "core/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static bool in4(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == net;
}

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

/* a in host byte order */
static enum esc_netaddr_class classify4(uint32_t a)
{
    if (in4(a, V4(0, 0, 0, 0), 8))
        return ESC_NETADDR_UNSPECIFIED;
    if (in4(a, V4(127, 0, 0, 0), 8))
        return ESC_NETADDR_LOOPBACK;
    if (in4(a, V4(10, 0, 0, 0), 8) || in4(a, V4(172, 16, 0, 0), 12) || in4(a, V4(192, 168, 0, 0), 16))
        return ESC_NETADDR_PRIVATE;
    if (in4(a, V4(169, 254, 0, 0), 16))
        return ESC_NETADDR_LINK_LOCAL;
    if (in4(a, V4(100, 64, 0, 0), 10))
        return ESC_NETADDR_SHARED;
    if (in4(a, V4(224, 0, 0, 0), 4))
        return ESC_NETADDR_MULTICAST;
    if (in4(a, V4(192, 0, 2, 0), 24) || in4(a, V4(198, 51, 100, 0), 24) || in4(a, V4(203, 0, 113, 0), 24))
        return ESC_NETADDR_DOCUMENTATION;
    if (in4(a, V4(192, 0, 0, 0), 24) || in4(a, V4(192, 88, 99, 0), 24) || in4(a, V4(198, 18, 0, 0), 15) ||
        in4(a, V4(240, 0, 0, 0), 4))
        return ESC_NETADDR_RESERVED;
    return ESC_NETADDR_PUBLIC;
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* the first `bits` bits of a equal those of prefix (bits a multiple of 4 is enough here) */
static bool in6(const uint8_t *a, const uint8_t *prefix, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, prefix, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (prefix[full] & mask);
}

static enum esc_netaddr_class classify6(const uint8_t *a)
{
    static const uint8_t zero[16] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 0x01};
    static const uint8_t sixto4[2] = {0x20, 0x02};
    static const uint8_t doc[4] = {0x20, 0x01, 0x0d, 0xb8};
    static const uint8_t doc2[3] = {0x3f, 0xff, 0x00};
    static const uint8_t ietf[3] = {0x20, 0x01, 0x00};
    static const uint8_t discard[8] = {0x01, 0, 0, 0, 0, 0, 0, 0};

    if (memcmp(a, zero, 15) == 0 && a[15] == 0)
        return ESC_NETADDR_UNSPECIFIED;
    if (memcmp(a, zero, 15) == 0 && a[15] == 1)
        return ESC_NETADDR_LOOPBACK;
    /* forms that carry an IPv4 address go where that address goes */
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, zero, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return classify4(be32(a + 12));
    if (in6(a, sixto4, 16))
        return classify4(be32(a + 2));
    if (in6(a, nat64_local, 48))
        return ESC_NETADDR_PRIVATE;
    if (a[0] == 0xff)
        return ESC_NETADDR_MULTICAST;
    if ((a[0] & 0xfe) == 0xfc)
        return ESC_NETADDR_PRIVATE; /* unique local fc00::/7 */
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return ESC_NETADDR_LINK_LOCAL;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
        return ESC_NETADDR_PRIVATE; /* the old site-local fec0::/10 */
    if (in6(a, doc, 32) || in6(a, doc2, 20))
        return ESC_NETADDR_DOCUMENTATION;
    if (in6(a, ietf, 23) || in6(a, discard, 64))
        return ESC_NETADDR_RESERVED;
    if ((a[0] & 0xe0) != 0x20)
        return ESC_NETADDR_RESERVED; /* not global unicast 2000::/3 */
    return ESC_NETADDR_PUBLIC;
}

enum esc_netaddr_class esc_netaddr_classify(const struct sockaddr *sa)
{
    if (!sa)
        return ESC_NETADDR_RESERVED;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        return classify4(ntohl(in.sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        return classify6(in6.sin6_addr.s6_addr);
    }
    return ESC_NETADDR_RESERVED;
}

int esc_netaddr_classify_text(const char *text, enum esc_netaddr_class *out)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!text)
        return -1;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        *out = classify4(ntohl(a4.s_addr));
        return 0;
    }
    if (inet_pton(AF_INET6, text, &a6) == 1) {
        *out = classify6(a6.s6_addr);
        return 0;
    }
    return -1;
}

const char *esc_netaddr_class_name(enum esc_netaddr_class c)
{
    switch (c) {
    case ESC_NETADDR_PUBLIC: return "public";
    case ESC_NETADDR_LOOPBACK: return "loopback";
    case ESC_NETADDR_PRIVATE: return "private";
    case ESC_NETADDR_LINK_LOCAL: return "link-local";
    case ESC_NETADDR_UNSPECIFIED: return "unspecified";
    case ESC_NETADDR_SHARED: return "shared (carrier-grade NAT)";
    case ESC_NETADDR_MULTICAST: return "multicast";
    case ESC_NETADDR_DOCUMENTATION: return "documentation";
    case ESC_NETADDR_RESERVED: return "reserved";
    }
    return "reserved";
}

bool esc_netaddr_allowed(enum esc_netaddr_class c, bool allow_private)
{
    if (c == ESC_NETADDR_PUBLIC)
        return true;
    return allow_private &&
           (c == ESC_NETADDR_LOOPBACK || c == ESC_NETADDR_PRIVATE || c == ESC_NETADDR_SHARED);
}

bool esc_netaddr_host_forbidden(const char *host, bool allow_private)
{
    /* names that cloud providers answer with their metadata service, which
     * hands out credentials to whoever asks from inside */
    static const char *const names[] = {
        "metadata.google.internal", "metadata.goog", "metadata", "instance-data",
        "instance-data.ec2.internal", "metadata.azure.internal", "metadata.platformequinix.com",
        NULL,
    };
    if (!host)
        return true;
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '.')
        n--;
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && strncasecmp(host, names[i], n) == 0)
            return true;
    if (allow_private)
        return false;
    /* localhost and *.localhost (RFC 6761 6.3) */
    return (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0);
}
