
/*
 * JSON text.  Reading it fast: a strict reader that builds jansson values
 * directly, and steps aside (NULL) for json_loadb() to decide whenever
 * anything is not plainly right, so that it only ever accepts what jansson
 * accepts.  Writing it: any bytes escaped as the inside of a JSON string.
 */


#include "ngx_http_zt_inference.h"

#include <math.h>


/* deeper documents are left to jansson */
#define NGX_HTTP_ZT_JSON_DEPTH_MAX   64
#define NGX_HTTP_ZT_JSON_NUMBER_LEN  64


typedef struct {
    u_char                     *pos;
    u_char                     *last;
    u_char                     *buf;        /* unescaped strings */
    u_char                     *buf_pos;
    ngx_pool_t                 *pool;
    ngx_uint_t                  depth;
} ngx_http_zt_json_parser_t;


static json_t *ngx_http_zt_json_value(ngx_http_zt_json_parser_t *bp);
static json_t *ngx_http_zt_json_object(ngx_http_zt_json_parser_t *bp);
static json_t *ngx_http_zt_json_array(ngx_http_zt_json_parser_t *bp);
static ngx_int_t ngx_http_zt_json_string(ngx_http_zt_json_parser_t *bp,
    ngx_str_t *s, ngx_uint_t key);
static json_t *ngx_http_zt_json_number(ngx_http_zt_json_parser_t *bp);
static ngx_int_t ngx_http_zt_json_hex4(u_char *p, u_char *last,
    uint32_t *u);
static void ngx_http_zt_json_cleanup(void *data);


/*
 * jansson reads a body at some 130 instructions a byte, several times the
 * cost of the rest of the request: a document is read here directly into
 * the same jansson values, and whenever anything is not plainly right
 * (not JSON, a duplicate name, a "\u0000" in a name, a number out of
 * range, nesting deeper than NGX_HTTP_ZT_JSON_DEPTH_MAX, no memory), NULL
 * hands the body to json_loadb(), which decides and explains.  So this
 * only ever accepts what jansson accepts with JSON_DECODE_ANY,
 * JSON_REJECT_DUPLICATES and JSON_ALLOW_NUL, and builds what it builds:
 * members in document order, strings unescaped, integers as json_int_t,
 * other numbers as doubles from strtod().
 */

json_t *
ngx_http_zt_json_parse(ngx_pool_t *pool, u_char *data, size_t len)
{
    json_t                     *json;
    ngx_http_zt_json_parser_t   bp;

    ngx_memzero(&bp, sizeof(ngx_http_zt_json_parser_t));

    bp.pos = data;
    bp.last = data + len;
    bp.pool = pool;

    json = ngx_http_zt_json_value(&bp);
    if (json == NULL) {
        return NULL;
    }

    while (bp.pos < bp.last
           && (*bp.pos == ' ' || *bp.pos == '\t' || *bp.pos == '\n'
               || *bp.pos == '\r'))
    {
        bp.pos++;
    }

    if (bp.pos != bp.last) {
        json_decref(json);
        return NULL;
    }

    return json;
}


#define ngx_http_zt_json_ws(bp)                                              \
    while (bp->pos < bp->last                                                \
           && (*bp->pos == ' ' || *bp->pos == '\t' || *bp->pos == '\n'        \
               || *bp->pos == '\r'))                                         \
    {                                                                        \
        bp->pos++;                                                           \
    }


static json_t *
ngx_http_zt_json_value(ngx_http_zt_json_parser_t *bp)
{
    size_t     n;
    ngx_str_t  s;

    ngx_http_zt_json_ws(bp);

    if (bp->pos == bp->last) {
        return NULL;
    }

    n = bp->last - bp->pos;

    switch (*bp->pos) {

    case '{':
        return ngx_http_zt_json_object(bp);

    case '[':
        return ngx_http_zt_json_array(bp);

    case '"':
        if (ngx_http_zt_json_string(bp, &s, 0) != NGX_OK) {
            return NULL;
        }

        return json_stringn_nocheck((const char *) s.data, s.len);

    case 't':
        if (n >= 4 && ngx_strncmp(bp->pos, "true", 4) == 0) {
            bp->pos += 4;
            return json_true();
        }

        return NULL;

    case 'f':
        if (n >= 5 && ngx_strncmp(bp->pos, "false", 5) == 0) {
            bp->pos += 5;
            return json_false();
        }

        return NULL;

    case 'n':
        if (n >= 4 && ngx_strncmp(bp->pos, "null", 4) == 0) {
            bp->pos += 4;
            return json_null();
        }

        return NULL;

    default:
        return ngx_http_zt_json_number(bp);
    }
}


static json_t *
ngx_http_zt_json_object(ngx_http_zt_json_parser_t *bp)
{
    json_t     *obj, *v;
    ngx_str_t   key;

    if (++bp->depth > NGX_HTTP_ZT_JSON_DEPTH_MAX) {
        return NULL;
    }

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    bp->pos++;    /* "{" */

    ngx_http_zt_json_ws(bp);

    if (bp->pos < bp->last && *bp->pos == '}') {
        bp->pos++;
        bp->depth--;
        return obj;
    }

    for ( ;; ) {

        ngx_http_zt_json_ws(bp);

        if (bp->pos == bp->last || *bp->pos != '"'
            || ngx_http_zt_json_string(bp, &key, 1) != NGX_OK)
        {
            goto failed;
        }

        ngx_http_zt_json_ws(bp);

        if (bp->pos == bp->last || *bp->pos != ':') {
            goto failed;
        }

        bp->pos++;

        v = ngx_http_zt_json_value(bp);
        if (v == NULL) {
            goto failed;
        }

        if (json_object_getn(obj, (const char *) key.data, key.len) != NULL
            || json_object_setn_new_nocheck(obj, (const char *) key.data,
                                            key.len, v)
               != 0)
        {
            json_decref(v);
            goto failed;
        }

        ngx_http_zt_json_ws(bp);

        if (bp->pos == bp->last) {
            goto failed;
        }

        if (*bp->pos == ',') {
            bp->pos++;
            continue;
        }

        if (*bp->pos == '}') {
            bp->pos++;
            break;
        }

        goto failed;
    }

    bp->depth--;

    return obj;

failed:

    json_decref(obj);

    return NULL;
}


static json_t *
ngx_http_zt_json_array(ngx_http_zt_json_parser_t *bp)
{
    json_t  *arr, *v;

    if (++bp->depth > NGX_HTTP_ZT_JSON_DEPTH_MAX) {
        return NULL;
    }

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    bp->pos++;    /* "[" */

    ngx_http_zt_json_ws(bp);

    if (bp->pos < bp->last && *bp->pos == ']') {
        bp->pos++;
        bp->depth--;
        return arr;
    }

    for ( ;; ) {

        v = ngx_http_zt_json_value(bp);

        if (v == NULL || json_array_append_new(arr, v) != 0) {
            goto failed;
        }

        ngx_http_zt_json_ws(bp);

        if (bp->pos == bp->last) {
            goto failed;
        }

        if (*bp->pos == ',') {
            bp->pos++;
            continue;
        }

        if (*bp->pos == ']') {
            bp->pos++;
            break;
        }

        goto failed;
    }

    bp->depth--;

    return arr;

failed:

    json_decref(arr);

    return NULL;
}


/*
 * The string at bp->pos (its opening quote).  Without escapes it stays
 * where it is; with them it is unescaped into bp->buf, which grows by
 * what each string takes and never outgrows the body (an escape is never
 * shorter than what it stands for), so a name stays valid while its value
 * is read.
 */

static ngx_int_t
ngx_http_zt_json_string(ngx_http_zt_json_parser_t *bp, ngx_str_t *s,
    ngx_uint_t key)
{
    u_char    *p, *last, *start, *d;
    size_t     n;
    uint32_t   u, lo;

    p = bp->pos + 1;
    last = bp->last;
    start = p;
    d = NULL;

    for ( ;; ) {

        if (p == last) {
            return NGX_DECLINED;
        }

        if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            if (d) {
                *d++ = *p;
            }

            p++;
            continue;
        }

        if (*p == '"') {
            break;
        }

        if (*p < 0x20) {
            return NGX_DECLINED;
        }

        if (*p >= 0x80) {
            n = ngx_http_zt_utf8_valid(p, last);
            if (n == 0) {
                return NGX_DECLINED;
            }

            if (d) {
                d = ngx_cpymem(d, p, n);
            }

            p += n;
            continue;
        }

        /* a backslash */

        if (d == NULL) {
            if (bp->buf == NULL) {
                bp->buf = ngx_pnalloc(bp->pool, bp->last - bp->pos);
                if (bp->buf == NULL) {
                    return NGX_DECLINED;
                }

                bp->buf_pos = bp->buf;
            }

            d = ngx_cpymem(bp->buf_pos, start, p - start);
        }

        if (++p == last) {
            return NGX_DECLINED;
        }

        switch (*p++) {
        case '"':
            *d++ = '"';
            continue;
        case '\\':
            *d++ = '\\';
            continue;
        case '/':
            *d++ = '/';
            continue;
        case 'b':
            *d++ = '\b';
            continue;
        case 'f':
            *d++ = '\f';
            continue;
        case 'n':
            *d++ = '\n';
            continue;
        case 'r':
            *d++ = '\r';
            continue;
        case 't':
            *d++ = '\t';
            continue;
        case 'u':
            break;
        default:
            return NGX_DECLINED;
        }

        if (ngx_http_zt_json_hex4(p, last, &u) != NGX_OK) {
            return NGX_DECLINED;
        }

        p += 4;

        if (u >= 0xd800 && u <= 0xdbff) {

            /* a high surrogate: a low one must follow */

            if (last - p < 6 || p[0] != '\\' || p[1] != 'u'
                || ngx_http_zt_json_hex4(p + 2, last, &lo) != NGX_OK
                || lo < 0xdc00 || lo > 0xdfff)
            {
                return NGX_DECLINED;
            }

            p += 6;
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);

        } else if (u >= 0xdc00 && u <= 0xdfff) {
            return NGX_DECLINED;
        }

        if (u == 0 && key) {
            return NGX_DECLINED;
        }

        if (u < 0x80) {
            *d++ = (u_char) u;

        } else if (u < 0x800) {
            *d++ = (u_char) (0xc0 | (u >> 6));
            *d++ = (u_char) (0x80 | (u & 0x3f));

        } else if (u < 0x10000) {
            *d++ = (u_char) (0xe0 | (u >> 12));
            *d++ = (u_char) (0x80 | ((u >> 6) & 0x3f));
            *d++ = (u_char) (0x80 | (u & 0x3f));

        } else {
            *d++ = (u_char) (0xf0 | (u >> 18));
            *d++ = (u_char) (0x80 | ((u >> 12) & 0x3f));
            *d++ = (u_char) (0x80 | ((u >> 6) & 0x3f));
            *d++ = (u_char) (0x80 | (u & 0x3f));
        }
    }

    if (d) {
        s->data = bp->buf_pos;
        s->len = d - bp->buf_pos;
        bp->buf_pos = d;

    } else {
        s->data = start;
        s->len = p - start;
    }

    bp->pos = p + 1;

    return NGX_OK;
}


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and no more */

static json_t *
ngx_http_zt_json_number(ngx_http_zt_json_parser_t *bp)
{
    char        buf[NGX_HTTP_ZT_JSON_NUMBER_LEN], *end;
    u_char     *p, *last, *start;
    double      d;
    size_t      len;
    json_int_t  i;
    ngx_uint_t  real;

    p = bp->pos;
    last = bp->last;
    start = p;
    real = 0;

    if (p < last && *p == '-') {
        p++;
    }

    if (p == last || *p < '0' || *p > '9') {
        return NULL;
    }

    if (*p++ == '0') {
        if (p < last && *p >= '0' && *p <= '9') {
            return NULL;
        }

    } else {
        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && *p == '.') {
        real = 1;
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        real = 1;
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == last || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    len = p - start;

    if (len >= NGX_HTTP_ZT_JSON_NUMBER_LEN) {
        return NULL;
    }

    ngx_memcpy(buf, start, len);
    buf[len] = '\0';

    bp->pos = p;

    errno = 0;

    if (!real) {
#if JSON_INTEGER_IS_LONG_LONG
        i = strtoll(buf, &end, 10);
#else
        i = strtol(buf, &end, 10);
#endif

        if (errno == ERANGE || end != buf + len) {
            return NULL;
        }

        return json_integer(i);
    }

    d = strtod(buf, &end);

    if (end != buf + len || ((d == HUGE_VAL || d == -HUGE_VAL)
                             && errno == ERANGE))
    {
        return NULL;
    }

    return json_real(d);
}


static ngx_int_t
ngx_http_zt_json_hex4(u_char *p, u_char *last, uint32_t *u)
{
    u_char      c;
    ngx_uint_t  i;

    if (last - p < 4) {
        return NGX_DECLINED;
    }

    *u = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if (c >= 'a' && c <= 'f') {
            c -= 'a' - 10;

        } else if (c >= 'A' && c <= 'F') {
            c -= 'A' - 10;

        } else {
            return NGX_DECLINED;
        }

        *u = (*u << 4) | c;
    }

    return NGX_OK;
}


/* printable ASCII but the two that JSON escapes: copied as they are */
static u_char  ngx_http_zt_json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};


/*
 * Escapes any bytes as the inside of a JSON string.  Invalid UTF-8 becomes
 * U+FFFD so that every audit line stays valid JSON whatever the input.
 */

size_t
ngx_http_zt_utf8_valid(u_char *p, u_char *last)
{
    size_t    n, i;
    uint32_t  c, min;

    c = *p;

    if (c < 0x80) {
        return 1;

    } else if ((c & 0xe0) == 0xc0) {
        n = 2; c &= 0x1f; min = 0x80;

    } else if ((c & 0xf0) == 0xe0) {
        n = 3; c &= 0x0f; min = 0x800;

    } else if ((c & 0xf8) == 0xf0) {
        n = 4; c &= 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }

    return n;
}


size_t
ngx_http_zt_json_escape_len(u_char *src, size_t len)
{
    size_t   n, size;
    u_char  *last, *run;

    size = 0;
    last = src + len;

    while (src < last) {

        if (ngx_http_zt_json_plain[*src]) {
            run = src;

            while (++src < last && ngx_http_zt_json_plain[*src]) {
                /* void */
            }

            size += src - run;
            continue;
        }

        if (*src == '"' || *src == '\\') {
            size += 2; src++;
            continue;
        }

        if (*src < 0x20 || *src == 0x7f) {
            size += sizeof("\\u0000") - 1; src++;
            continue;
        }

        n = ngx_http_zt_utf8_valid(src, last);

        if (n == 0) {
            size += sizeof("\xef\xbf\xbd") - 1; src++;
            continue;
        }

        size += n;
        src += n;
    }

    return size;
}


u_char *
ngx_http_zt_json_escape(u_char *dst, u_char *src, size_t len)
{
    size_t   n;
    u_char  *last, *run;

    static u_char  hex[] = "0123456789abcdef";

    last = src + len;

    while (src < last) {

        /* most text is plain: a run of it is one copy */

        run = src;

        while (src < last && ngx_http_zt_json_plain[*src]) {
            src++;
        }

        if (src != run) {
            dst = ngx_cpymem(dst, run, src - run);
            continue;
        }

        switch (*src) {
        case '"':
        case '\\':
            *dst++ = '\\';
            *dst++ = *src++;
            continue;
        }

        if (*src < 0x20 || *src == 0x7f) {
            dst = ngx_cpymem(dst, "\\u00", sizeof("\\u00") - 1);
            *dst++ = hex[*src >> 4];
            *dst++ = hex[*src & 0xf];
            src++;
            continue;
        }

        n = ngx_http_zt_utf8_valid(src, last);

        if (n == 0) {
            dst = ngx_cpymem(dst, "\xef\xbf\xbd", sizeof("\xef\xbf\xbd") - 1);
            src++;
            continue;
        }

        dst = ngx_cpymem(dst, src, n);
        src += n;
    }

    return dst;
}


ngx_int_t
ngx_http_zt_json_cleanup_add(ngx_pool_t *pool, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        json_decref(json);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_zt_json_cleanup;
    cln->data = json;

    return NGX_OK;
}


static void
ngx_http_zt_json_cleanup(void *data)
{
    json_decref(data);
}


/*
 * The JSON writer of the audit line, the reviewer API's answers and the
 * Redis notifications.  A text is written twice by the same code: once to
 * count its bytes, once into a buffer of exactly that size.  Members and
 * items get their commas from the writer: a bit per open level says
 * whether the level is still empty.  Level 0 is the text itself, so that
 * members can also be written without braces, as a fragment.
 */

static void ngx_http_zt_json_next(ngx_http_zt_json_out_t *out);
static void ngx_http_zt_json_quoted(ngx_http_zt_json_out_t *out, u_char *s,
    size_t len);


ngx_int_t
ngx_http_zt_json_build(ngx_pool_t *pool, ngx_http_zt_json_write_pt write,
    void *data, ngx_str_t *json)
{
    size_t                  size;
    ngx_http_zt_json_out_t  out;

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


/* '{' or '[' */

void
ngx_http_zt_json_open(ngx_http_zt_json_out_t *out, u_char brace)
{
    ngx_http_zt_json_next(out);
    ngx_http_zt_json_raw(out, &brace, 1);

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

    ngx_http_zt_json_raw(out, &brace, 1);
}


/* "key": */

void
ngx_http_zt_json_key(ngx_http_zt_json_out_t *out, char *key)
{
    ngx_http_zt_json_next(out);
    ngx_http_zt_json_quoted(out, (u_char *) key, ngx_strlen(key));
    ngx_http_zt_json_raw(out, (u_char *) ":", 1);

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
    ngx_http_zt_json_raw(out, s, len);
}


void
ngx_http_zt_json_int(ngx_http_zt_json_out_t *out, int64_t n)
{
    u_char  buf[NGX_INT64_LEN];

    ngx_http_zt_json_text(out, buf, ngx_sprintf(buf, "%L", n) - buf);
}


void
ngx_http_zt_json_bool(ngx_http_zt_json_out_t *out, ngx_uint_t b)
{
    if (b) {
        ngx_http_zt_json_text(out, (u_char *) "true", 4);

    } else {
        ngx_http_zt_json_text(out, (u_char *) "false", 5);
    }
}


/* "key":"value", or "key":null when there is no value */

void
ngx_http_zt_json_member(ngx_http_zt_json_out_t *out, char *key,
    ngx_str_t *value)
{
    ngx_http_zt_json_key(out, key);

    if (value == NULL || value->data == NULL) {
        ngx_http_zt_json_text(out, (u_char *) "null", 4);
        return;
    }

    ngx_http_zt_json_str(out, value->data, value->len);
}


/* an array of ngx_str_t as strings; none is [] */

void
ngx_http_zt_json_strings(ngx_http_zt_json_out_t *out, ngx_array_t *list)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    ngx_http_zt_json_open(out, '[');

    s = list ? list->elts : NULL;

    for (i = 0; list && i < list->nelts; i++) {
        ngx_http_zt_json_str(out, s[i].data, s[i].len);
    }

    ngx_http_zt_json_close(out, ']');
}


/* bytes as they are, with no comma: a newline after the text */

void
ngx_http_zt_json_raw(ngx_http_zt_json_out_t *out, u_char *s, size_t len)
{
    if (out->count) {
        out->size += len;
        return;
    }

    if ((size_t) (out->end - out->pos) < len) {
        out->overflow = 1;
        return;
    }

    out->pos = ngx_cpymem(out->pos, s, len);
}


/* the comma before a member or an item, unless it opens its level */

static void
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

    ngx_http_zt_json_raw(out, (u_char *) ",", 1);
}


static void
ngx_http_zt_json_quoted(ngx_http_zt_json_out_t *out, u_char *s, size_t len)
{
    size_t  n;

    ngx_http_zt_json_raw(out, (u_char *) "\"", 1);

    if (out->count) {
        out->size += ngx_http_zt_json_escape_len(s, len);

    } else {
        /* an escape takes 6 bytes at most: count only when it may not fit */
        n = (size_t) (out->end - out->pos);

        if (n / 6 >= len || n >= ngx_http_zt_json_escape_len(s, len)) {
            out->pos = ngx_http_zt_json_escape(out->pos, s, len);

        } else {
            out->overflow = 1;
        }
    }

    ngx_http_zt_json_raw(out, (u_char *) "\"", 1);
}
