
/*
 * The approval queue: a request that meets an approve rule is parked in
 * Redis and answered 202; a reviewer approves or denies it (the reviewer
 * API, ngx_http_zt_api.c, asks for that here); the caller's identical
 * retry with X-ZT-Approval is forwarded once.
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
 * The state machine is the scripts below, each one atomic: of two retries
 * racing with the same approved ID exactly one consumes it.
 *
 *   pending  --approve-->  approved  --the retry-->  consumed
 *   pending  --deny---->   denied    <--deny--       approved
 *   pending, approved  --past expires_at-->  expired
 */


#include "ngx_http_zt_inference.h"

#include <hiredis/hiredis.h>
#include <openssl/rand.h>


#define NGX_HTTP_ZT_APPROVAL_ID_LEN       32
#define NGX_HTTP_ZT_APPROVAL_TEXT_MAX     1024
#define NGX_HTTP_ZT_APPROVAL_RETENTION    86400
#define NGX_HTTP_ZT_APPROVAL_LIST_MAX     1000


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
static ngx_int_t ngx_http_zt_approval_keys(ngx_http_request_t *r,
    ngx_str_t *args, ngx_str_t *id);
static ngx_table_elt_t *ngx_http_zt_approval_header(ngx_http_request_t *r,
    char *name);
static void ngx_http_zt_approval_cut(ngx_str_t *s, size_t max);
static ngx_int_t ngx_http_zt_approval_reply_str(ngx_http_request_t *r,
    redisReply *reply, ngx_str_t *s);


/*
 * The one place an approval expires, shared by the scripts: a pending or
 * approved approval past its expires_at becomes expired, leaves the
 * pending set, and the channel says so.  Returns the status it has now
 * (false when there is no such approval) and whether it expired just now.
 */
#define NGX_HTTP_ZT_APPROVAL_EXPIRE_LUA                                       \
    "local function zt_expire(k, pending, id, now, channel)\n"                \
    "  local h = redis.call('HMGET', k, 'status', 'sub', 'expires_at')\n"     \
    "  local status = h[1]\n"                                                 \
    "  if (status == 'pending' or status == 'approved')\n"                    \
    "     and now >= tonumber(h[3]) then\n"                                   \
    "    redis.call('HSET', k, 'status', 'expired', 'expired_at', now)\n"     \
    "    redis.call('ZREM', pending, id)\n"                                   \
    "    redis.call('PUBLISH', channel, cjson.encode({id = id,\n"             \
    "      status = 'expired', sub = h[2], at = now}))\n"                     \
    "    return 'expired', true\n"                                            \
    "  end\n"                                                                 \
    "  return status, false\n"                                                \
    "end\n"


/*
 * KEYS: approval, pending set.  ARGV: id now channel sub method uri
 * body_sha256 justification client rule expires_at retention body host.
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_park_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    "local k, pending = KEYS[1], KEYS[2]\n"
    "if redis.call('EXISTS', k) == 1 then\n"
    "  return redis.error_reply('approval id collision')\n"
    "end\n"
    "redis.call('HSET', k, 'id', ARGV[1], 'status', 'pending',\n"
    "  'sub', ARGV[4], 'method', ARGV[5], 'uri', ARGV[6],\n"
    "  'body_sha256', ARGV[7], 'client', ARGV[9], 'rule', ARGV[10],\n"
    "  'created_at', ARGV[2], 'expires_at', ARGV[11])\n"
    "if ARGV[8] ~= '' then\n"
    "  redis.call('HSET', k, 'justification', ARGV[8])\n"
    "end\n"
    "if ARGV[13] ~= '' then redis.call('HSET', k, 'body', ARGV[13]) end\n"
    "if ARGV[14] ~= '' then redis.call('HSET', k, 'host', ARGV[14]) end\n"
    "redis.call('EXPIREAT', k, tonumber(ARGV[11]) + tonumber(ARGV[12]))\n"
    "redis.call('ZADD', pending, ARGV[11], ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[3], cjson.encode({id = ARGV[1],\n"
    "  status = 'pending', sub = ARGV[4], method = ARGV[5],\n"
    "  uri = ARGV[6], at = tonumber(ARGV[2])}))\n"
    "return 'pending'\n",
    2);


/*
 * KEYS: approval, pending set.  ARGV: id now channel sub method uri
 * body_sha256.  Returns {outcome, decided_by, expires_at}; "forward" only
 * to the one retry that consumed the approval.
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_consume_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    NGX_HTTP_ZT_APPROVAL_EXPIRE_LUA
    "local k, pending, id, now = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2])\n"
    "local status, expired = zt_expire(k, pending, id, now, ARGV[3])\n"
    "if not status then return {'unknown', '', '0'} end\n"
    "local h = redis.call('HMGET', k, 'sub', 'method', 'uri',\n"
    "  'body_sha256', 'expires_at', 'decided_by')\n"
    "if expired then return {'expired', '', h[5]} end\n"
    "if h[1] ~= ARGV[4] or h[2] ~= ARGV[5] or h[3] ~= ARGV[6]\n"
    "   or h[4] ~= ARGV[7] then\n"
    "  return {'mismatch', '', h[5]}\n"
    "end\n"
    "if status == 'approved' then\n"
    "  redis.call('HSET', k, 'status', 'consumed', 'consumed_at', now)\n"
    "  redis.call('PUBLISH', ARGV[3], cjson.encode({id = id,\n"
    "    status = 'consumed', sub = h[1], by = h[6], at = now}))\n"
    "  return {'forward', h[6] or '', h[5]}\n"
    "end\n"
    "return {status, h[6] or '', h[5]}\n",
    2);


/*
 * KEYS: approval, pending set.  ARGV: id now channel reviewer decision
 * reason.  An approval not used yet may still be denied (withdrawn).
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_decide_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    NGX_HTTP_ZT_APPROVAL_EXPIRE_LUA
    "local k, pending, id, now = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2])\n"
    "local status = zt_expire(k, pending, id, now, ARGV[3])\n"
    "if not status then return {'unknown', {}} end\n"
    "if not (status == 'pending'\n"
    "        or (status == 'approved' and ARGV[5] == 'denied')) then\n"
    "  return {'conflict', redis.call('HGETALL', k)}\n"
    "end\n"
    "local sub = redis.call('HGET', k, 'sub')\n"
    "if ARGV[5] == 'approved' and sub == ARGV[4] then\n"
    "  return {'self', redis.call('HGETALL', k)}\n"
    "end\n"
    "redis.call('HSET', k, 'status', ARGV[5], 'decided_by', ARGV[4],\n"
    "  'decided_at', now)\n"
    "if ARGV[6] ~= '' then redis.call('HSET', k, 'reason', ARGV[6]) end\n"
    "redis.call('ZREM', pending, id)\n"
    "redis.call('PUBLISH', ARGV[3], cjson.encode({id = id,\n"
    "  status = ARGV[5], sub = sub, by = ARGV[4], reason = ARGV[6],\n"
    "  at = now}))\n"
    "return {'ok', redis.call('HGETALL', k)}\n",
    2);


/* KEYS: approval, pending set.  ARGV: id now channel. */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_view_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    NGX_HTTP_ZT_APPROVAL_EXPIRE_LUA
    "if not zt_expire(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]),\n"
    "                 ARGV[3]) then\n"
    "  return {'unknown', {}}\n"
    "end\n"
    "return {'ok', redis.call('HGETALL', KEYS[1])}\n",
    2);


/*
 * KEYS: pending set.  ARGV: prefix now channel limit.  Expires what is
 * due first; returns {expired IDs, approvals still pending}.
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_list_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    NGX_HTTP_ZT_APPROVAL_EXPIRE_LUA
    "local pending, now = KEYS[1], tonumber(ARGV[2])\n"
    "local expired = {}\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', pending, '-inf',\n"
    "                               ARGV[2])) do\n"
    "  local _, now_expired = zt_expire(ARGV[1] .. 'approval:' .. id,\n"
    "                                   pending, id, now, ARGV[3])\n"
    "  if now_expired then table.insert(expired, id) end\n"
    "  redis.call('ZREM', pending, id)\n"
    "end\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', pending,\n"
    "    '(' .. ARGV[2], '+inf', 'LIMIT', 0, tonumber(ARGV[4]))) do\n"
    "  local h = redis.call('HGETALL', ARGV[1] .. 'approval:' .. id)\n"
    "  if #h > 0 then table.insert(out, h)\n"
    "  else redis.call('ZREM', pending, id) end\n"
    "end\n"
    "return {expired, out}\n",
    1);


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

    if (rc == NGX_DONE) {
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


/* returns what ngx_http_zt_redis_eval() does */

static ngx_int_t
ngx_http_zt_approval_park(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_approval_t *a)
{
    time_t            now;
    ngx_str_t         args[16];
    ngx_table_elt_t  *h;
    u_char            rnd[NGX_HTTP_ZT_APPROVAL_ID_LEN / 2];
    u_char            sha[64];

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

    if (ngx_http_zt_approval_keys(r, args, &a->id) != NGX_OK) {
        return NGX_ERROR;
    }

    args[5] = ctx->id.sub;
    args[6] = r->method_name;
    args[7] = r->unparsed_uri;
    args[8].data = sha;
    args[8].len = 64;

    h = ngx_http_zt_approval_header(r, "X-ZT-Justification");

    if (h) {
        args[9] = h->value;
        ngx_http_zt_approval_cut(&args[9], NGX_HTTP_ZT_APPROVAL_TEXT_MAX);

    } else {
        ngx_str_null(&args[9]);
    }

    args[10] = r->connection->addr_text;

    if (ngx_http_zt_redis_number(r, &args[11],
                                 ctx->rule ? (int64_t) ctx->rule->line : 0)
           != NGX_OK
        || ngx_http_zt_redis_number(r, &args[12], a->expires_at) != NGX_OK
        || ngx_http_zt_redis_number(r, &args[13],
                                    NGX_HTTP_ZT_APPROVAL_RETENTION)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* what the reviewer approves, when the operator audits bodies anyway */

    if (lcf->audit_body) {
        args[14] = ctx->body;
        ngx_http_zt_approval_cut(&args[14], lcf->audit_body_max);

    } else {
        ngx_str_null(&args[14]);
    }

    if (r->headers_in.server.len) {
        args[15] = r->headers_in.server;

    } else {
        ngx_str_null(&args[15]);
    }

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_approval_park_lua, args, 16,
                                  ngx_http_zt_approval_parked, NULL);
}


static ngx_int_t
ngx_http_zt_approval_retry(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_approval_t *a, ngx_str_t *id)
{
    ngx_str_t  args[9];
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

    if (ngx_http_zt_approval_keys(r, args, &a->id) != NGX_OK) {
        return NGX_ERROR;
    }

    args[5] = ctx->id.sub;
    args[6] = r->method_name;
    args[7] = r->unparsed_uri;
    args[8].data = sha;
    args[8].len = 64;

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_approval_consume_lua, args,
                                  9, ngx_http_zt_approval_retried, NULL);
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


/* called from the front door's merge: an approve rule needs Redis */

char *
ngx_http_zt_approval_merge(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *conf)
{
    ngx_uint_t                i;
    ngx_http_zt_rule_t       *rule;
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_zt_inference_module);

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


ngx_int_t
ngx_http_zt_approval_list(ngx_http_request_t *r,
    ngx_http_zt_redis_handler_pt handler, void *data)
{
    ngx_str_t                 args[5];
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    args[1] = zmcf->redis.prefix;

    if (ngx_http_zt_redis_key(r, &args[0], "approvals:pending", NULL)
           != NGX_OK
        || ngx_http_zt_redis_number(r, &args[2], ngx_time()) != NGX_OK
        || ngx_http_zt_redis_key(r, &args[3], "approvals", NULL) != NGX_OK
        || ngx_http_zt_redis_number(r, &args[4],
                                    NGX_HTTP_ZT_APPROVAL_LIST_MAX)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_approval_list_lua, args, 5,
                                  handler, data);
}


ngx_int_t
ngx_http_zt_approval_view(ngx_http_request_t *r, ngx_str_t *id,
    ngx_http_zt_redis_handler_pt handler, void *data)
{
    ngx_str_t  args[5];

    if (ngx_http_zt_approval_keys(r, args, id) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_approval_view_lua, args, 5,
                                  handler, data);
}


ngx_int_t
ngx_http_zt_approval_decide(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *reviewer, ngx_uint_t approve, ngx_str_t *reason,
    ngx_http_zt_redis_handler_pt handler, void *data)
{
    ngx_str_t  args[8];

    if (ngx_http_zt_approval_keys(r, args, id) != NGX_OK) {
        return NGX_ERROR;
    }

    args[5] = *reviewer;

    if (approve) {
        ngx_str_set(&args[6], "approved");

    } else {
        ngx_str_set(&args[6], "denied");
    }

    args[7] = *reason;
    ngx_http_zt_approval_cut(&args[7], NGX_HTTP_ZT_APPROVAL_TEXT_MAX);

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_approval_decide_lua, args,
                                  8, handler, data);
}


ngx_int_t
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


/*
 * The arguments every approval script begins with: KEYS approval and
 * pending set, ARGV id, now, channel.
 */

static ngx_int_t
ngx_http_zt_approval_keys(ngx_http_request_t *r, ngx_str_t *args,
    ngx_str_t *id)
{
    args[2] = *id;

    if (ngx_http_zt_redis_key(r, &args[0], "approval:", id) != NGX_OK
        || ngx_http_zt_redis_key(r, &args[1], "approvals:pending", NULL)
           != NGX_OK
        || ngx_http_zt_redis_number(r, &args[3], ngx_time()) != NGX_OK
        || ngx_http_zt_redis_key(r, &args[4], "approvals", NULL) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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
