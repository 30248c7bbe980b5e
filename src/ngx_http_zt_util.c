
/*
 * Small helpers the concerns share: the request context, hashing, JSON
 * string escaping, jansson values released with a pool, and PCRE2 regexes
 * compiled once at configuration time.
 */


#include "ngx_http_zt_inference.h"


static void ngx_http_zt_json_cleanup(void *data);
static void ngx_http_zt_regex_cleanup(void *data);


ngx_http_zt_ctx_t *
ngx_http_zt_get_ctx(ngx_http_request_t *r)
{
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_zt_inference_module);

    return ctx;
}


void
ngx_http_zt_hex(u_char *dst, u_char *src, size_t len)
{
    (void) ngx_hex_dump(dst, src, len);
}


/*
 * Fetching SHA-256 and allocating a context for every hash cost more than
 * hashing a token: each process fetches the digest and makes one context
 * on first use, and keeps them until it exits.  A worker is
 * single-threaded and every call initialises the context again, so nothing
 * passes from one hash to the next.
 */

ngx_int_t
ngx_http_zt_sha256(u_char *out, u_char *data, size_t len)
{
    ngx_str_t  part;

    part.data = data;
    part.len = len;

    return ngx_http_zt_sha256_parts(out, &part, 1);
}


/* the SHA-256 of the parts one after the other */

ngx_int_t
ngx_http_zt_sha256_parts(u_char *out, ngx_str_t *parts, ngx_uint_t n)
{
    ngx_uint_t    i;
    unsigned int  len;

    static EVP_MD      *md;
    static EVP_MD_CTX  *mctx;

    if (mctx == NULL) {
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
        mctx = EVP_MD_CTX_new();

        if (md == NULL || mctx == NULL) {
            EVP_MD_free(md);
            EVP_MD_CTX_free(mctx);
            md = NULL;
            mctx = NULL;
            return NGX_ERROR;
        }
    }

    if (EVP_DigestInit_ex2(mctx, md, NULL) != 1) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (EVP_DigestUpdate(mctx, parts[i].data, parts[i].len) != 1) {
            return NGX_ERROR;
        }
    }

    if (EVP_DigestFinal_ex(mctx, out, &len) != 1) {
        return NGX_ERROR;
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


char *
ngx_http_zt_regex_compile(ngx_conf_t *cf, ngx_http_zt_regex_t *re,
    ngx_str_t *text, ngx_uint_t caseless)
{
    int                  errcode;
    u_char               errstr[256];
    uint32_t             options;
    PCRE2_SIZE           erroff;
    ngx_pool_cleanup_t  *cln;

    options = PCRE2_UTF|PCRE2_MATCH_INVALID_UTF;

    if (caseless) {
        options |= PCRE2_CASELESS;
    }

    re->text = *text;
    re->code = pcre2_compile(text->data, text->len, options, &errcode,
                             &erroff, NULL);

    if (re->code == NULL) {
        pcre2_get_error_message(errcode, errstr, sizeof(errstr));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: invalid regex \"%V\": %s at offset %uz",
                           &((ngx_str_t *) cf->args->elts)[0], text, errstr,
                           (size_t) erroff);
        return NGX_CONF_ERROR;
    }

    /* JIT is an optimisation: a platform without it matches all the same */
    (void) pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        pcre2_code_free(re->code);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_zt_regex_cleanup;
    cln->data = re->code;

    return NGX_CONF_OK;
}


static void
ngx_http_zt_regex_cleanup(void *data)
{
    pcre2_code_free(data);
}


/*
 * Returns 1 on a match, 0 on none, NGX_ERROR when matching failed (match
 * limits): the caller treats an error as a condition that cannot be
 * proven, so the gateway fails closed.
 */

ngx_int_t
ngx_http_zt_regex_match(ngx_http_zt_regex_t *re, u_char *s, size_t len)
{
    int  rc;

    /* a worker is single-threaded: one match block serves every match */
    static pcre2_match_data  *md;

    if (md == NULL) {
        md = pcre2_match_data_create(1, NULL);
        if (md == NULL) {
            return NGX_ERROR;
        }
    }

    rc = pcre2_match(re->code, s ? s : (u_char *) "", len, 0, 0, md, NULL);

    if (rc >= 0) {
        return 1;
    }

    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }

    return NGX_ERROR;
}
