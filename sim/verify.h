/* COSY request verification (spec §1.3, §6.1 items 1–4), written independently of the gateway's
 * own signing code (src/upstream) so that a signing bug there cannot pass the tests. */
#ifndef LGW_SIM_VERIFY_H
#define LGW_SIM_VERIFY_H
#include "net/http_server.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct sim_auth {
    char reason[160];      /* why verification failed ("" when it passed) */
    char request_id[80];   /* payload requestId (truncated to fit) */
    char cosy_version[40]; /* payload cosyVersion (truncated to fit) */
} sim_auth;

/* Checks Authorization, the signed payload, Cosy-Date (±skew_s of now_s), the MD5 signature over
 * the raw body and sigPath, and the identity headers. Returns true when everything matches. */
bool sim_verify_request(const http_request *req, int64_t now_s, int64_t skew_s, sim_auth *out);
#endif
