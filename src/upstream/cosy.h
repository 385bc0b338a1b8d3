/* COSY request signing and the credential crypto of the Lingma remote gateway
 * (lingma-upstream.md §1.2–§1.4, §3.3). Pure functions: no I/O, no global state.
 *
 * Return convention: 0 on success, -1 on failure (bad input or a crypto error). Output buffers
 * are appended to; on failure their content is unspecified but still owned by the caller.
 * Nothing here logs: every input may be a secret. */
#ifndef LGW_UPSTREAM_COSY_H
#define LGW_UPSTREAM_COSY_H
#include "util/buf.h"
#include <stddef.h>
#include <stdint.h>

#define COSY_DEFAULT_VERSION     "2.11.2"
#define COSY_DEFAULT_CLIENT_IP   "198.18.0.1"
#define COSY_DEFAULT_CLIENT_TYPE "2"
#define COSY_KEY_LEN             16 /* AES-128: the temp key and the machine-id prefix */

/* Everything one signed request needs. Strings are borrowed. */
typedef struct cosy_request {
    const char *cosy_key;          /* header Cosy-Key and the preimage */
    const char *encrypt_user_info; /* payload "info" */
    const char *user_id;           /* header Cosy-User */
    const char *machine_id;        /* header Cosy-Machineid */
    const char *cosy_version;      /* NULL = COSY_DEFAULT_VERSION */
    const char *path;              /* request path, the query string may be included */
    const char *body;              /* exact bytes on the wire; NULL with body_len 0 for GET */
    size_t body_len;
    int64_t date_s;         /* unix seconds; 0 = now (clock_wall_ms) */
    const char *request_id; /* payload requestId; NULL = fresh UUIDv4 */
    /* header options, NULL = default */
    const char *client_ip;   /* COSY_DEFAULT_CLIENT_IP */
    const char *client_type; /* COSY_DEFAULT_CLIENT_TYPE */
    const char *machine_os;  /* derived from the build target, e.g. x86_64_linux */
    const char *accept;      /* "text/event-stream" */
} cosy_request;

/* sigPath: the path without its query string and without a leading "/algo". Heap string. */
char *cosy_sig_path(const char *path);

/* Appends "Bearer COSY.<payloadB64>.<md5hex>" to out. */
int cosy_bearer(const cosy_request *r, buf *out);

/* Appends the full §1.3.1 header set to out as "Name: value\r\n" lines (an empty value as
 * "Name:\r\n"), the block http_call_request.headers takes. Refuses (-1) a value holding CR or
 * LF, which would inject header lines; out may then hold part of the block. */
int cosy_headers(const cosy_request *r, buf *out);

/* Lowercase hex MD5 of data (out needs 33 bytes). */
int cosy_md5_hex(const void *data, size_t len, char out[33]);

/* Standard base64 with padding, no newlines. Decode accepts surrounding whitespace only. */
void cosy_b64_encode(const void *data, size_t len, buf *out);
int cosy_b64_decode(const char *s, size_t len, buf *out);

/* The Encode=1 body obfuscation (§1.4). Variant Q is canonical; LA is the reverse-engineering
 * notebook's block split. AUTO decodes with Q, falls back to LA when Q does not give JSON, and
 * returns the Q result if neither gives JSON. */
typedef enum { COSY_ENC1_AUTO, COSY_ENC1_Q, COSY_ENC1_LA } cosy_enc1_variant;
void cosy_encode1(const void *data, size_t len, cosy_enc1_variant v, buf *out);
int cosy_decode1(const char *s, size_t len, cosy_enc1_variant v, buf *out);

/* AES-128-CBC with key = IV = key16, PKCS#7. */
int cosy_aes_encrypt(const char key16[COSY_KEY_LEN], const void *plain, size_t len, buf *out);
int cosy_aes_decrypt(const char key16[COSY_KEY_LEN], const void *cipher, size_t len, buf *out);

/* The desktop cache file `cache/user`: base64(AES(machine_id[0:16])). machine_id needs ≥16 chars.
 */
int cosy_cache_decrypt(const char *machine_id, const char *b64, size_t len, buf *plain);
int cosy_cache_encrypt(const char *machine_id, const void *plain, size_t len, buf *b64);

/* Vendor RSA public key (Appendix A), SPKI PEM. */
extern const char cosy_vendor_pubkey_pem[];

/* Who the minted credential speaks for. Borrowed strings; NULL = "". */
typedef struct cosy_user_info {
    const char *uid;
    const char *aid; /* NULL or "" = uid */
    const char *name;
    const char *oauth_token; /* security_oauth_token (pt-…) */
    const char *refresh_token;
    int64_t expire_time_ms;
} cosy_user_info;

/* §3.3: a fresh random 16-char temp key; cosy_key = base64(RSA-PKCS#1 v1.5(temp key)) with
 * pubkey_pem (NULL = vendor key); encrypt_user_info = base64(AES(temp key, user-info JSON)).
 * On success *cosy_key and *encrypt_user_info are heap strings the caller frees. */
int cosy_mint(const cosy_user_info *u, const char *pubkey_pem, char **cosy_key,
              char **encrypt_user_info);
/* The same with a given temp key (tests). */
int cosy_mint_with_key(const cosy_user_info *u, const char *pubkey_pem,
                       const char temp_key[COSY_KEY_LEN], char **cosy_key,
                       char **encrypt_user_info);
/* The compact user-info JSON that cosy_mint encrypts (the 20-field desktop object). */
void cosy_user_info_json(const cosy_user_info *u, buf *out);
#endif
