
/*
 * The access phase: who is calling (bearer token), what they send (the
 * body, when a rule, the audit or a usage limit needs it), what the policy
 * decides, what it costs (the usage limits reserve it), and what reaches
 * the upstream (the caller's token never does unless zt_forward_token is
 * on).
 */


#include "ngx_http_zt_inference.h"


static ngx_int_t ngx_http_zt_access_identify(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx);
static ngx_int_t ngx_http_zt_access_decide(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx);
static ngx_int_t ngx_http_zt_access_strip_token(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_access_fail(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_body_refusal_t *refusal);
static ngx_int_t ngx_http_zt_access_answered(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_zt_access_done(ngx_http_zt_ctx_t *ctx,
    ngx_int_t rc);


ngx_int_t
ngx_http_zt_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_zt_ctx_t       *ctx;
    ngx_http_zt_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    if (!lcf->policy.enabled
        || (lcf->policy.rules == NULL && lcf->usage.limits == NULL))
    {
        return NGX_DECLINED;
    }

    /* subrequests inherit the main request's decision */
    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_zt_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->done) {
        return ctx->rc;
    }

    if (lcf->policy.rules && !ctx->verified) {
        rc = ngx_http_zt_access_identify(r, lcf, ctx);

        if (rc == NGX_DONE) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            return ngx_http_zt_access_done(ctx, rc);
        }
    }

    /*
     * Every time the phases run, not only the first: a body judged bad is
     * refused before any rule, whether it came with the header or later.
     */

    if (ngx_http_zt_body_needs(lcf)) {

        rc = ngx_http_zt_body_read(r, lcf, ctx);

        if (rc == NGX_AGAIN) {
            /* the body handler runs the phases again when it is all in */
            return NGX_DONE;
        }

        if (rc != NGX_OK && ctx->body_refusal) {
            return ngx_http_zt_access_fail(r, ctx, ctx->body_refusal);
        }

        if (rc != NGX_OK) {
            ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
            return ngx_http_zt_access_done(ctx, rc);
        }
    }

    /* once the reservation has begun, the request was let through */

    if (lcf->policy.rules && ctx->usage == NULL) {
        rc = ngx_http_zt_access_decide(r, lcf, ctx);

        if (rc == NGX_AGAIN || rc == NGX_DONE) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            return ngx_http_zt_access_done(ctx, rc);
        }
    }

    if (lcf->usage.limits) {
        rc = ngx_http_zt_usage_reserve(r, lcf, ctx);

        if (rc == NGX_DONE) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
            return ngx_http_zt_access_done(ctx, rc);
        }
    }

    return ngx_http_zt_access_done(ctx, NGX_OK);
}


static ngx_int_t
ngx_http_zt_access_identify(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_str_t                        token, err;
    ngx_uint_t                       dpop;
    ngx_http_zt_token_cache_bind_t   bind;

    ngx_str_null(&err);
    dpop = 0;

    rc = ngx_http_zt_jwt_bearer(r, &token, &dpop, &err);

    ctx->dpop = dpop;

    if (rc == NGX_DECLINED) {
        ctx->decision = NGX_HTTP_ZT_DECISION_DENY;
        rc = ngx_http_zt_answer_unauthorized(r, NULL);
        return ngx_http_zt_access_answered(r, ctx, rc);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_zt_token_cache_lookup(r, lcf, &token, &ctx->id,
                                            &bind);

        if (rc == NGX_OK) {
            ctx->token_cache = 2;

        } else {
            ctx->token_cache = lcf->token_cache ? 1 : 0;

            rc = ngx_http_zt_jwt_verify(r, &lcf->jwt, &token, &ctx->id,
                                        &err);

            /* a key set is being fetched: the phases run again after it */
            if (rc == NGX_AGAIN) {
                return NGX_DONE;
            }

            if (rc == NGX_BUSY) {
                ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
                rc = ngx_http_zt_jwks_unavailable(r);
                return ngx_http_zt_access_answered(r, ctx, rc);
            }

            if (rc == NGX_OK) {
                ngx_http_zt_token_cache_store(r, lcf, &token, &bind,
                                              &ctx->id);
            }
        }

        /* a token bound to a key: the caller proves it holds the key */

        if (rc == NGX_OK) {
            rc = ngx_http_zt_cnf_check(r, lcf, ctx, &token, &err);
        }
    }

    if (rc == NGX_OK) {
        ctx->verified = 1;
        return NGX_OK;
    }

    if (rc == NGX_BUSY) {
        ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
        rc = ngx_http_zt_dpop_unavailable(r);
        return ngx_http_zt_access_answered(r, ctx, rc);
    }

    if (rc == NGX_DECLINED || (rc == NGX_ERROR && err.len)) {
        ctx->decision = NGX_HTTP_ZT_DECISION_DENY;
        rc = ngx_http_zt_answer_unauthorized(r, &err);
        return ngx_http_zt_access_answered(r, ctx, rc);
    }

    ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_zt_access_decide(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t                 rc, masked;
    ngx_http_zt_rule_t       *rule;
    ngx_http_zt_main_conf_t  *zmcf;

    /* the rules judge the body as the caller sent it, every time */

    ngx_http_zt_mask_request_original(ctx);

    rule = ngx_http_zt_policy_decide(r, &lcf->policy, ctx);

    /*
     * A rule before the deciding one failed on a scope the token lacks: a
     * just-in-time grant may give it, and first match must stay first.
     */

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    if (ctx->scope_missed && !ctx->grants_loaded && zmcf->redis.configured) {

        rc = ngx_http_zt_grant_load(r, ctx);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc != NGX_OK) {
            ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
            rc = ngx_http_zt_redis_unavailable(r);
            return ngx_http_zt_access_answered(r, ctx, rc);
        }

        rule = ngx_http_zt_policy_decide(r, &lcf->policy, ctx);
    }

    ctx->rule = rule;

    /*
     * From here on the body is as it goes on, masked by zt_mask_request:
     * for the upstream, a reviewer and the audit.  A deny still denies.
     */

    masked = ngx_http_zt_mask_request(r, lcf, ctx);

    if (rule == NULL || rule->action == NGX_HTTP_ZT_DENY) {
        if (rule) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "zt: denied \"%V\" for sub \"%V\" by the rule "
                          "at line %ui", &r->uri, &ctx->id.sub, rule->line);

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "zt: denied \"%V\" for sub \"%V\": no rule allows "
                          "it", &r->uri, &ctx->id.sub);
        }

        /* a rule that could not be evaluated stays an error in the audit */
        if (ctx->decision != NGX_HTTP_ZT_DECISION_ERROR) {
            ctx->decision = NGX_HTTP_ZT_DECISION_DENY;
        }

        rc = ngx_http_zt_answer_forbidden(r);
        return ngx_http_zt_access_answered(r, ctx, rc);
    }

    if (masked != NGX_OK) {
        if (masked == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (ctx->body_refusal) {
            return ngx_http_zt_access_fail(r, ctx, ctx->body_refusal);
        }

        ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rule->action == NGX_HTTP_ZT_APPROVE) {
        ctx->decision = NGX_HTTP_ZT_DECISION_APPROVE;

        /* parks, answers, or lets an approved retry through, once */
        rc = ngx_http_zt_approval_handler(r, lcf, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        ctx->decision = NGX_HTTP_ZT_DECISION_ALLOW;
    }

    if (!lcf->forward_token) {
        if (ngx_http_zt_access_strip_token(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The caller's token (and its DPoP proof) is for the gateway alone:
 * rebuild the request header list without it, so that no proxy module,
 * whatever its settings, can pass it upstream.
 */

static ngx_int_t
ngx_http_zt_access_strip_token(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    if (ngx_list_init(&headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if ((h[i].key.len == sizeof("Authorization") - 1
             && ngx_strncasecmp(h[i].key.data, (u_char *) "Authorization",
                                sizeof("Authorization") - 1) == 0)
            || (h[i].key.len == sizeof("DPoP") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "DPoP",
                                   sizeof("DPoP") - 1) == 0))
        {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    r->headers_in.headers = headers;
    r->headers_in.authorization = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_access_fail(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_body_refusal_t *refusal)
{
    ngx_int_t  rc;
    ngx_str_t  type;

    if (ctx->decision == NGX_HTTP_ZT_DECISION_NONE) {
        ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
    }

    ngx_str_set(&type, "invalid_request_error");

    rc = ngx_http_zt_answer(r, refusal->status, &type, &refusal->code,
                            &refusal->message);

    return ngx_http_zt_access_answered(r, ctx, rc);
}


/*
 * The gateway answered: finalizing may free the request, so the context is
 * marked before, and nothing of the request is touched after.
 */

static ngx_int_t
ngx_http_zt_access_answered(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_int_t rc)
{
    (void) ngx_http_zt_access_done(ctx, NGX_DONE);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * Remembers the result: the phases may run again (after the body is read
 * or Redis answered), and a decided request is not decided twice.
 */

static ngx_int_t
ngx_http_zt_access_done(ngx_http_zt_ctx_t *ctx, ngx_int_t rc)
{
    ctx->done = 1;
    ctx->rc = rc;

    return rc;
}
