/* taxonomy.h — the complaint taxonomy of issue 10 (docs/api.md
 * "Taxonomy"), PURE: the rules a PUT /v1/taxonomy body must meet, and the
 * two flat forms the database keeps beside the tree (every code, and each
 * code's path from its root) so that a create and a report need no tree. */
#ifndef ESCALATED_CORE_TAXONOMY_H
#define ESCALATED_CORE_TAXONOMY_H

#include <jansson.h>

#include "base/error.h"

#define ESC_TAXONOMY_MAX_DEPTH 4     /* root categories are level 1 */
#define ESC_TAXONOMY_MAX_NODES 500
#define ESC_TAXONOMY_CODE_MAX 64     /* a ticket's category is at most 64 characters */
#define ESC_TAXONOMY_NAME_MAX 100    /* characters, each of zh and en */

/* Check `categories` (the tree: an array of {"code", "name": {"zh", "en"},
 * "children": [...] (optional)}) and build its flat forms: *codes (a new
 * array of every code, tree order) and *paths (a new object: code -> array
 * of codes from its root to itself).  -1 with ESC_ERR_VALIDATION naming the
 * field ("categories.2.children.0.code") at fault: a code not matching
 * [a-z0-9_.-]{1,64}, a code used twice, a missing zh or en name (1..100
 * characters), unknown keys, deeper than ESC_TAXONOMY_MAX_DEPTH, more than
 * ESC_TAXONOMY_MAX_NODES nodes, or no category at all. */
int esc_taxonomy_check(json_t *categories, json_t **codes, json_t **paths, esc_error_t *err);

/* Is s a well-formed code? */
int esc_taxonomy_code_valid(const char *s);

#endif
