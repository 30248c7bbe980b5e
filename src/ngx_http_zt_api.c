
/*
 * The reviewer API, the content handler of zt_approval_api locations: it
 * routes a request to an operation, reads its JSON body, and runs it, the
 * approval transitions through ngx_http_zt_approval.c and the grants
 * through ngx_http_zt_grant.c.  Every operation asks Redis once; its reply
 * finishes the request here, and so does Redis's failure, as a 503 the
 * audit line names.  Who may call the API is the location's own
 * zt_policy.
 */


#include "ngx_http_zt_inference.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_ZT_API_BODY_MAX  65536


typedef struct ngx_http_zt_api_op_s  ngx_http_zt_api_op_t;


struct ngx_http_zt_api_s {
    ngx_http_zt_api_op_t       *op;
    ngx_str_t                   id;         /* approvals/ID */
    ngx_str_t                   sub;        /* grants/SUB/SCOPE */
    ngx_str_t                   scope;
    json_t                     *body;
};


/* ctx is the main request's: the reviewer and the audit line */

typedef ngx_int_t (*ngx_http_zt_api_send_pt)(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);
typedef ngx_int_t (*ngx_http_zt_api_done_pt)(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api, redisReply *reply);


/*
 * An operation: send asks Redis (NGX_DONE), answers at once, or says that
 * Redis cannot be asked (NGX_DECLINED); done answers from the reply, or
 * returns NGX_DECLINED for a reply it cannot use.
 */
struct ngx_http_zt_api_op_s {
    ngx_str_t                   event;      /* in the audit line */
    ngx_str_t                   error;      /* ... when Redis failed */
    ngx_uint_t                  body;       /* takes a JSON body */
    ngx_http_zt_api_send_pt     send;
    ngx_http_zt_api_done_pt     done;
};


static ngx_int_t ngx_http_zt_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_api_route(ngx_http_request_t *r,
    ngx_http_zt_api_t *api);
static void ngx_http_zt_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_api_run(ngx_http_request_t *r,
    ngx_http_zt_api_t *api);
static void ngx_http_zt_api_reply(ngx_http_request_t *r, redisReply *reply,
    void *data);
static ngx_int_t ngx_http_zt_api_unavailable(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);

static ngx_int_t ngx_http_zt_api_list(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);
static ngx_int_t ngx_http_zt_api_listed(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api, redisReply *reply);
static ngx_int_t ngx_http_zt_api_view(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);
static ngx_int_t ngx_http_zt_api_approve(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);
static ngx_int_t ngx_http_zt_api_deny(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);
static ngx_int_t ngx_http_zt_api_decide(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api, ngx_uint_t approve);
static ngx_int_t ngx_http_zt_api_shown(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api, redisReply *reply);

static ngx_int_t ngx_http_zt_api_grant_create(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);
static ngx_int_t ngx_http_zt_api_grant_created(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api, redisReply *reply);
static ngx_int_t ngx_http_zt_api_grant_list(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);
static ngx_int_t ngx_http_zt_api_grant_listed(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api, redisReply *reply);
static ngx_int_t ngx_http_zt_api_grant_revoke(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);
static ngx_int_t ngx_http_zt_api_grant_revoked(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api, redisReply *reply);

static ngx_int_t ngx_http_zt_api_send_object(ngx_http_request_t *r,
    ngx_uint_t status, redisReply *flat);
static void ngx_http_zt_api_write_one(ngx_http_zt_json_out_t *out,
    void *data);
static void ngx_http_zt_api_write_list(ngx_http_zt_json_out_t *out,
    void *data);
static void ngx_http_zt_api_object(ngx_http_zt_json_out_t *out,
    redisReply *flat);


enum {
    NGX_HTTP_ZT_API_LIST = 0,       /* GET    <loc>/approvals */
    NGX_HTTP_ZT_API_VIEW,           /* GET    <loc>/approvals/ID */
    NGX_HTTP_ZT_API_APPROVE,        /* POST   <loc>/approvals/ID/approve */
    NGX_HTTP_ZT_API_DENY,           /* POST   <loc>/approvals/ID/deny */
    NGX_HTTP_ZT_API_GRANT_CREATE,   /* POST   <loc>/grants */
    NGX_HTTP_ZT_API_GRANT_LIST,     /* GET    <loc>/grants?sub= */
    NGX_HTTP_ZT_API_GRANT_REVOKE    /* DELETE <loc>/grants/SUB/SCOPE */
};


static ngx_http_zt_api_op_t  ngx_http_zt_api_ops[] = {

    { ngx_string("approval.list"), ngx_string("approval.error"), 0,
      ngx_http_zt_api_list, ngx_http_zt_api_listed },

    { ngx_string("approval.view"), ngx_string("approval.error"), 0,
      ngx_http_zt_api_view, ngx_http_zt_api_shown },

    { ngx_string("approval.approve"), ngx_string("approval.error"), 1,
      ngx_http_zt_api_approve, ngx_http_zt_api_shown },

    { ngx_string("approval.deny"), ngx_string("approval.error"), 1,
      ngx_http_zt_api_deny, ngx_http_zt_api_shown },

    { ngx_string("grant.create"), ngx_string("grant.error"), 1,
      ngx_http_zt_api_grant_create, ngx_http_zt_api_grant_created },

    { ngx_string("grant.list"), ngx_string("grant.error"), 0,
      ngx_http_zt_api_grant_list, ngx_http_zt_api_grant_listed },

    { ngx_string("grant.revoke"), ngx_string("grant.error"), 0,
      ngx_http_zt_api_grant_revoke, ngx_http_zt_api_grant_revoked }
};


/* APPROVAL fields that are numbers */
static ngx_str_t  ngx_http_zt_api_numeric[] = {
    ngx_string("created_at"),
    ngx_string("expires_at"),
    ngx_string("decided_at"),
    ngx_string("consumed_at"),
    ngx_string("expired_at"),
    ngx_string("rule"),
    ngx_null_string
};


char *
ngx_http_zt_api_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_loc_conf_t *lcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (lcf->approval_api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    lcf->approval_api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_zt_api_handler;

    return NGX_CONF_OK;
}


/* called from the front door's merge */

char *
ngx_http_zt_api_merge(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *conf)
{
    ngx_http_zt_main_conf_t  *zmcf;

    /* a content handler is not inherited by nested locations */
    if (conf->approval_api == NGX_CONF_UNSET) {
        conf->approval_api = 0;
    }

    if (!conf->approval_api) {
        return NGX_CONF_OK;
    }

    zmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_zt_inference_module);

    if (!zmcf->redis.configured) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_approval_api\" needs \"zt_redis\"");
        return NGX_CONF_ERROR;
    }

    if (conf->policy.rules == NULL || !conf->policy.enabled) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_approval_api\" needs \"zt_policy\" "
                           "rules saying who may review");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_zt_api_handler(ngx_http_request_t *r)
{
    ngx_int_t           rc;
    ngx_http_zt_api_t  *api;
    ngx_http_zt_ctx_t  *ctx, *mctx;

    /* the reviewer: verified by the location's own zt_policy */
    mctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    if (mctx == NULL || !mctx->verified || mctx->id.sub.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "zt: approval API reached without a verified "
                      "reviewer");
        return ngx_http_zt_answer_error(r, NGX_HTTP_FORBIDDEN,
                                        "permission_error",
                                        "reviewer_unknown",
                                        "no verified reviewer");
    }

    /* a subrequest keeps its own operation, the main request the caller */
    ctx = ngx_http_zt_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    api = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_api_t));
    if (api == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->api = api;
    mctx->reviewer = mctx->id.sub;

    rc = ngx_http_zt_api_route(r, api);
    if (api->op == NULL) {
        /* answered: no such endpoint */
        return rc;
    }

    if (api->op->body) {
        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r, ngx_http_zt_api_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_zt_api_run(r, api);

    if (rc == NGX_DONE) {
        /* the Redis reply finalizes the request */
        r->main->count++;
    }

    return rc;
}


/*
 * Finds the operation from the last segments of the path, so that the API
 * works under any location; the undecoded path when nginx has one, so
 * that a subject with a "/" can be written %2F.
 */

static ngx_int_t
ngx_http_zt_api_route(ngx_http_request_t *r, ngx_http_zt_api_t *api)
{
    u_char     *p, *last, *end, *dst;
    ngx_str_t   path, seg[3], *s;
    ngx_uint_t  n, i, raw;

    if (r->valid_unparsed_uri && r == r->main) {
        path = r->unparsed_uri;

        p = ngx_strlchr(path.data, path.data + path.len, '?');
        if (p) {
            path.len = p - path.data;
        }

        raw = 1;

    } else {
        path = r->uri;
        raw = 0;
    }

    n = 0;
    last = path.data + path.len;

    while (n < 3) {
        while (last > path.data && last[-1] == '/') {
            last--;
        }

        if (last == path.data) {
            break;
        }

        end = last;

        while (last > path.data && last[-1] != '/') {
            last--;
        }

        seg[n].data = last;
        seg[n].len = end - last;
        n++;
    }

    for (i = 0; raw && i < n; i++) {
        s = &seg[i];

        if (ngx_strlchr(s->data, s->data + s->len, '%') == NULL) {
            continue;
        }

        dst = ngx_pnalloc(r->pool, s->len);
        if (dst == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = s->data;
        s->data = dst;
        ngx_unescape_uri(&dst, &p, s->len, 0);
        s->len = dst - s->data;
    }

#define ngx_http_zt_seg_is(i, text)                                          \
    (n > i && seg[i].len == sizeof(text) - 1                                \
     && ngx_strncmp(seg[i].data, text, sizeof(text) - 1) == 0)

    if (ngx_http_zt_seg_is(2, "approvals")
        && (ngx_http_zt_seg_is(0, "approve") || ngx_http_zt_seg_is(0, "deny")))
    {
        if (r->method != NGX_HTTP_POST) {
            goto not_allowed;
        }

        api->op = &ngx_http_zt_api_ops[
                      seg[0].len == sizeof("deny") - 1 ? NGX_HTTP_ZT_API_DENY
                                                    : NGX_HTTP_ZT_API_APPROVE];
        api->id = seg[1];
        goto check_id;
    }

    if (ngx_http_zt_seg_is(2, "grants") && r->method == NGX_HTTP_DELETE) {
        api->op = &ngx_http_zt_api_ops[NGX_HTTP_ZT_API_GRANT_REVOKE];
        api->sub = seg[1];
        api->scope = seg[0];
        return NGX_OK;
    }

    if (ngx_http_zt_seg_is(0, "approvals")) {
        if (r->method != NGX_HTTP_GET) {
            goto not_allowed;
        }

        api->op = &ngx_http_zt_api_ops[NGX_HTTP_ZT_API_LIST];
        return NGX_OK;
    }

    if (ngx_http_zt_seg_is(0, "grants")) {
        if (r->method == NGX_HTTP_GET) {
            api->op = &ngx_http_zt_api_ops[NGX_HTTP_ZT_API_GRANT_LIST];
            return NGX_OK;
        }

        if (r->method == NGX_HTTP_POST) {
            api->op = &ngx_http_zt_api_ops[NGX_HTTP_ZT_API_GRANT_CREATE];
            return NGX_OK;
        }

        goto not_allowed;
    }

    if (ngx_http_zt_seg_is(1, "approvals")) {
        if (r->method != NGX_HTTP_GET) {
            goto not_allowed;
        }

        api->op = &ngx_http_zt_api_ops[NGX_HTTP_ZT_API_VIEW];
        api->id = seg[0];
        goto check_id;
    }

    if (ngx_http_zt_seg_is(2, "grants")) {
        goto not_allowed;
    }

#undef ngx_http_zt_seg_is

    return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_FOUND,
                                    "not_found_error", "not_found",
                                    "no such reviewer API endpoint");

check_id:

    if (!ngx_http_zt_approval_id_valid(&api->id)) {
        api->op = NULL;
        return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_FOUND,
                                        "not_found_error",
                                        "approval_unknown",
                                        "no such approval");
    }

    return NGX_OK;

not_allowed:

    return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_ALLOWED,
                                    "invalid_request_error",
                                    "method_not_allowed",
                                    "this method is not allowed here");
}


static void
ngx_http_zt_api_body(ngx_http_request_t *r)
{
    size_t              len;
    u_char             *p;
    json_t             *body;
    ngx_int_t           rc;
    ngx_buf_t          *b;
    ngx_chain_t        *cl;
    json_error_t        err;
    ngx_http_zt_api_t  *api;
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);
    api = ctx->api;

    body = NULL;
    len = 0;

    if (r->request_body && r->request_body->bufs) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            if (cl->buf->in_file) {
                len = NGX_HTTP_ZT_API_BODY_MAX + 1;
                break;
            }

            len += cl->buf->last - cl->buf->pos;
        }
    }

    if (len > NGX_HTTP_ZT_API_BODY_MAX) {
        rc = ngx_http_zt_answer_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "invalid_request_error",
                                      "request_too_large",
                                      "the request body is too large");
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (len) {
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        len = 0;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;
            ngx_memcpy(p + len, b->pos, b->last - b->pos);
            len += b->last - b->pos;
        }

        body = json_loadb((char *) p, len, JSON_REJECT_DUPLICATES, &err);

        if (body == NULL || !json_is_object(body)) {
            if (body) {
                json_decref(body);
            }

            rc = ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request_error",
                                          "invalid_json",
                                          "the body must be a JSON object");
            ngx_http_finalize_request(r, rc);
            return;
        }

        if (ngx_http_zt_json_cleanup_add(r->pool, body) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    api->body = body;

    rc = ngx_http_zt_api_run(r, api);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * NGX_DONE when a Redis reply will finish the request, else what to
 * finalize it with.
 */

static ngx_int_t
ngx_http_zt_api_run(ngx_http_request_t *r, ngx_http_zt_api_t *api)
{
    ngx_int_t           rc;
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    ctx->event = api->op->event;

    rc = api->op->send(r, ctx, api);

    if (rc == NGX_DECLINED) {
        return ngx_http_zt_api_unavailable(r, ctx, api);
    }

    return rc;
}


static void
ngx_http_zt_api_reply(ngx_http_request_t *r, redisReply *reply, void *data)
{
    ngx_http_zt_api_t *api = data;

    ngx_int_t           rc;
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    rc = reply ? api->op->done(r, ctx, api, reply) : NGX_DECLINED;

    if (rc == NGX_DECLINED) {
        rc = ngx_http_zt_api_unavailable(r, ctx, api);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_zt_api_unavailable(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api)
{
    ctx->event = api->op->error;

    return ngx_http_zt_redis_unavailable(r);
}


static ngx_int_t
ngx_http_zt_api_list(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api)
{
    ngx_str_t  status;

    if (ngx_http_arg(r, (u_char *) "status", 6, &status) == NGX_OK
        && !(status.len == 7 && ngx_strncmp(status.data, "pending", 7) == 0))
    {
        return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request_error",
                                        "invalid_status",
                                        "only status=pending is listed");
    }

    return ngx_http_zt_approval_list(r, ngx_http_zt_api_reply, api);
}


static ngx_int_t
ngx_http_zt_api_listed(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api, redisReply *reply)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    json;
    ngx_uint_t   i;
    redisReply  *expired, *list, *e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NGX_DECLINED;
    }

    expired = reply->element[0];
    list = reply->element[1];

    /* approvals that expired while listed: the audit line names them */

    if (expired->elements) {
        ngx_str_set(&ctx->event, "approval.expire");

        len = 0;

        for (i = 0; i < expired->elements; i++) {
            len += expired->element[i]->len + 1;
        }

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->approval_id.data = p;

        for (i = 0; i < expired->elements; i++) {
            e = expired->element[i];

            if (i) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, e->str, e->len);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "zt: approval %*s expired", e->len, e->str);
        }

        ctx->approval_id.len = p - ctx->approval_id.data;
    }

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_api_write_list, list,
                               &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_zt_answer_json(r, NGX_HTTP_OK, json.data, json.len);
}


static ngx_int_t
ngx_http_zt_api_view(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api)
{
    ctx->approval_id = api->id;

    return ngx_http_zt_approval_view(r, &api->id, ngx_http_zt_api_reply, api);
}


static ngx_int_t
ngx_http_zt_api_approve(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api)
{
    return ngx_http_zt_api_decide(r, ctx, api, 1);
}


static ngx_int_t
ngx_http_zt_api_deny(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api)
{
    return ngx_http_zt_api_decide(r, ctx, api, 0);
}


static ngx_int_t
ngx_http_zt_api_decide(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api, ngx_uint_t approve)
{
    json_t     *v;
    ngx_str_t   reason;

    ctx->approval_id = api->id;

    ngx_str_null(&reason);

    v = api->body ? json_object_get(api->body, "reason") : NULL;

    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) {
            return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request_error",
                                            "invalid_reason",
                                            "\"reason\" must be a string");
        }

        reason.data = (u_char *) json_string_value(v);
        reason.len = json_string_length(v);
    }

    return ngx_http_zt_approval_decide(r, &api->id, &ctx->id.sub, approve,
                                       &reason, ngx_http_zt_api_reply, api);
}


/* the reply of the view and decide scripts: {outcome, APPROVAL} */

static ngx_int_t
ngx_http_zt_api_shown(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api, redisReply *reply)
{
    u_char      *msg;
    ngx_uint_t   i;
    redisReply  *e, *flat, *f, *status;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NGX_DECLINED;
    }

    e = reply->element[0];
    flat = reply->element[1];

#define ngx_http_zt_outcome_is(text)                                         \
    (e->len == sizeof(text) - 1 && ngx_strncmp(e->str, text, e->len) == 0)

    if (ngx_http_zt_outcome_is("unknown") || flat->elements == 0) {
        return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_FOUND,
                                        "not_found_error", "approval_unknown",
                                        "no such approval");
    }

    if (ngx_http_zt_outcome_is("self")) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "zt: sub \"%V\" tried to approve their own request "
                      "%V", &ctx->id.sub, &api->id);

        return ngx_http_zt_answer_error(r, NGX_HTTP_FORBIDDEN,
                                        "permission_error", "self_approval",
                                        "a requester cannot approve their "
                                        "own request");
    }

    if (ngx_http_zt_outcome_is("conflict")) {
        status = NULL;

        for (i = 0; i + 1 < flat->elements; i += 2) {
            f = flat->element[i];

            if (f->type == REDIS_REPLY_STRING && f->len == 6
                && ngx_strncmp(f->str, "status", 6) == 0
                && flat->element[i + 1]->type == REDIS_REPLY_STRING
                && flat->element[i + 1]->len <= 32)
            {
                status = flat->element[i + 1];
            }
        }

        msg = ngx_pnalloc(r->pool, sizeof("this approval is , not pending")
                                   + 32);
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(msg, "this approval is %*s, not pending%Z",
                    status ? status->len : 7,
                    status ? status->str : "decided");

        return ngx_http_zt_answer_error(r, NGX_HTTP_CONFLICT,
                                        "invalid_request_error",
                                        "approval_not_pending",
                                        (char *) msg);
    }

#undef ngx_http_zt_outcome_is

    if (api->op != &ngx_http_zt_api_ops[NGX_HTTP_ZT_API_VIEW]) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: approval %V %s by \"%V\"", &api->id,
                      api->op == &ngx_http_zt_api_ops[NGX_HTTP_ZT_API_APPROVE]
                      ? "approved" : "denied", &ctx->id.sub);
    }

    return ngx_http_zt_api_send_object(r, NGX_HTTP_OK, flat);
}


static ngx_int_t
ngx_http_zt_api_grant_create(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api)
{
    return ngx_http_zt_grant_create(r, &ctx->id, api->body,
                                    ngx_http_zt_api_reply, api);
}


static ngx_int_t
ngx_http_zt_api_grant_created(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api, redisReply *reply)
{
    return ngx_http_zt_grant_created(r, reply);
}


static ngx_int_t
ngx_http_zt_api_grant_list(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api)
{
    return ngx_http_zt_grant_list(r, ngx_http_zt_api_reply, api);
}


static ngx_int_t
ngx_http_zt_api_grant_listed(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api, redisReply *reply)
{
    return ngx_http_zt_grant_listed(r, reply);
}


static ngx_int_t
ngx_http_zt_api_grant_revoke(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api)
{
    return ngx_http_zt_grant_revoke(r, &ctx->id, &api->sub, &api->scope,
                                    ngx_http_zt_api_reply, api);
}


static ngx_int_t
ngx_http_zt_api_grant_revoked(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api, redisReply *reply)
{
    return ngx_http_zt_grant_revoked(r, &ctx->id, &api->sub, &api->scope,
                                     reply);
}


static ngx_int_t
ngx_http_zt_api_send_object(ngx_http_request_t *r, ngx_uint_t status,
    redisReply *flat)
{
    ngx_str_t  json;

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_api_write_one, flat,
                               &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_zt_answer_json(r, status, json.data, json.len);
}


/* {"approval":APPROVAL}\n */

static void
ngx_http_zt_api_write_one(ngx_http_zt_json_out_t *out, void *data)
{
    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_key(out, "approval");
    ngx_http_zt_api_object(out, data);
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_raw(out, (u_char *) "\n", 1);
}


/* {"approvals":[APPROVAL,...]}\n */

static void
ngx_http_zt_api_write_list(ngx_http_zt_json_out_t *out, void *data)
{
    redisReply *list = data;

    ngx_uint_t  i;

    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_key(out, "approvals");
    ngx_http_zt_json_open(out, '[');

    for (i = 0; i < list->elements; i++) {
        ngx_http_zt_api_object(out, list->element[i]);
    }

    ngx_http_zt_json_close(out, ']');
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_raw(out, (u_char *) "\n", 1);
}


/* a hash as HGETALL returns it, as a JSON object; times as numbers */

static void
ngx_http_zt_api_object(ngx_http_zt_json_out_t *out, redisReply *flat)
{
    size_t       j;
    ngx_str_t   *num;
    ngx_uint_t   i, numeric;
    redisReply  *k, *v;
    u_char       key[32];

    ngx_http_zt_json_open(out, '{');

    for (i = 0; flat->type == REDIS_REPLY_ARRAY && i + 1 < flat->elements;
         i += 2)
    {
        k = flat->element[i];
        v = flat->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || k->len >= sizeof(key))
        {
            continue;
        }

        ngx_memcpy(key, k->str, k->len);
        key[k->len] = '\0';

        ngx_http_zt_json_key(out, (char *) key);

        numeric = 0;

        for (num = ngx_http_zt_api_numeric; num->len; num++) {
            if (num->len == k->len
                && ngx_strncmp(num->data, k->str, k->len) == 0)
            {
                numeric = (v->len > 0 && v->len < NGX_TIME_T_LEN);
                break;
            }
        }

        for (j = 0; numeric && j < v->len; j++) {
            if (v->str[j] < '0' || v->str[j] > '9') {
                numeric = 0;
            }
        }

        if (numeric) {
            ngx_http_zt_json_text(out, (u_char *) v->str, v->len);

        } else {
            ngx_http_zt_json_str(out, (u_char *) v->str, v->len);
        }
    }

    ngx_http_zt_json_close(out, '}');
}
