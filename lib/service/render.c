/* render.c — outgoing JSON: one function per kind of object the API sends,
 * with the masking of SPEC section 7 applied there and nowhere else.  A
 * ticket, an event or a breach reaches a client only through these, so the
 * routes that show the same object cannot show it differently (the history
 * of a ticket and the event feed, for one). */
#include <stdlib.h>

#include "core/mask.h"
#include "core/pii.h"
#include "service/service.h"

/* Replace obj[key] by its masked form when it is a string.  Fails closed:
 * when masking fails (out of memory) the value becomes null, never the
 * unmasked text. */
static void mask_field(json_t *obj, const char *key, char *(*mask)(const char *))
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return;
    char *m = mask(json_string_value(v));
    json_object_set_new(obj, key, m ? json_string(m) : json_null());
    free(m);
}

/* Free text: every mainland mobile number, identity number, bank card number
 * and e-mail address in it masked (core/pii.h). */
static char *mask_free_text(const char *s) { return esc_pii_mask_text(s, NULL); }

/* The free text of a ticket as the API shows it. */
static void mask_ticket_text(json_t *ticket)
{
    static const char *const free_text[] = {"subject", "description", "category", "resolution",
                                            NULL};
    for (const char *const *k = free_text; *k; k++)
        mask_field(ticket, *k, mask_free_text);
    json_t *sat = json_object_get(ticket, "satisfaction");
    if (json_is_object(sat))
        mask_field(sat, "feedback", mask_free_text);
    json_t *plan = json_object_get(ticket, "plan");
    if (json_is_object(plan))
        mask_field(plan, "solution", mask_free_text);
}

void escp_ticket_mask(json_t *ticket)
{
    json_t *cust = json_object_get(ticket, "customer");
    if (json_is_object(cust)) {
        /* the name stays readable: agents call the customer by it */
        mask_field(cust, "phone", esc_mask_phone);
        mask_field(cust, "email", esc_mask_email);
        mask_field(cust, "id_number", esc_mask_id_number);
        mask_field(cust, "bank_card", esc_mask_bank_card);
    }
    mask_ticket_text(ticket);
}

json_t *escp_render_ticket(json_t *stored)
{
    /* the customer comes from the store already masked: the masked forms
     * are stored beside the sealed values (migration 006), so only the
     * free text is masked here */
    if (stored)
        mask_ticket_text(stored);
    return stored;
}

json_t *escp_render_event(json_t *stored)
{
    /* the free text people type into an action: a customer's bank card
     * number pasted into it is masked as in the ticket's own text */
    static const char *const free_text[] = {"reason", "body", "resolution", "feedback", NULL};
    if (!stored)
        return NULL;
    for (const char *const *k = free_text; *k; k++)
        mask_field(stored, *k, mask_free_text);
    json_t *data = json_object_get(stored, "data");
    if (json_is_object(data))
        for (const char *const *k = free_text; *k; k++)
            mask_field(data, *k, mask_free_text);
    /* the plan an action carried (issue 10) */
    json_t *plan = json_object_get(stored, "plan");
    if (json_is_object(plan))
        mask_field(plan, "solution", mask_free_text);
    return stored;
}

json_t *escp_render_breach(json_t *stored)
{
    if (!stored)
        return NULL;
    /* exactly the documented fields (docs/api.md#get-v1breaches), in their
     * order; a column the store reads for its own use does not leak out */
    json_t *out = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}",
                            "id", json_object_get(stored, "id"),
                            "ticket_id", json_object_get(stored, "ticket_id"),
                            /* an action's breach (migration 012): its problem and action */
                            "problem_id", json_object_get(stored, "problem_id"),
                            "action_id", json_object_get(stored, "action_id"),
                            "kind", json_object_get(stored, "kind"),
                            "tier", json_object_get(stored, "tier"),
                            "severity", json_object_get(stored, "severity"),
                            "assignee", json_object_get(stored, "assignee"),
                            "due_at", json_object_get(stored, "due_at"),
                            "detected_at", json_object_get(stored, "detected_at"));
    json_decref(stored);
    return out;
}

int escp_render_each(json_t *items, json_t *(*render)(json_t *stored), esc_error_t *err)
{
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v) {
        json_t *out = render(json_incref(v));
        if (!out || json_array_set_new(items, i, out) != 0) {
            esc_error_set(err, ESC_ERR_INTERNAL, NULL, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* ---- problems (migration 012; docs/problems.md) ---- */

/* A problem's texts are stored masked (problems.c scans them as ticket
 * texts are scanned); masked again here so that nothing typed before a
 * scanner rule existed, or written by another path, leaves unmasked. */
json_t *escp_render_problem(json_t *stored)
{
    static const char *const free_text[] = {"title", "description", "category", "root_cause",
                                            "containment", "workaround", "fix", NULL};
    if (!stored)
        return NULL;
    for (const char *const *k = free_text; *k; k++)
        mask_field(stored, *k, mask_free_text);
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(stored, "actions"), i, a)
        mask_field(a, "description", mask_free_text);
    return stored;
}

json_t *escp_render_problem_action(json_t *stored)
{
    if (stored)
        mask_field(stored, "description", mask_free_text);
    return stored;
}

json_t *escp_render_problem_event(json_t *stored)
{
    static const char *const free_text[] = {"root_cause", "containment", "workaround", "fix",
                                            "description", "title", NULL};
    if (!stored)
        return NULL;
    mask_field(stored, "reason", mask_free_text);
    json_t *data = json_object_get(stored, "data");
    if (json_is_object(data))
        for (const char *const *k = free_text; *k; k++)
            mask_field(data, *k, mask_free_text);
    return stored;
}
