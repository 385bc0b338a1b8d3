/* HTTP client (see http_client_internal.h): response parsing. llhttp calls these with the
 * bytes of the attached call's response; they collect the status and Content-Type, deliver
 * headers and body pieces to the call (or hold the pieces while it is paused) and stop the
 * parser at the end of the response. */
#include "upstream/http_client_internal.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include <string.h>

enum { HTTP_MAX_HEADER_BYTES = 64 * 1024 }; /* status line + response headers */

static http_call *parsing_call(llhttp_t *p) {
    http_call *call = ((http_conn *)p->data)->call;
    return call && !call->finished ? call : NULL;
}

static int header_bytes(llhttp_t *p, http_call *call, size_t len) {
    call->hdr_bytes += (uint32_t)(len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES);
    if (call->hdr_bytes <= HTTP_MAX_HEADER_BYTES) return 0;
    llhttp_set_error_reason(p, "response headers over 64 KiB");
    return HPE_USER;
}

static int on_message_begin(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    call->hdr_bytes = 0;
    call->status = 0;
    call->ct_match = 0;
    call->ct_field = false;
    buf_reset(&call->ctype);
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len) {
    http_call *call = parsing_call(p);
    return call ? header_bytes(p, call, len) : -1;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
    static const char want[] = "content-type";
    http_call *call = parsing_call(p);
    if (!call) return -1;
    /* The name may arrive in pieces (across reads): match it incrementally. */
    for (size_t i = 0; i < len && call->ct_match >= 0; i++) {
        char ch = at[i] >= 'A' && at[i] <= 'Z' ? (char)(at[i] + 32) : at[i];
        if ((size_t)call->ct_match < sizeof want - 1 && ch == want[call->ct_match])
            call->ct_match++;
        else
            call->ct_match = -1;
    }
    return header_bytes(p, call, len + 4); /* ": " and CRLF */
}

static int on_header_field_complete(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    call->ct_field = call->ct_match == (int8_t)(sizeof "content-type" - 1);
    call->ct_match = 0;
    if (call->ct_field) buf_reset(&call->ctype); /* the last one wins */
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    if (call->ct_field) buf_append(&call->ctype, at, len);
    return header_bytes(p, call, len);
}

static int on_header_value_complete(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    call->ct_field = false;
    return 0;
}

static int on_headers_complete(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    call->status = llhttp_get_status_code(p);
    if (call->status == 101) {
        llhttp_set_error_reason(p, "unexpected 101 Switching Protocols");
        return -1;
    }
    if (call->status < 200) return 0; /* informational: the real response follows */
    if (call->cb.on_response) {
        while (call->ctype.len && (call->ctype.data[call->ctype.len - 1] == ' ' ||
                                   call->ctype.data[call->ctype.len - 1] == '\t'))
            call->ctype.data[--call->ctype.len] = '\0';
        call->cb.on_response(call, call->status, call->ctype.len ? call->ctype.data : NULL,
                             call->ud);
        if (call->finished) return -1;
    }
    buf_free(&call->ctype);
    return call->head ? 1 : 0; /* 1: no body follows */
}

static void held_append(http_call *call, const char *at, size_t len) {
    uint32_t n = (uint32_t)len; /* at most one read: ≤ buffer_size */
    call->held = xrealloc(call->held, call->held_len + sizeof n + len);
    memcpy(call->held + call->held_len, &n, sizeof n);
    memcpy(call->held + call->held_len + sizeof n, at, len);
    call->held_len += sizeof n + len;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    if (call->paused || call->held) {
        held_append(call, at, len);
        return 0;
    }
    if (call->cb.on_data) {
        call->cb.on_data(call, at, len, call->ud);
        if (call->finished) return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p) {
    http_call *call = parsing_call(p);
    if (!call) return -1;
    if (call->status < 200) return 0;
    call->complete = true;
    ((http_conn *)p->data)->keep = llhttp_should_keep_alive(p) != 0;
    return HPE_PAUSED; /* stop here: whatever follows is not this call's */
}

const llhttp_settings_t hc_response_settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};
