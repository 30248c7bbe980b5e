
/*
 * The record of every decision: $zt_audit, one JSON object per request for
 * an access_log with escape=none, and the smaller variables ($zt_sub,
 * $zt_scopes, $zt_claim_NAME, ...) built from the same request context.
 * Every line is valid JSON whatever the caller sent; tokens never appear,
 * only their fingerprint.
 */


#include "ngx_http_zt_inference.h"

#include <openssl/err.h>
#include <openssl/rand.h>


/* what one line is made of, besides the request and its context */
typedef struct {
    ngx_http_request_t         *r;
    ngx_str_t                   ts;
    ngx_str_t                   request_id;
} ngx_http_zt_audit_line_t;


static ngx_int_t ngx_http_zt_audit_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_zt_audit_write(ngx_http_zt_json_out_t *out,
    void *data);
static u_char *ngx_http_zt_audit_ts(u_char *buf);
static ngx_int_t ngx_http_zt_audit_request_id(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_zt_variable_value(ngx_http_variable_value_t *v,
    u_char *data, size_t len);
static ngx_int_t ngx_http_zt_sub_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_list_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_approval_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_masked_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_credential_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_token_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_zt_variables[] = {

    { ngx_string("zt_audit"), NULL, ngx_http_zt_audit_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_sub"), NULL, ngx_http_zt_sub_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_scopes"), NULL, ngx_http_zt_list_variable,
      offsetof(ngx_http_zt_identity_t, scopes), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_groups"), NULL, ngx_http_zt_list_variable,
      offsetof(ngx_http_zt_identity_t, groups), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_claim_"), NULL, ngx_http_zt_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("zt_decision"), NULL, ngx_http_zt_decision_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_approval_id"), NULL, ngx_http_zt_approval_id_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_masked"), NULL, ngx_http_zt_masked_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_upstream_credential"), NULL,
      ngx_http_zt_credential_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_token_cache"), NULL, ngx_http_zt_token_cache_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_zt_decisions[] = {
    ngx_null_string,
    ngx_string("allow"),
    ngx_string("deny"),
    ngx_string("approve"),
    ngx_string("error")
};


static ngx_int_t  ngx_http_zt_request_id_index;


ngx_int_t
ngx_http_zt_variables_add(ngx_conf_t *cf)
{
    ngx_str_t             name;
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_zt_variables; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    ngx_str_set(&name, "request_id");

    ngx_http_zt_request_id_index = ngx_http_get_variable_index(cf, &name);
    if (ngx_http_zt_request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_audit_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    size_t                     guess;
    ngx_str_t                  line;
    ngx_http_zt_ctx_t         *ctx;
    ngx_http_zt_loc_conf_t    *lcf;
    ngx_http_zt_audit_line_t   al;
    u_char                     ts[sizeof("1970-01-01T00:00:00.000Z") - 1];

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    if (ctx == NULL || ctx->decision == NGX_HTTP_ZT_DECISION_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    al.r = r->main;
    al.ts.data = ts;
    al.ts.len = ngx_http_zt_audit_ts(ts) - ts;

    if (ngx_http_zt_audit_request_id(al.r, &al.request_id) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a body in the line is mostly text that needs no escape */

    lcf = ngx_http_get_module_loc_conf(al.r, ngx_http_zt_inference_module);
    guess = 1024;

    if (lcf->audit_body && ctx->body_read) {
        guess += ngx_min(ctx->body.len, lcf->audit_body_max) / 8 * 9;
    }

    if (ngx_http_zt_json_build_guess(r->pool, ngx_http_zt_audit_write, &al,
                                     guess, &line)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    v->data = line.data;
    v->len = line.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * UTC with milliseconds.  The part down to the second is formatted once a
 * second: a process writes many lines in one.
 */

static u_char *
ngx_http_zt_audit_ts(u_char *buf)
{
    u_char      *p;
    ngx_tm_t     tm;
    ngx_uint_t   ms;
    ngx_time_t  *tp;

    static time_t  sec = -1;
    static u_char  prefix[sizeof("1970-01-01T00:00:00.") - 1];

    tp = ngx_timeofday();

    if (tp->sec != sec) {
        ngx_gmtime(tp->sec, &tm);

        ngx_sprintf(prefix, "%4d-%02d-%02dT%02d:%02d:%02d.",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

        sec = tp->sec;
    }

    p = ngx_cpymem(buf, prefix, sizeof(prefix));

    ms = tp->msec;

    *p++ = (u_char) ('0' + ms / 100);
    *p++ = (u_char) ('0' + ms / 10 % 10);
    *p++ = (u_char) ('0' + ms % 10);
    *p++ = 'Z';

    return p;
}


/*
 * $request_id, as nginx makes it (16 random bytes in hex), and the very
 * value nginx then gives for it: the line and any other use of the
 * variable in the request agree.  nginx asks OpenSSL for 16 bytes a
 * request, a call that costs more than the rest of the line; here a
 * process takes them from RAND_bytes() 4 KiB at a time.  Each byte is
 * handed out once, and wiped then; a worker fills its buffer after the
 * fork, on its first line, so no two processes share one.
 */

static ngx_int_t
ngx_http_zt_audit_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                     *p;
    ngx_http_variable_value_t  *vv;

    static size_t  left;
    static u_char  random[4096];

    vv = &r->variables[ngx_http_zt_request_id_index];

    if (!vv->valid && !vv->not_found) {

        if (left == 0) {
            if (RAND_bytes(random, sizeof(random)) == 1) {
                left = sizeof(random);

            } else {
                ERR_clear_error();
            }
        }

        /* without randomness here, nginx's own variable says what to do */

        if (left) {
            p = ngx_pnalloc(r->pool, 32);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_hex_dump(p, random + sizeof(random) - left, 16);
            ngx_explicit_memzero(random + sizeof(random) - left, 16);
            left -= 16;

            vv->data = p;
            vv->len = 32;
            vv->valid = 1;
            vv->no_cacheable = 0;
            vv->not_found = 0;
        }
    }

    vv = ngx_http_get_indexed_variable(r, ngx_http_zt_request_id_index);

    if (vv == NULL || vv->not_found) {
        ngx_str_null(id);
        return NGX_OK;
    }

    id->data = vv->data;
    id->len = vv->len;

    return NGX_OK;
}


static void
ngx_http_zt_audit_write(ngx_http_zt_json_out_t *out, void *data)
{
    ngx_http_zt_audit_line_t *al = data;

    size_t                   len;
    ngx_str_t                s;
    ngx_http_request_t      *r;
    ngx_http_zt_ctx_t       *ctx;
    ngx_http_zt_loc_conf_t  *lcf;

    r = al->r;
    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_member(out, "ts", &al->ts);
    ngx_http_zt_json_member(out, "request_id", &al->request_id);
    ngx_http_zt_json_member(out, "client", &r->connection->addr_text);
    ngx_http_zt_json_member(out, "sub", ctx->verified ? &ctx->id.sub : NULL);
    ngx_http_zt_json_member(out, "iss", ctx->verified ? &ctx->id.iss : NULL);
    ngx_http_zt_json_key(out, "scopes");
    ngx_http_zt_json_strings(out, ctx->verified ? ctx->id.scopes : NULL);
    ngx_http_zt_json_key(out, "groups");
    ngx_http_zt_json_strings(out, ctx->verified ? ctx->id.groups : NULL);
    ngx_http_zt_json_member(out, "method", &r->method_name);
    ngx_http_zt_json_member(out, "uri", &r->unparsed_uri);
    ngx_http_zt_json_member(out, "decision",
                            &ngx_http_zt_decisions[ctx->decision]);

    ngx_http_zt_json_key(out, "rule");

    if (ctx->rule) {
        ngx_http_zt_json_int(out, ctx->rule->line);

    } else {
        ngx_http_zt_json_text(out, (u_char *) "null", 4);
    }

    ngx_http_zt_json_member(out, "approval_id",
                            ctx->approval_id.len ? &ctx->approval_id : NULL);

    if (ctx->event.len) {
        ngx_http_zt_json_member(out, "event", &ctx->event);
        ngx_http_zt_json_member(out, "reviewer",
                                ctx->reviewer.len ? &ctx->reviewer : NULL);
    }

    ngx_http_zt_json_key(out, "status");
    ngx_http_zt_json_int(out, r->err_status ? r->err_status
                                            : r->headers_out.status);

    if (ctx->body_read && ngx_http_zt_body_sha256(r, ctx) == NGX_OK) {
        u_char  hex[64];

        ngx_hex_dump(hex, ctx->body_sha256, 32);
        s.data = hex;
        s.len = 64;
        ngx_http_zt_json_member(out, "body_sha256", &s);

    } else {
        ngx_http_zt_json_member(out, "body_sha256", NULL);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    if (lcf->audit_body && ctx->body_read) {
        len = ngx_min(ctx->body.len, lcf->audit_body_max);
        s.data = ctx->body.data;
        s.len = len;
        ngx_http_zt_json_member(out, "body", &s);
        ngx_http_zt_json_key(out, "body_truncated");
        ngx_http_zt_json_bool(out, len < ctx->body.len);
    }

    ngx_http_zt_json_key(out, "masked");
    ngx_http_zt_json_int(out, ctx->masked);
    ngx_http_zt_json_key(out, "masked_request");
    ngx_http_zt_json_int(out, ctx->masked_request);

    ngx_http_zt_usage_audit(r, ctx, out);

    if (ctx->id.fp[0]) {
        s.data = ctx->id.fp;
        s.len = NGX_HTTP_ZT_FP_LEN;
        ngx_http_zt_json_member(out, "token_fp", &s);

    } else {
        ngx_http_zt_json_member(out, "token_fp", NULL);
    }

    ngx_http_zt_json_close(out, '}');
}


static ngx_http_zt_ctx_t *
ngx_http_zt_audit_ctx(ngx_http_request_t *r)
{
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    return (ctx && ctx->verified) ? ctx : NULL;
}


/* data == NULL: not found, which a log line shows as "-" or "" */

static ngx_int_t
ngx_http_zt_variable_value(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    if (data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_sub_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_zt_audit_ctx(r);

    if (ctx == NULL) {
        return ngx_http_zt_variable_value(v, NULL, 0);
    }

    return ngx_http_zt_variable_value(v, ctx->id.sub.data, ctx->id.sub.len);
}


/* scopes and groups as one space-separated string, as in "scope" */

static ngx_int_t
ngx_http_zt_list_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char              *p;
    size_t               len;
    ngx_str_t           *item;
    ngx_uint_t           i;
    ngx_array_t         *list;
    ngx_http_zt_ctx_t   *ctx;

    ctx = ngx_http_zt_audit_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    list = *(ngx_array_t **) ((u_char *) &ctx->id + data);

    len = 0;
    item = list ? list->elts : NULL;

    for (i = 0; list && i < list->nelts; i++) {
        len += item[i].len + 1;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    for (i = 0; list && i < list->nelts; i++) {
        if (i) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, item[i].data, item[i].len);
    }

    return ngx_http_zt_variable_value(v, v->data, p - v->data);
}


/* $zt_claim_NAME: a string claim as is, any other as its JSON text */

static ngx_int_t
ngx_http_zt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    u_char             *p;
    char               *dump;
    size_t              len;
    json_t             *value, *claims;
    ngx_str_t           claim;
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_zt_audit_ctx(r);

    claims = ctx ? ngx_http_zt_jwt_claims(r, &ctx->id) : NULL;

    claim.data = name->data + sizeof("zt_claim_") - 1;
    claim.len = name->len - (sizeof("zt_claim_") - 1);

    if (claims == NULL
        || ngx_http_zt_jwt_claim(claims, &claim, &value, r->connection->log)
           != NGX_OK)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    if (value == NULL || json_is_null(value)) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (json_is_string(value)) {
        return ngx_http_zt_variable_value(v,
                                          (u_char *) json_string_value(value),
                                          json_string_length(value));
    }

    dump = json_dumps(value, JSON_COMPACT|JSON_ENCODE_ANY);
    if (dump == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(dump);

    p = ngx_pnalloc(r->pool, len);
    if (p != NULL) {
        ngx_memcpy(p, dump, len);
    }

    free(dump);

    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_zt_variable_value(v, p, len);
}


static ngx_int_t
ngx_http_zt_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    if (ctx == NULL) {
        return ngx_http_zt_variable_value(v, NULL, 0);
    }

    return ngx_http_zt_variable_value(v,
                                   ngx_http_zt_decisions[ctx->decision].data,
                                   ngx_http_zt_decisions[ctx->decision].len);
}


static ngx_int_t
ngx_http_zt_approval_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    if (ctx == NULL || ctx->approval_id.len == 0) {
        return ngx_http_zt_variable_value(v, NULL, 0);
    }

    return ngx_http_zt_variable_value(v, ctx->approval_id.data,
                                      ctx->approval_id.len);
}


static ngx_int_t
ngx_http_zt_masked_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char             *p;
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_zt_variable_value(v, p,
                             ngx_sprintf(p, "%ui", ctx ? ctx->masked : 0) - p);
}


static ngx_int_t
ngx_http_zt_credential_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_zt_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    if (lcf->credential.len == 0) {
        return ngx_http_zt_variable_value(v, NULL, 0);
    }

    return ngx_http_zt_variable_value(v, lcf->credential.data,
                                      lcf->credential.len);
}


/* HIT or MISS, like $upstream_cache_status; empty without zt_token_cache */

static ngx_int_t
ngx_http_zt_token_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    if (ctx == NULL || ctx->token_cache == 0) {
        return ngx_http_zt_variable_value(v, NULL, 0);
    }

    if (ctx->token_cache == 2) {
        return ngx_http_zt_variable_value(v, (u_char *) "HIT", 3);
    }

    return ngx_http_zt_variable_value(v, (u_char *) "MISS", 4);
}
