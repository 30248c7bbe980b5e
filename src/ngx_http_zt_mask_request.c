
/*
 * zt-inference: masking of the request body (zt_mask_request,
 * zt_mask_request_pattern), so that a prompt reaches the model without the
 * secrets in it.  The body is read whole; the rules of zt_policy judge it
 * as the caller sent it; then the masking scanner rewrites it, byte for
 * byte but for the masked values, and from there on the body is the masked
 * one: what the upstream gets (with its new Content-Length), what a
 * reviewer of an approval and the audit see.  A body that is not JSON
 * cannot be masked and is refused (415).
 *
 * With "restore", a masked value becomes a placeholder unique to the
 * request ([EMAIL_1]: no text of the body looks like it), the same value
 * the same placeholder, and the answer gets the values back.  Placeholders
 * and values live in the request's pool only: never in a log, a header or
 * Redis.
 */


#include "ngx_http_zt_inference.h"
#include "ngx_http_zt_mask_scan.h"


struct ngx_http_zt_mask_body_s {
    ngx_str_t                      original;   /* as sent, for the rules */
    ngx_str_t                      masked;     /* as it goes on */
    ngx_int_t                      rc;
    ngx_array_t                   *restore;   /* of ..._mask_restore_t */
    ngx_http_zt_mask_buf_t         out;
    ngx_http_zt_mask_req_t        *mr;
};


static ngx_int_t ngx_http_zt_mask_request_body(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_mask_body_t *mb);
static ngx_int_t ngx_http_zt_mask_request_refuse(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_mask_req_t *mr);
static ngx_int_t ngx_http_zt_mask_request_forward(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_zt_mask_request_placeholder(
    ngx_http_zt_mask_req_t *mr, ngx_http_zt_mask_rule_t *rule, u_char *p,
    size_t len, ngx_uint_t raw, ngx_str_t *placeholder);
static ngx_uint_t ngx_http_zt_mask_request_has(ngx_str_t *body, u_char *s,
    size_t n);
static ngx_int_t ngx_http_zt_mask_request_out(void *data, u_char *p,
    size_t len);


/* the body as the caller sent it, for the rules that judge it again */

void
ngx_http_zt_mask_request_original(ngx_http_zt_ctx_t *ctx)
{
    if (ctx->mask_body && ctx->mask_body->masked.data) {
        ctx->body = ctx->mask_body->original;
    }
}


/*
 * Masks the body, once; called again, it returns the same outcome and puts
 * the masked body back in ctx->body.
 * NGX_OK: ctx->body is the body as it goes on.
 * NGX_AGAIN: the body is being read; the phases run again once it is in.
 * 400, 413, 415: refused, ctx->body_refusal says why.
 * Other codes, NGX_ERROR: failed.
 */

ngx_int_t
ngx_http_zt_mask_request(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_http_zt_mask_body_t  *mb;

    if (lcf->mask.request == NULL || r != r->main) {
        return NGX_OK;
    }

    mb = ctx->mask_body;

    if (mb) {
        if (mb->masked.data) {
            ctx->body = mb->masked;
        }

        return mb->rc;
    }

    rc = ngx_http_zt_body_read(r, lcf, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    mb = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_mask_body_t));
    if (mb == NULL) {
        return NGX_ERROR;
    }

    ctx->mask_body = mb;

    mb->rc = ngx_http_zt_mask_request_body(r, lcf, ctx, mb);

    return mb->rc;
}


static ngx_int_t
ngx_http_zt_mask_request_body(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_mask_body_t *mb)
{
    ngx_int_t                 rc;
    ngx_http_zt_mask_req_t   *mr;
    ngx_http_zt_mask_json_t  *js;
    ngx_http_zt_mask_emit_t   emit;

    if (ctx->body.len == 0) {
        return NGX_OK;
    }

    mr = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_mask_req_t));
    if (mr == NULL) {
        return NGX_ERROR;
    }

    mb->mr = mr;
    mb->original = ctx->body;

    /* the body is in memory already: no value is too long to look at */

    mr->max = ctx->body.len;
    mr->masked = &ctx->masked_request;
    mr->placeholder = ngx_http_zt_mask_request_placeholder;
    mr->data = mb;

    rc = ngx_http_zt_mask_select(r, mr, lcf->mask.request, ctx);

    if (rc == NGX_DECLINED) {
        /* every rule's "unless" holds for this caller */
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_zt_mask_buf_reserve(mr, &mb->out, ctx->body.len + 256,
                                     (size_t) -1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    emit.ref = ngx_http_zt_mask_request_out;
    emit.copy = ngx_http_zt_mask_request_out;
    emit.data = mb;

    js = ngx_http_zt_mask_json_create(mr, &emit);
    if (js == NULL) {
        return NGX_ERROR;
    }

    ngx_http_zt_mask_json_reset(js);
    mr->error_at = -1;

    if (ngx_http_zt_mask_json_feed(js, ctx->body.data,
                                   ctx->body.data + ctx->body.len, 1)
        != NGX_OK)
    {
        return ngx_http_zt_mask_request_refuse(r, ctx, mr);
    }

    if (ngx_http_zt_mask_json_changes(js) == 0) {
        /* nothing to mask: the body goes on as it came */
        return NGX_OK;
    }

    mb->masked.data = mb->out.data;
    mb->masked.len = mb->out.len;

    /* whatever was hashed of the original is not the body any more */

    ctx->body = mb->masked;
    ctx->body_hashed = 0;

    return ngx_http_zt_mask_request_forward(r, &mb->masked);
}


static ngx_int_t
ngx_http_zt_mask_request_refuse(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_mask_req_t *mr)
{
    ngx_http_zt_body_refusal_t  *refusal;

    if (mr->error_at < 0) {
        /* not the body's fault */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "zt: mask: request body: %s",
                      mr->err ? mr->err : "masking failed");
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "zt: mask: request body is not JSON (%s at byte %O), "
                  "refused", mr->err, mr->error_at);

    refusal = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_body_refusal_t));
    if (refusal == NULL) {
        return NGX_ERROR;
    }

    refusal->status = NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
    ngx_str_set(&refusal->code, "unsupported_media_type");
    ngx_str_set(&refusal->message, "request masking needs a JSON request "
                                   "body");

    ctx->body_refusal = refusal;

    return NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
}


/* the masked body is what the upstream gets, with its length */

static ngx_int_t
ngx_http_zt_mask_request_forward(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->start = body->data;
    b->pos = body->data;
    b->last = body->data + body->len;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;

    r->headers_in.content_length_n = body->len;

    if (r->headers_in.content_length) {
        p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        r->headers_in.content_length->value.data = p;
        r->headers_in.content_length->value.len =
                                          ngx_sprintf(p, "%uz", body->len) - p;
    }

    return NGX_OK;
}


/*
 * The placeholder of a value: the one the value got already, or the next
 * number of its label that the body does not contain.
 */

static ngx_int_t
ngx_http_zt_mask_request_placeholder(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_rule_t *rule, u_char *p, size_t len, ngx_uint_t raw,
    ngx_str_t *placeholder)
{
    ngx_http_zt_mask_body_t *mb = mr->data;

    u_char                      *v, *q;
    size_t                       vlen;
    ngx_uint_t                   i, n;
    ngx_http_zt_mask_restore_t  *rs;

    if (mb->restore == NULL) {
        mb->restore = ngx_array_create(mr->pool, 4,
                                       sizeof(ngx_http_zt_mask_restore_t));
        if (mb->restore == NULL) {
            return NGX_ERROR;
        }
    }

    /* a whole string value is given back as its text, others as JSON */

    v = ngx_pnalloc(mr->pool, len);
    if (v == NULL && len) {
        return NGX_ERROR;
    }

    if (raw && len >= 2 && p[0] == '"') {
        vlen = ngx_http_zt_mask_json_unescape(v, p + 1, len - 2);

    } else {
        vlen = ngx_cpymem(v, p, len) - v;
    }

    rs = mb->restore->elts;
    n = 0;

    for (i = 0; i < mb->restore->nelts; i++) {
        if (rs[i].rule->label.len != rule->label.len
            || ngx_memcmp(rs[i].rule->label.data, rule->label.data,
                          rule->label.len)
               != 0)
        {
            continue;
        }

        if (rs[i].value.len == vlen
            && ngx_memcmp(rs[i].value.data, v, vlen) == 0)
        {
            *placeholder = rs[i].placeholder;
            return NGX_OK;
        }

        n = ngx_max(n, rs[i].number);
    }

    rs = ngx_array_push(mb->restore);
    if (rs == NULL) {
        return NGX_ERROR;
    }

    rs->rule = rule;
    rs->value.data = v;
    rs->value.len = vlen;

    rs->placeholder.data = ngx_pnalloc(mr->pool,
                                       rule->label.len + NGX_INT_T_LEN + 3);
    if (rs->placeholder.data == NULL) {
        return NGX_ERROR;
    }

    /* "LABEL_N" anywhere in the body, brackets escaped or not, skips N */

    do {
        n++;
        q = ngx_sprintf(rs->placeholder.data, "[%V_%ui]", &rule->label, n);
        rs->placeholder.len = q - rs->placeholder.data;

    } while (ngx_http_zt_mask_request_has(&mb->original,
                                          rs->placeholder.data + 1,
                                          rs->placeholder.len - 2));

    rs->number = n;

    q = ngx_pnalloc(mr->pool, ngx_http_zt_json_escape_len(v, vlen));
    if (q == NULL && vlen) {
        return NGX_ERROR;
    }

    rs->value_esc.data = q;
    rs->value_esc.len = ngx_http_zt_json_escape(q, v, vlen) - q;

    *placeholder = rs->placeholder;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_zt_mask_request_has(ngx_str_t *body, u_char *s, size_t n)
{
    u_char  *p, *last;

    last = body->data + body->len;

    for (p = body->data;
         last - p >= (ssize_t) n && (p = memchr(p, s[0], last - p)) != NULL;
         p++)
    {
        if (last - p >= (ssize_t) n && ngx_memcmp(p, s, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the answer gets back what the request's masking replaced */

ngx_array_t *
ngx_http_zt_mask_request_restore(ngx_http_zt_ctx_t *ctx)
{
    ngx_http_zt_mask_body_t  *mb;

    mb = ctx->mask_body;

    if (mb == NULL || mb->restore == NULL || mb->restore->nelts == 0) {
        return NULL;
    }

    return mb->restore;
}


/*
 * Where no zt_policy masked it in the access phase (none is configured, or
 * "satisfy any" let another module decide), the body is masked here,
 * before any content handler sends it on.
 */

ngx_int_t
ngx_http_zt_mask_request_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    type;
    ngx_http_zt_ctx_t           *ctx;
    ngx_http_zt_loc_conf_t      *lcf;
    ngx_http_zt_body_refusal_t  *refusal;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    if (lcf->mask.request == NULL || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_zt_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_zt_mask_request(r, lcf, ctx);

    if (rc == NGX_OK) {
        return NGX_DECLINED;
    }

    if (rc == NGX_AGAIN) {
        /* the body handler runs the phases again when it is all in */
        return NGX_DONE;
    }

    refusal = ctx->body_refusal;

    if (refusal == NULL) {
        return (rc == NGX_ERROR) ? NGX_HTTP_INTERNAL_SERVER_ERROR : rc;
    }

    ngx_str_set(&type, "invalid_request_error");

    rc = ngx_http_zt_answer(r, refusal->status, &type, &refusal->code,
                            &refusal->message);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_zt_mask_request_out(void *data, u_char *p, size_t len)
{
    ngx_http_zt_mask_body_t *mb = data;

    return ngx_http_zt_mask_buf_add(mb->mr, &mb->out, p, len, (size_t) -1);
}
