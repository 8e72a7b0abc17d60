/* render.c — outgoing JSON: the masking every ordinary output applies. */
#include <stdlib.h>

#include "core/mask.h"
#include "service/service.h"

static void mask_field(json_t *obj, const char *key, char *(*mask)(const char *))
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return;
    char *m = mask(json_string_value(v));
    if (m) {
        json_object_set_new(obj, key, json_string(m));
        free(m);
    }
}

void escp_ticket_mask(json_t *ticket)
{
    json_t *cust = json_object_get(ticket, "customer");
    if (json_is_object(cust)) {
        mask_field(cust, "phone", esc_mask_phone);
        mask_field(cust, "email", esc_mask_email);
        mask_field(cust, "id_number", esc_mask_id_number);
    }
    mask_field(ticket, "subject", esc_mask_text);
    mask_field(ticket, "description", esc_mask_text);
}
