
/*
 * Reading the usage an answer reports, as it passes, with the masking
 * concern's streaming JSON scanner and its tracked paths: only a number
 * at one of the paths below counts, so that nothing the model writes (a
 * string that looks like a usage object) can be taken for the usage.
 *
 *   OpenAI chat and completions:  $.usage.prompt_tokens,
 *                                 $.usage.completion_tokens
 *   Responses API, Anthropic:     $.usage.input_tokens, $.usage.output_tokens
 *   Anthropic message_start:      $.message.usage.input_tokens, ...
 *   Responses response.completed: $.response.usage.input_tokens, ...
 *   Anthropic prompt caching:     ..usage.cache_creation_input_tokens and
 *                                 ..usage.cache_read_input_tokens, added
 *                                 to the input
 *   OpenAI embeddings:            $.usage.prompt_tokens and
 *                                 $.usage.total_tokens, without completion
 *                                 tokens: the output is the difference
 *
 * A JSON answer is one document; in a stream (the masking concern's SSE
 * parser cuts it into events) each event's data is one, and a later
 * event's value replaces an earlier one (Anthropic's message_delta carries
 * the output so far).
 */


#include "ngx_http_zt_inference.h"
#include "ngx_http_zt_mask_scan.h"


#define NGX_HTTP_ZT_USAGE_IN         0
#define NGX_HTTP_ZT_USAGE_CREATION   1
#define NGX_HTTP_ZT_USAGE_CACHED     2
#define NGX_HTTP_ZT_USAGE_OUT        3
#define NGX_HTTP_ZT_USAGE_TOTAL      4
#define NGX_HTTP_ZT_USAGE_FIELDS     5

#define NGX_HTTP_ZT_USAGE_NPATHS     13
#define NGX_HTTP_ZT_USAGE_DIGITS     15


struct ngx_http_zt_usage_read_s {
    ngx_http_zt_mask_req_t         mr;
    ngx_http_zt_mask_emit_t        emit;
    ngx_http_zt_mask_json_t       *js;
    ngx_http_zt_mask_sse_t        *sse;
    ngx_uint_t                     masked;

    int64_t                        doc[NGX_HTTP_ZT_USAGE_FIELDS];
    int64_t                        last[NGX_HTTP_ZT_USAGE_FIELDS];
};


static ngx_int_t ngx_http_zt_usage_read_discard(void *data, u_char *p,
    size_t len);
static ngx_int_t ngx_http_zt_usage_read_event(void *data, u_char *p,
    size_t len);
static ngx_int_t ngx_http_zt_usage_read_value(void *data, ngx_uint_t id,
    u_char *raw, size_t len);
static void ngx_http_zt_usage_read_done(ngx_http_zt_usage_read_t *rd);


#define ngx_http_zt_usage_step(name)                                          \
    { NGX_HTTP_ZT_JP_KEY, ngx_string(name), 0 }

static ngx_http_zt_jp_step_t  ngx_http_zt_usage_steps[][3] = {
    { ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("prompt_tokens") },
    { ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("input_tokens") },
    { ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("cache_creation_input_tokens") },
    { ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("cache_read_input_tokens") },
    { ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("completion_tokens") },
    { ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("output_tokens") },
    { ngx_http_zt_usage_step("message"), ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("input_tokens") },
    { ngx_http_zt_usage_step("message"), ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("cache_creation_input_tokens") },
    { ngx_http_zt_usage_step("message"), ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("cache_read_input_tokens") },
    { ngx_http_zt_usage_step("message"), ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("output_tokens") },
    { ngx_http_zt_usage_step("response"), ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("input_tokens") },
    { ngx_http_zt_usage_step("response"), ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("output_tokens") },
    { ngx_http_zt_usage_step("usage"),
      ngx_http_zt_usage_step("total_tokens") }
};

#undef ngx_http_zt_usage_step


static ngx_http_zt_jsonpath_t  ngx_http_zt_usage_paths[] = {
    { ngx_string("$.usage.prompt_tokens"), ngx_http_zt_usage_steps[0], 2 },
    { ngx_string("$.usage.input_tokens"), ngx_http_zt_usage_steps[1], 2 },
    { ngx_string("$.usage.cache_creation_input_tokens"),
      ngx_http_zt_usage_steps[2], 2 },
    { ngx_string("$.usage.cache_read_input_tokens"),
      ngx_http_zt_usage_steps[3], 2 },
    { ngx_string("$.usage.completion_tokens"),
      ngx_http_zt_usage_steps[4], 2 },
    { ngx_string("$.usage.output_tokens"), ngx_http_zt_usage_steps[5], 2 },
    { ngx_string("$.message.usage.input_tokens"),
      ngx_http_zt_usage_steps[6], 3 },
    { ngx_string("$.message.usage.cache_creation_input_tokens"),
      ngx_http_zt_usage_steps[7], 3 },
    { ngx_string("$.message.usage.cache_read_input_tokens"),
      ngx_http_zt_usage_steps[8], 3 },
    { ngx_string("$.message.usage.output_tokens"),
      ngx_http_zt_usage_steps[9], 3 },
    { ngx_string("$.response.usage.input_tokens"),
      ngx_http_zt_usage_steps[10], 3 },
    { ngx_string("$.response.usage.output_tokens"),
      ngx_http_zt_usage_steps[11], 3 },
    { ngx_string("$.usage.total_tokens"), ngx_http_zt_usage_steps[12], 2 }
};


/* the field each path fills */
static ngx_uint_t  ngx_http_zt_usage_fields[] = {
    NGX_HTTP_ZT_USAGE_IN, NGX_HTTP_ZT_USAGE_IN,
    NGX_HTTP_ZT_USAGE_CREATION, NGX_HTTP_ZT_USAGE_CACHED,
    NGX_HTTP_ZT_USAGE_OUT, NGX_HTTP_ZT_USAGE_OUT,
    NGX_HTTP_ZT_USAGE_IN, NGX_HTTP_ZT_USAGE_CREATION,
    NGX_HTTP_ZT_USAGE_CACHED, NGX_HTTP_ZT_USAGE_OUT,
    NGX_HTTP_ZT_USAGE_IN, NGX_HTTP_ZT_USAGE_OUT,
    NGX_HTTP_ZT_USAGE_TOTAL
};


ngx_http_zt_usage_read_t *
ngx_http_zt_usage_read_create(ngx_http_request_t *r, ngx_uint_t sse)
{
    ngx_uint_t                 i;
    ngx_http_zt_loc_conf_t    *lcf;
    ngx_http_zt_usage_read_t  *rd;
    ngx_http_zt_mask_jpath_t   track[NGX_HTTP_ZT_USAGE_NPATHS];

    rd = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_usage_read_t));
    if (rd == NULL) {
        return NULL;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    /*
     * No rule: the scanner follows the paths and changes nothing, the
     * parser hands each event over; an event or a watched string longer
     * than zt_mask_buffer is not read.
     */

    rd->mr.r = r;
    rd->mr.pool = r->pool;
    rd->mr.max = lcf->mask.buffer;
    rd->mr.masked = &rd->masked;
    rd->mr.error_at = -1;

    rd->emit.ref = ngx_http_zt_usage_read_discard;
    rd->emit.copy = ngx_http_zt_usage_read_discard;
    rd->emit.data = rd;

    for (i = 0; i < NGX_HTTP_ZT_USAGE_NPATHS; i++) {
        track[i].path = &ngx_http_zt_usage_paths[i];
        track[i].rule = NULL;
        track[i].track = i + 1;
        track[i].bit = 0;
    }

    rd->js = ngx_http_zt_mask_json_create(&rd->mr, &rd->emit, track,
                                          NGX_HTTP_ZT_USAGE_NPATHS);
    if (rd->js == NULL) {
        return NULL;
    }

    ngx_http_zt_mask_json_set_hook(rd->js, ngx_http_zt_usage_read_value, rd);
    ngx_http_zt_mask_json_reset(rd->js);

    for (i = 0; i < NGX_HTTP_ZT_USAGE_FIELDS; i++) {
        rd->doc[i] = -1;
        rd->last[i] = -1;
    }

    if (sse) {
        rd->sse = ngx_http_zt_mask_sse_create(&rd->mr, &rd->emit);
        if (rd->sse == NULL) {
            return NULL;
        }

        ngx_http_zt_mask_sse_set_data_hook(rd->sse,
                                           ngx_http_zt_usage_read_event, rd);
    }

    return rd;
}


/* NGX_ERROR: the answer cannot be read (not JSON): nothing is taken */

ngx_int_t
ngx_http_zt_usage_read_feed(ngx_http_zt_usage_read_t *rd, u_char *p,
    u_char *last, ngx_uint_t eof)
{
    if (rd->sse) {
        if (ngx_http_zt_mask_sse_feed(rd->sse, p, last, eof) != NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, rd->mr.r->connection->log, 0,
                          "zt: usage: the stream is not read: %s",
                          rd->mr.err ? rd->mr.err : "invalid event");
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_http_zt_mask_json_feed(rd->js, p, last, eof) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, rd->mr.r->connection->log, 0,
                      "zt: usage: the answer is not read: %s",
                      rd->mr.err ? rd->mr.err : "invalid JSON");
        return NGX_ERROR;
    }

    rd->mr.base += last - p;

    if (eof) {
        ngx_http_zt_usage_read_done(rd);
    }

    return NGX_OK;
}


/*
 * NGX_OK when the answer reported the input and the output (or a total
 * beside the input, as embeddings do: the output is what the total has
 * more).
 */

ngx_int_t
ngx_http_zt_usage_read_result(ngx_http_zt_usage_read_t *rd, int64_t *input,
    int64_t *output)
{
    int64_t  *f;

    f = rd->last;

    if (f[NGX_HTTP_ZT_USAGE_IN] < 0) {
        return NGX_DECLINED;
    }

    if (f[NGX_HTTP_ZT_USAGE_OUT] >= 0) {
        *output = f[NGX_HTTP_ZT_USAGE_OUT];

    } else if (f[NGX_HTTP_ZT_USAGE_TOTAL] >= 0) {
        *output = ngx_max(f[NGX_HTTP_ZT_USAGE_TOTAL]
                          - f[NGX_HTTP_ZT_USAGE_IN], 0);

    } else {
        return NGX_DECLINED;
    }

    *input = f[NGX_HTTP_ZT_USAGE_IN]
             + ngx_max(f[NGX_HTTP_ZT_USAGE_CREATION], 0)
             + ngx_max(f[NGX_HTTP_ZT_USAGE_CACHED], 0);

    return NGX_OK;
}


/* a document ended: what it reported replaces what earlier ones did */

static void
ngx_http_zt_usage_read_done(ngx_http_zt_usage_read_t *rd)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_ZT_USAGE_FIELDS; i++) {
        if (rd->doc[i] >= 0) {
            rd->last[i] = rd->doc[i];
        }

        rd->doc[i] = -1;
    }
}


static ngx_int_t
ngx_http_zt_usage_read_discard(void *data, u_char *p, size_t len)
{
    return NGX_OK;
}


/* an event's data: a JSON object is a document of its own */

static ngx_int_t
ngx_http_zt_usage_read_event(void *data, u_char *p, size_t len)
{
    ngx_http_zt_usage_read_t *rd = data;

    u_char      *last;
    ngx_uint_t   i;

    last = p + len;

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\n')) {
        p++;
    }

    if (p == last || *p != '{') {
        /* "[DONE]", text */
        return NGX_OK;
    }

    ngx_http_zt_mask_json_reset(rd->js);

    if (ngx_http_zt_mask_json_feed(rd->js, p, last, 1) != NGX_OK) {
        /* the parser refuses the event too, and reading stops there */
        for (i = 0; i < NGX_HTTP_ZT_USAGE_FIELDS; i++) {
            rd->doc[i] = -1;
        }

        return NGX_OK;
    }

    ngx_http_zt_usage_read_done(rd);

    return NGX_OK;
}


/*
 * A value at a tracked path, as JSON text: a count is a plain
 * non-negative integer; anything else (null, a string, a fraction) is not
 * taken.  Two paths of one field in one document: the larger counts.
 */

static ngx_int_t
ngx_http_zt_usage_read_value(void *data, ngx_uint_t id, u_char *raw,
    size_t len)
{
    ngx_http_zt_usage_read_t *rd = data;

    size_t      i;
    int64_t     n;
    ngx_uint_t  field;

    if (id == 0 || id > NGX_HTTP_ZT_USAGE_NPATHS || len == 0
        || len > NGX_HTTP_ZT_USAGE_DIGITS)
    {
        return NGX_DECLINED;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (raw[i] < '0' || raw[i] > '9') {
            return NGX_DECLINED;
        }

        n = n * 10 + (raw[i] - '0');
    }

    field = ngx_http_zt_usage_fields[id - 1];

    if (n > rd->doc[field]) {
        rd->doc[field] = n;
    }

    return NGX_DECLINED;
}
