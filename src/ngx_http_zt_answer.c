
/*
 * The gateway's own answers: JSON error bodies in the OpenAI shape and the
 * WWW-Authenticate challenges that go with 401 and 403 (RFC 6750, and
 * RFC 9449's DPoP scheme).
 */


#include "ngx_http_zt_inference.h"


static void ngx_http_zt_answer_write_error(ngx_http_zt_json_out_t *out,
    void *data);
static ngx_int_t ngx_http_zt_answer_challenges(ngx_http_request_t *r,
    char *error, ngx_str_t *err);
static ngx_int_t ngx_http_zt_answer_challenge(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *scheme, char *error,
    ngx_str_t *err, ngx_str_t *algs);


typedef struct {
    ngx_str_t                  *type;
    ngx_str_t                  *code;
    ngx_str_t                  *message;
} ngx_http_zt_answer_error_t;


static void
ngx_http_zt_answer_write_error(ngx_http_zt_json_out_t *out, void *data)
{
    ngx_http_zt_answer_error_t  *e = data;

    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_key(out, "error");
    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_member(out, "type", e->type);
    ngx_http_zt_json_member(out, "code", e->code);
    ngx_http_zt_json_member(out, "message", e->message);
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_raw(out, (u_char *) "\n", 1);
}


/*
 * An error in the OpenAI shape:
 * {"error":{"type":"...","code":"...","message":"..."}}.  The strings are
 * escaped: an error description may quote what the client sent.
 */

ngx_int_t
ngx_http_zt_answer(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *type,
    ngx_str_t *code, ngx_str_t *message)
{
    ngx_str_t                    json;
    ngx_http_zt_answer_error_t   e;

    e.type = type;
    e.code = code;
    e.message = message;

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_answer_write_error, &e,
                               &json)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_zt_answer_json(r, status, json.data, json.len);
}


/* the same, for the module's own literal strings */

ngx_int_t
ngx_http_zt_answer_error(ngx_http_request_t *r, ngx_uint_t status,
    char *type, char *code, char *message)
{
    ngx_str_t  t, c, m;

    t.data = (u_char *) type;
    t.len = ngx_strlen(type);
    c.data = (u_char *) code;
    c.len = ngx_strlen(code);
    m.data = (u_char *) message;
    m.len = ngx_strlen(message);

    return ngx_http_zt_answer(r, status, &t, &c, &m);
}


/*
 * Sends a complete JSON response.  What is left of the request body is
 * discarded, so that the connection can be kept alive.
 */

ngx_int_t
ngx_http_zt_answer_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *json, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = json;
    b->last = json + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    /* a proxy cache must not hand one caller's answer to another */
    if (ngx_http_zt_answer_header(r, "Cache-Control", "no-store") != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_zt_answer_header(ngx_http_request_t *r, char *key, char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/*
 * err == NULL: no token was offered, so the challenges carry no error
 * (RFC 6750, 3.1); otherwise the token (or its DPoP proof) was bad and
 * err says why.
 */

ngx_int_t
ngx_http_zt_answer_unauthorized(ngx_http_request_t *r, ngx_str_t *err)
{
    ngx_str_t           code;
    ngx_http_zt_ctx_t  *ctx;

    static ngx_str_t  type = ngx_string("invalid_request_error");
    static ngx_str_t  missing = ngx_string("missing_token");
    static ngx_str_t  need = ngx_string("a bearer token is required");

    if (err == NULL) {
        if (ngx_http_zt_answer_challenges(r, NULL, NULL) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_zt_answer(r, NGX_HTTP_UNAUTHORIZED, &type, &missing,
                                  &need);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    if (ctx && ctx->dpop_proof) {
        ngx_str_set(&code, "invalid_dpop_proof");

    } else {
        ngx_str_set(&code, "invalid_token");
    }

    if (ngx_http_zt_answer_challenges(r, (char *) code.data, err) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_zt_answer(r, NGX_HTTP_UNAUTHORIZED, &type, &code, err);
}


ngx_int_t
ngx_http_zt_answer_forbidden(ngx_http_request_t *r)
{
    static ngx_str_t  type = ngx_string("permission_error");
    static ngx_str_t  code = ngx_string("insufficient_scope");
    static ngx_str_t  message = ngx_string(
                          "the policy does not allow this request");

    if (ngx_http_zt_answer_challenges(r, "insufficient_scope", NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_zt_answer(r, NGX_HTTP_FORBIDDEN, &type, &code, &message);
}


/*
 * The challenges (RFC 6750, 3; RFC 9449, 7.1 and 7.2): Bearer unless
 * zt_dpop is required, DPoP with the algs= its proofs may use unless it is
 * off.  An error goes in the challenge of the scheme the client used (or
 * the only one offered), resource_metadata (RFC 9728, 5.1) in each.
 */

static ngx_int_t
ngx_http_zt_answer_challenges(ngx_http_request_t *r, char *error,
    ngx_str_t *err)
{
    ngx_uint_t               bearer, dpop, in_dpop;
    ngx_http_zt_ctx_t       *ctx;
    ngx_http_zt_loc_conf_t  *lcf;

    static ngx_str_t  bearer_scheme = ngx_string("Bearer");
    static ngx_str_t  dpop_scheme = ngx_string("DPoP");

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    dpop = (lcf->dpop.mode != NGX_HTTP_ZT_DPOP_OFF);
    bearer = (lcf->dpop.mode != NGX_HTTP_ZT_DPOP_REQUIRED);
    in_dpop = dpop && (!bearer || (ctx && ctx->dpop));

    if (bearer
        && ngx_http_zt_answer_challenge(r, lcf, &bearer_scheme,
                                        in_dpop ? NULL : error, err, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (dpop
        && ngx_http_zt_answer_challenge(r, lcf, &dpop_scheme,
                                        in_dpop ? error : NULL, err,
                                        &lcf->dpop.algs)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* SCHEME realm="zt"[, error="E"[, error_description="D"]][, algs="A"]... */

static ngx_int_t
ngx_http_zt_answer_challenge(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *scheme, char *error,
    ngx_str_t *err, ngx_str_t *algs)
{
    u_char           *p, *s, *last;
    size_t            len;
    ngx_table_elt_t  *h;

    len = scheme->len + sizeof(" realm=\"zt\"") - 1;

    if (error) {
        len += sizeof(", error=\"\"") - 1 + ngx_strlen(error);

        if (err) {
            len += sizeof(", error_description=\"\"") - 1 + err->len;
        }
    }

    if (algs) {
        len += sizeof(", algs=\"\"") - 1 + algs->len;
    }

    if (lcf->metadata) {
        len += sizeof(", resource_metadata=\"\"") - 1
               + lcf->metadata->url.len;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, len);
    if (h->value.data == NULL) {
        h->hash = 0;
        return NGX_ERROR;
    }

    p = ngx_sprintf(h->value.data, "%V realm=\"zt\"", scheme);

    if (error) {
        p = ngx_sprintf(p, ", error=\"%s\"", error);

        if (err) {
            p = ngx_cpymem(p, ", error_description=\"",
                           sizeof(", error_description=\"") - 1);

            /* a quoted-string: the descriptions are the module's own */

            for (s = err->data, last = s + err->len; s < last; s++) {
                *p++ = (*s == '"' || *s == '\\' || *s < 0x20) ? '\'' : *s;
            }

            *p++ = '"';
        }
    }

    if (algs) {
        p = ngx_sprintf(p, ", algs=\"%V\"", algs);
    }

    if (lcf->metadata) {
        p = ngx_sprintf(p, ", resource_metadata=\"%V\"",
                        &lcf->metadata->url);
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value.len = p - h->value.data;

    r->headers_out.www_authenticate = h;

    return NGX_OK;
}
