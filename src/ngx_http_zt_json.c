
/*
 * JSON text.  Reading it: one strict pass over the bytes that accepts
 * exactly what jansson accepts (with JSON_DECODE_ANY,
 * JSON_REJECT_DUPLICATES and JSON_ALLOW_NUL), says why it does not, hands
 * every string it meets to its caller unescaped, and the members of an
 * outermost object, and builds the jansson values only for a caller that
 * asks.  Writing it: any bytes escaped as the inside of a JSON string.
 */


#include "ngx_http_zt_inference.h"

#include <math.h>

#if (__SSE2__)
#include <emmintrin.h>
#endif


/* jansson's JSON_PARSER_MAX_DEPTH, which counts every value */
#define NGX_HTTP_ZT_JSON_DEPTH_MAX   2048

#define NGX_HTTP_ZT_JSON_NUMBER_LEN  64

/* members of an object compared one by one; more are sorted at its end */
#define NGX_HTTP_ZT_JSON_NAMES_SCAN  8


typedef struct {
    json_t                     *value;      /* when building */
    ngx_uint_t                  names;      /* its first name in p->names */
    ngx_str_t                   name;       /* of the member being read */
    ngx_uint_t                  object;
} ngx_http_zt_json_frame_t;


typedef struct {
    u_char                     *start;
    u_char                     *pos;
    u_char                     *last;
    u_char                     *buf;        /* unescaped strings */
    u_char                     *buf_pos;
    ngx_http_zt_json_read_t    *rd;
    ngx_array_t                 frames;     /* open objects and arrays */
    ngx_array_t                 names;      /* of the open objects */
    ngx_http_zt_json_member_t   member;     /* of the outermost object */
    ngx_str_t                   string;     /* the last string value read */
    double                      number;     /* the last number read */
    unsigned                    real:1;     /* it was not an integer */
} ngx_http_zt_json_parser_t;


static ngx_int_t ngx_http_zt_json_enter(ngx_http_zt_json_parser_t *jp,
    ngx_uint_t object);
static ngx_int_t ngx_http_zt_json_name(ngx_http_zt_json_parser_t *jp,
    ngx_http_zt_json_frame_t *frame);
static ngx_int_t ngx_http_zt_json_names_sorted(ngx_http_zt_json_parser_t *jp,
    ngx_http_zt_json_frame_t *frame);
static int ngx_libc_cdecl ngx_http_zt_json_names_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_http_zt_json_add(ngx_http_zt_json_parser_t *jp,
    json_t *value);
static ngx_int_t ngx_http_zt_json_root_member(ngx_http_zt_json_parser_t *jp);
static ngx_int_t ngx_http_zt_json_string(ngx_http_zt_json_parser_t *jp,
    ngx_str_t *s, ngx_uint_t *nul);
static ngx_int_t ngx_http_zt_json_number(ngx_http_zt_json_parser_t *jp,
    json_t **value);
static ngx_int_t ngx_http_zt_json_literal(ngx_http_zt_json_parser_t *jp,
    json_t **value);
static ngx_int_t ngx_http_zt_json_hex4(u_char *p, u_char *last,
    uint32_t *u);
static ngx_int_t ngx_http_zt_json_fail(ngx_http_zt_json_parser_t *jp,
    u_char *at, ngx_uint_t kind, char *why);
static void ngx_http_zt_json_cleanup(void *data);


#define ngx_http_zt_json_ws(jp)                                              \
    while (jp->pos < jp->last                                                \
           && (*jp->pos == ' ' || *jp->pos == '\n' || *jp->pos == '\r'        \
               || *jp->pos == '\t'))                                         \
    {                                                                        \
        jp->pos++;                                                           \
    }


/*
 * Eight bytes at a time, any that a string cannot simply copy: a quote,
 * a backslash, a control character, or a byte of a UTF-8 sequence.
 */

#define NGX_HTTP_ZT_JSON_ONES  0x0101010101010101ULL
#define NGX_HTTP_ZT_JSON_HIGH  0x8080808080808080ULL

#define ngx_http_zt_json_zero(v)                                             \
    (((v) - NGX_HTTP_ZT_JSON_ONES) & ~(v))

#define ngx_http_zt_json_special(v)                                          \
    (((v) | ngx_http_zt_json_zero((v) ^ (NGX_HTTP_ZT_JSON_ONES * '"'))       \
      | ngx_http_zt_json_zero((v) ^ (NGX_HTTP_ZT_JSON_ONES * '\\'))          \
      | (((v) - NGX_HTTP_ZT_JSON_ONES * 0x20) & ~(v)))                       \
     & NGX_HTTP_ZT_JSON_HIGH)

/* the same, and DEL: any byte that escaping does not copy as it is */

#define ngx_http_zt_json_escaped(v)                                          \
    (ngx_http_zt_json_special(v)                                             \
     | (ngx_http_zt_json_zero((v) ^ (NGX_HTTP_ZT_JSON_ONES * 0x7f))          \
        & NGX_HTTP_ZT_JSON_HIGH))


/*
 * Reads data as one JSON text.  NGX_OK: it is one (rd->root holds its
 * values when rd->build is set; rd->strings, when set, got every member
 * name and string value, unescaped, in document order; rd->members, when
 * set, got the members of the text if it is an object, in order; rd->nul
 * tells whether a string value holds "\u0000", which jansson refuses
 * without JSON_ALLOW_NUL; rd->bytes counts the bytes of the string values,
 * unescaped, as json_string_length() would for each).  NGX_DECLINED: it
 * is not, rd->kind, rd->why and rd->offset say why and where.  NGX_ERROR:
 * no memory.
 *
 * Unescaped strings live in the pool for as long as it does: they are
 * data itself when they have no escapes, else copies in one buffer that
 * never outgrows data (an escape is never shorter than what it stands
 * for).
 */

ngx_int_t
ngx_http_zt_json_read(ngx_http_zt_json_read_t *rd, u_char *data, size_t len)
{
    json_t                     *v;
    ngx_int_t                   rc;
    ngx_str_t                   s, *str;
    ngx_uint_t                  i, nul;
    ngx_http_zt_json_frame_t   *frame;
    ngx_http_zt_json_parser_t   parser, *jp;

    jp = &parser;

    ngx_memzero(jp, sizeof(ngx_http_zt_json_parser_t));

    jp->start = data;
    jp->pos = data;
    jp->last = data + len;
    jp->rd = rd;

    rd->root = NULL;
    rd->bytes = 0;
    rd->kind = NGX_HTTP_ZT_JSON_VALID;
    rd->why = NULL;
    rd->offset = 0;
    rd->object = 0;
    rd->nul = 0;

    if (ngx_array_init(&jp->frames, rd->pool, 8,
                       sizeof(ngx_http_zt_json_frame_t))
        != NGX_OK
        || ngx_array_init(&jp->names, rd->pool, 16, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

value:

    ngx_http_zt_json_ws(jp);

    if (jp->pos == jp->last) {
        rc = ngx_http_zt_json_fail(jp, jp->pos, NGX_HTTP_ZT_JSON_SYNTAX,
                                   "premature end");
        goto failed;
    }

    /* jansson counts the values a value is nested in, itself included */

    if (jp->frames.nelts >= NGX_HTTP_ZT_JSON_DEPTH_MAX) {
        rc = ngx_http_zt_json_fail(jp, jp->pos, NGX_HTTP_ZT_JSON_SYNTAX,
                                   "nested too deep");
        goto failed;
    }

    v = NULL;

    if (jp->frames.nelts == 0) {
        rd->object = (*jp->pos == '{');

    } else if (rd->members && rd->object) {

        /* a member of the outermost object begins, or something in it */

        if (jp->frames.nelts == 1) {
            jp->member.value.data = jp->pos;
            jp->member.strings = rd->strings ? rd->strings->nelts : 0;
            jp->member.nested = 0;

        } else if (jp->frames.nelts == 2
                   && (*jp->pos == '{' || *jp->pos == '['))
        {
            jp->member.nested = 1;
        }
    }

    switch (*jp->pos) {

    case '{':
    case '[':
        rc = ngx_http_zt_json_enter(jp, *jp->pos == '{');
        if (rc != NGX_OK) {
            goto failed;
        }

        frame = (ngx_http_zt_json_frame_t *) jp->frames.elts
                + jp->frames.nelts - 1;

        ngx_http_zt_json_ws(jp);

        if (jp->pos < jp->last && *jp->pos == (frame->object ? '}' : ']')) {
            jp->pos++;
            goto close;
        }

        if (frame->object) {
            goto member;
        }

        goto value;

    case '"':
        rc = ngx_http_zt_json_string(jp, &s, &nul);
        if (rc != NGX_OK) {
            goto failed;
        }

        if (nul) {
            rd->nul = 1;
        }

        jp->string = s;
        rd->bytes += s.len;

        if (rd->strings) {
            str = ngx_array_push(rd->strings);
            if (str == NULL) {
                rc = NGX_ERROR;
                goto failed;
            }

            *str = s;
        }

        if (rd->build) {
            v = json_stringn_nocheck((const char *) s.data, s.len);
            if (v == NULL) {
                rc = NGX_ERROR;
                goto failed;
            }
        }

        break;

    case 't':
    case 'f':
    case 'n':
        rc = ngx_http_zt_json_literal(jp, &v);
        if (rc != NGX_OK) {
            goto failed;
        }

        break;

    default:
        rc = ngx_http_zt_json_number(jp, &v);
        if (rc != NGX_OK) {
            goto failed;
        }

        break;
    }

added:

    /* v, a whole value, goes to the object or array it is in, if any */

    if (jp->frames.nelts == 0) {
        ngx_http_zt_json_ws(jp);

        if (jp->pos != jp->last) {
            if (v) {
                json_decref(v);
            }

            rc = ngx_http_zt_json_fail(jp, jp->pos, NGX_HTTP_ZT_JSON_SYNTAX,
                                       "more after the value");
            goto failed;
        }

        rd->root = v;

        return NGX_OK;
    }

    if (jp->frames.nelts == 1 && rd->members && rd->object) {
        rc = ngx_http_zt_json_root_member(jp);
        if (rc != NGX_OK) {
            if (v) {
                json_decref(v);
            }

            goto failed;
        }
    }

    rc = ngx_http_zt_json_add(jp, v);
    if (rc != NGX_OK) {
        goto failed;
    }

    frame = (ngx_http_zt_json_frame_t *) jp->frames.elts
            + jp->frames.nelts - 1;

    ngx_http_zt_json_ws(jp);

    if (jp->pos == jp->last) {
        rc = ngx_http_zt_json_fail(jp, jp->pos, NGX_HTTP_ZT_JSON_SYNTAX,
                                   "premature end");
        goto failed;
    }

    if (*jp->pos == ',') {
        jp->pos++;

        if (frame->object) {
            goto member;
        }

        goto value;
    }

    if (*jp->pos != (frame->object ? '}' : ']')) {
        rc = ngx_http_zt_json_fail(jp, jp->pos, NGX_HTTP_ZT_JSON_SYNTAX,
                                   frame->object ? "\",\" or \"}\" expected"
                                                 : "\",\" or \"]\" expected");
        goto failed;
    }

    jp->pos++;

close:

    frame = (ngx_http_zt_json_frame_t *) jp->frames.elts
            + jp->frames.nelts - 1;

    if (frame->object) {
        rc = ngx_http_zt_json_names_sorted(jp, frame);
        if (rc != NGX_OK) {
            goto failed;
        }

        jp->names.nelts = frame->names;
    }

    v = frame->value;
    jp->frames.nelts--;

    goto added;

member:

    frame = (ngx_http_zt_json_frame_t *) jp->frames.elts
            + jp->frames.nelts - 1;

    rc = ngx_http_zt_json_name(jp, frame);
    if (rc != NGX_OK) {
        goto failed;
    }

    goto value;

failed:

    /* each open object or array owns what was added to it */

    frame = jp->frames.elts;

    for (i = 0; i < jp->frames.nelts; i++) {
        if (frame[i].value) {
            json_decref(frame[i].value);
        }
    }

    return rc;
}


/*
 * data read as json_loadb() reads it with JSON_REJECT_DUPLICATES alone:
 * an object or an array, no string holding "\u0000".  NULL: it is not
 * (rd->why says why) or memory ran out (rd->why is NULL).  The value is
 * the caller's to release.
 */

json_t *
ngx_http_zt_json_load(ngx_http_zt_json_read_t *rd, u_char *data, size_t len)
{
    rd->build = 1;

    if (ngx_http_zt_json_read(rd, data, len) != NGX_OK) {
        return NULL;
    }

    if (rd->nul) {
        rd->kind = NGX_HTTP_ZT_JSON_ENCODING;
        rd->why = "\"\\u0000\" in a string";

    } else if (!json_is_object(rd->root) && !json_is_array(rd->root)) {
        rd->kind = NGX_HTTP_ZT_JSON_SYNTAX;
        rd->why = "not an object or an array";

    } else {
        return rd->root;
    }

    json_decref(rd->root);
    rd->root = NULL;

    return NULL;
}


static ngx_int_t
ngx_http_zt_json_enter(ngx_http_zt_json_parser_t *jp, ngx_uint_t object)
{
    ngx_http_zt_json_frame_t  *frame;

    frame = ngx_array_push(&jp->frames);
    if (frame == NULL) {
        return NGX_ERROR;
    }

    frame->object = object;
    frame->names = jp->names.nelts;
    frame->value = NULL;

    jp->pos++;

    if (jp->rd->build) {
        frame->value = object ? json_object() : json_array();

        if (frame->value == NULL) {
            jp->frames.nelts--;
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A member name, its colon, and whether the object has it already: names
 * are compared after unescaping, so "a" and "\u0061" are the same name, as
 * they are to jansson and to any reader of the document.
 */

static ngx_int_t
ngx_http_zt_json_name(ngx_http_zt_json_parser_t *jp,
    ngx_http_zt_json_frame_t *frame)
{
    u_char      *at;
    ngx_int_t    rc;
    ngx_str_t    s, *name, *str;
    ngx_uint_t   i, n, nul;

    ngx_http_zt_json_ws(jp);

    at = jp->pos;

    if (jp->pos == jp->last || *jp->pos != '"') {
        return ngx_http_zt_json_fail(jp, jp->pos, NGX_HTTP_ZT_JSON_SYNTAX,
                                     (jp->pos == jp->last)
                                     ? "premature end"
                                     : "a member name expected");
    }

    rc = ngx_http_zt_json_string(jp, &s, &nul);
    if (rc != NGX_OK) {
        return rc;
    }

    if (nul) {
        return ngx_http_zt_json_fail(jp, at, NGX_HTTP_ZT_JSON_SYNTAX,
                                     "\"\\u0000\" in a member name");
    }

    name = jp->names.elts;
    n = jp->names.nelts - frame->names;

    if (n < NGX_HTTP_ZT_JSON_NAMES_SCAN) {
        for (i = frame->names; i < jp->names.nelts; i++) {
            if (name[i].len == s.len
                && ngx_memcmp(name[i].data, s.data, s.len) == 0)
            {
                return ngx_http_zt_json_fail(jp, at,
                                             NGX_HTTP_ZT_JSON_DUPLICATE,
                                             "duplicate member name");
            }
        }
    }

    name = ngx_array_push(&jp->names);
    if (name == NULL) {
        return NGX_ERROR;
    }

    *name = s;
    frame->name = s;

    if (jp->rd->strings) {
        str = ngx_array_push(jp->rd->strings);
        if (str == NULL) {
            return NGX_ERROR;
        }

        *str = s;
    }

    ngx_http_zt_json_ws(jp);

    if (jp->pos == jp->last || *jp->pos != ':') {
        return ngx_http_zt_json_fail(jp, jp->pos, NGX_HTTP_ZT_JSON_SYNTAX,
                                     (jp->pos == jp->last)
                                     ? "premature end" : "\":\" expected");
    }

    jp->pos++;

    return NGX_OK;
}


/*
 * The names of an object with more members than are compared one by one,
 * sorted once it ends: a duplicate is then next to its twin.
 */

static ngx_int_t
ngx_http_zt_json_names_sorted(ngx_http_zt_json_parser_t *jp,
    ngx_http_zt_json_frame_t *frame)
{
    ngx_str_t   *name;
    ngx_uint_t   i, n;

    n = jp->names.nelts - frame->names;

    if (n <= NGX_HTTP_ZT_JSON_NAMES_SCAN) {
        return NGX_OK;
    }

    name = (ngx_str_t *) jp->names.elts + frame->names;

    qsort(name, n, sizeof(ngx_str_t), ngx_http_zt_json_names_cmp);

    for (i = 1; i < n; i++) {
        if (ngx_http_zt_json_names_cmp(&name[i - 1], &name[i]) == 0) {
            return ngx_http_zt_json_fail(jp, jp->pos - 1,
                                         NGX_HTTP_ZT_JSON_DUPLICATE,
                                         "duplicate member name");
        }
    }

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_zt_json_names_cmp(const void *one, const void *two)
{
    ngx_str_t  *a, *b;

    a = (ngx_str_t *) one;
    b = (ngx_str_t *) two;

    if (a->len != b->len) {
        return (a->len < b->len) ? -1 : 1;
    }

    return ngx_memcmp(a->data, b->data, a->len);
}


static ngx_int_t
ngx_http_zt_json_add(ngx_http_zt_json_parser_t *jp, json_t *value)
{
    ngx_http_zt_json_frame_t  *frame;

    if (!jp->rd->build) {
        return NGX_OK;
    }

    frame = (ngx_http_zt_json_frame_t *) jp->frames.elts
            + jp->frames.nelts - 1;

    if (frame->object) {
        if (json_object_setn_new_nocheck(frame->value,
                                         (const char *) frame->name.data,
                                         frame->name.len, value)
            != 0)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (json_array_append_new(frame->value, value) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A value of the outermost object is read whole: its member, with what
 * its first byte and the reading of it tell.
 */

static ngx_int_t
ngx_http_zt_json_root_member(ngx_http_zt_json_parser_t *jp)
{
    ngx_http_zt_json_frame_t   *frame;
    ngx_http_zt_json_member_t  *m;

    m = ngx_array_push(jp->rd->members);
    if (m == NULL) {
        return NGX_ERROR;
    }

    frame = jp->frames.elts;

    *m = jp->member;
    m->name = frame->name;
    m->number = 0;
    m->nstrings = jp->rd->strings ? jp->rd->strings->nelts - m->strings : 0;

    switch (*m->value.data) {

    case '"':
        m->type = JSON_STRING;
        m->value = jp->string;
        return NGX_OK;

    case '{':
        m->type = JSON_OBJECT;
        break;

    case '[':
        m->type = JSON_ARRAY;
        break;

    case 't':
        m->type = JSON_TRUE;
        break;

    case 'f':
        m->type = JSON_FALSE;
        break;

    case 'n':
        m->type = JSON_NULL;
        break;

    default:
        m->type = jp->real ? JSON_REAL : JSON_INTEGER;
        m->number = jp->number;
        break;
    }

    m->value.len = jp->pos - m->value.data;

    return NGX_OK;
}


/*
 * The string at jp->pos (its opening quote), unescaped into s; *nul tells
 * whether it holds a "\u0000".
 */

static ngx_int_t
ngx_http_zt_json_string(ngx_http_zt_json_parser_t *jp, ngx_str_t *s,
    ngx_uint_t *nul)
{
    u_char    *p, *last, *start, *d, *esc;
    size_t     n;
    uint32_t   u, lo;
    uint64_t   w;
#if (__SSE2__)
    int        bits;
    __m128i    v, m;
#endif

    p = jp->pos + 1;
    last = jp->last;
    start = p;
    d = NULL;
    *nul = 0;

    for ( ;; ) {

#if (__SSE2__)

        /*
         * Sixteen bytes at a time up to the first that is not plain
         * ASCII: compared as signed bytes, a control character and a byte
         * of a UTF-8 sequence are both below 0x20.
         */

        while (last - p >= 16) {
            v = _mm_loadu_si128((const __m128i *) p);
            m = _mm_or_si128(_mm_or_si128(
                                 _mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                 _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                             _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            bits = _mm_movemask_epi8(m);

            if (bits) {
                n = __builtin_ctz(bits);

                if (d) {
                    d = ngx_cpymem(d, p, n);
                }

                p += n;
                break;
            }

            if (d) {
                _mm_storeu_si128((__m128i *) d, v);
                d += 16;
            }

            p += 16;
        }

#endif

        /* most text is plain ASCII: skip it, or copy it, a word at a time */

        while (last - p >= 8) {
            ngx_memcpy(&w, p, 8);

            if (ngx_http_zt_json_special(w)) {
                break;
            }

            if (d) {
                ngx_memcpy(d, p, 8);
                d += 8;
            }

            p += 8;
        }

        if (p == last) {
            return ngx_http_zt_json_fail(jp, p, NGX_HTTP_ZT_JSON_SYNTAX,
                                         "unterminated string");
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

        if (*p >= 0x80) {
            n = ngx_http_zt_utf8_valid(p, last);

            if (n == 0) {
                return ngx_http_zt_json_fail(jp, p,
                                             NGX_HTTP_ZT_JSON_ENCODING,
                                             "invalid UTF-8");
            }

            if (d) {
                d = ngx_cpymem(d, p, n);
            }

            p += n;
            continue;
        }

        if (*p < 0x20) {
            return ngx_http_zt_json_fail(jp, p, NGX_HTTP_ZT_JSON_SYNTAX,
                                         "control character in a string");
        }

        /* a backslash */

        esc = p;

        if (d == NULL) {
            if (jp->buf == NULL) {
                jp->buf = ngx_pnalloc(jp->rd->pool, last - jp->pos);
                if (jp->buf == NULL) {
                    return NGX_ERROR;
                }

                jp->buf_pos = jp->buf;
            }

            d = ngx_cpymem(jp->buf_pos, start, p - start);
        }

        if (++p == last) {
            return ngx_http_zt_json_fail(jp, p, NGX_HTTP_ZT_JSON_SYNTAX,
                                         "unterminated string");
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
            return ngx_http_zt_json_fail(jp, esc, NGX_HTTP_ZT_JSON_SYNTAX,
                                         "invalid escape");
        }

        if (ngx_http_zt_json_hex4(p, last, &u) != NGX_OK) {
            return ngx_http_zt_json_fail(jp, esc, NGX_HTTP_ZT_JSON_SYNTAX,
                                         "invalid escape");
        }

        p += 4;

        if (u >= 0xd800 && u <= 0xdbff) {

            /* a high surrogate: a low one must follow */

            if (last - p < 6 || p[0] != '\\' || p[1] != 'u'
                || ngx_http_zt_json_hex4(p + 2, last, &lo) != NGX_OK
                || lo < 0xdc00 || lo > 0xdfff)
            {
                return ngx_http_zt_json_fail(jp, esc,
                                             NGX_HTTP_ZT_JSON_ENCODING,
                                             "lone surrogate");
            }

            p += 6;
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);

        } else if (u >= 0xdc00 && u <= 0xdfff) {
            return ngx_http_zt_json_fail(jp, esc, NGX_HTTP_ZT_JSON_ENCODING,
                                         "lone surrogate");
        }

        if (u < 0x80) {
            *d++ = (u_char) u;

            if (u == 0) {
                *nul = 1;
            }

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
        s->data = jp->buf_pos;
        s->len = d - jp->buf_pos;
        jp->buf_pos = d;

    } else {
        s->data = start;
        s->len = p - start;
    }

    jp->pos = p + 1;

    return NGX_OK;
}


/*
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, read as jansson reads
 * it: without a fraction or an exponent an integer, refused beyond
 * json_int_t; else a double from strtod(), refused when it overflows.
 */

static ngx_int_t
ngx_http_zt_json_number(ngx_http_zt_json_parser_t *jp, json_t **value)
{
    char        buf[NGX_HTTP_ZT_JSON_NUMBER_LEN], *text, *end;
    u_char     *p, *last, *start;
    double      d;
    size_t      len;
    json_int_t  i;
    ngx_uint_t  real;

    p = jp->pos;
    last = jp->last;
    start = p;
    real = 0;

    if (p < last && *p == '-') {
        p++;
    }

    if (p == last || *p < '0' || *p > '9') {
        return ngx_http_zt_json_fail(jp, start, NGX_HTTP_ZT_JSON_SYNTAX,
                                     "invalid value");
    }

    if (*p++ == '0') {
        if (p < last && *p >= '0' && *p <= '9') {
            return ngx_http_zt_json_fail(jp, start, NGX_HTTP_ZT_JSON_SYNTAX,
                                         "invalid number");
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
            return ngx_http_zt_json_fail(jp, start, NGX_HTTP_ZT_JSON_SYNTAX,
                                         "invalid number");
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
            return ngx_http_zt_json_fail(jp, start, NGX_HTTP_ZT_JSON_SYNTAX,
                                         "invalid number");
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    /* strtoll() and strtod() want a terminated copy */

    len = p - start;

    if (len < NGX_HTTP_ZT_JSON_NUMBER_LEN) {
        text = buf;

    } else {
        text = ngx_pnalloc(jp->rd->pool, len + 1);
        if (text == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_memcpy(text, start, len);
    text[len] = '\0';

    errno = 0;

    if (!real) {
#if JSON_INTEGER_IS_LONG_LONG
        i = strtoll(text, &end, 10);
#else
        i = strtol(text, &end, 10);
#endif

        if (errno == ERANGE || end != text + len) {
            return ngx_http_zt_json_fail(jp, start, NGX_HTTP_ZT_JSON_NUMBER,
                                         "integer out of range");
        }

        jp->pos = p;
        jp->number = (double) i;
        jp->real = 0;

        if (jp->rd->build) {
            *value = json_integer(i);
            return (*value == NULL) ? NGX_ERROR : NGX_OK;
        }

        return NGX_OK;
    }

    d = strtod(text, &end);

    if (end != text + len
        || ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE))
    {
        return ngx_http_zt_json_fail(jp, start, NGX_HTTP_ZT_JSON_NUMBER,
                                     "number out of range");
    }

    jp->pos = p;
    jp->number = d;
    jp->real = 1;

    if (jp->rd->build) {
        *value = json_real(d);
        return (*value == NULL) ? NGX_ERROR : NGX_OK;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_json_literal(ngx_http_zt_json_parser_t *jp, json_t **value)
{
    size_t   n;
    json_t  *v;

    n = jp->last - jp->pos;

    if (n >= 4 && ngx_strncmp(jp->pos, "true", 4) == 0) {
        n = 4;
        v = json_true();

    } else if (n >= 5 && ngx_strncmp(jp->pos, "false", 5) == 0) {
        n = 5;
        v = json_false();

    } else if (n >= 4 && ngx_strncmp(jp->pos, "null", 4) == 0) {
        n = 4;
        v = json_null();

    } else {
        return ngx_http_zt_json_fail(jp, jp->pos, NGX_HTTP_ZT_JSON_SYNTAX,
                                     "invalid value");
    }

    jp->pos += n;

    if (jp->rd->build) {
        *value = v;
    }

    return NGX_OK;
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


/*
 * Where the syntax fails on a NUL or on bytes that are not UTF-8, the
 * text is more likely in another encoding (UTF-16, Latin-1): say so.
 */

static ngx_int_t
ngx_http_zt_json_fail(ngx_http_zt_json_parser_t *jp, u_char *at,
    ngx_uint_t kind, char *why)
{
    if (at < jp->last && kind == NGX_HTTP_ZT_JSON_SYNTAX) {
        if (*at == '\0') {
            kind = NGX_HTTP_ZT_JSON_ENCODING;
            why = "NUL byte";

        } else if (*at >= 0x80 && ngx_http_zt_utf8_valid(at, jp->last) == 0) {
            kind = NGX_HTTP_ZT_JSON_ENCODING;
            why = "invalid UTF-8";
        }
    }

    jp->rd->kind = kind;
    jp->rd->why = why;
    jp->rd->offset = at - jp->start;

    return NGX_DECLINED;
}


/*
 * The first byte from p on that is a NUL or not part of valid UTF-8, or
 * last: text a reader could take for UTF-16 or for another charset.
 */

u_char *
ngx_http_zt_utf8_text(u_char *p, u_char *last)
{
    size_t    n;
    uint64_t  w;

    while (p < last) {

        while (last - p >= 8) {
            ngx_memcpy(&w, p, 8);

            if ((w | ngx_http_zt_json_zero(w)) & NGX_HTTP_ZT_JSON_HIGH) {
                break;
            }

            p += 8;
        }

        if (p == last) {
            break;
        }

        if (*p == '\0') {
            return p;
        }

        if (*p < 0x80) {
            p++;
            continue;
        }

        n = ngx_http_zt_utf8_valid(p, last);

        if (n == 0) {
            return p;
        }

        p += n;
    }

    return last;
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
    size_t    n, size;
    u_char   *last, *run;
    uint64_t  w;

    size = 0;
    last = src + len;

    while (src < last) {

        run = src;

        while (last - src >= 8) {
            ngx_memcpy(&w, src, 8);

            if (ngx_http_zt_json_escaped(w)) {
                break;
            }

            src += 8;
        }

        size += src - run;

        if (src == last) {
            break;
        }

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
    size_t    n;
    u_char   *last;
    uint64_t  w;

    static u_char  hex[] = "0123456789abcdef";

    last = src + len;

    while (src < last) {

        /*
         * Most text is plain: copied a word at a time, and byte by byte
         * up to what needs escaping; no call for a short string.
         */

        while (last - src >= 8) {
            ngx_memcpy(&w, src, 8);

            if (ngx_http_zt_json_escaped(w)) {
                break;
            }

            ngx_memcpy(dst, &w, 8);
            dst += 8;
            src += 8;
        }

        while (src < last && ngx_http_zt_json_plain[*src]) {
            *dst++ = *src++;
        }

        if (src == last) {
            break;
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
