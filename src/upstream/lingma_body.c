#include "upstream/lingma_body.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/json_write.h"
#include <string.h>

static const char MESSAGE_TAIL[] =
    ",\"response_meta\":{\"id\":\"\",\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,"
    "\"total_tokens\":0}},\"reasoning_content_signature\":\"\"}";

static const char *role_name(conv_role r) {
    switch (r) {
    case CONV_ROLE_SYSTEM: return "system";
    case CONV_ROLE_USER: return "user";
    case CONV_ROLE_ASSISTANT: return "assistant";
    case CONV_ROLE_TOOL: return "tool";
    }
    return "user";
}

static bool message_has_images(const conv_message *m) {
    for (size_t i = 0; i < m->n_blocks; i++)
        if (m->blocks[i].type == CONV_BLOCK_IMAGE) return true;
    return false;
}

/* The message's text blocks (or the tool result text), joined by newlines. Prior reasoning is
 * not sent: the upstream has no field for it and inlining it would change the prompt. */
static void put_text_content(buf *out, const conv_message *m) {
    buf_putc(out, '"');
    bool first = true;
    for (size_t i = 0; i < m->n_blocks; i++) {
        const conv_block *b = &m->blocks[i];
        if (b->type != CONV_BLOCK_TEXT && b->type != CONV_BLOCK_TOOL_RESULT) continue;
        if (!first) buf_append(out, "\\n", 2);
        json_put_escaped(out, b->text ? b->text : "", b->text_len);
        first = false;
    }
    buf_putc(out, '"');
}

static void put_image_url(buf *out, const conv_block *b) {
    if (b->data) {
        buf_puts(out, "\"data:");
        json_put_escaped(out, b->media_type ? b->media_type : "image/png",
                         strlen(b->media_type ? b->media_type : "image/png"));
        buf_puts(out, ";base64,");
        json_put_escaped(out, b->data, b->data_len);
        buf_putc(out, '"');
    } else {
        json_put_str(out, b->url ? b->url : "");
    }
}

/* Images ride inline (LP's approach): content becomes text + image_url parts. */
static void put_parts_content(buf *out, const conv_message *m) {
    buf_putc(out, '[');
    bool first = true;
    bool has_text = false;
    for (size_t i = 0; i < m->n_blocks; i++)
        has_text |= m->blocks[i].type == CONV_BLOCK_TEXT;
    if (has_text) {
        buf_puts(out, "{\"type\":\"text\",\"text\":");
        put_text_content(out, m);
        buf_putc(out, '}');
        first = false;
    }
    for (size_t i = 0; i < m->n_blocks; i++) {
        const conv_block *b = &m->blocks[i];
        if (b->type != CONV_BLOCK_IMAGE) continue;
        if (!first) buf_putc(out, ',');
        buf_puts(out, "{\"type\":\"image_url\",\"image_url\":{\"url\":");
        put_image_url(out, b);
        buf_puts(out, "}}");
        first = false;
    }
    buf_putc(out, ']');
}

static void put_tool_calls(buf *out, const conv_message *m) {
    int idx = 0;
    for (size_t i = 0; i < m->n_blocks; i++) {
        const conv_block *b = &m->blocks[i];
        if (b->type != CONV_BLOCK_TOOL_CALL) continue;
        buf_puts(out, idx ? "," : ",\"tool_calls\":[");
        buf_printf(out, "{\"index\":%d,\"id\":", idx);
        json_put_str(out, b->tool_id ? b->tool_id : "");
        buf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":");
        json_put_str(out, b->tool_name ? b->tool_name : "");
        buf_puts(out, ",\"arguments\":");
        json_put_strn(out, b->text_len ? b->text : "{}", b->text_len ? b->text_len : 2);
        buf_puts(out, "}}");
        idx++;
    }
    if (idx) buf_putc(out, ']');
}

static void put_message(buf *out, const conv_message *m) {
    buf_puts(out, "{\"role\":\"");
    buf_puts(out, role_name(m->role));
    buf_puts(out, "\",\"content\":");
    if (message_has_images(m))
        put_parts_content(out, m);
    else
        put_text_content(out, m);
    if (m->role == CONV_ROLE_ASSISTANT) put_tool_calls(out, m);
    if (m->role == CONV_ROLE_TOOL) {
        for (size_t i = 0; i < m->n_blocks; i++)
            if (m->blocks[i].type == CONV_BLOCK_TOOL_RESULT) {
                buf_puts(out, ",\"tool_call_id\":");
                json_put_str(out, m->blocks[i].tool_id ? m->blocks[i].tool_id : "");
                break;
            }
    }
    if (m->name) {
        buf_puts(out, ",\"name\":");
        json_put_str(out, m->name);
    }
    buf_puts(out, MESSAGE_TAIL);
}

static void put_image_urls(buf *out, const conv_request *r) {
    if (!r->has_images) {
        buf_puts(out, "null");
        return;
    }
    buf_putc(out, '[');
    bool first = true;
    for (size_t i = 0; i < r->n_messages; i++)
        for (size_t k = 0; k < r->messages[i].n_blocks; k++) {
            const conv_block *b = &r->messages[i].blocks[k];
            if (b->type != CONV_BLOCK_IMAGE) continue;
            if (!first) buf_putc(out, ',');
            put_image_url(out, b);
            first = false;
        }
    buf_putc(out, ']');
}

static void put_tools(buf *out, const conv_request *r) {
    if (!r->n_tools || r->tool_choice == CONV_TOOL_CHOICE_NONE) return;
    buf_puts(out, ",\"tools\":[");
    for (size_t i = 0; i < r->n_tools; i++) {
        const conv_tool *t = &r->tools[i];
        if (i) buf_putc(out, ',');
        buf_puts(out, "{\"type\":\"function\",\"function\":{\"name\":");
        json_put_str(out, t->name ? t->name : "");
        if (t->description) {
            buf_puts(out, ",\"description\":");
            json_put_str(out, t->description);
        }
        buf_puts(out, ",\"parameters\":");
        /* parameters_json is the client's schema re-serialised by the decoder: valid JSON. */
        if (t->parameters_json && *t->parameters_json && strcmp(t->parameters_json, "{}") != 0)
            buf_puts(out, t->parameters_json);
        else
            buf_puts(out, "{\"type\":\"object\",\"properties\":{}}");
        buf_puts(out, "}}");
    }
    buf_putc(out, ']');
    switch (r->tool_choice) {
    case CONV_TOOL_CHOICE_AUTO: buf_puts(out, ",\"tool_choice\":\"auto\""); break;
    case CONV_TOOL_CHOICE_REQUIRED: buf_puts(out, ",\"tool_choice\":\"required\""); break;
    case CONV_TOOL_CHOICE_NAMED:
        buf_puts(out, ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":");
        json_put_str(out, r->tool_choice_name ? r->tool_choice_name : "");
        buf_puts(out, "}}");
        break;
    case CONV_TOOL_CHOICE_NONE:
    case CONV_TOOL_CHOICE_UNSET: break;
    }
}

void lingma_body_build(const conv_request *r, const lingma_body_opts *o, buf *out) {
    char rid[33], biz_id[37];
    ids_hex(rid, 16);
    ids_uuid4(biz_id);
    const char *key = o->model_key ? o->model_key : "";
    buf_reserve(out, 1024 + r->system_len);
    buf_puts(out, "{\"request_id\":\"");
    buf_puts(out, rid);
    buf_puts(out, "\",\"request_set_id\":\"\",\"chat_record_id\":\"");
    buf_puts(out, rid);
    buf_puts(out, "\",\"stream\":true,\"image_urls\":");
    put_image_urls(out, r);
    buf_puts(out, ",\"is_reply\":false,\"is_retry\":false,\"session_id\":");
    json_put_str(out, o->session_id ? o->session_id : "");
    buf_puts(out, ",\"code_language\":\"\",\"source\":0,\"version\":\"3\",\"chat_prompt\":\"\","
                  "\"parameters\":{\"temperature\":");
    json_put_double(out, r->has_temperature ? r->temperature : 0.1);
    if (r->has_top_p) {
        buf_puts(out, ",\"top_p\":");
        json_put_double(out, r->top_p);
    }
    if (r->max_tokens > 0) {
        int64_t mt = r->max_tokens;
        if (o->max_tokens_cap > 0 && mt > o->max_tokens_cap) mt = o->max_tokens_cap;
        buf_puts(out, ",\"max_tokens\":");
        buf_put_i64(out, mt);
    }
    buf_puts(out, "},\"aliyun_user_type\":\"personal_standard\",\"agent_id\":\"agent_common\","
                  "\"task_id\":\"question_refine\",\"model_config\":{\"key\":");
    json_put_str(out, key);
    buf_puts(out, ",\"display_name\":\"\",\"model\":");
    json_put_str(out, key);
    buf_printf(out,
               ",\"format\":\"\",\"is_vl\":%s,\"is_reasoning\":%s,\"api_key\":\"\",\"url\":\"\","
               "\"source\":\"\",\"enable\":false}",
               o->is_vl || r->has_images ? "true" : "false",
               o->is_reasoning || r->thinking || strstr(key, "thinking") ? "true" : "false");
    buf_puts(out, ",\"messages\":[");
    bool first = true;
    if (r->system && r->system_len) {
        buf_puts(out, "{\"role\":\"system\",\"content\":");
        json_put_strn(out, r->system, r->system_len);
        buf_puts(out, MESSAGE_TAIL);
        first = false;
    }
    for (size_t i = 0; i < r->n_messages; i++) {
        if (!first) buf_putc(out, ',');
        put_message(out, &r->messages[i]);
        first = false;
    }
    buf_puts(out, "],\"business\":{\"product\":\"jb_plugin\",\"version\":");
    json_put_str(out, o->cosy_version ? o->cosy_version : "2.11.2");
    buf_printf(out,
               ",\"type\":\"memory\",\"id\":\"%s\",\"begin_at\":%lld,\"stage\":\"start\","
               "\"name\":\"memory_intent_recognition_%s\"}",
               biz_id, (long long)clock_wall_ms(), rid);
    put_tools(out, r);
    buf_putc(out, '}');
}
