/* fault_load.h — the fault tests' usual load, on a harness daemon: the
 * ledger (ledger.h) stays free of the harness (it asserts nothing), the
 * tests that drive it share this one set-up. */
#ifndef ESC_FAULTS_FAULT_LOAD_H
#define ESC_FAULTS_FAULT_LOAD_H

#include <unistd.h>

#include "harness.h"
#include "ledger.h"

/* The usual load on h's daemon: its base URL, 8 threads, the standard
 * principals' tokens, a 10 s request timeout, keys unique to this run.  The
 * fields a test changes (more URLs, threads, timeout, seed) it sets after. */
static inline struct fl_config fl_config_for(h_ctx *h, const char *key_prefix)
{
    return (struct fl_config){
        .urls = {h->base_url},
        .n_urls = 1,
        .threads = 8,
        .frontdesk = h->k.frontdesk,
        .agent1 = h->k.agent[1],
        .agent2 = h->k.agent[2],
        .key_prefix = h_unique(h, key_prefix),
        .request_timeout_s = 10,
        .seed = (unsigned)getpid(),
    };
}

#endif
