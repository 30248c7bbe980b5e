
/*
 * The approval queue (SPEC section 5): a request that meets an approve
 * rule is parked in Redis and answered 202; a reviewer approves or denies
 * it through the API of a zt_approval_api location; the caller's identical
 * retry with X-ZT-Approval is forwarded once.  Also the reviewer API's
 * content handler, which hands grant operations to ngx_http_zt_grant.c.
 *
 * Redis layout (prefix from zt_redis, "zt:" by default):
 *   <prefix>approval:ID        hash: id status sub method uri body_sha256
 *                              justification client host rule body
 *                              created_at expires_at decided_by decided_at
 *                              reason consumed_at expired_at; kept until a
 *                              day after it expires
 *   <prefix>approvals:pending  sorted set of pending IDs by expires_at
 *   <prefix>approvals          channel: a JSON message per state change
 *
 * Every state change is a Lua script, so that it is atomic: of two retries
 * racing with the same approved ID exactly one consumes it.
 */


#include "ngx_http_zt_inference.h"

#include <hiredis/hiredis.h>
#include <openssl/rand.h>


#define NGX_HTTP_ZT_APPROVAL_ID_LEN       32
#define NGX_HTTP_ZT_APPROVAL_TEXT_MAX     1024
#define NGX_HTTP_ZT_APPROVAL_RETENTION    86400
#define NGX_HTTP_ZT_APPROVAL_LIST_MAX     1000
#define NGX_HTTP_ZT_APPROVAL_BODY_MAX     65536


typedef enum {
    NGX_HTTP_ZT_APPROVAL_PARKED = 1,
    NGX_HTTP_ZT_APPROVAL_FORWARD,
    NGX_HTTP_ZT_APPROVAL_PENDING,
    NGX_HTTP_ZT_APPROVAL_DENIED,
    NGX_HTTP_ZT_APPROVAL_CONSUMED,
    NGX_HTTP_ZT_APPROVAL_EXPIRED,
    NGX_HTTP_ZT_APPROVAL_UNKNOWN,
    NGX_HTTP_ZT_APPROVAL_MISMATCH
} ngx_http_zt_approval_outcome_e;


static ngx_int_t ngx_http_zt_approval_park(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_approval_t *a);
static ngx_int_t ngx_http_zt_approval_retry(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_approval_t *a, ngx_str_t *id);
static void ngx_http_zt_approval_parked(ngx_http_request_t *r,
    redisReply *reply, void *data);
static void ngx_http_zt_approval_retried(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_zt_approval_finish(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_approval_t *a);
static ngx_int_t ngx_http_zt_approval_accepted(ngx_http_request_t *r,
    ngx_http_zt_approval_t *a);

static ngx_int_t ngx_http_zt_approval_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_approval_route(ngx_http_request_t *r,
    ngx_http_zt_approval_t *a);
static void ngx_http_zt_approval_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_approval_api_run(ngx_http_request_t *r,
    ngx_http_zt_approval_t *a, json_t *body);
static ngx_int_t ngx_http_zt_approval_list(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
static void ngx_http_zt_approval_listed(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_zt_approval_get(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_approval_t *a);
static ngx_int_t ngx_http_zt_approval_decide(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_approval_t *a, json_t *body);
static void ngx_http_zt_approval_shown(ngx_http_request_t *r,
    redisReply *reply, void *data);

static ngx_int_t ngx_http_zt_approval_id_valid(ngx_str_t *id);
static ngx_table_elt_t *ngx_http_zt_approval_header(ngx_http_request_t *r,
    char *name);
static void ngx_http_zt_approval_cut(ngx_str_t *s, size_t max);
static ngx_int_t ngx_http_zt_approval_reply_str(ngx_http_request_t *r,
    redisReply *reply, ngx_str_t *s);
static ngx_int_t ngx_http_zt_approval_send_object(ngx_http_request_t *r,
    ngx_uint_t status, redisReply *flat);
static void ngx_http_zt_approval_write_one(ngx_http_zt_json_out_t *out,
    void *data);
static void ngx_http_zt_approval_write_list(ngx_http_zt_json_out_t *out,
    void *data);
static void ngx_http_zt_approval_object(ngx_http_zt_json_out_t *out,
    redisReply *flat);


/*
 * KEYS: approval, pending set.  ARGV: id sub method uri body_sha256
 * justification client rule now expires_at retention channel body host
 * deadline.
 */
static char  ngx_http_zt_approval_park_lua[] =
    NGX_HTTP_ZT_REDIS_LATE_LUA
    "local k, pending = KEYS[1], KEYS[2]\n"
    "if redis.call('EXISTS', k) == 1 then\n"
    "  return redis.error_reply('approval id collision')\n"
    "end\n"
    "redis.call('HSET', k, 'id', ARGV[1], 'status', 'pending',\n"
    "  'sub', ARGV[2], 'method', ARGV[3], 'uri', ARGV[4],\n"
    "  'body_sha256', ARGV[5], 'client', ARGV[7], 'rule', ARGV[8],\n"
    "  'created_at', ARGV[9], 'expires_at', ARGV[10])\n"
    "if ARGV[6] ~= '' then\n"
    "  redis.call('HSET', k, 'justification', ARGV[6])\n"
    "end\n"
    "if ARGV[13] ~= '' then redis.call('HSET', k, 'body', ARGV[13]) end\n"
    "if ARGV[14] ~= '' then redis.call('HSET', k, 'host', ARGV[14]) end\n"
    "redis.call('EXPIREAT', k, tonumber(ARGV[10]) + tonumber(ARGV[11]))\n"
    "redis.call('ZADD', pending, ARGV[10], ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[12], cjson.encode({id = ARGV[1],\n"
    "  status = 'pending', sub = ARGV[2], method = ARGV[3],\n"
    "  uri = ARGV[4], at = tonumber(ARGV[9])}))\n"
    "return 'pending'\n";


/*
 * KEYS: approval, pending set.  ARGV: id sub method uri body_sha256 now
 * channel deadline.  Returns {outcome, decided_by, expires_at}; "forward"
 * only to the one retry that consumed the approval.
 */
static char  ngx_http_zt_approval_consume_lua[] =
    NGX_HTTP_ZT_REDIS_LATE_LUA
    "local k, pending = KEYS[1], KEYS[2]\n"
    "local h = redis.call('HMGET', k, 'status', 'sub', 'method', 'uri',\n"
    "  'body_sha256', 'expires_at', 'decided_by')\n"
    "local status = h[1]\n"
    "if not status then return {'unknown', '', '0'} end\n"
    "local now = tonumber(ARGV[6])\n"
    "if (status == 'pending' or status == 'approved')\n"
    "   and now >= tonumber(h[6]) then\n"
    "  redis.call('HSET', k, 'status', 'expired', 'expired_at', ARGV[6])\n"
    "  redis.call('ZREM', pending, ARGV[1])\n"
    "  redis.call('PUBLISH', ARGV[7], cjson.encode({id = ARGV[1],\n"
    "    status = 'expired', sub = h[2], at = now}))\n"
    "  return {'expired', '', h[6]}\n"
    "end\n"
    "if h[2] ~= ARGV[2] or h[3] ~= ARGV[3] or h[4] ~= ARGV[4]\n"
    "   or h[5] ~= ARGV[5] then\n"
    "  return {'mismatch', '', h[6]}\n"
    "end\n"
    "if status == 'approved' then\n"
    "  redis.call('HSET', k, 'status', 'consumed', 'consumed_at', ARGV[6])\n"
    "  redis.call('PUBLISH', ARGV[7], cjson.encode({id = ARGV[1],\n"
    "    status = 'consumed', sub = h[2], by = h[7], at = now}))\n"
    "  return {'forward', h[7] or '', h[6]}\n"
    "end\n"
    "return {status, h[7] or '', h[6]}\n";


/*
 * KEYS: approval, pending set.  ARGV: id reviewer decision reason now
 * channel deadline.  Returns {"ok", fields} or {"unknown"|"self"|
 * "conflict", fields}.  An approval not used yet may still be denied
 * (withdrawn).
 */
static char  ngx_http_zt_approval_decide_lua[] =
    NGX_HTTP_ZT_REDIS_LATE_LUA
    "local k, pending = KEYS[1], KEYS[2]\n"
    "local h = redis.call('HMGET', k, 'status', 'sub', 'expires_at')\n"
    "local status = h[1]\n"
    "if not status then return {'unknown', {}} end\n"
    "local now = tonumber(ARGV[5])\n"
    "if (status == 'pending' or status == 'approved')\n"
    "   and now >= tonumber(h[3]) then\n"
    "  status = 'expired'\n"
    "  redis.call('HSET', k, 'status', status, 'expired_at', ARGV[5])\n"
    "  redis.call('ZREM', pending, ARGV[1])\n"
    "  redis.call('PUBLISH', ARGV[6], cjson.encode({id = ARGV[1],\n"
    "    status = status, sub = h[2], at = now}))\n"
    "end\n"
    "if not (status == 'pending'\n"
    "        or (status == 'approved' and ARGV[3] == 'denied')) then\n"
    "  return {'conflict', redis.call('HGETALL', k)}\n"
    "end\n"
    "if ARGV[3] == 'approved' and h[2] == ARGV[2] then\n"
    "  return {'self', redis.call('HGETALL', k)}\n"
    "end\n"
    "redis.call('HSET', k, 'status', ARGV[3], 'decided_by', ARGV[2],\n"
    "  'decided_at', ARGV[5])\n"
    "if ARGV[4] ~= '' then redis.call('HSET', k, 'reason', ARGV[4]) end\n"
    "redis.call('ZREM', pending, ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[6], cjson.encode({id = ARGV[1],\n"
    "  status = ARGV[3], sub = h[2], by = ARGV[2], reason = ARGV[4],\n"
    "  at = now}))\n"
    "return {'ok', redis.call('HGETALL', k)}\n";


/* KEYS: approval, pending set.  ARGV: id now channel. */
static char  ngx_http_zt_approval_get_lua[] =
    "local k, pending = KEYS[1], KEYS[2]\n"
    "local h = redis.call('HMGET', k, 'status', 'sub', 'expires_at')\n"
    "if not h[1] then return {'unknown', {}} end\n"
    "local now = tonumber(ARGV[2])\n"
    "if (h[1] == 'pending' or h[1] == 'approved')\n"
    "   and now >= tonumber(h[3]) then\n"
    "  redis.call('HSET', k, 'status', 'expired', 'expired_at', ARGV[2])\n"
    "  redis.call('ZREM', pending, ARGV[1])\n"
    "  redis.call('PUBLISH', ARGV[3], cjson.encode({id = ARGV[1],\n"
    "    status = 'expired', sub = h[2], at = now}))\n"
    "end\n"
    "return {'ok', redis.call('HGETALL', k)}\n";


/*
 * KEYS: pending set.  ARGV: prefix now channel limit.  Expires what is
 * due first; returns {expired IDs, approvals still pending}.
 */
static char  ngx_http_zt_approval_list_lua[] =
    "local pending, now = KEYS[1], tonumber(ARGV[2])\n"
    "local expired = {}\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', pending, '-inf',\n"
    "                               ARGV[2])) do\n"
    "  local k = ARGV[1] .. 'approval:' .. id\n"
    "  local h = redis.call('HMGET', k, 'status', 'sub')\n"
    "  if h[1] == 'pending' then\n"
    "    redis.call('HSET', k, 'status', 'expired', 'expired_at', ARGV[2])\n"
    "    redis.call('PUBLISH', ARGV[3], cjson.encode({id = id,\n"
    "      status = 'expired', sub = h[2], at = now}))\n"
    "    table.insert(expired, id)\n"
    "  end\n"
    "  redis.call('ZREM', pending, id)\n"
    "end\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', pending,\n"
    "    '(' .. ARGV[2], '+inf', 'LIMIT', 0, tonumber(ARGV[4]))) do\n"
    "  local h = redis.call('HGETALL', ARGV[1] .. 'approval:' .. id)\n"
    "  if #h > 0 then table.insert(out, h)\n"
    "  else redis.call('ZREM', pending, id) end\n"
    "end\n"
    "return {expired, out}\n";


static ngx_str_t  ngx_http_zt_approval_numeric[] = {
    ngx_string("created_at"),
    ngx_string("expires_at"),
    ngx_string("decided_at"),
    ngx_string("consumed_at"),
    ngx_string("expired_at"),
    ngx_string("rule"),
    ngx_null_string
};


ngx_int_t
ngx_http_zt_approval_handler(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_table_elt_t          *h;
    ngx_http_zt_approval_t   *a;
    ngx_http_zt_main_conf_t  *zmcf;

    a = ctx->approval;

    if (a == NULL) {
        a = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_approval_t));
        if (a == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->approval = a;
    }

    switch (a->state) {

    case NGX_HTTP_ZT_REDIS_BUSY:
        return NGX_DONE;

    case NGX_HTTP_ZT_REDIS_DONE:
    case NGX_HTTP_ZT_REDIS_FAILED:
        return ngx_http_zt_approval_finish(r, ctx, a);

    default: /* NGX_HTTP_ZT_REDIS_IDLE */
        break;
    }

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    if (!zmcf->redis.configured) {
        a->state = NGX_HTTP_ZT_REDIS_FAILED;
        return ngx_http_zt_approval_finish(r, ctx, a);
    }

    /* the body's SHA-256 binds the approval to this very request */

    if (!ctx->body_read) {
        rc = ngx_http_zt_body_read(r, lcf, ctx);

        if (rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            return (rc == NGX_ERROR) ? NGX_HTTP_INTERNAL_SERVER_ERROR : rc;
        }
    }

    if (ngx_http_zt_body_sha256(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_http_zt_approval_header(r, "X-ZT-Approval");

    if (h) {
        rc = ngx_http_zt_approval_retry(r, ctx, a, &h->value);

    } else {
        rc = ngx_http_zt_approval_park(r, lcf, ctx, a);
    }

    if (rc == NGX_AGAIN) {
        a->state = NGX_HTTP_ZT_REDIS_BUSY;
        return NGX_DONE;
    }

    if (rc == NGX_DECLINED) {
        a->state = NGX_HTTP_ZT_REDIS_FAILED;
        return ngx_http_zt_approval_finish(r, ctx, a);
    }

    if (rc == NGX_OK) {
        a->state = NGX_HTTP_ZT_REDIS_DONE;
        return ngx_http_zt_approval_finish(r, ctx, a);
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * Returns NGX_AGAIN with the command in flight, NGX_DECLINED when Redis
 * cannot be asked, NGX_ERROR on a local failure.
 */

static ngx_int_t
ngx_http_zt_approval_park(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_approval_t *a)
{
    time_t                    now;
    ngx_str_t                 args[20];
    ngx_table_elt_t          *h;
    u_char                    rnd[NGX_HTTP_ZT_APPROVAL_ID_LEN / 2];
    u_char                    sha[64];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "zt: RAND_bytes() failed");
        return NGX_ERROR;
    }

    a->id.len = NGX_HTTP_ZT_APPROVAL_ID_LEN;
    a->id.data = ngx_pnalloc(r->pool, a->id.len);
    if (a->id.data == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(a->id.data, rnd, sizeof(rnd));

    now = ngx_time();
    a->expires_at = now + lcf->approval_ttl;

    ngx_hex_dump(sha, ctx->body_sha256, 32);

    ngx_str_set(&args[0], "EVAL");
    args[1].data = (u_char *) ngx_http_zt_approval_park_lua;
    args[1].len = sizeof(ngx_http_zt_approval_park_lua) - 1;
    ngx_str_set(&args[2], "2");

    if (ngx_http_zt_approval_key(r, &args[3], "approval:", &a->id) != NGX_OK
        || ngx_http_zt_approval_key(r, &args[4], "approvals:pending", NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[5] = a->id;
    args[6] = ctx->id.sub;
    args[7] = r->method_name;
    args[8] = r->unparsed_uri;
    args[9].data = sha;
    args[9].len = 64;

    h = ngx_http_zt_approval_header(r, "X-ZT-Justification");

    if (h) {
        args[10] = h->value;
        ngx_http_zt_approval_cut(&args[10], NGX_HTTP_ZT_APPROVAL_TEXT_MAX);

    } else {
        ngx_str_null(&args[10]);
    }

    args[11] = r->connection->addr_text;

    if (ngx_http_zt_approval_time(r, &args[12],
                                  ctx->rule ? (time_t) ctx->rule->line : 0)
           != NGX_OK
        || ngx_http_zt_approval_time(r, &args[13], now) != NGX_OK
        || ngx_http_zt_approval_time(r, &args[14], a->expires_at) != NGX_OK
        || ngx_http_zt_approval_time(r, &args[15],
                                     NGX_HTTP_ZT_APPROVAL_RETENTION)
           != NGX_OK
        || ngx_http_zt_approval_key(r, &args[16], "approvals", NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* what the reviewer approves, when the operator audits bodies anyway */

    if (lcf->audit_body) {
        args[17] = ctx->body;
        ngx_http_zt_approval_cut(&args[17], lcf->audit_body_max);

    } else {
        ngx_str_null(&args[17]);
    }

    if (r->headers_in.server.len) {
        args[18] = r->headers_in.server;

    } else {
        ngx_str_null(&args[18]);
    }

    if (ngx_http_zt_redis_deadline(r, &args[19]) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_zt_redis_command_argv(r, ngx_http_zt_approval_parked, NULL,
                                       20, args)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_zt_approval_retry(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_approval_t *a, ngx_str_t *id)
{
    ngx_str_t  args[13];
    u_char     sha[64];

    if (!ngx_http_zt_approval_id_valid(id)) {
        a->outcome = NGX_HTTP_ZT_APPROVAL_UNKNOWN;
        return NGX_OK;
    }

    a->id.len = id->len;
    a->id.data = ngx_pnalloc(r->pool, id->len);
    if (a->id.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(a->id.data, id->data, id->len);

    ngx_hex_dump(sha, ctx->body_sha256, 32);

    ngx_str_set(&args[0], "EVAL");
    args[1].data = (u_char *) ngx_http_zt_approval_consume_lua;
    args[1].len = sizeof(ngx_http_zt_approval_consume_lua) - 1;
    ngx_str_set(&args[2], "2");

    if (ngx_http_zt_approval_key(r, &args[3], "approval:", &a->id) != NGX_OK
        || ngx_http_zt_approval_key(r, &args[4], "approvals:pending", NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[5] = a->id;
    args[6] = ctx->id.sub;
    args[7] = r->method_name;
    args[8] = r->unparsed_uri;
    args[9].data = sha;
    args[9].len = 64;

    if (ngx_http_zt_approval_time(r, &args[10], ngx_time()) != NGX_OK
        || ngx_http_zt_approval_key(r, &args[11], "approvals", NULL)
           != NGX_OK
        || ngx_http_zt_redis_deadline(r, &args[12]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_zt_redis_command_argv(r, ngx_http_zt_approval_retried, NULL,
                                       13, args)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


static void
ngx_http_zt_approval_parked(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_zt_ctx_t       *ctx;
    ngx_http_zt_approval_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);
    a = ctx->approval;

    if (reply == NULL
        || (reply->type != REDIS_REPLY_STATUS
            && reply->type != REDIS_REPLY_STRING))
    {
        a->state = NGX_HTTP_ZT_REDIS_FAILED;

    } else {
        a->state = NGX_HTTP_ZT_REDIS_DONE;
        a->outcome = NGX_HTTP_ZT_APPROVAL_PARKED;
    }

    ngx_http_core_run_phases(r);
}


static void
ngx_http_zt_approval_retried(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_str_t                s;
    ngx_uint_t               i;
    redisReply              *e;
    ngx_http_zt_ctx_t       *ctx;
    ngx_http_zt_approval_t  *a;

    static struct {
        ngx_str_t   name;
        ngx_uint_t  outcome;
    } outcomes[] = {
        { ngx_string("forward"), NGX_HTTP_ZT_APPROVAL_FORWARD },
        { ngx_string("pending"), NGX_HTTP_ZT_APPROVAL_PENDING },
        { ngx_string("denied"), NGX_HTTP_ZT_APPROVAL_DENIED },
        { ngx_string("consumed"), NGX_HTTP_ZT_APPROVAL_CONSUMED },
        { ngx_string("expired"), NGX_HTTP_ZT_APPROVAL_EXPIRED },
        { ngx_string("unknown"), NGX_HTTP_ZT_APPROVAL_UNKNOWN },
        { ngx_string("mismatch"), NGX_HTTP_ZT_APPROVAL_MISMATCH },
        { ngx_null_string, 0 }
    };

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);
    a = ctx->approval;

    a->state = NGX_HTTP_ZT_REDIS_FAILED;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3)
    {
        goto done;
    }

    e = reply->element[0];

    if (e->type != REDIS_REPLY_STRING) {
        goto done;
    }

    for (i = 0; outcomes[i].name.len; i++) {
        if (outcomes[i].name.len == e->len
            && ngx_strncmp(outcomes[i].name.data, e->str, e->len) == 0)
        {
            a->outcome = outcomes[i].outcome;
            break;
        }
    }

    if (a->outcome == 0) {
        /* a state this code does not know: refuse, never forward */
        a->outcome = NGX_HTTP_ZT_APPROVAL_UNKNOWN;
    }

    if (ngx_http_zt_approval_reply_str(r, reply->element[1], &a->reviewer)
        != NGX_OK)
    {
        goto done;
    }

    if (ngx_http_zt_approval_reply_str(r, reply->element[2], &s) != NGX_OK) {
        goto done;
    }

    a->expires_at = ngx_atotm(s.data, s.len);

    if (a->expires_at == NGX_ERROR) {
        a->expires_at = 0;
    }

    a->state = NGX_HTTP_ZT_REDIS_DONE;

done:

    ngx_http_core_run_phases(r);
}


/*
 * Acts on what Redis said: NGX_OK lets the request through, any answer
 * the gateway sends itself ends the request here (NGX_DONE).
 */

static ngx_int_t
ngx_http_zt_approval_finish(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_approval_t *a)
{
    char       *code, *message;
    ngx_int_t   rc;

    ctx->approval_id = a->id;

    if (a->state == NGX_HTTP_ZT_REDIS_FAILED) {
        ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
        ngx_str_set(&ctx->event, "approval.error");

        rc = ngx_http_zt_redis_unavailable(r);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    switch (a->outcome) {

    case NGX_HTTP_ZT_APPROVAL_FORWARD:
        ctx->decision = NGX_HTTP_ZT_DECISION_ALLOW;
        ngx_str_set(&ctx->event, "approval.consume");
        ctx->reviewer = a->reviewer;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: approval %V consumed by sub \"%V\", "
                      "approved by \"%V\"", &a->id, &ctx->id.sub,
                      &a->reviewer);
        return NGX_OK;

    case NGX_HTTP_ZT_APPROVAL_PARKED:
        ctx->decision = NGX_HTTP_ZT_DECISION_APPROVE;
        ngx_str_set(&ctx->event, "approval.park");

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: approval %V parked for sub \"%V\"",
                      &a->id, &ctx->id.sub);

        rc = ngx_http_zt_approval_accepted(r, a);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;

    case NGX_HTTP_ZT_APPROVAL_PENDING:
        ctx->decision = NGX_HTTP_ZT_DECISION_APPROVE;
        ngx_str_set(&ctx->event, "approval.pending");

        rc = ngx_http_zt_approval_accepted(r, a);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;

    case NGX_HTTP_ZT_APPROVAL_DENIED:
        ngx_str_set(&ctx->event, "approval.refuse");
        ctx->reviewer = a->reviewer;
        code = "approval_denied";
        message = "a reviewer denied this request";
        break;

    case NGX_HTTP_ZT_APPROVAL_CONSUMED:
        ngx_str_set(&ctx->event, "approval.refuse");
        code = "approval_consumed";
        message = "this approval was used already";
        break;

    case NGX_HTTP_ZT_APPROVAL_EXPIRED:
        ngx_str_set(&ctx->event, "approval.expire");
        code = "approval_expired";
        message = "this approval has expired";
        break;

    case NGX_HTTP_ZT_APPROVAL_MISMATCH:
        ngx_str_set(&ctx->event, "approval.refuse");
        code = "approval_mismatch";
        message = "this approval was given for another request";
        break;

    default: /* NGX_HTTP_ZT_APPROVAL_UNKNOWN */
        ngx_str_set(&ctx->event, "approval.refuse");
        code = "approval_unknown";
        message = "no such approval";
        break;
    }

    ctx->decision = NGX_HTTP_ZT_DECISION_DENY;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "zt: approval \"%V\" refused for sub \"%V\": %s",
                  &a->id, &ctx->id.sub, code);

    rc = ngx_http_zt_answer_error(r, NGX_HTTP_FORBIDDEN, "permission_error",
                                    code, message);
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_zt_approval_accepted(ngx_http_request_t *r,
    ngx_http_zt_approval_t *a)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-ZT-Approval-Id");
    h->value = a->id;

    len = sizeof("{\"approval\":{\"id\":\"\",\"status\":\"pending\","
                 "\"expires_at\":}}\n") - 1
          + a->id.len + NGX_TIME_T_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = ngx_sprintf(p, "{\"approval\":{\"id\":\"%V\",\"status\":\"pending\","
                         "\"expires_at\":%T}}\n", &a->id, a->expires_at)
          - p;

    return ngx_http_zt_answer_json(r, NGX_HTTP_ACCEPTED, p, len);
}


/* the content handler of zt_approval_api locations */

char *
ngx_http_zt_approval_api_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_loc_conf_t *lcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (lcf->approval_api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    lcf->approval_api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_zt_approval_api_handler;

    return NGX_CONF_OK;
}


/* called at the end of the front door's merge */

char *
ngx_http_zt_approval_merge(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *conf)
{
    ngx_uint_t                i;
    ngx_http_zt_rule_t       *rule;
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_zt_inference_module);

    /* a content handler is not inherited by nested locations */
    if (conf->approval_api == NGX_CONF_UNSET) {
        conf->approval_api = 0;
    }

    if (conf->approval_api) {

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
    }

    if (conf->policy.rules == NULL || !conf->policy.enabled
        || zmcf->redis.configured)
    {
        return NGX_CONF_OK;
    }

    rule = conf->policy.rules->elts;

    for (i = 0; i < conf->policy.rules->nelts; i++) {
        if (rule[i].action == NGX_HTTP_ZT_APPROVE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"zt_policy approve\" at line %ui needs "
                               "\"zt_redis\"", rule[i].line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_zt_approval_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_zt_ctx_t       *ctx, *mctx;
    ngx_http_zt_approval_t  *a;

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

    a = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_approval_t));
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->approval = a;
    mctx->reviewer = mctx->id.sub;

    rc = ngx_http_zt_approval_route(r, a);
    if (rc != NGX_OK) {
        return rc;
    }

    if (a->op == NGX_HTTP_ZT_API_APPROVE || a->op == NGX_HTTP_ZT_API_DENY
        || a->op == NGX_HTTP_ZT_API_GRANT_CREATE)
    {
        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_zt_approval_api_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_zt_approval_api_run(r, a, NULL);

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
ngx_http_zt_approval_route(ngx_http_request_t *r, ngx_http_zt_approval_t *a)
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

        a->op = (seg[0].len == sizeof("deny") - 1) ? NGX_HTTP_ZT_API_DENY
                                                   : NGX_HTTP_ZT_API_APPROVE;
        a->id = seg[1];
        goto check_id;
    }

    if (ngx_http_zt_seg_is(1, "usage")) {
        if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_DELETE) {
            goto not_allowed;
        }

        a->op = NGX_HTTP_ZT_API_USAGE;
        a->sub = seg[0];
        return NGX_OK;
    }

    if (ngx_http_zt_seg_is(2, "grants") && r->method == NGX_HTTP_DELETE) {
        a->op = NGX_HTTP_ZT_API_GRANT_REVOKE;
        a->sub = seg[1];
        a->scope = seg[0];
        return NGX_OK;
    }

    if (ngx_http_zt_seg_is(0, "approvals")) {
        if (r->method != NGX_HTTP_GET) {
            goto not_allowed;
        }

        a->op = NGX_HTTP_ZT_API_LIST;
        return NGX_OK;
    }

    if (ngx_http_zt_seg_is(0, "grants")) {
        if (r->method == NGX_HTTP_GET) {
            a->op = NGX_HTTP_ZT_API_GRANT_LIST;
            return NGX_OK;
        }

        if (r->method == NGX_HTTP_POST) {
            a->op = NGX_HTTP_ZT_API_GRANT_CREATE;
            return NGX_OK;
        }

        goto not_allowed;
    }

    if (ngx_http_zt_seg_is(1, "approvals")) {
        if (r->method != NGX_HTTP_GET) {
            goto not_allowed;
        }

        a->op = NGX_HTTP_ZT_API_GET;
        a->id = seg[0];
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

    if (!ngx_http_zt_approval_id_valid(&a->id)) {
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
ngx_http_zt_approval_api_body(ngx_http_request_t *r)
{
    size_t                   len;
    u_char                  *p;
    json_t                  *body;
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_chain_t             *cl;
    json_error_t             err;
    ngx_http_zt_ctx_t       *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    body = NULL;
    len = 0;

    if (r->request_body && r->request_body->bufs) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            if (cl->buf->in_file) {
                rc = ngx_http_zt_answer_error(r,
                                        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "invalid_request_error",
                                        "request_too_large",
                                        "the request body is too large");
                ngx_http_finalize_request(r, rc);
                return;
            }

            len += cl->buf->last - cl->buf->pos;
        }
    }

    if (len > NGX_HTTP_ZT_APPROVAL_BODY_MAX) {
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

    rc = ngx_http_zt_approval_api_run(r, ctx->approval, body);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * Returns NGX_DONE when a Redis reply will finish the request, else what
 * to finalize it with.
 */

static ngx_int_t
ngx_http_zt_approval_api_run(ngx_http_request_t *r, ngx_http_zt_approval_t *a,
    json_t *body)
{
    ngx_http_zt_ctx_t  *mctx;

    mctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    switch (a->op) {

    case NGX_HTTP_ZT_API_LIST:
        return ngx_http_zt_approval_list(r, mctx);

    case NGX_HTTP_ZT_API_GET:
        return ngx_http_zt_approval_get(r, mctx, a);

    case NGX_HTTP_ZT_API_APPROVE:
    case NGX_HTTP_ZT_API_DENY:
        return ngx_http_zt_approval_decide(r, mctx, a, body);

    case NGX_HTTP_ZT_API_USAGE:
        return ngx_http_zt_usage_api(r, mctx, r->method, &a->sub);

    default:
        return ngx_http_zt_grant_api(r, mctx, a, body);
    }
}


static ngx_int_t
ngx_http_zt_approval_list(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    ngx_str_t                 args[8], status;
    ngx_http_zt_main_conf_t  *zmcf;

    ngx_str_set(&ctx->event, "approval.list");

    if (ngx_http_arg(r, (u_char *) "status", 6, &status) == NGX_OK
        && !(status.len == 7 && ngx_strncmp(status.data, "pending", 7) == 0))
    {
        return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request_error",
                                          "invalid_status",
                                          "only status=pending is listed");
    }

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    ngx_str_set(&args[0], "EVAL");
    args[1].data = (u_char *) ngx_http_zt_approval_list_lua;
    args[1].len = sizeof(ngx_http_zt_approval_list_lua) - 1;
    ngx_str_set(&args[2], "1");

    if (ngx_http_zt_approval_key(r, &args[3], "approvals:pending", NULL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[4] = zmcf->redis.prefix;

    if (ngx_http_zt_approval_time(r, &args[5], ngx_time()) != NGX_OK
        || ngx_http_zt_approval_key(r, &args[6], "approvals", NULL) != NGX_OK
        || ngx_http_zt_approval_time(r, &args[7],
                                     NGX_HTTP_ZT_APPROVAL_LIST_MAX)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_zt_redis_command_argv(r, ngx_http_zt_approval_listed, NULL,
                                       8, args)
        != NGX_OK)
    {
        ngx_str_set(&ctx->event, "approval.error");
        return ngx_http_zt_redis_unavailable(r);
    }

    return NGX_DONE;
}


static void
ngx_http_zt_approval_listed(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    u_char             *p;
    size_t              len;
    ngx_int_t           rc;
    ngx_str_t           json;
    ngx_uint_t          i;
    redisReply         *expired, *list, *e;
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        ngx_str_set(&ctx->event, "approval.error");
        ngx_http_finalize_request(r, ngx_http_zt_redis_unavailable(r));
        return;
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
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
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

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_approval_write_list,
                               list, &json)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_zt_answer_json(r, NGX_HTTP_OK, json.data, json.len);
    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_zt_approval_get(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_approval_t *a)
{
    ngx_str_t  args[8];

    ngx_str_set(&ctx->event, "approval.view");
    ctx->approval_id = a->id;

    ngx_str_set(&args[0], "EVAL");
    args[1].data = (u_char *) ngx_http_zt_approval_get_lua;
    args[1].len = sizeof(ngx_http_zt_approval_get_lua) - 1;
    ngx_str_set(&args[2], "2");

    if (ngx_http_zt_approval_key(r, &args[3], "approval:", &a->id) != NGX_OK
        || ngx_http_zt_approval_key(r, &args[4], "approvals:pending", NULL)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[5] = a->id;

    if (ngx_http_zt_approval_time(r, &args[6], ngx_time()) != NGX_OK
        || ngx_http_zt_approval_key(r, &args[7], "approvals", NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_zt_redis_command_argv(r, ngx_http_zt_approval_shown, NULL,
                                       8, args)
        != NGX_OK)
    {
        ngx_str_set(&ctx->event, "approval.error");
        return ngx_http_zt_redis_unavailable(r);
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_zt_approval_decide(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_approval_t *a, json_t *body)
{
    json_t     *v;
    ngx_str_t   args[12];

    ctx->approval_id = a->id;

    if (a->op == NGX_HTTP_ZT_API_APPROVE) {
        ngx_str_set(&ctx->event, "approval.approve");
        ngx_str_set(&args[7], "approved");

    } else {
        ngx_str_set(&ctx->event, "approval.deny");
        ngx_str_set(&args[7], "denied");
    }

    ngx_str_null(&args[8]);

    v = body ? json_object_get(body, "reason") : NULL;

    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) {
            return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                              "invalid_request_error",
                                              "invalid_reason",
                                              "\"reason\" must be a string");
        }

        args[8].data = (u_char *) json_string_value(v);
        args[8].len = json_string_length(v);
        ngx_http_zt_approval_cut(&args[8], NGX_HTTP_ZT_APPROVAL_TEXT_MAX);
    }

    ngx_str_set(&args[0], "EVAL");
    args[1].data = (u_char *) ngx_http_zt_approval_decide_lua;
    args[1].len = sizeof(ngx_http_zt_approval_decide_lua) - 1;
    ngx_str_set(&args[2], "2");

    if (ngx_http_zt_approval_key(r, &args[3], "approval:", &a->id) != NGX_OK
        || ngx_http_zt_approval_key(r, &args[4], "approvals:pending", NULL)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[5] = a->id;
    args[6] = ctx->id.sub;

    if (ngx_http_zt_approval_time(r, &args[9], ngx_time()) != NGX_OK
        || ngx_http_zt_approval_key(r, &args[10], "approvals", NULL)
           != NGX_OK
        || ngx_http_zt_redis_deadline(r, &args[11]) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_zt_redis_command_argv(r, ngx_http_zt_approval_shown, NULL,
                                       12, args)
        != NGX_OK)
    {
        ngx_str_set(&ctx->event, "approval.error");
        return ngx_http_zt_redis_unavailable(r);
    }

    return NGX_DONE;
}


/* the reply of the get and decide scripts: {outcome, fields} */

static void
ngx_http_zt_approval_shown(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    u_char                  *msg;
    ngx_int_t                rc;
    ngx_uint_t               i;
    redisReply              *e, *flat, *f, *status;
    ngx_http_zt_ctx_t       *ctx;
    ngx_http_zt_approval_t  *a;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);
    a = ((ngx_http_zt_ctx_t *)
         ngx_http_get_module_ctx(r, ngx_http_zt_inference_module))->approval;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        ngx_str_set(&ctx->event, "approval.error");
        ngx_http_finalize_request(r, ngx_http_zt_redis_unavailable(r));
        return;
    }

    e = reply->element[0];
    flat = reply->element[1];

#define ngx_http_zt_outcome_is(text)                                         \
    (e->len == sizeof(text) - 1 && ngx_strncmp(e->str, text, e->len) == 0)

    if (ngx_http_zt_outcome_is("unknown") || flat->elements == 0) {
        rc = ngx_http_zt_answer_error(r, NGX_HTTP_NOT_FOUND,
                                        "not_found_error", "approval_unknown",
                                        "no such approval");

    } else if (ngx_http_zt_outcome_is("self")) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "zt: sub \"%V\" tried to approve their own request "
                      "%V", &ctx->id.sub, &a->id);

        rc = ngx_http_zt_answer_error(r, NGX_HTTP_FORBIDDEN,
                                        "permission_error", "self_approval",
                                        "a requester cannot approve their "
                                        "own request");

    } else if (ngx_http_zt_outcome_is("conflict")) {
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
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_sprintf(msg, "this approval is %*s, not pending%Z",
                    status ? status->len : 7,
                    status ? status->str : "decided");

        rc = ngx_http_zt_answer_error(r, NGX_HTTP_CONFLICT,
                                        "invalid_request_error",
                                        "approval_not_pending",
                                        (char *) msg);

    } else {
        if (a->op == NGX_HTTP_ZT_API_APPROVE
            || a->op == NGX_HTTP_ZT_API_DENY)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "zt: approval %V %s by \"%V\"", &a->id,
                          a->op == NGX_HTTP_ZT_API_APPROVE ? "approved"
                                                          : "denied",
                          &ctx->id.sub);
        }

        rc = ngx_http_zt_approval_send_object(r, NGX_HTTP_OK, flat);
    }

#undef ngx_http_zt_outcome_is

    ngx_http_finalize_request(r, rc);
}


/* helpers shared with ngx_http_zt_grant.c */

/* <prefix><kind><name> */

ngx_int_t
ngx_http_zt_approval_key(ngx_http_request_t *r, ngx_str_t *key, char *kind,
    ngx_str_t *name)
{
    u_char                   *p;
    size_t                    len;
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    len = zmcf->redis.prefix.len + ngx_strlen(kind) + (name ? name->len : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    p = ngx_cpymem(p, zmcf->redis.prefix.data, zmcf->redis.prefix.len);
    p = ngx_cpymem(p, kind, ngx_strlen(kind));

    if (name) {
        p = ngx_cpymem(p, name->data, name->len);
    }

    key->len = p - key->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_zt_approval_time(ngx_http_request_t *r, ngx_str_t *s, time_t t)
{
    s->data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    s->len = ngx_sprintf(s->data, "%T", t) - s->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_approval_id_valid(ngx_str_t *id)
{
    ngx_uint_t  i;

    if (id->len != NGX_HTTP_ZT_APPROVAL_ID_LEN) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        if (!((id->data[i] >= '0' && id->data[i] <= '9')
              || (id->data[i] >= 'a' && id->data[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


static ngx_table_elt_t *
ngx_http_zt_approval_header(ngx_http_request_t *r, char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
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

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* at most max bytes, never in the middle of a UTF-8 sequence */

static void
ngx_http_zt_approval_cut(ngx_str_t *s, size_t max)
{
    if (s->len <= max) {
        return;
    }

    s->len = max;

    while (s->len && (s->data[s->len] & 0xc0) == 0x80) {
        s->len--;
    }
}


static ngx_int_t
ngx_http_zt_approval_reply_str(ngx_http_request_t *r, redisReply *reply,
    ngx_str_t *s)
{
    if (reply->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    s->len = reply->len;
    s->data = ngx_pnalloc(r->pool, reply->len + 1);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, reply->str, reply->len);
    s->data[s->len] = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_approval_send_object(ngx_http_request_t *r, ngx_uint_t status,
    redisReply *flat)
{
    ngx_str_t  json;

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_approval_write_one,
                               flat, &json)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_zt_answer_json(r, status, json.data, json.len);
}


/* {"approval":APPROVAL}\n */

static void
ngx_http_zt_approval_write_one(ngx_http_zt_json_out_t *out, void *data)
{
    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_key(out, "approval");
    ngx_http_zt_approval_object(out, data);
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_raw(out, (u_char *) "\n", 1);
}


/* {"approvals":[APPROVAL,...]}\n */

static void
ngx_http_zt_approval_write_list(ngx_http_zt_json_out_t *out, void *data)
{
    redisReply *list = data;

    ngx_uint_t  i;

    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_key(out, "approvals");
    ngx_http_zt_json_open(out, '[');

    for (i = 0; i < list->elements; i++) {
        ngx_http_zt_approval_object(out, list->element[i]);
    }

    ngx_http_zt_json_close(out, ']');
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_raw(out, (u_char *) "\n", 1);
}


/* a hash as HGETALL returns it, as a JSON object; times as numbers */

static void
ngx_http_zt_approval_object(ngx_http_zt_json_out_t *out, redisReply *flat)
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

        for (num = ngx_http_zt_approval_numeric; num->len; num++) {
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
