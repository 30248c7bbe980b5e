
/*
 * Reading the usage an answer reports, as it passes: the masking concern's
 * streaming JSON scanner (behind its SSE parser for a stream) tells this
 * reader the members of each document, and only a number at one of these
 * places counts, so that nothing the model writes (a string that looks
 * like a usage object) can be taken for the usage:
 *
 *   OpenAI chat and completions:  $.usage.prompt_tokens,
 *                                 $.usage.completion_tokens
 *   Responses API, Anthropic:     $.usage.input_tokens, $.usage.output_tokens
 *   Anthropic message_start:      $.message.usage.input_tokens, ...
 *   Responses response.completed: $.response.usage.input_tokens, ...
 *   Anthropic prompt caching:     cache_creation_input_tokens and
 *                                 cache_read_input_tokens of $.usage and
 *                                 $.message.usage, added to the input
 *   OpenAI embeddings:            $.usage.prompt_tokens and
 *                                 $.usage.total_tokens, without completion
 *                                 tokens: the output is the difference
 *
 * The reader declines every other value, so the scanner tells it nothing
 * of the model's text.  A JSON answer is one document; in a stream each
 * event's data is one, and a later event's value replaces an earlier one
 * (Anthropic's message_delta carries the output so far).
 */


#include "ngx_http_zt_inference.h"
#include "ngx_http_zt_mask_scan.h"


#define NGX_HTTP_ZT_USAGE_IN         0
#define NGX_HTTP_ZT_USAGE_CREATION   1
#define NGX_HTTP_ZT_USAGE_CACHED     2
#define NGX_HTTP_ZT_USAGE_OUT        3
#define NGX_HTTP_ZT_USAGE_TOTAL      4
#define NGX_HTTP_ZT_USAGE_FIELDS     5

#define NGX_HTTP_ZT_USAGE_DIGITS     15

/* the objects the reader goes into */
#define NGX_HTTP_ZT_USAGE_TOP        0x01    /* $ */
#define NGX_HTTP_ZT_USAGE_MESSAGE    0x02    /* $.message */
#define NGX_HTTP_ZT_USAGE_RESPONSE   0x04    /* $.response */
#define NGX_HTTP_ZT_USAGE_USAGE      0x08    /* $.usage */
#define NGX_HTTP_ZT_USAGE_MUSAGE     0x10    /* $.message.usage */
#define NGX_HTTP_ZT_USAGE_RUSAGE     0x20    /* $.response.usage */

#define NGX_HTTP_ZT_USAGE_DEPTH      3       /* $.message.usage */

/* the longest name a member the reader takes can have, escaped */
#define NGX_HTTP_ZT_USAGE_NAME       192


/* a member the reader takes: an object it goes into, or a count */
typedef struct {
    ngx_str_t                      name;
    ngx_uint_t                     in;         /* objects it is taken in */
    ngx_uint_t                     object;     /* the object it is, or 0 */
    ngx_uint_t                     field;      /* the count it is */
} ngx_http_zt_usage_member_t;


struct ngx_http_zt_usage_read_s {
    ngx_http_zt_mask_req_t         mr;
    ngx_http_zt_mask_emit_t        emit;
    ngx_http_zt_mask_watch_t       watch;
    ngx_http_zt_mask_json_t       *js;
    ngx_http_zt_mask_sse_t        *sse;
    ngx_uint_t                     masked;

    ngx_uint_t                     at[NGX_HTTP_ZT_USAGE_DEPTH];
    ngx_uint_t                     depth;      /* objects open in at[] */
    ngx_uint_t                     field;      /* of the count told next */

    int64_t                        doc[NGX_HTTP_ZT_USAGE_FIELDS];
    int64_t                        last[NGX_HTTP_ZT_USAGE_FIELDS];
};


static ngx_int_t ngx_http_zt_usage_read_discard(void *data, u_char *p,
    size_t len);
static ngx_int_t ngx_http_zt_usage_read_value(void *data, u_char *p,
    u_char *name, size_t name_len, ngx_int_t index);
static ngx_int_t ngx_http_zt_usage_read_close(void *data);
static ngx_int_t ngx_http_zt_usage_read_scalar(void *data, u_char *raw,
    size_t len);
static void ngx_http_zt_usage_read_done(ngx_http_zt_usage_read_t *rd);


#define ngx_http_zt_usage_object(name, in, object)                            \
    { ngx_string(name), in, object, 0 }
#define ngx_http_zt_usage_count(name, in, field)                              \
    { ngx_string(name), in, 0, field }

static ngx_http_zt_usage_member_t  ngx_http_zt_usage_members[] = {

    ngx_http_zt_usage_object("usage", NGX_HTTP_ZT_USAGE_TOP,
                             NGX_HTTP_ZT_USAGE_USAGE),
    ngx_http_zt_usage_object("message", NGX_HTTP_ZT_USAGE_TOP,
                             NGX_HTTP_ZT_USAGE_MESSAGE),
    ngx_http_zt_usage_object("response", NGX_HTTP_ZT_USAGE_TOP,
                             NGX_HTTP_ZT_USAGE_RESPONSE),
    ngx_http_zt_usage_object("usage", NGX_HTTP_ZT_USAGE_MESSAGE,
                             NGX_HTTP_ZT_USAGE_MUSAGE),
    ngx_http_zt_usage_object("usage", NGX_HTTP_ZT_USAGE_RESPONSE,
                             NGX_HTTP_ZT_USAGE_RUSAGE),

    ngx_http_zt_usage_count("prompt_tokens", NGX_HTTP_ZT_USAGE_USAGE,
                            NGX_HTTP_ZT_USAGE_IN),
    ngx_http_zt_usage_count("input_tokens",
                            NGX_HTTP_ZT_USAGE_USAGE | NGX_HTTP_ZT_USAGE_MUSAGE
                            | NGX_HTTP_ZT_USAGE_RUSAGE,
                            NGX_HTTP_ZT_USAGE_IN),
    ngx_http_zt_usage_count("cache_creation_input_tokens",
                            NGX_HTTP_ZT_USAGE_USAGE | NGX_HTTP_ZT_USAGE_MUSAGE,
                            NGX_HTTP_ZT_USAGE_CREATION),
    ngx_http_zt_usage_count("cache_read_input_tokens",
                            NGX_HTTP_ZT_USAGE_USAGE | NGX_HTTP_ZT_USAGE_MUSAGE,
                            NGX_HTTP_ZT_USAGE_CACHED),
    ngx_http_zt_usage_count("completion_tokens", NGX_HTTP_ZT_USAGE_USAGE,
                            NGX_HTTP_ZT_USAGE_OUT),
    ngx_http_zt_usage_count("output_tokens",
                            NGX_HTTP_ZT_USAGE_USAGE | NGX_HTTP_ZT_USAGE_MUSAGE
                            | NGX_HTTP_ZT_USAGE_RUSAGE,
                            NGX_HTTP_ZT_USAGE_OUT),
    ngx_http_zt_usage_count("total_tokens", NGX_HTTP_ZT_USAGE_USAGE,
                            NGX_HTTP_ZT_USAGE_TOTAL),

    { ngx_null_string, 0, 0, 0 }
};

#undef ngx_http_zt_usage_object
#undef ngx_http_zt_usage_count


ngx_http_zt_usage_read_t *
ngx_http_zt_usage_read_create(ngx_http_request_t *r, ngx_uint_t sse)
{
    ngx_uint_t                 i;
    ngx_http_zt_loc_conf_t    *lcf;
    ngx_http_zt_usage_read_t  *rd;

    rd = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_usage_read_t));
    if (rd == NULL) {
        return NULL;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    /*
     * No rule: the scanner changes nothing and tells the reader what it
     * takes; an event or a value the reader takes longer than
     * zt_mask_buffer is not read.
     */

    rd->mr.r = r;
    rd->mr.pool = r->pool;
    rd->mr.max = lcf->mask.buffer;
    rd->mr.masked = &rd->masked;
    rd->mr.error_at = -1;

    rd->emit.ref = ngx_http_zt_usage_read_discard;
    rd->emit.copy = ngx_http_zt_usage_read_discard;
    rd->emit.data = rd;

    rd->watch.value = ngx_http_zt_usage_read_value;
    rd->watch.close = ngx_http_zt_usage_read_close;
    rd->watch.scalar = ngx_http_zt_usage_read_scalar;
    rd->watch.data = rd;

    for (i = 0; i < NGX_HTTP_ZT_USAGE_FIELDS; i++) {
        rd->doc[i] = -1;
        rd->last[i] = -1;
    }

    if (sse) {
        rd->sse = ngx_http_zt_mask_sse_create(&rd->mr, &rd->emit, 0);
        if (rd->sse == NULL
            || ngx_http_zt_mask_sse_watch(rd->sse, &rd->watch) != NGX_OK)
        {
            return NULL;
        }

        return rd;
    }

    rd->js = ngx_http_zt_mask_json_create(&rd->mr, &rd->emit);
    if (rd->js == NULL) {
        return NULL;
    }

    ngx_http_zt_mask_json_watch(rd->js, &rd->watch);
    ngx_http_zt_mask_json_reset(rd->js);

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


/*
 * A value starts: the reader takes an object at the top, the objects on
 * the way to a usage object, and the counts in it that start as a plain
 * integer does; it declines all else, and then is told nothing inside.
 */

static ngx_int_t
ngx_http_zt_usage_read_value(void *data, u_char *p, u_char *name,
    size_t name_len, ngx_int_t index)
{
    ngx_http_zt_usage_read_t *rd = data;

    u_char                       buf[NGX_HTTP_ZT_USAGE_NAME];
    ngx_uint_t                   at;
    ngx_http_zt_usage_member_t  *m;

    if (rd->depth == 0) {
        /* a document */

        if (*p != '{') {
            return NGX_DECLINED;
        }

        rd->at[rd->depth++] = NGX_HTTP_ZT_USAGE_TOP;

        return NGX_OK;
    }

    if (name == NULL) {
        return NGX_DECLINED;
    }

    /* names are compared as JSON reads them: "us\u0061ge" is "usage" */

    if (ngx_strlchr(name, name + name_len, '\\')) {
        if (name_len > sizeof(buf)) {
            return NGX_DECLINED;
        }

        name_len = ngx_http_zt_mask_json_unescape(buf, name, name_len);
        name = buf;
    }

    at = rd->at[rd->depth - 1];

    for (m = ngx_http_zt_usage_members; m->name.len; m++) {
        if (!(m->in & at) || m->name.len != name_len
            || ngx_memcmp(m->name.data, name, name_len) != 0)
        {
            continue;
        }

        if (m->object == 0) {
            if (*p < '0' || *p > '9') {
                return NGX_DECLINED;
            }

            rd->field = m->field;

            return NGX_OK;
        }

        if (*p != '{' || rd->depth == NGX_HTTP_ZT_USAGE_DEPTH) {
            return NGX_DECLINED;
        }

        rd->at[rd->depth++] = m->object;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* an object the reader took closes; the document's end, if at the top */

static ngx_int_t
ngx_http_zt_usage_read_close(void *data)
{
    ngx_http_zt_usage_read_t *rd = data;

    if (rd->depth && --rd->depth == 0) {
        ngx_http_zt_usage_read_done(rd);
    }

    return NGX_OK;
}


/*
 * A count's text: a plain non-negative integer is taken, anything else (a
 * fraction, an exponent) is not.  Two members of one count in one
 * document: the larger counts.
 */

static ngx_int_t
ngx_http_zt_usage_read_scalar(void *data, u_char *raw, size_t len)
{
    ngx_http_zt_usage_read_t *rd = data;

    size_t   i;
    int64_t  n;

    if (len == 0 || len > NGX_HTTP_ZT_USAGE_DIGITS) {
        return NGX_DECLINED;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (raw[i] < '0' || raw[i] > '9') {
            return NGX_DECLINED;
        }

        n = n * 10 + (raw[i] - '0');
    }

    if (n > rd->doc[rd->field]) {
        rd->doc[rd->field] = n;
    }

    return NGX_DECLINED;
}
