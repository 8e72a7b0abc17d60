/* escalated — the data key: sealing customer data with AES-256-GCM, and the
 * keyed blind index that finds equal values without decrypting them.
 * docs/security.md tells the whole story; this header is the contract.
 *
 * THE KEY FILE (named by --data-key-file / ESCALATED_DATA_KEY_FILE)
 *
 *     # comments and blank lines are ignored
 *     index QmxpbmQgaW5kZXgga2V5IC4uLiAzMiBieXRlcyBoZXJlIQ==
 *     v1 c2VhbGluZyBrZXkgdmVyc2lvbiAxIC4uLiAzMiBieXRlcyE=
 *     v2 c2VhbGluZyBrZXkgdmVyc2lvbiAyIC4uLiAzMiBieXRlcyE=
 *
 *   One key a line: a name, one space or tab, and 32 random bytes in standard
 *   base64 with its padding (44 characters).  `v<N>` (N = 1..999999999, no
 *   leading zeros) is a data key version; the highest one seals, every one
 *   opens.  `index` is the blind index key: exactly one, and it never changes
 *   with rotation, so the index of a value written years ago still matches a
 *   lookup made today (and an old data version can be retired once no value
 *   is sealed with it, which would be impossible if the index hung on it).
 *   The file must be a regular file owned by the process's effective uid with
 *   mode 0600 or 0400; anything else is refused.
 *
 *   The keys in the file are never used directly.  Each is fed to HKDF-SHA256
 *   with its own info string ("escalated seal aes-256-gcm" for a data
 *   version, "escalated blind index hmac-sha256" for the index key), and only
 *   the derived subkeys are kept in memory: the encryption key and the index
 *   key are different keys even if an operator pasted the same bytes twice.
 *
 * THE SEALED VALUE (fits a PostgreSQL text column)
 *
 *     esc1:v<N>:<base64url without padding of nonce(12) | ciphertext | tag(16)>
 *
 *   The ciphertext is as long as the plaintext, so a sealed value is
 *   7 + digits(N) + ceil((28 + len) * 4 / 3) characters.  The nonce is fresh
 *   from RAND_bytes for every value, so sealing one value twice gives two
 *   different texts.  The associated data authenticated with the value is
 *   "esc1:v<N>:" followed by the caller's `aad`, which names the value's place
 *   (for example "tickets.customer_phone:42"): a sealed value copied to
 *   another column or row, or relabelled with another version, fails to open.
 *
 * THE BLIND INDEX
 *
 *   esc_blind_index = lowercase hex HMAC-SHA256(index subkey,
 *   "escalated-bi1" NUL kind NUL value): 64 characters.  The kind ("phone",
 *   "id_number") is mixed in so equal strings of different kinds differ.  The
 *   caller normalises first (esc_normalise_phone, esc_normalise_id_number
 *   below); the index is an exact match of the normalised form.
 *
 * OWNERSHIP AND THREADS
 *
 *   A ring is immutable once loaded: any number of threads may seal, open and
 *   index with one ring at once.  To pick up a new key version, load a new
 *   ring and swap it in; free the old one when nobody uses it.  Returned
 *   strings are malloc'd and the caller frees them (free()).  Key material is
 *   wiped with OPENSSL_cleanse before memory is released; nothing here logs,
 *   and no error message carries key bytes or plaintext.
 *
 *   Errors: key file problems are ESC_ERR_INTERNAL with field
 *   "data_key_file" and a message naming the file; a value that fails to
 *   open is ESC_ERR_INTERNAL with field "sealed_value"; a phone or identity
 *   number that cannot be normalised is ESC_ERR_VALIDATION with field
 *   "customer_phone" / "customer_id_number".
 */
#ifndef ESCALATED_BASE_DATAKEY_H
#define ESCALATED_BASE_DATAKEY_H

#include <stddef.h>

#include "base/error.h"

#define ESC_DATAKEY_BYTES 32
#define ESC_DATAKEY_MAX_VERSION 999999999u
#define ESC_BLIND_INDEX_LEN 64 /* hex characters, without the NUL */

struct esc_datakey;

/* Read and check the key file; NULL (and *err) when it is missing, unreadable,
 * not a regular file, not owned by the effective uid, readable or writable by
 * group or others, larger than 64 KiB, or holds a malformed line, a key that
 * is not 32 bytes, a duplicate version, no index key or no data key. */
struct esc_datakey *esc_datakey_load(const char *path, esc_error_t *err);
/* Wipes the keys and frees; NULL is fine. */
void esc_datakey_free(struct esc_datakey *ring);

/* The version new values are sealed with (the highest in the file). */
unsigned esc_datakey_current_version(const struct esc_datakey *ring);
/* 1 when the ring can open values of that version, else 0. */
int esc_datakey_has_version(const struct esc_datakey *ring, unsigned version);

/* Create a new key file with a fresh index key and data key v1, mode 0600.
 * Refuses to overwrite: an existing file is an error (O_EXCL).  The file and
 * its directory are fsync'ed before this returns 0. */
int esc_datakey_generate_file(const char *path, esc_error_t *err);

/* Append a fresh data key, version max+1, keeping every earlier line.  The
 * file is checked as esc_datakey_load does, the new content written to a
 * temporary file beside it, fsync'ed and renamed over it, so a crash leaves
 * either the old file or the new one.  Concurrent callers are serialised
 * with flock on the file.  A symbolic link is refused (the rename would
 * replace the link, not the file it names).  On success *new_version (if not
 * NULL) is the version added.  Daemons that loaded the file before must load
 * it again to open values sealed with the new version (docs/security.md). */
int esc_datakey_add_version(const char *path, unsigned *new_version, esc_error_t *err);

/* Seal len bytes of plaintext (NULL allowed when len is 0) with the current
 * version; aad (non-empty) names the value's place.  Returns the sealed text
 * (malloc'd) or NULL. */
char *esc_seal(const struct esc_datakey *ring, const void *plaintext, size_t len,
               const char *aad, esc_error_t *err);

/* Open a sealed value with the same aad it was sealed with.  Returns the
 * plaintext, malloc'd and NUL-terminated (*len_out, if not NULL, is its
 * length without the NUL), or NULL when the text is not a sealed value, its
 * version is not in the ring, or authentication fails.  Never returns
 * plaintext that did not authenticate. */
char *esc_open(const struct esc_datakey *ring, const char *sealed, const char *aad,
               size_t *len_out, esc_error_t *err);

/* The version a sealed value names, or 0 when the text is not a sealed value
 * (for finding rows that still need re-encryption).  Checks the header only. */
unsigned esc_sealed_version(const char *sealed);

/* The blind index of a normalised value into out[ESC_BLIND_INDEX_LEN + 1].
 * kind: 1..32 characters of [a-z0-9_].  Returns 0, or -1 with out = "". */
int esc_blind_index(const struct esc_datakey *ring, const char *kind, const char *value,
                    char out[ESC_BLIND_INDEX_LEN + 1], esc_error_t *err);

/* Normalisation for the blind index (pure; here rather than in core/ so the
 * index and the forms it expects live and are tested together).  Each returns
 * a malloc'd string or NULL with ESC_ERR_VALIDATION.
 *
 * esc_normalise_phone: full-width digits, '+' and separators become ASCII;
 *   spaces (also U+3000), '-', '.', '(' and ')' and the dashes U+2010..U+2015
 *   are dropped; any other character is refused.  A "+86" or "0086" prefix is
 *   dropped, and so is a bare "86" before an 11-digit mobile number ("861..."
 *   with 13 digits in all), giving the domestic form; what follows "+86" is a
 *   mobile number when it has 11 digits starting with 1, else a landline that
 *   gets its domestic trunk '0' back ("+86 10 6552 9988" -> "01065529988",
 *   as "010-6552-9988" is written at home).  Other international numbers
 *   keep a leading '+': "0044 20 7946 0958" -> "+442079460958".
 *   The result has 3..20 digits.  "+86 138-1234-5678", "0086 13812345678",
 *   "８６１３８１２３４５６７８" -> "13812345678".
 * esc_normalise_id_number: spaces (also U+3000) and '-' are dropped,
 *   full-width digits and letters become ASCII, letters are uppercased (the
 *   check character x of a mainland identity number becomes X); anything but
 *   letters and digits is refused; 1..32 characters. */
char *esc_normalise_phone(const char *s, esc_error_t *err);
char *esc_normalise_id_number(const char *s, esc_error_t *err);

#endif
