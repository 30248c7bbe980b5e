
/*
 * The request body, for the rules (and the audit) that look at it: read
 * whole in the access phase without blocking the worker, left where nginx
 * keeps it so that proxy_pass sends it unchanged, seen as one contiguous
 * buffer (nginx's own when it has one, else a copy), then hashed and
 * parsed as JSON at most once.
 */


#include "ngx_http_zt_inference.h"

static void ngx_http_zt_body_post(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_body_collect(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
static ngx_int_t ngx_http_zt_body_result(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
static ngx_uint_t ngx_http_zt_body_is_json(ngx_http_request_t *r);


/*
 * NGX_OK: the body is in ctx->body.
 * NGX_AGAIN: the rest of the body is on its way; the access handler
 *     returns NGX_DONE, and once the body is in, the phases run again,
 *     where this returns the outcome.
 * NGX_HTTP_REQUEST_ENTITY_TOO_LARGE: larger than zt_body_max.
 * NGX_HTTP_BAD_REQUEST: a JSON content type, the body does not parse, and
 *     a zt_policy rule of the location looks at the body.
 * Other NGX_HTTP_* codes and NGX_ERROR: reading failed.
 */

ngx_int_t
ngx_http_zt_body_read(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->body_read || ctx->body_too_large || ctx->body_error) {
        return ngx_http_zt_body_result(r, ctx);
    }

    if (ctx->waiting_body) {
        return NGX_AGAIN;
    }

    /* a chunked body has no length yet: it is measured once read */

    if (r->headers_in.content_length_n > (off_t) lcf->body_max) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: request body of %O bytes is larger than "
                      "zt_body_max %uz", r->headers_in.content_length_n,
                      lcf->body_max);

        ctx->body_too_large = 1;
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_zt_body_post);

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    if (ctx->body_read || ctx->body_too_large || ctx->body_error) {

        /*
         * the body was all there and the post handler has run: take back
         * the reference ngx_http_read_client_request_body() took, the
         * phases go on from here
         */

        r->main->count--;

        return ngx_http_zt_body_result(r, ctx);
    }

    ctx->waiting_body = 1;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "zt: waiting for the request body");

    /*
     * Give the reference back now, as content handlers do with NGX_DONE:
     * a client that goes away or times out while sending then ends the
     * request the usual way.
     */

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_AGAIN;
}


static void
ngx_http_zt_body_post(ngx_http_request_t *r)
{
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    if (ctx == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "zt: request body read without a context");
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_zt_body_collect(r, ctx) != NGX_OK) {
        ctx->body_error = 1;
    }

    /* reading the body has set the write handler aside */

    r->write_event_handler = ngx_http_core_run_phases;

    if (ctx->waiting_body) {
        ctx->waiting_body = 0;
        ngx_http_core_run_phases(r);
    }
}


/*
 * Copies the body, wherever nginx keeps it (memory buffers, a temporary
 * file, or both), into one buffer of the request pool; a body that is
 * already one buffer in memory is used where it is.  The buffers
 * themselves are left as they are: the upstream sends them, and nothing
 * writes to them while the request lives.
 */

static ngx_int_t
ngx_http_zt_body_collect(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    off_t                    size, offset, saved;
    u_char                  *p;
    ssize_t                  n;
    ngx_buf_t               *b;
    ngx_chain_t             *cl, *bufs;
    ngx_http_zt_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    bufs = r->request_body ? r->request_body->bufs : NULL;

    size = 0;

    for (cl = bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size > (off_t) lcf->body_max) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: request body of %O bytes is larger than "
                      "zt_body_max %uz", size, lcf->body_max);

        ctx->body_too_large = 1;
        return NGX_OK;
    }

    if (size && bufs->next == NULL && ngx_buf_in_memory(bufs->buf)) {
        ctx->body.data = bufs->buf->pos;
        ctx->body.len = (size_t) size;
        ctx->body_read = 1;

        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) size + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->body.data = p;

    for (cl = bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (!b->in_file || b->file == NULL) {
            continue;
        }

        /* ngx_read_file() moves the file's offset: nginx's, not ours */

        saved = b->file->offset;

        for (offset = b->file_pos; offset < b->file_last; offset += n) {

            n = ngx_read_file(b->file, p, (size_t) (b->file_last - offset),
                              offset);

            if (n == NGX_ERROR) {
                b->file->offset = saved;
                return NGX_ERROR;
            }

            if (n == 0) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "zt: request body file \"%V\" is shorter "
                              "than its buffers say", &b->file->name);
                b->file->offset = saved;
                return NGX_ERROR;
            }

            p += n;
        }

        b->file->offset = saved;
    }

    *p = '\0';

    ctx->body.len = p - ctx->body.data;
    ctx->body_read = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_body_result(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    ngx_http_zt_loc_conf_t  *lcf;

    if (ctx->body_too_large) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    if (ctx->body_error) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    /* a body read for the audit alone is not judged */

    if (lcf->policy.body && ngx_http_zt_body_is_json(r)) {

        (void) ngx_http_zt_body_json(r, ctx);

        if (ctx->body_error) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->body_json_invalid) {
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_zt_body_sha256(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    if (ctx->body_hashed) {
        return NGX_OK;
    }

    if (!ctx->body_read) {
        return NGX_DECLINED;
    }

    if (ngx_http_zt_sha256(ctx->body_sha256, ctx->body.data, ctx->body.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->body_hashed = 1;

    return NGX_OK;
}


/*
 * The body parsed as JSON whatever its content type says, once; NULL when
 * it was not read, is empty or is not JSON (ctx->body_json_invalid), or on
 * an error (ctx->body_error).  A duplicate member name is not JSON here:
 * the upstream might pick the other value than the one the rules saw.
 */

json_t *
ngx_http_zt_body_json(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_uint_t                level;
    ngx_http_zt_json_read_t   rd;

    if (ctx->body_json_parsed || !ctx->body_read) {
        return ctx->body_json;
    }

    ctx->body_json_parsed = 1;

    if (ctx->body.len == 0) {
        return NULL;
    }

    ngx_memzero(&rd, sizeof(ngx_http_zt_json_read_t));
    rd.pool = r->pool;
    rd.build = 1;

    rc = ngx_http_zt_json_read(&rd, ctx->body.data, ctx->body.len);

    if (rc == NGX_ERROR) {
        ctx->body_error = 1;
        return NULL;
    }

    if (rc == NGX_DECLINED) {
        ctx->body_json_invalid = 1;

        level = ngx_http_zt_body_is_json(r) ? NGX_LOG_INFO : NGX_LOG_DEBUG;

        ngx_log_error(level, r->connection->log, 0,
                      "zt: request body is not valid JSON: %s at offset %uz",
                      rd.why, rd.offset);
        return NULL;
    }

    if (ngx_http_zt_json_cleanup_add(r->pool, rd.root) != NGX_OK) {
        ctx->body_error = 1;
        return NULL;
    }

    ctx->body_json = rd.root;

    return rd.root;
}


/* application/json and any type/subtype+json, parameters aside */

static ngx_uint_t
ngx_http_zt_body_is_json(ngx_http_request_t *r)
{
    u_char  *p, *last, *semi;
    size_t   len;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    p = r->headers_in.content_type->value.data;
    last = p + r->headers_in.content_type->value.len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    semi = ngx_strlchr(p, last, ';');

    if (semi) {
        last = semi;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    len = last - p;

    if (len == sizeof("application/json") - 1
        && ngx_strncasecmp(p, (u_char *) "application/json", len) == 0)
    {
        return 1;
    }

    return len > sizeof("+json") - 1
           && ngx_strncasecmp(last - (sizeof("+json") - 1),
                              (u_char *) "+json", sizeof("+json") - 1) == 0;
}
