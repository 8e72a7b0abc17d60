/* outbound.h — what the two workers that call out (webhook.c, alerts.c)
 * share: the destination rules at connect time, the short reasons kept for
 * a failed transfer, jitter, and printable text for logs.  Internal to
 * workers/. */
#ifndef ESCALATED_OUTBOUND_H
#define ESCALATED_OUTBOUND_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* CURLOPT_OPENSOCKETDATA of escp_out_open_checked. */
struct escp_out_guard {
    bool allow_private; /* also loopback, private and shared addresses (core/netaddr.h) */
    int refused;        /* set when an address was refused */
};
/* libcurl calls this for each address it is about to connect to, after its
 * own resolution: the address checked is the address connected to, so a name
 * that resolves to a public address at registration and to an inside one
 * now (DNS rebinding) is refused here.  No proxy is used (CURLOPT_PROXY ""),
 * so this is the receiver's address. */
curl_socket_t escp_out_open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *addr);
/* The URL's host is refused by name (a metadata service, localhost), or the
 * URL does not parse. */
int escp_out_host_refused(const char *url, bool allow_private);
/* A short reason for a failed transfer, kept in last_error; libcurl's own
 * text can name addresses and internals, and goes to the log only. */
const char *escp_out_failure_reason(CURLcode rc);
/* Uniform in [0, 1), for jitter. */
double escp_out_uniform01(void);
/* Printable ASCII of in[len] into out[cap], the rest escaped. */
void escp_out_printable(const char *in, size_t len, char *out, size_t cap);

#endif
