
/*
 * Small helpers the concerns share: the request context, SHA-256 with a
 * digest context prepared once per process and freed when it exits,
 * reading a file that the configuration names (keys, credentials), and
 * strict base64url.
 */


#include "ngx_http_zt_inference.h"


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


/*
 * Fetching SHA-256 and allocating a context for every hash cost more than
 * hashing a token: each process fetches the digest and makes one context
 * on first use, and keeps them until it exits.  A worker is
 * single-threaded and every call initialises the context again, so nothing
 * passes from one hash to the next.
 */

static EVP_MD      *ngx_http_zt_sha256_md;
static EVP_MD_CTX  *ngx_http_zt_sha256_ctx;


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
    EVP_MD_CTX   *mctx;

    if (ngx_http_zt_sha256_ctx == NULL) {
        ngx_http_zt_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        ngx_http_zt_sha256_ctx = EVP_MD_CTX_new();

        if (ngx_http_zt_sha256_md == NULL || ngx_http_zt_sha256_ctx == NULL) {
            ngx_http_zt_util_exit_process(NULL);
            return NGX_ERROR;
        }
    }

    mctx = ngx_http_zt_sha256_ctx;

    if (EVP_DigestInit_ex2(mctx, ngx_http_zt_sha256_md, NULL) != 1) {
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


void
ngx_http_zt_util_exit_process(ngx_cycle_t *cycle)
{
    EVP_MD_CTX_free(ngx_http_zt_sha256_ctx);
    EVP_MD_free(ngx_http_zt_sha256_md);

    ngx_http_zt_sha256_ctx = NULL;
    ngx_http_zt_sha256_md = NULL;
}


/*
 * The file a directive names (relative to the prefix, as nginx resolves
 * paths), read whole into pool with a terminating NUL.  *name becomes its
 * full path.  A missing or unreadable file, something other than a
 * regular file, an empty one and one over max bytes stop nginx -t with a
 * message naming the directive and the path.
 */

ngx_int_t
ngx_http_zt_conf_file(ngx_conf_t *cf, ngx_pool_t *pool, ngx_str_t *name,
    size_t max, ngx_str_t *text)
{
    off_t            size;
    size_t           len;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_str_t       *args;
    ngx_file_info_t  fi;

    args = cf->args->elts;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V \"%V\" cannot be opened", &args[0], name);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V \"%V\": " ngx_fd_info_n " failed",
                           &args[0], name);
        goto done;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is not a regular file", &args[0], name);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is empty", &args[0], name);
        goto done;
    }

    if (size > (off_t) max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is too large (%O bytes, at most %uz)",
                           &args[0], name, size, max);
        goto done;
    }

    text->data = ngx_pnalloc(pool, (size_t) size + 1);
    if (text->data == NULL) {
        goto done;
    }

    len = 0;

    while (len < (size_t) size) {
        n = ngx_read_fd(fd, text->data + len, (size_t) size - len);

        if (n == -1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "%V \"%V\" cannot be read", &args[0], name);
            goto done;
        }

        if (n == 0) {
            break;
        }

        len += n;
    }

    text->len = len;
    text->data[len] = '\0';

    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", name);
    }

    return rc;
}


/*
 * Strict base64url (RFC 7515, 2): the URL-safe alphabet, no padding and no
 * stray bits in the last character, so that one value has one spelling.
 * NGX_DECLINED for bad input, NGX_ERROR when memory ran out.  Checked and
 * decoded in one pass: every token goes through here three times.
 */

ngx_int_t
ngx_http_zt_base64url_decode(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    u_char      *s, *d, a, b, c, e;
    size_t       n;
    ngx_uint_t   rest;

    /* 0x40 and above: not in the alphabet */
    static u_char  values[256] = {
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40,   62, 0x40, 0x40,
          52,   53,   54,   55,   56,   57,   58,   59,
          60,   61, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40,    0,    1,    2,    3,    4,    5,    6,
           7,    8,    9,   10,   11,   12,   13,   14,
          15,   16,   17,   18,   19,   20,   21,   22,
          23,   24,   25, 0x40, 0x40, 0x40, 0x40,   63,
        0x40,   26,   27,   28,   29,   30,   31,   32,
          33,   34,   35,   36,   37,   38,   39,   40,
          41,   42,   43,   44,   45,   46,   47,   48,
          49,   50,   51, 0x40, 0x40, 0x40, 0x40, 0x40,

        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40
    };

    rest = src->len % 4;

    if (rest == 1) {
        return NGX_DECLINED;
    }

    dst->data = ngx_pnalloc(pool, ngx_base64_decoded_length(src->len) + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    s = src->data;
    d = dst->data;

    for (n = src->len / 4; n; n--) {
        a = values[s[0]];
        b = values[s[1]];
        c = values[s[2]];
        e = values[s[3]];

        if ((a | b | c | e) & 0x40) {
            return NGX_DECLINED;
        }

        *d++ = (u_char) (a << 2 | b >> 4);
        *d++ = (u_char) (b << 4 | c >> 2);
        *d++ = (u_char) (c << 6 | e);

        s += 4;
    }

    if (rest) {
        a = values[s[0]];
        b = values[s[1]];
        c = (rest == 3) ? values[s[2]] : 0;

        if ((a | b | c) & 0x40
            || (rest == 2 && (b & 0x0f))
            || (rest == 3 && (c & 0x03)))
        {
            return NGX_DECLINED;
        }

        *d++ = (u_char) (a << 2 | b >> 4);

        if (rest == 3) {
            *d++ = (u_char) (b << 4 | c >> 2);
        }
    }

    dst->len = d - dst->data;

    return NGX_OK;
}
