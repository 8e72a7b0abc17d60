/* token.h — bearer tokens. */
#ifndef ESCALATED_BASE_TOKEN_H
#define ESCALATED_BASE_TOKEN_H

#include "base/error.h"

/* "esc_" + base64url(32 random bytes); malloc'd. */
char *escp_token_new(esc_error_t *err);
/* lowercase hex SHA-256 of token into out[65] */
void escp_token_hash(const char *token, char out[65]);

#endif
