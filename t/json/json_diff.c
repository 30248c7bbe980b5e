
/*
 * The strict JSON reader (src/ngx_http_zt_json.c) against jansson, the
 * reference it claims to equal: json_loadb() with JSON_DECODE_ANY,
 * JSON_REJECT_DUPLICATES and JSON_ALLOW_NUL.  For every input both must
 * accept or both refuse; when both accept, the values built must print
 * the same, and the strings handed out (member names and string values,
 * unescaped, in document order) must be those of jansson's document.
 *
 * The members of an outermost object (rd->members) must be jansson's, in
 * its order: the same names, types, string values and numbers, texts that
 * jansson reads back to the same value, the strings within each, and
 * "nested" exactly when a member holds an object or an array.  rd->bytes
 * must be the sum of json_string_length() over jansson's string values
 * (what a usage limit counts of a prompt), whatever else is wanted.  rd->nul
 * must tell exactly when jansson, without JSON_ALLOW_NUL, refuses a text
 * both accept (as it does for the tokens' header and payload).
 *
 * ngx_http_zt_json_load() must read as json_loadb() with
 * JSON_REJECT_DUPLICATES alone reads (jansson's NUL quirk below aside).
 *
 * Inputs: a hand-written corpus (escapes, surrogates, huge numbers, deep
 * nesting, duplicates, NUL, invalid UTF-8, BOMs, UTF-16), random valid
 * documents, and random mutations of both, from a fixed seed.
 *
 *   json-diff [ITERATIONS]      (default 200000; exit 1 on a difference)
 *
 * It links the reader alone: the few pool and array functions of nginx
 * it calls are stood in for below, with plain malloc(), so that ASan sees
 * every byte read past an input.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_zt_inference.h"

#include <stdio.h>


/* ---- the nginx functions the reader calls ---- */

typedef struct block_s  block_t;

struct block_s {
    block_t  *next;
};

static block_t  *blocks;


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    block_t  *b;

    b = malloc(sizeof(block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = blocks;
    blocks = b;

    return (u_char *) b + sizeof(block_t);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_palloc(pool, size);
    if (p) {
        memset(p, 0, size);
    }

    return p;
}


ngx_pool_cleanup_t *
ngx_pool_cleanup_add(ngx_pool_t *p, size_t size)
{
    ngx_pool_cleanup_t  *c;

    c = ngx_pcalloc(p, sizeof(ngx_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }

    c->next = p->cleanup;
    p->cleanup = c;

    return c;
}


ngx_array_t *
ngx_array_create(ngx_pool_t *p, ngx_uint_t n, size_t size)
{
    ngx_array_t  *a;

    a = ngx_palloc(p, sizeof(ngx_array_t));
    if (a == NULL || ngx_array_init(a, p, n, size) != NGX_OK) {
        return NULL;
    }

    return a;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *n;

    if (a->nelts == a->nalloc) {
        n = ngx_palloc(a->pool, 2 * a->nalloc * a->size);
        if (n == NULL) {
            return NULL;
        }

        memcpy(n, a->elts, a->nelts * a->size);
        a->elts = n;
        a->nalloc *= 2;
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


static void
pool_reset(ngx_pool_t *pool)
{
    block_t             *b;
    ngx_pool_cleanup_t  *c;

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }

    pool->cleanup = NULL;

    while (blocks) {
        b = blocks;
        blocks = b->next;
        free(b);
    }
}


/* ---- comparing ---- */

static ngx_pool_t   pool;
static unsigned     inputs, accepted, refused, quirks, differ;

#define FLAGS  (JSON_DECODE_ANY|JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL)


static void
show(const char *what, const u_char *data, size_t len)
{
    size_t  i;

    fprintf(stderr, "json-diff: %s: \"", what);

    for (i = 0; i < len && i < 400; i++) {
        if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '\\'
            && data[i] != '"')
        {
            fputc(data[i], stderr);

        } else {
            fprintf(stderr, "\\x%02x", data[i]);
        }
    }

    fprintf(stderr, "%s\" (%zu bytes)\n", i < len ? "..." : "", len);
}


/* jansson's strings in document order: a name, then what it names */

static void
ref_strings(json_t *v, ngx_array_t *out)
{
    size_t       i, klen;
    json_t      *e;
    ngx_str_t   *s;
    const char  *key;

    switch (json_typeof(v)) {

    case JSON_STRING:
        s = ngx_array_push(out);
        s->data = (u_char *) json_string_value(v);
        s->len = json_string_length(v);
        break;

    case JSON_OBJECT:
        json_object_keylen_foreach(v, key, klen, e) {
            s = ngx_array_push(out);
            s->data = (u_char *) key;
            s->len = klen;
            ref_strings(e, out);
        }
        break;

    case JSON_ARRAY:
        json_array_foreach(v, i, e) {
            ref_strings(e, out);
        }
        break;

    default:
        break;
    }
}


/* the bytes of jansson's string values, names left out (rd->bytes) */

static size_t
ref_string_bytes(json_t *v)
{
    size_t       i, n;
    json_t      *e;
    const char  *key;

    switch (json_typeof(v)) {

    case JSON_STRING:
        return json_string_length(v);

    case JSON_OBJECT:
        n = 0;
        json_object_foreach(v, key, e) {
            n += ref_string_bytes(e);
        }
        return n;

    case JSON_ARRAY:
        n = 0;
        json_array_foreach(v, i, e) {
            n += ref_string_bytes(e);
        }
        return n;

    default:
        return 0;
    }
}


static int same_text(json_t *a, json_t *b);


/* whether a value holds an object or an array */

static int
ref_nested(json_t *v)
{
    size_t       i;
    json_t      *e;
    const char  *key;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            if (json_is_array(e) || json_is_object(e)) {
                return 1;
            }
        }

    } else if (json_is_object(v)) {
        json_object_foreach(v, key, e) {
            if (json_is_array(e) || json_is_object(e)) {
                return 1;
            }
        }
    }

    return 0;
}


/* rd's members against jansson's object, one by one */

static int
same_members(json_t *ref, ngx_http_zt_json_read_t *rd,
    ngx_http_zt_json_read_t *bare)
{
    size_t                      klen, i, n;
    json_t                     *v, *back;
    ngx_str_t                  *mine, *want;
    ngx_uint_t                  k;
    const char                 *key;
    ngx_array_t                *theirs;
    ngx_http_zt_json_member_t  *m, *b;

    if (rd->object != (json_is_object(ref) != 0)
        || bare->object != rd->object)
    {
        fprintf(stderr, "json-diff: the reader says %s object\n",
                rd->object ? "an" : "no");
        return 0;
    }

    if (!json_is_object(ref)) {
        if (rd->members->nelts || bare->members->nelts) {
            fprintf(stderr, "json-diff: members of no object\n");
            return 0;
        }

        return 1;
    }

    if (rd->members->nelts != json_object_size(ref)
        || bare->members->nelts != rd->members->nelts)
    {
        fprintf(stderr, "json-diff: %u and %u members, jansson has %u\n",
                (unsigned) rd->members->nelts,
                (unsigned) bare->members->nelts,
                (unsigned) json_object_size(ref));
        return 0;
    }

    m = rd->members->elts;
    b = bare->members->elts;
    mine = rd->strings->elts;
    k = 0;

    json_object_keylen_foreach(ref, key, klen, v) {

        if (m[k].name.len != klen
            || memcmp(m[k].name.data, key, klen) != 0)
        {
            show("member", m[k].name.data, m[k].name.len);
            show("jansson's", (u_char *) key, klen);
            return 0;
        }

        if ((json_type) m[k].type != json_typeof(v)) {
            fprintf(stderr, "json-diff: member of type %d, jansson's %d\n",
                    (int) m[k].type, (int) json_typeof(v));
            show("member", m[k].name.data, m[k].name.len);
            return 0;
        }

        if (json_is_string(v)
            && (m[k].value.len != json_string_length(v)
                || memcmp(m[k].value.data, json_string_value(v),
                          m[k].value.len) != 0))
        {
            show("value", m[k].value.data, m[k].value.len);
            return 0;
        }

        if (json_is_number(v) && m[k].number != json_number_value(v)) {
            fprintf(stderr, "json-diff: number %.17g, jansson's %.17g\n",
                    m[k].number, json_number_value(v));
            return 0;
        }

        if (!json_is_string(v)) {
            back = json_loadb((const char *) m[k].value.data,
                              m[k].value.len, FLAGS, NULL);

            if (back == NULL || !same_text(v, back)) {
                show("member's text", m[k].value.data, m[k].value.len);
                if (back) {
                    json_decref(back);
                }
                return 0;
            }

            json_decref(back);
        }

        if (m[k].nested != ref_nested(v)) {
            fprintf(stderr, "json-diff: nested %u, jansson's %d\n",
                    (unsigned) m[k].nested, ref_nested(v));
            show("member", m[k].name.data, m[k].name.len);
            return 0;
        }

        theirs = ngx_array_create(&pool, 4, sizeof(ngx_str_t));
        ref_strings(v, theirs);
        want = theirs->elts;
        n = theirs->nelts;

        if (m[k].nstrings != n || m[k].strings + n > rd->strings->nelts) {
            fprintf(stderr, "json-diff: %u strings in a member, jansson "
                    "has %u\n", (unsigned) m[k].nstrings, (unsigned) n);
            return 0;
        }

        for (i = 0; i < n; i++) {
            if (mine[m[k].strings + i].len != want[i].len
                || memcmp(mine[m[k].strings + i].data, want[i].data,
                          want[i].len) != 0)
            {
                show("string in a member", mine[m[k].strings + i].data,
                     mine[m[k].strings + i].len);
                return 0;
            }
        }

        /* without strings wanted, the same members */

        if (b[k].type != m[k].type || b[k].nested != m[k].nested
            || b[k].name.len != m[k].name.len
            || memcmp(b[k].name.data, m[k].name.data, m[k].name.len) != 0
            || b[k].value.len != m[k].value.len
            || memcmp(b[k].value.data, m[k].value.data, m[k].value.len)
               != 0
            || b[k].number != m[k].number)
        {
            show("member read bare", b[k].name.data, b[k].name.len);
            return 0;
        }

        k++;
    }

    return 1;
}


static int
same_text(json_t *a, json_t *b)
{
    int    same;
    char  *x, *y;

    x = json_dumps(a, JSON_ENCODE_ANY|JSON_COMPACT);
    y = json_dumps(b, JSON_ENCODE_ANY|JSON_COMPACT);

    same = x && y && strcmp(x, y) == 0;

    if (!same) {
        fprintf(stderr, "json-diff: jansson built %s\n", x ? x : "(null)");
        fprintf(stderr, "json-diff: the reader built %s\n", y ? y : "(null)");
    }

    free(x);
    free(y);

    return same;
}


/*
 * jansson's one known leniency: a NUL byte right after a number or a
 * literal is lost when its lexer puts the byte back ("[1\0]" reads as
 * [1]), since its stream takes a NUL for "nothing buffered".  RFC 8259
 * has no NUL outside strings, so the reader refuses these; such an input
 * counts as this quirk, not as a difference, only when jansson's document
 * is what both read once the NULs are gone.
 */

static int
nul_dropped(const u_char *data, size_t len, json_t *ref)
{
    int                       same;
    u_char                   *bare;
    size_t                    i, n;
    json_t                   *stripped;
    ngx_int_t                 rc;
    ngx_http_zt_json_read_t   rd;

    if (memchr(data, '\0', len) == NULL) {
        return 0;
    }

    bare = malloc(len);

    for (i = 0, n = 0; i < len; i++) {
        if (data[i]) {
            bare[n++] = data[i];
        }
    }

    memset(&rd, 0, sizeof(rd));
    rd.pool = &pool;
    rd.build = 1;

    rc = ngx_http_zt_json_read(&rd, bare, n);
    stripped = json_loadb((const char *) bare, n, FLAGS, NULL);

    same = rc == NGX_OK && stripped && same_text(ref, stripped)
           && same_text(ref, rd.root);

    if (rc == NGX_OK) {
        json_decref(rd.root);
    }

    if (stripped) {
        json_decref(stripped);
    }

    free(bare);

    return same;
}


/* ngx_http_zt_json_load() against json_loadb(JSON_REJECT_DUPLICATES) */

static int
same_load(u_char *data, size_t len)
{
    int                       same;
    json_t                   *ref, *mine;
    ngx_http_zt_json_read_t   rd;

    memset(&rd, 0, sizeof(rd));
    rd.pool = &pool;

    mine = ngx_http_zt_json_load(&rd, data, len);
    ref = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES, NULL);

    if (mine) {
        same = ref && same_text(ref, mine);

    } else {
        /* a NUL byte jansson's lexer drops: see nul_dropped() */
        same = (ref == NULL || memchr(data, '\0', len) != NULL)
               && rd.why != NULL;
    }

    if (!same) {
        fprintf(stderr, "json-diff: json_loadb() %s, ngx_http_zt_json_load() "
                "%s (%s)\n", ref ? "accepts" : "refuses",
                mine ? "accepts" : "refuses", rd.why ? rd.why : "-");
    }

    if (mine) {
        json_decref(mine);
    }

    if (ref) {
        json_decref(ref);
    }

    return same;
}


static void
check(const u_char *input, size_t len)
{
    int                       ok;
    u_char                   *data;
    json_t                   *ref, *nonul;
    ngx_int_t                 rc, rc2;
    ngx_str_t                *a, *b;
    ngx_uint_t                i;
    ngx_array_t              *mine, *theirs;
    json_error_t              err;
    ngx_http_zt_json_read_t   rd, rd2;

    inputs++;

    /* exactly the input's bytes: a read past them is ASan's to see */

    data = malloc(len ? len : 1);
    memcpy(data, input, len);

    ref = json_loadb((const char *) data, len, FLAGS, &err);

    memset(&rd, 0, sizeof(rd));
    rd.pool = &pool;
    rd.build = 1;
    rd.strings = ngx_array_create(&pool, 4, sizeof(ngx_str_t));
    rd.members = ngx_array_create(&pool, 4,
                                  sizeof(ngx_http_zt_json_member_t));

    rc = ngx_http_zt_json_read(&rd, data, len);

    /* the same verdict when nothing is built and no string is wanted */

    memset(&rd2, 0, sizeof(rd2));
    rd2.pool = &pool;
    rd2.members = ngx_array_create(&pool, 4,
                                   sizeof(ngx_http_zt_json_member_t));

    rc2 = ngx_http_zt_json_read(&rd2, data, len);

    ok = 1;

    if (rc == NGX_ERROR || rc2 == NGX_ERROR) {
        fprintf(stderr, "json-diff: the reader ran out of memory\n");
        ok = 0;

    } else if (ref && rc == NGX_DECLINED && rc2 == NGX_DECLINED
               && nul_dropped(data, len, ref))
    {
        quirks++;

    } else if ((ref != NULL) != (rc == NGX_OK) || rc != rc2) {
        fprintf(stderr, "json-diff: jansson %s (%s), the reader %s (%s)%s\n",
                ref ? "accepts" : "refuses", ref ? "-" : err.text,
                rc == NGX_OK ? "accepts" : "refuses",
                rc == NGX_OK ? "-" : rd.why,
                rc != rc2 ? ", and another time the other way" : "");
        ok = 0;

    } else if (ref) {
        accepted++;

        if (rd.root == NULL || rd2.root != NULL || !same_text(ref, rd.root)) {
            ok = 0;
        }

        theirs = ngx_array_create(&pool, 4, sizeof(ngx_str_t));
        ref_strings(ref, theirs);
        mine = rd.strings;

        if (ok && mine->nelts != theirs->nelts) {
            fprintf(stderr, "json-diff: %u strings, jansson has %u\n",
                    (unsigned) mine->nelts, (unsigned) theirs->nelts);
            ok = 0;
        }

        a = mine->elts;
        b = theirs->elts;

        for (i = 0; ok && i < mine->nelts; i++) {
            if (a[i].len != b[i].len
                || memcmp(a[i].data, b[i].data, a[i].len) != 0)
            {
                show("string", a[i].data, a[i].len);
                show("jansson's", b[i].data, b[i].len);
                ok = 0;
            }
        }

        if (ok && !same_members(ref, &rd, &rd2)) {
            ok = 0;
        }

        if (ok && (rd.bytes != ref_string_bytes(ref)
                   || rd2.bytes != rd.bytes))
        {
            fprintf(stderr, "json-diff: %zu and %zu bytes of string "
                    "values, jansson has %zu\n", rd.bytes, rd2.bytes,
                    ref_string_bytes(ref));
            ok = 0;
        }

        nonul = json_loadb((const char *) data, len, FLAGS & ~JSON_ALLOW_NUL,
                           NULL);

        if (ok && (nonul == NULL) != rd.nul) {
            fprintf(stderr, "json-diff: without JSON_ALLOW_NUL jansson "
                    "%s, the reader says %s\n",
                    nonul ? "accepts" : "refuses",
                    rd.nul ? "\\u0000" : "no \\u0000");
            ok = 0;
        }

        if (nonul) {
            json_decref(nonul);
        }

    } else {
        refused++;

        if (rd.why == NULL || rd.offset > len) {
            fprintf(stderr, "json-diff: a refusal without a reason\n");
            ok = 0;
        }
    }

    if (!same_load(data, len)) {
        ok = 0;
    }

    if (!ok) {
        differ++;
        show("input", data, len);
    }

    if (ref) {
        json_decref(ref);
    }

    if (rc == NGX_OK && rd.root) {
        json_decref(rd.root);
    }

    pool_reset(&pool);
    free(data);
}


/* ---- inputs ---- */

static uint64_t  seed = 0x9e3779b97f4a7c15ULL;


static uint32_t
rnd(uint32_t n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;

    return (uint32_t) (seed % n);
}


typedef struct {
    u_char  *data;
    size_t   len;
    size_t   size;
} text_t;


static void
put(text_t *t, const void *p, size_t n)
{
    if (t->len + n > t->size) {
        t->size = (t->len + n) * 2 + 64;
        t->data = realloc(t->data, t->size);
    }

    memcpy(t->data + t->len, p, n);
    t->len += n;
}


#define puts_(t, s)  put(t, s, sizeof(s) - 1)


static const char  *pieces[] = {
    "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0064",
    "\\u0044", "\\u0000", "\\u00e9", "\\u20ac", "\\uD83D\\uDE00",
    "\\ud83d\\ude00", "\\uD800", "\\uDC00", "\\uDBFF\\uDFFF", "\\u0020",
    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f", "drop", "a",
    " ", "'", "{", "}", "[", "]", ":", ","
};


static void
gen_string(text_t *t)
{
    size_t       n;
    const char  *p;

    puts_(t, "\"");

    for (n = rnd(5); n; n--) {
        p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
        put(t, p, strlen(p));
    }

    puts_(t, "\"");
}


static const char  *numbers[] = {
    "0", "-0", "1", "-1", "0.5", "-0.0", "1e5", "1E+2", "2.5e-3", "1e-400",
    "123456789", "9223372036854775807", "-9223372036854775808",
    "1.7976931348623157e308", "3.141592653589793238462643383279502884197",
    "0.000000000000000000000000000000000000000000000000000000000000000001"
};


static void
gen_value(text_t *t, int depth)
{
    size_t       n, i;
    const char  *p;

    switch (rnd(depth > 4 ? 4 : 6)) {

    case 0:
        gen_string(t);
        break;

    case 1:
        p = numbers[rnd(sizeof(numbers) / sizeof(numbers[0]))];
        put(t, p, strlen(p));
        break;

    case 2:
        p = (const char *[]) { "true", "false", "null" }[rnd(3)];
        put(t, p, strlen(p));
        break;

    case 3:
        puts_(t, " ");
        gen_string(t);
        puts_(t, "\t");
        break;

    case 4:
        puts_(t, "[");
        for (i = 0, n = rnd(4); i < n; i++) {
            if (i) {
                puts_(t, ",");
            }
            gen_value(t, depth + 1);
        }
        puts_(t, "]");
        break;

    default:
        puts_(t, "{");
        for (i = 0, n = rnd(12); i < n; i++) {
            if (i) {
                p = rnd(2) ? "," : " ,\n";
                put(t, p, strlen(p));
            }

            /* names from a small set: duplicates now and then */
            if (rnd(3)) {
                put(t, "\"k", 2);
                put(t, &"0123456789abcdefghij"[rnd(20)], 1);
                puts_(t, "\"");

            } else {
                gen_string(t);
            }

            puts_(t, ":");
            gen_value(t, depth + 1);
        }
        puts_(t, "}");
        break;
    }
}


static const u_char  alphabet[] =
    "{}[]\":,\\ \t\n\ru0123456789abcdefABCDEF-+.eEtrufalsn'/"
    "\x00\x01\x1f\x7f\x80\xbf\xc0\xc2\xdf\xe0\xed\xef\xbb\xf0\xf4\xf5\xfe\xff";


static void
mutate(text_t *t)
{
    size_t  i, n, at;

    for (n = 1 + rnd(3); n; n--) {
        at = t->len ? rnd(t->len + 1) : 0;

        switch (rnd(4)) {

        case 0:     /* insert a byte */
            put(t, "", 1);
            memmove(t->data + at + 1, t->data + at, t->len - 1 - at);
            t->data[at] = alphabet[rnd(sizeof(alphabet) - 1)];
            break;

        case 1:     /* delete some */
            if (at < t->len) {
                i = 1 + rnd(3);
                if (i > t->len - at) {
                    i = t->len - at;
                }
                memmove(t->data + at, t->data + at + i, t->len - at - i);
                t->len -= i;
            }
            break;

        case 2:     /* replace a byte */
            if (at < t->len) {
                t->data[at] = alphabet[rnd(sizeof(alphabet) - 1)];
            }
            break;

        default:    /* flip a bit */
            if (at < t->len) {
                t->data[at] ^= (u_char) (1 << rnd(8));
            }
            break;
        }
    }
}


#define S(s)  { sizeof(s) - 1, (u_char *) s }

static ngx_str_t  corpus[] = {
    S(""), S(" "), S("{}"), S("[]"), S(" {} "), S("\"\""), S("0"), S("-0"),
    S("true"), S("false"), S("null"), S("tru"), S("truex"), S("True"),
    S("nul"), S("[true1]"), S("{} {}"), S("{}x"), S("[1,]"), S("[,1]"),
    S("{\"a\"}"), S("{\"a\":}"), S("{:1}"), S("{\"a\":1,}"), S("[1 2]"),
    S("{'a':1}"), S("{\"a\":'b'}"), S("[01]"), S("[1.]"), S("[.5]"),
    S("[-]"), S("[+1]"), S("[1e]"), S("[1e+]"), S("[0x10]"), S("[1.5.3]"),
    S("NaN"), S("[NaN]"), S("Infinity"), S("-Infinity"), S("[-Infinity]"),
    S("9223372036854775807"), S("9223372036854775808"),
    S("-9223372036854775808"), S("-9223372036854775809"),
    S("18446744073709551616"), S("[18446744073709551615]"),
    S("1e308"), S("1e309"), S("-1e400"), S("1e400"), S("1e-400"),
    S("1.7976931348623157e308"), S("1.7976931348623159e308"),
    S("123456789012345678901234567890.123456789012345678901234567890123456"
      "7890"),
    S("0.00000000000000000000000000000000000000000000000000000000000000000"
      "00000000000000000001e-300"),
    S("\"\\u0064rop table\""), S("\"drop\\ttable\""), S("\"\\u0020\""),
    S("\"a\\/b\""), S("\"\\uD835\\uDC1D\""), S("\"\\u0044ROP\""),
    S("{\"\\u0064rop\":1}"), S("[[[\"\\u0064rop\"]]]"),
    S("\"\\u0000\""), S("{\"a\\u0000\":1}"), S("{\"a\":\"\\u0000\"}"),
    S("\"\\uD800\""), S("\"\\uDC00\""), S("\"\\ud800\\u0041\""),
    S("\"\\uD800\\n\""), S("\"\\uD800\\\""), S("\"\\uDBFF\\uDFFF\""),
    S("\"\\u00G0\""), S("\"\\u00\""), S("\"\\u\""), S("\"\\x41\""),
    S("\"\\'\""), S("\"\\"), S("\"abc"), S("\"a\nb\""), S("\"a\x01\""),
    S("\"a\x7f\""), S("\"\xc3\xa9\""), S("\"\xe2\x82\xac\""),
    S("\"\xf0\x9f\x98\x80\""), S("\"\xc0\x80\""), S("\"\xc1\xbf\""),
    S("\"\xe0\x80\x80\""), S("\"\xed\xa0\x80\""), S("\"\xf4\x90\x80\x80\""),
    S("\"\xf5\x80\x80\x80\""), S("\"\xff\""), S("\"\x80\""), S("\"\xc3\""),
    S("\"\xe2\x82\""), S("{\"\xff\":1}"), S("[\xc3\xa9]"),
    S("\xef\xbb\xbf{}"), S("\xfe\xff{}"), S("\xff\xfe{}"),
    S("{\0\"\0a\0\"\0:\0" "1\0}\0"), S("\0{\0\"\0a\0\"\0:\0" "1\0}"),
    S("{\"a\":1}\0"), S("\0"), S("[1]\x0b"), S("\x0c[1]"), S("\xc2\xa0[1]"),
    S("{\"a\":1,\"a\":1}"), S("{\"a\":1,\"\\u0061\":2}"),
    S("{\"a\":{\"b\":{\"c\":1,\"c\":2}}}"), S("{\"\":1,\"\":2}"),
    S("[{\"a\":1},{\"a\":1}]"), S("{\"a\":{\"a\":1}}"),
    S("{\"model\":\"llama-8b\",\"model\":\"gpt-4\"}"),
    S("{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,"
      "\"k8\":8,\"k9\":9,\"k10\":10,\"k1\":11}"),
    S("{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,"
      "\"k8\":8,\"k9\":9,\"k10\":10,\"k11\":11}"),
    S("{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,"
      "\"k8\":8,\"k9\":9,\"k10\":{\"x\":1,\"x\":2},\"k11\":11}"),
    S("{\"model\": \"llama-8b\", "), S("{\"model\": \"llama-8b\"} \n\r\t"),

    /* what tokens carry: JOSE headers and claims */
    S("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}"),
    S("{\"alg\":\"RS256\",\"alg\":\"none\"}"),
    S("{\"alg\":\"RS256\",\"\\u0061lg\":\"none\"}"),
    S("{\"\\u0061lg\":\"\\u0052S256\"}"), S("{\"alg\":\"RS256\\u0000\"}"),
    S("{\"alg\":[\"RS256\"],\"kid\":{\"a\":\"b\"},\"crit\":[]}"),
    S("{\"alg\":\"RS256\",\"kid\":null,\"typ\":7}"),
    S(" \t{ \"alg\" : \"ES256\" } \n"), S("[{\"alg\":\"RS256\"}]"),
    S("{\"sub\":\"alice\",\"exp\":1700000000,\"nbf\":1.5e9,"
      "\"iat\":-0,\"aud\":[\"a\",1,null,\"b\"],\"scope\":\"x y\","
      "\"groups\":[\"g\",[\"h\"],{\"i\":\"j\"}],\"cnf\":{}}"),
    S("{\"exp\":9223372036854775807,\"nbf\":1e308,\"iat\":"
      "12345678901234567890.5}"),
    S("{\"aud\":[],\"scope\":[\"a\\u0000\"],\"x\":{\"y\":[[]]}}"),
};


static void
deep(const char *open, const char *inner, const char *close, size_t n)
{
    size_t  i;
    text_t  t;

    memset(&t, 0, sizeof(t));

    for (i = 0; i < n; i++) {
        put(&t, open, strlen(open));
    }

    put(&t, inner, strlen(inner));

    for (i = 0; i < n; i++) {
        put(&t, close, strlen(close));
    }

    check(t.data, t.len);
    free(t.data);
}


/*
 * Long strings: plain text around one byte or escape that is not, at
 * every offset across the reader's 16- and 8-byte strides, then a second
 * string that copies after the first one's escape.
 */

static void
long_strings(void)
{
    size_t       i, off, tail;
    text_t       t;
    const char  *odd;

    static const char  *odds[] = {
        "\\\"", "\\\\", "\\u0041", "\\ud83d\\ude00", "\\u0000",
        "\xc3\xa9", "\xe4\xb8\x96", "\xf0\x9f\x98\x80", "\x7f",
        "\x1f", "\x80", "\xc3", "\xed\xa0\x80", "\"", "\\", "\\x"
    };

    for (i = 0; i < sizeof(odds) / sizeof(odds[0]); i++) {
        odd = odds[i];

        for (off = 0; off < 40; off++) {
            for (tail = 0; tail < 40; tail += 13) {
                memset(&t, 0, sizeof(t));
                puts_(&t, "{\"k\":\"");
                put(&t, "abcdefghijklmnopqrstuvwxyz0123456789ABCD", off);
                put(&t, odd, strlen(odd));
                put(&t, "abcdefghijklmnopqrstuvwxyz0123456789ABCD", tail);
                puts_(&t, "\",\"l\":\"");
                put(&t, "0123456789abcdefghijklmnopqrstuvwxyzABCD", tail);
                puts_(&t, "\"}");

                check(t.data, t.len);
                free(t.data);
            }
        }
    }
}


static void
many_members(size_t n, ngx_int_t dup)
{
    size_t  i;
    char    buf[64];
    text_t  t;

    memset(&t, 0, sizeof(t));
    puts_(&t, "{");

    for (i = 0; i < n; i++) {
        put(&t, buf, snprintf(buf, sizeof(buf), "%s\"m%zu\":%zu",
                              i ? "," : "",
                              (dup >= 0 && i == n - 1) ? (size_t) dup : i,
                              i));
    }

    puts_(&t, "}");

    check(t.data, t.len);
    free(t.data);
}


int
main(int argc, char **argv)
{
    size_t    i, d;
    text_t    t;
    unsigned  iterations;

    iterations = (argc > 1) ? (unsigned) atoi(argv[1]) : 200000;

    for (i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        check(corpus[i].data, corpus[i].len);
    }

    /* jansson stops at 2048 values nested, the innermost included */

    for (d = 2045; d <= 2050; d++) {
        deep("[", "", "]", d);
        deep("[", "1", "]", d);
        deep("{\"a\":", "{}", "}", d);
        deep("{\"a\":", "\"x\"", "}", d);
        deep("[{\"a\":", "[]", "}]", d / 2);
    }

    long_strings();

    many_members(9, -1);
    many_members(9, 0);
    many_members(1000, -1);
    many_members(1000, 500);
    many_members(1000, 998);

    memset(&t, 0, sizeof(t));

    for (i = 0; i < iterations; i++) {
        t.len = 0;

        if (rnd(4) == 0) {
            d = rnd(sizeof(corpus) / sizeof(corpus[0]));
            put(&t, corpus[d].data, corpus[d].len);

        } else {
            gen_value(&t, 0);
        }

        if (rnd(2)) {
            check(t.data, t.len);
        }

        mutate(&t);
        check(t.data, t.len);
    }

    free(t.data);

    printf("json-diff: %u inputs: %u accepted and %u refused by both, "
           "%u NULs jansson drops, %u differ\n",
           inputs, accepted, refused, quirks, differ);

    return differ ? 1 : 0;
}
