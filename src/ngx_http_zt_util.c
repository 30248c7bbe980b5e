
/*
 * Small helpers the concerns share: the request context and SHA-256 with a
 * digest context prepared once per process and freed when it exits.
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
