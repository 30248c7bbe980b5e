
/*
 * The reviewer API, the content handler of zt_approval_api locations: it
 * routes a request to an operation, reads its JSON body, and runs it, the
 * approval transitions through ngx_http_zt_approval.c, the grants
 * through ngx_http_zt_grant.c and the usage budgets through
 * ngx_http_zt_usage.c.  Every operation asks Redis once; its reply
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
    ngx_str_t                   iss;        /* grants: ?iss= */
    ngx_str_t                   sub;        /* grants/SUB/SCOPE, ?sub= */
    ngx_str_t                   scope;
    ngx_str_t                   key;        /* usage/KEY, usage?key= */
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
static ngx_int_t ngx_http_zt_api_match(ngx_http_request_t *r,
    ngx_http_zt_api_t *api, ngx_str_t *seg, ngx_uint_t n);
static ngx_int_t ngx_http_zt_api_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
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

static ngx_int_t ngx_http_zt_api_grantee(ngx_http_request_t *r,
    ngx_http_zt_api_t *api);
static ngx_str_t *ngx_http_zt_api_issuer(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_api_no_issuer(ngx_http_request_t *r);

static ngx_int_t ngx_http_zt_api_usage(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_api_t *api);
static ngx_int_t ngx_http_zt_api_usage_shown(ngx_http_request_t *r,
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
    NGX_HTTP_ZT_API_GRANT_LIST,     /* GET    <loc>/grants?sub=&iss= */
    NGX_HTTP_ZT_API_GRANT_REVOKE,   /* DELETE <loc>/grants/SUB/SCOPE?iss=,
                                       <loc>/grants?sub=&scope=&iss= */
    NGX_HTTP_ZT_API_USAGE_VIEW,     /* GET    <loc>/usage/KEY, usage?key= */
    NGX_HTTP_ZT_API_USAGE_RESET     /* DELETE <loc>/usage/KEY, usage?key= */
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
      ngx_http_zt_api_grant_revoke, ngx_http_zt_api_grant_revoked },

    { ngx_string("usage.view"), ngx_string("usage.error"), 0,
      ngx_http_zt_api_usage, ngx_http_zt_api_usage_shown },

    { ngx_string("usage.reset"), ngx_string("usage.error"), 0,
      ngx_http_zt_api_usage, ngx_http_zt_api_usage_shown }
};


/* what a reviewer sees of an approval, in this order */

typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  number;
} ngx_http_zt_api_field_t;


static ngx_http_zt_api_field_t  ngx_http_zt_api_fields[] = {
    { ngx_string("id"), 0 },
    { ngx_string("status"), 0 },
    { ngx_string("iss"), 0 },
    { ngx_string("sub"), 0 },
    { ngx_string("method"), 0 },
    { ngx_string("uri"), 0 },
    { ngx_string("host"), 0 },
    { ngx_string("client"), 0 },
    { ngx_string("rule"), 1 },
    { ngx_string("justification"), 0 },
    { ngx_string("body_sha256"), 0 },
    { ngx_string("body_bytes"), 1 },
    { ngx_string("body"), 0 },
    { ngx_string("created_at"), 1 },
    { ngx_string("expires_at"), 1 },
    { ngx_string("decided_by"), 0 },
    { ngx_string("decided_by_iss"), 0 },
    { ngx_string("decided_at"), 1 },
    { ngx_string("reason"), 0 },
    { ngx_string("consumed_at"), 1 },
    { ngx_string("expired_at"), 1 },
    { ngx_null_string, 0 }
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

    /* the routes start at the location's name: a regex has none */

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
       )
    {
        return "needs a prefix or exact location, not a regex or named one";
    }
    clcf->handler = ngx_http_zt_api_handler;

    return NGX_CONF_OK;
}


/* called from the front door's merge */

char *
ngx_http_zt_api_merge(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *conf)
{
    ngx_str_t                *iss;
    ngx_uint_t                i;
    ngx_http_zt_api_main_t   *amcf;
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_zt_inference_module);

    /* the issuers whose tokens can reach a policy, for the default one */

    amcf = &zmcf->api;

    if (conf->policy.rules && conf->policy.enabled) {

        if (conf->jwt.issuers == NULL || conf->jwt.issuers->nelts == 0) {
            amcf->many = 1;

        } else {
            iss = conf->jwt.issuers->elts;

            for (i = 0; i < conf->jwt.issuers->nelts; i++) {
                if (!amcf->seen) {
                    amcf->issuer = iss[i];
                    amcf->seen = 1;

                } else if (amcf->issuer.len != iss[i].len
                           || ngx_strncmp(amcf->issuer.data, iss[i].data,
                                          iss[i].len)
                              != 0)
                {
                    amcf->many = 1;
                }
            }
        }
    }

    /* a content handler is not inherited by nested locations */
    if (conf->approval_api == NGX_CONF_UNSET) {
        conf->approval_api = 0;
    }

    if (!conf->approval_api) {
        return NGX_CONF_OK;
    }

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
 * The operation of a request: its path is r->uri, the one nginx chose the
 * location with (percent-decoded, "." and ".." resolved, slashes merged),
 * and a route must start within the location's name or just after it.
 * A longer location nginx would have chosen for the same path (a stricter
 * "location /zt/grants") therefore always wins over the API's own, however
 * the path is written.  Anything that is not exactly a route is 404; the
 * answer is sent here then, and api->op stays NULL.
 */

static ngx_int_t
ngx_http_zt_api_route(ngx_http_request_t *r, ngx_http_zt_api_t *api)
{
    u_char                    *p, *q, *start, *last;
    size_t                     base;
    ngx_int_t                  rc;
    ngx_str_t                 *name, seg[3];
    ngx_uint_t                 n;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    name = &clcf->name;

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        || r->uri.len < name->len
        || ngx_strncmp(r->uri.data, name->data, name->len) != 0)
    {
        goto not_found;
    }

    base = name->len;

    if (base == 0 || name->data[base - 1] != '/') {
        base++;
    }

    last = r->uri.data + r->uri.len;

    for (p = r->uri.data; p < r->uri.data + ngx_min(base, r->uri.len); p++) {

        if (*p != '/') {
            continue;
        }

        /* the segments after p: none empty, three at most */

        n = 0;
        q = p + 1;

        for ( ;; ) {
            start = q;

            while (q < last && *q != '/') {
                q++;
            }

            if (q == start || n == 3) {
                n = 0;
                break;
            }

            seg[n].data = start;
            seg[n].len = q - start;
            n++;

            if (q == last) {
                break;
            }

            q++;
        }

        if (n == 0) {
            continue;
        }

        rc = ngx_http_zt_api_match(r, api, seg, n);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

not_found:

    return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_FOUND,
                                    "not_found_error", "not_found",
                                    "no such reviewer API endpoint");
}


#define ngx_http_zt_api_is(s, text)                                           \
    ((s)->len == sizeof(text) - 1                                             \
     && ngx_strncmp((s)->data, text, sizeof(text) - 1) == 0)


/*
 * The routes below the API's base:
 *   approvals                    GET
 *   approvals/ID                 GET
 *   approvals/ID/approve|deny    POST
 *   grants                       GET ?sub=, POST, DELETE ?sub=&scope=
 *   grants/SUB/SCOPE             DELETE
 *   usage                        GET, DELETE ?key=
 *   usage/KEY                    GET, DELETE
 * NGX_DECLINED when the segments are none of them.
 */

static ngx_int_t
ngx_http_zt_api_match(ngx_http_request_t *r, ngx_http_zt_api_t *api,
    ngx_str_t *seg, ngx_uint_t n)
{
    ngx_uint_t  op;

    if (ngx_http_zt_api_is(&seg[0], "approvals")) {

        if (n == 3) {
            if (ngx_http_zt_api_is(&seg[2], "approve")) {
                op = NGX_HTTP_ZT_API_APPROVE;

            } else if (ngx_http_zt_api_is(&seg[2], "deny")) {
                op = NGX_HTTP_ZT_API_DENY;

            } else {
                return NGX_DECLINED;
            }

            if (r->method != NGX_HTTP_POST) {
                goto not_allowed;
            }

        } else if (r->method != NGX_HTTP_GET) {
            goto not_allowed;

        } else {
            op = (n == 1) ? NGX_HTTP_ZT_API_LIST : NGX_HTTP_ZT_API_VIEW;
        }

        if (n > 1) {
            if (!ngx_http_zt_approval_id_valid(&seg[1])) {
                return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_FOUND,
                                                "not_found_error",
                                                "approval_unknown",
                                                "no such approval");
            }

            api->id = seg[1];
        }

        api->op = &ngx_http_zt_api_ops[op];

        return NGX_OK;
    }

    if (ngx_http_zt_api_is(&seg[0], "usage")) {

        if (n == 3) {
            return NGX_DECLINED;
        }

        if (r->method == NGX_HTTP_GET) {
            op = NGX_HTTP_ZT_API_USAGE_VIEW;

        } else if (r->method == NGX_HTTP_DELETE) {
            op = NGX_HTTP_ZT_API_USAGE_RESET;

        } else {
            goto not_allowed;
        }

        /* a key with a "/" (an issuer's URL) is named by ?key= */

        if (n == 2) {
            api->key = seg[1];

        } else if (ngx_http_zt_api_arg(r, "key", &api->key) == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        api->op = &ngx_http_zt_api_ops[op];

        return NGX_OK;
    }

    if (!ngx_http_zt_api_is(&seg[0], "grants") || n == 2) {
        return NGX_DECLINED;
    }

    if (n == 3) {
        if (r->method != NGX_HTTP_DELETE) {
            goto not_allowed;
        }

        api->sub = seg[1];
        api->scope = seg[2];
        api->op = &ngx_http_zt_api_ops[NGX_HTTP_ZT_API_GRANT_REVOKE];

        return NGX_OK;
    }

    switch (r->method) {

    case NGX_HTTP_GET:
        op = NGX_HTTP_ZT_API_GRANT_LIST;
        break;

    case NGX_HTTP_POST:
        op = NGX_HTTP_ZT_API_GRANT_CREATE;
        break;

    case NGX_HTTP_DELETE:
        if (ngx_http_zt_api_arg(r, "sub", &api->sub) == NGX_ERROR
            || ngx_http_zt_api_arg(r, "scope", &api->scope) == NGX_ERROR)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        op = NGX_HTTP_ZT_API_GRANT_REVOKE;
        break;

    default:
        goto not_allowed;
    }

    api->op = &ngx_http_zt_api_ops[op];

    return NGX_OK;

not_allowed:

    return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_ALLOWED,
                                    "invalid_request_error",
                                    "method_not_allowed",
                                    "this method is not allowed here");
}


/*
 * A query argument, percent-decoded once.  NGX_DECLINED when it is
 * absent, and then value is empty.
 */

static ngx_int_t
ngx_http_zt_api_arg(ngx_http_request_t *r, char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    ngx_str_null(value);

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;
    ngx_unescape_uri(&dst, &src, raw.len, 0);
    value->len = dst - value->data;

    return NGX_OK;
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

    return ngx_http_zt_approval_decide(r, &api->id, &ctx->id, approve,
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
                      "zt: sub \"%V\" of \"%V\" tried to approve their "
                      "own request %V", &ctx->id.sub, &ctx->id.iss,
                      &api->id);

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
                                    ngx_http_zt_api_issuer(r),
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
    if (ngx_http_zt_api_arg(r, "sub", &api->sub) == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (api->sub.len == 0) {
        return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request_error",
                                        "invalid_request",
                                        "grants are listed by subject: "
                                        "?sub=SUB&iss=ISS");
    }

    if (ngx_http_zt_api_grantee(r, api) != NGX_OK) {
        return ngx_http_zt_api_no_issuer(r);
    }

    return ngx_http_zt_grant_list(r, &api->iss, &api->sub,
                                  ngx_http_zt_api_reply, api);
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
    if (api->sub.len && api->scope.len
        && ngx_http_zt_api_grantee(r, api) != NGX_OK)
    {
        return ngx_http_zt_api_no_issuer(r);
    }

    return ngx_http_zt_grant_revoke(r, &ctx->id, &api->iss, &api->sub,
                                    &api->scope, ngx_http_zt_api_reply, api);
}


static ngx_int_t
ngx_http_zt_api_grant_revoked(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api, redisReply *reply)
{
    return ngx_http_zt_grant_revoked(r, &ctx->id, &api->iss, &api->sub,
                                     &api->scope, reply);
}


/*
 * The issuer of a grant's subject: ?iss=, else the one issuer of the
 * configuration.  NGX_DECLINED when neither names one.
 */

static ngx_int_t
ngx_http_zt_api_grantee(ngx_http_request_t *r, ngx_http_zt_api_t *api)
{
    ngx_str_t  *iss;

    if (ngx_http_zt_api_arg(r, "iss", &api->iss) == NGX_OK) {
        return api->iss.len ? NGX_OK : NGX_DECLINED;
    }

    iss = ngx_http_zt_api_issuer(r);
    if (iss == NULL) {
        return NGX_DECLINED;
    }

    api->iss = *iss;

    return NGX_OK;
}


/* the one issuer every policy accepts, NULL when there is none */

static ngx_str_t *
ngx_http_zt_api_issuer(ngx_http_request_t *r)
{
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    if (!zmcf->api.seen || zmcf->api.many) {
        return NULL;
    }

    return &zmcf->api.issuer;
}


static ngx_int_t
ngx_http_zt_api_no_issuer(ngx_http_request_t *r)
{
    return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                    "invalid_request_error",
                                    "issuer_required",
                                    "name the subject's issuer with ?iss=: "
                                    "the gateway accepts tokens of more "
                                    "than one issuer");
}


static ngx_int_t
ngx_http_zt_api_usage(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api)
{
    return ngx_http_zt_usage_api(r, ctx, &api->key,
                                 r->method == NGX_HTTP_DELETE,
                                 ngx_http_zt_api_reply, api);
}


static ngx_int_t
ngx_http_zt_api_usage_shown(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_api_t *api, redisReply *reply)
{
    return ngx_http_zt_usage_api_shown(r, &api->key, reply);
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


/*
 * An approval from the hash HGETALL gives: the fields a reviewer sees, in
 * a fixed order; numbers as numbers, when they are.
 */

static void
ngx_http_zt_api_object(ngx_http_zt_json_out_t *out, redisReply *flat)
{
    size_t                    j;
    ngx_uint_t                i, number;
    redisReply               *k, *v;
    ngx_http_zt_api_field_t  *f;

    ngx_http_zt_json_open(out, '{');

    for (f = ngx_http_zt_api_fields; f->name.len; f++) {

        v = NULL;

        for (i = 0; flat->type == REDIS_REPLY_ARRAY && i + 1 < flat->elements;
             i += 2)
        {
            k = flat->element[i];

            if (k->type == REDIS_REPLY_STRING
                && flat->element[i + 1]->type == REDIS_REPLY_STRING
                && k->len == f->name.len
                && ngx_strncmp(k->str, f->name.data, k->len) == 0)
            {
                v = flat->element[i + 1];
                break;
            }
        }

        if (v == NULL) {
            continue;
        }

        ngx_http_zt_json_key(out, (char *) f->name.data);

        number = f->number && v->len > 0 && v->len < NGX_INT64_LEN;

        for (j = 0; number && j < v->len; j++) {
            if (v->str[j] < '0' || v->str[j] > '9') {
                number = 0;
            }
        }

        if (number) {
            ngx_http_zt_json_text(out, (u_char *) v->str, v->len);

        } else {
            ngx_http_zt_json_str(out, (u_char *) v->str, v->len);
        }
    }

    ngx_http_zt_json_close(out, '}');
}
