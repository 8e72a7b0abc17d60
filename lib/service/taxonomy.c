/* taxonomy.c — the complaint taxonomy's use cases (issue 10 item 5):
 * read it, replace it.  Whether a new ticket's category is allowed is
 * decided by the database at create (escp_svc_create), against the codes
 * of the last committed version: nothing of the taxonomy is cached here,
 * so every daemon applies a PUT from its commit on. */
#include "core/taxonomy.h"
#include "service/service.h"

json_t *escp_svc_taxonomy_get(struct escp_svc *svc, esc_error_t *err)
{
    struct escp_conn *c = escp_lease(svc->store, err);
    if (!c)
        return NULL;
    json_t *doc = escp_store_taxonomy(c, err);
    escp_release(svc->store, c);
    return doc;
}

json_t *escp_svc_taxonomy_put(struct escp_svc *svc, const struct esc_actor *actor,
                              json_t *categories, bool enforced, int if_match, esc_error_t *err)
{
    json_t *codes = NULL, *paths = NULL, *doc = NULL;
    if (esc_taxonomy_check(categories, &codes, &paths, err) != 0)
        return NULL;
    struct escp_conn *c = escp_lease(svc->store, err);
    if (c)
        doc = escp_store_taxonomy_put(c, categories, codes, paths, enforced, actor->id, if_match,
                                      err);
    escp_release(svc->store, c);
    json_decref(codes);
    json_decref(paths);
    return doc;
}
