
/*
 * The JSON writer of the audit line, the reviewer API's answers and the
 * Redis notifications, on top of the escaping of ngx_http_zt_json.c.  A
 * text is written once into a buffer of a first guess; only a text that
 * does not fit is written twice by the same code: once to count its
 * bytes, once into a buffer of exactly that size.  Members and items get
 * their commas from the writer: a bit per open level says whether the
 * level is still empty.  Level 0 is the text itself, so that members can
 * also be written without braces, as a fragment.
 */


#include "ngx_http_zt_inference.h"


/* an audit line without a body is some 400 bytes */
#define NGX_HTTP_ZT_JSON_GUESS  1024


static ngx_inline void ngx_http_zt_json_put(ngx_http_zt_json_out_t *out,
    u_char *s, size_t len);
static ngx_inline void ngx_http_zt_json_next(ngx_http_zt_json_out_t *out);
static void ngx_http_zt_json_quoted(ngx_http_zt_json_out_t *out, u_char *s,
    size_t len);


ngx_int_t
ngx_http_zt_json_build(ngx_pool_t *pool, ngx_http_zt_json_write_pt write,
    void *data, ngx_str_t *json)
{
    return ngx_http_zt_json_build_guess(pool, write, data,
                                        NGX_HTTP_ZT_JSON_GUESS, json);
}


/* guess: what the text most likely takes, for a caller that can tell */

ngx_int_t
ngx_http_zt_json_build_guess(ngx_pool_t *pool,
    ngx_http_zt_json_write_pt write, void *data, size_t guess,
    ngx_str_t *json)
{
    size_t                  size;
    ngx_http_zt_json_out_t  out;

    ngx_memzero(&out, sizeof(ngx_http_zt_json_out_t));
    out.first = 1;

    out.pos = ngx_pnalloc(pool, guess);
    if (out.pos == NULL) {
        return NGX_ERROR;
    }

    json->data = out.pos;
    out.end = out.pos + guess;

    write(&out, data);

    if (!out.overflow) {
        json->len = out.pos - json->data;
        return NGX_OK;
    }

    ngx_memzero(&out, sizeof(ngx_http_zt_json_out_t));
    out.count = 1;
    out.first = 1;

    write(&out, data);

    size = out.size;

    json->data = ngx_pnalloc(pool, size ? size : 1);
    if (json->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&out, sizeof(ngx_http_zt_json_out_t));
    out.first = 1;
    out.pos = json->data;
    out.end = json->data + size;

    write(&out, data);

    if (out.overflow || out.pos != out.end) {
        ngx_log_error(NGX_LOG_ALERT, pool->log, 0,
                      "zt: the two passes of a JSON text disagree");
        return NGX_ERROR;
    }

    json->len = size;

    return NGX_OK;
}


/*
 * The exported functions are made of the static ones below: a call from
 * one exported function to another in a shared object goes through the
 * PLT and is never inlined.
 */

/* '{' or '[' */

void
ngx_http_zt_json_open(ngx_http_zt_json_out_t *out, u_char brace)
{
    ngx_http_zt_json_next(out);
    ngx_http_zt_json_put(out, &brace, 1);

    if (out->depth < 31) {
        out->depth++;
        out->first |= (uint32_t) 1 << out->depth;
    }
}


void
ngx_http_zt_json_close(ngx_http_zt_json_out_t *out, u_char brace)
{
    if (out->depth > 0) {
        out->first &= ~((uint32_t) 1 << out->depth);
        out->depth--;
    }

    ngx_http_zt_json_put(out, &brace, 1);
}


/* "key": */

void
ngx_http_zt_json_key(ngx_http_zt_json_out_t *out, char *key)
{
    ngx_http_zt_json_next(out);
    ngx_http_zt_json_quoted(out, (u_char *) key, ngx_strlen(key));
    ngx_http_zt_json_put(out, (u_char *) ":", 1);

    out->key = 1;
}


/* any bytes as a string value: escaped, invalid UTF-8 as U+FFFD */

void
ngx_http_zt_json_str(ngx_http_zt_json_out_t *out, u_char *s, size_t len)
{
    ngx_http_zt_json_next(out);
    ngx_http_zt_json_quoted(out, s, len);
}


/* a value that is JSON text already */

void
ngx_http_zt_json_text(ngx_http_zt_json_out_t *out, u_char *s, size_t len)
{
    ngx_http_zt_json_next(out);
    ngx_http_zt_json_put(out, s, len);
}


/* digits by hand: ngx_sprintf() costs more than an audit line's string */

void
ngx_http_zt_json_int(ngx_http_zt_json_out_t *out, int64_t n)
{
    u_char    *p, buf[NGX_INT64_LEN];
    uint64_t   u;

    p = buf + NGX_INT64_LEN;
    u = (n < 0) ? 0 - (uint64_t) n : (uint64_t) n;

    do {
        *--p = (u_char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (n < 0) {
        *--p = '-';
    }

    ngx_http_zt_json_next(out);
    ngx_http_zt_json_put(out, p, buf + NGX_INT64_LEN - p);
}


void
ngx_http_zt_json_bool(ngx_http_zt_json_out_t *out, ngx_uint_t b)
{
    ngx_http_zt_json_next(out);

    if (b) {
        ngx_http_zt_json_put(out, (u_char *) "true", 4);

    } else {
        ngx_http_zt_json_put(out, (u_char *) "false", 5);
    }
}


/* "key":"value", or "key":null when there is no value */

void
ngx_http_zt_json_member(ngx_http_zt_json_out_t *out, char *key,
    ngx_str_t *value)
{
    ngx_http_zt_json_next(out);
    ngx_http_zt_json_quoted(out, (u_char *) key, ngx_strlen(key));
    ngx_http_zt_json_put(out, (u_char *) ":", 1);

    if (value == NULL || value->data == NULL) {
        ngx_http_zt_json_put(out, (u_char *) "null", 4);
        return;
    }

    ngx_http_zt_json_quoted(out, value->data, value->len);
}


/* an array of ngx_str_t as strings; none is [] */

void
ngx_http_zt_json_strings(ngx_http_zt_json_out_t *out, ngx_array_t *list)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    ngx_http_zt_json_next(out);
    ngx_http_zt_json_put(out, (u_char *) "[", 1);

    s = list ? list->elts : NULL;

    for (i = 0; list && i < list->nelts; i++) {
        if (i) {
            ngx_http_zt_json_put(out, (u_char *) ",", 1);
        }

        ngx_http_zt_json_quoted(out, s[i].data, s[i].len);
    }

    ngx_http_zt_json_put(out, (u_char *) "]", 1);
}


/* bytes as they are, with no comma: a newline after the text */

void
ngx_http_zt_json_raw(ngx_http_zt_json_out_t *out, u_char *s, size_t len)
{
    ngx_http_zt_json_put(out, s, len);
}


static ngx_inline void
ngx_http_zt_json_put(ngx_http_zt_json_out_t *out, u_char *s, size_t len)
{
    if (out->count) {
        out->size += len;
        return;
    }

    /* once a text does not fit, the rest of it is not written either */

    if (out->overflow || (size_t) (out->end - out->pos) < len) {
        out->overflow = 1;
        return;
    }

    out->pos = ngx_cpymem(out->pos, s, len);
}


/* the comma before a member or an item, unless it opens its level */

static ngx_inline void
ngx_http_zt_json_next(ngx_http_zt_json_out_t *out)
{
    uint32_t  bit;

    if (out->key) {
        out->key = 0;
        return;
    }

    bit = (uint32_t) 1 << out->depth;

    if (out->first & bit) {
        out->first &= ~bit;
        return;
    }

    ngx_http_zt_json_put(out, (u_char *) ",", 1);
}


/* a string between quotes: an escape takes 6 bytes at most */

static void
ngx_http_zt_json_quoted(ngx_http_zt_json_out_t *out, u_char *s, size_t len)
{
    size_t  n;

    if (out->count) {
        out->size += 2 + ngx_http_zt_json_escape_len(s, len);
        return;
    }

    if (out->overflow) {
        return;
    }

    n = (size_t) (out->end - out->pos);

    /* count only when it may not fit */

    if (n < 2
        || ((n - 2) / 6 < len && n - 2 < ngx_http_zt_json_escape_len(s, len)))
    {
        out->overflow = 1;
        return;
    }

    *out->pos++ = '"';
    out->pos = ngx_http_zt_json_escape(out->pos, s, len);
    *out->pos++ = '"';
}
