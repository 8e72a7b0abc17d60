/* netaddr.h — is an address one a webhook may be sent to?  Pure: no DNS, no
 * sockets (inet_pton only parses).  The worker and the registration check
 * ask it about every address a webhook's host resolves to, so that a webhook
 * cannot be aimed at the daemon's own machine, its private network or a
 * cloud metadata service (docs/security.md#webhook-destinations).
 *
 * Only public unicast addresses are ESC_NETADDR_PUBLIC.  IPv6 forms that
 * carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d,
 * NAT64 64:ff9b::a.b.c.d, 6to4 2002:aabb:ccdd::) are judged by that IPv4
 * address, since that is where the packets end up; IPv6 outside the global
 * unicast block 2000::/3 is never public. */
#ifndef ESCALATED_CORE_NETADDR_H
#define ESCALATED_CORE_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>

enum esc_netaddr_class {
    ESC_NETADDR_PUBLIC,
    ESC_NETADDR_LOOPBACK,      /* 127/8, ::1 */
    ESC_NETADDR_PRIVATE,       /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10,
                                  64:ff9b:1::/48 */
    ESC_NETADDR_LINK_LOCAL,    /* 169.254/16 (cloud metadata 169.254.169.254), fe80::/10 */
    ESC_NETADDR_UNSPECIFIED,   /* 0/8, :: */
    ESC_NETADDR_SHARED,        /* 100.64/10, carrier-grade NAT */
    ESC_NETADDR_MULTICAST,     /* 224/4, ff00::/8 */
    ESC_NETADDR_DOCUMENTATION, /* 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32,
                                  3fff::/20 */
    ESC_NETADDR_RESERVED,      /* 192.0.0/24, 192.88.99/24, 198.18/15 (benchmarks),
                                  240/4 (with 255.255.255.255), 2001::/23 (Teredo,
                                  benchmarks, ORCHID), 100::/64 and all IPv6 outside
                                  2000::/3 that is not named above */
};

/* The class of an IPv4 (AF_INET) or IPv6 (AF_INET6) socket address; any
 * other family is ESC_NETADDR_RESERVED. */
enum esc_netaddr_class esc_netaddr_classify(const struct sockaddr *sa);

/* The class of a numeric address ("10.0.0.1", "::ffff:127.0.0.1", no
 * brackets, no zone).  0, or -1 when text is not one. */
int esc_netaddr_classify_text(const char *text, enum esc_netaddr_class *out);

/* "loopback", "private", ... for messages. */
const char *esc_netaddr_class_name(enum esc_netaddr_class c);

/* May a webhook be sent to an address of class c?  Only PUBLIC, unless
 * allow_private (--webhook-allow-private-network), which adds LOOPBACK,
 * PRIVATE and SHARED: the networks a private deployment's receivers live on.
 * LINK_LOCAL (where cloud metadata services answer), UNSPECIFIED, MULTICAST,
 * DOCUMENTATION and RESERVED are refused either way. */
bool esc_netaddr_allowed(enum esc_netaddr_class c, bool allow_private);

/* True for a host name refused whatever it resolves to: cloud metadata
 * services (metadata.google.internal, metadata, instance-data, ...) always,
 * and "localhost" with its subdomains (RFC 6761) unless allow_private.  Case
 * and one trailing dot are ignored. */
bool esc_netaddr_host_forbidden(const char *host, bool allow_private);

#endif
