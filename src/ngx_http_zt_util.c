
/*
 * Small helpers the concerns share: the request context, SHA-256 with a
 * digest context prepared once per process and freed when it exits,
 * reading a file that the
 * configuration names (keys, credentials), and strict base64url on top
 * of nginx's decoder.
 */


#include "ngx_http_zt_inference.h"


static ngx_int_t ngx_http_zt_sha256_init(void);


static EVP_MD      *ngx_http_zt_sha256_md;
static EVP_MD_CTX  *ngx_http_zt_sha256_ctx;
static EVP_MD_CTX  *ngx_http_zt_sha256_copy;


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

    if (ngx_http_zt_sha256_init() != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (EVP_DigestUpdate(ngx_http_zt_sha256_ctx, parts[i].data,
                             parts[i].len)
            != 1)
        {
            return NGX_ERROR;
        }
    }

    if (EVP_DigestFinal_ex(ngx_http_zt_sha256_ctx, out, &len) != 1) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_sha256_init(void)
{
    if (ngx_http_zt_sha256_ctx == NULL) {
        ngx_http_zt_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        ngx_http_zt_sha256_ctx = EVP_MD_CTX_new();

        if (ngx_http_zt_sha256_md == NULL || ngx_http_zt_sha256_ctx == NULL) {
            ngx_http_zt_util_exit_process(NULL);
            return NGX_ERROR;
        }
    }

    if (EVP_DigestInit_ex2(ngx_http_zt_sha256_ctx, ngx_http_zt_sha256_md,
                           NULL)
        != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The SHA-256 of data and, on the way, of its first prefix bytes: hashing
 * a token also yields the digest of its signing input, without a second
 * pass over it.
 */

ngx_int_t
ngx_http_zt_sha256_prefix(u_char *out, u_char *data, size_t len,
    u_char *prefix_out, size_t prefix)
{
    unsigned int   n;
    EVP_MD_CTX    *copy;

    if (ngx_http_zt_sha256_copy == NULL) {
        ngx_http_zt_sha256_copy = EVP_MD_CTX_new();
        if (ngx_http_zt_sha256_copy == NULL) {
            return NGX_ERROR;
        }
    }

    copy = ngx_http_zt_sha256_copy;

    if (ngx_http_zt_sha256_init() != NGX_OK
        || EVP_DigestUpdate(ngx_http_zt_sha256_ctx, data, prefix) != 1
        || EVP_MD_CTX_copy_ex(copy, ngx_http_zt_sha256_ctx) != 1
        || EVP_DigestFinal_ex(copy, prefix_out, &n) != 1
        || EVP_DigestUpdate(ngx_http_zt_sha256_ctx, data + prefix,
                            len - prefix)
           != 1
        || EVP_DigestFinal_ex(ngx_http_zt_sha256_ctx, out, &n) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}



/*
 * The request header line called name that comes after n others so
 * called: nginx keeps a pointer to one line of a few names only, and a
 * second line of a name that must be single is looked for with n = 1.
 */

ngx_table_elt_t *
ngx_http_zt_header_in(ngx_http_request_t *r, ngx_str_t *name, ngx_uint_t n)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0
            && n-- == 0)
        {
            return &h[i];
        }
    }
}

void
ngx_http_zt_util_exit_process(ngx_cycle_t *cycle)
{
    EVP_MD_CTX_free(ngx_http_zt_sha256_copy);
    EVP_MD_CTX_free(ngx_http_zt_sha256_ctx);
    EVP_MD_free(ngx_http_zt_sha256_md);

    ngx_http_zt_sha256_copy = NULL;
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
 * nginx's decoder takes a "=" for the end of the text and drops the bits
 * that no byte takes: both are refused here.  NGX_DECLINED for bad input,
 * NGX_ERROR when memory ran out.
 */

ngx_int_t
ngx_http_zt_base64url_decode(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    u_char      c, last;
    size_t      len;
    ngx_uint_t  unused;

    if (src->len % 4 == 1) {
        return NGX_DECLINED;
    }

    dst->data = ngx_pnalloc(pool, ngx_base64_decoded_length(src->len) + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(dst, src) != NGX_OK) {
        return NGX_DECLINED;
    }

    /*
     * Every character but the first of each four adds a byte; the decoder
     * stops at a "=", before all of them, so a text with one decodes to
     * fewer bytes than its length makes.
     */

    len = src->len / 4 * 3;

    switch (src->len % 4) {
    case 2:
        len += 1;
        unused = 0x0f;
        break;
    case 3:
        len += 2;
        unused = 0x03;
        break;
    default:
        unused = 0;
        break;
    }

    if (dst->len != len) {
        return NGX_DECLINED;
    }

    if (unused == 0) {
        return NGX_OK;
    }

    /*
     * The low bits of the last character, beyond the last byte, must be
     * zero.  The decoder took the character: it is of the alphabet.
     */

    c = src->data[src->len - 1];

    if (c >= 'A' && c <= 'Z') {
        last = c - 'A';

    } else if (c >= 'a' && c <= 'z') {
        last = c - 'a' + 26;

    } else if (c >= '0' && c <= '9') {
        last = c - '0' + 52;

    } else {
        last = (c == '-') ? 62 : 63;
    }

    return (last & unused) ? NGX_DECLINED : NGX_OK;
}
