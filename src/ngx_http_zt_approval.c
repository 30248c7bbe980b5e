
/*
 * The approval queue: a request that meets an approve rule is parked in
 * Redis and answered 202; a reviewer approves or denies it (the reviewer
 * API, ngx_http_zt_api.c, asks for that here); the caller's identical
 * retry with X-ZT-Approval is forwarded once.
 *
 * Redis layout (prefix from zt_redis, "zt:" by default):
 *   <prefix>approval:ID        hash: id status iss sub method uri
 *                              body_sha256 body_bytes justification client
 *                              host rule body created_at expires_at
 *                              decided_by decided_by_iss decided_at reason
 *                              consumed_at expired_at, and note and
 *                              decided_note (JSON members of the channel's
 *                              messages); kept until a day after it
 *                              expires, its body only while it is pending
 *                              or approved
 *   <prefix>approvals:pending  sorted set of pending IDs by expires_at
 *   <prefix>approvals          channel: a JSON message per state change
 *
 * The state machine is the scripts below, each one atomic: of two retries
 * racing with the same approved ID exactly one consumes it.  The caller
 * is the token's issuer and subject together: a retry from the same sub
 * of another issuer is another caller, and so is a reviewer.
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
    NGX_HTTP_ZT_APPROVAL_MISMATCH,
    NGX_HTTP_ZT_APPROVAL_NOBODY
} ngx_http_zt_approval_outcome_e;


/* JSON members for the channel's messages: of a request, or of a decision */
typedef struct {
    ngx_str_t                  *id;
    ngx_str_t                  *iss;
    ngx_str_t                  *sub;
    ngx_str_t                  *method;
    ngx_str_t                  *uri;
    ngx_str_t                  *by;
    ngx_str_t                  *by_iss;
    ngx_str_t                  *reason;
} ngx_http_zt_approval_note_t;


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
static void ngx_http_zt_approval_write_note(ngx_http_zt_json_out_t *out,
    void *data);
static void ngx_http_zt_approval_cut(ngx_str_t *s, size_t max);
static ngx_int_t ngx_http_zt_approval_reply_str(ngx_http_request_t *r,
    redisReply *reply, ngx_str_t *s);


static ngx_str_t  ngx_http_zt_approval_id_header =
    ngx_string("X-ZT-Approval");
static ngx_str_t  ngx_http_zt_approval_why_header =
    ngx_string("X-ZT-Justification");


/*
 * What the scripts share.  zt_notify() says a state change on the
 * channel: the message is the approval's note (its id, iss, sub, method
 * and uri as JSON members, which the gateway wrote when it parked it, so
 * that whatever bytes they hold the message stays JSON) with the status,
 * members the gateway wrote for the change (extra), and Redis's time.
 * zt_expire() is the one place an approval expires: a pending or approved
 * one past its expires_at becomes expired and leaves the pending set.  It
 * returns the status the approval has now (false when there is no such
 * approval) and whether it expired just now.  An approval keeps the
 * request's body only while it may still forward it: pending or approved.
 */
#define NGX_HTTP_ZT_APPROVAL_LUA                                              \
    "local function zt_notify(channel, id, note, status, extra)\n"            \
    "  local m = '{' .. (note or ('\"id\":\"' .. id .. '\"'))\n"              \
    "    .. ',\"status\":\"' .. status .. '\"'\n"                             \
    "  if extra and extra ~= '' then m = m .. ',' .. extra end\n"             \
    "  redis.call('PUBLISH', channel, m .. ',\"at\":' .. zt_now .. '}')\n"    \
    "end\n"                                                                   \
    "local function zt_expire(k, pending, id, channel)\n"                     \
    "  local h = redis.call('HMGET', k, 'status', 'expires_at', 'note')\n"    \
    "  local status = h[1]\n"                                                 \
    "  if (status == 'pending' or status == 'approved')\n"                    \
    "     and zt_now >= tonumber(h[2]) then\n"                                \
    "    redis.call('HSET', k, 'status', 'expired', 'expired_at', zt_now)\n"  \
    "    redis.call('HDEL', k, 'body')\n"                                     \
    "    redis.call('ZREM', pending, id)\n"                                   \
    "    zt_notify(channel, id, h[3], 'expired')\n"                           \
    "    return 'expired', true\n"                                            \
    "  end\n"                                                                 \
    "  return status, false\n"                                                \
    "end\n"


/*
 * KEYS: approval, pending set.  ARGV: id channel sub method uri
 * body_sha256 justification client rule ttl retention body host iss note
 * body_bytes.  Returns expires_at.
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_park_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    NGX_HTTP_ZT_APPROVAL_LUA
    "local k, pending = KEYS[1], KEYS[2]\n"
    "if redis.call('EXISTS', k) == 1 then\n"
    "  return redis.error_reply('approval id collision')\n"
    "end\n"
    "local expires = zt_now + tonumber(ARGV[10])\n"
    "redis.call('HSET', k, 'id', ARGV[1], 'status', 'pending',\n"
    "  'iss', ARGV[14], 'sub', ARGV[3], 'method', ARGV[4], 'uri', ARGV[5],\n"
    "  'body_sha256', ARGV[6], 'client', ARGV[8], 'rule', ARGV[9],\n"
    "  'created_at', zt_now, 'expires_at', expires, 'note', ARGV[15],\n"
    "  'body_bytes', ARGV[16])\n"
    "if ARGV[7] ~= '' then\n"
    "  redis.call('HSET', k, 'justification', ARGV[7])\n"
    "end\n"
    "if ARGV[12] ~= '' then redis.call('HSET', k, 'body', ARGV[12]) end\n"
    "if ARGV[13] ~= '' then redis.call('HSET', k, 'host', ARGV[13]) end\n"
    "redis.call('EXPIREAT', k, expires + tonumber(ARGV[11]))\n"
    "redis.call('ZADD', pending, expires, ARGV[1])\n"
    "zt_notify(ARGV[2], ARGV[1], ARGV[15], 'pending')\n"
    "return expires\n",
    2);


/*
 * KEYS: approval, pending set.  ARGV: id channel sub method uri
 * body_sha256 iss.  Returns {outcome, decided_by, expires_at}; "forward"
 * only to the one retry that consumed the approval.
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_consume_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    NGX_HTTP_ZT_APPROVAL_LUA
    "local k, pending, id = KEYS[1], KEYS[2], ARGV[1]\n"
    "local status, expired = zt_expire(k, pending, id, ARGV[2])\n"
    "if not status then return {'unknown', '', '0'} end\n"
    "local h = redis.call('HMGET', k, 'sub', 'method', 'uri',\n"
    "  'body_sha256', 'expires_at', 'decided_by', 'iss', 'note',\n"
    "  'decided_note')\n"
    "if expired then return {'expired', '', h[5]} end\n"
    "if h[1] ~= ARGV[3] or h[2] ~= ARGV[4] or h[3] ~= ARGV[5]\n"
    "   or h[4] ~= ARGV[6] or h[7] ~= ARGV[7] then\n"
    "  return {'mismatch', '', h[5]}\n"
    "end\n"
    "if status == 'approved' then\n"
    "  redis.call('HSET', k, 'status', 'consumed', 'consumed_at', zt_now)\n"
    "  redis.call('HDEL', k, 'body')\n"
    "  zt_notify(ARGV[2], id, h[8], 'consumed', h[9])\n"
    "  return {'forward', h[6] or '', h[5]}\n"
    "end\n"
    "return {status, h[6] or '', h[5]}\n",
    2);


/*
 * KEYS: approval, pending set.  ARGV: id channel reviewer decision reason
 * reviewer's iss, and the reviewer and reason as JSON members for the
 * messages.  An approval not used yet may still be denied (withdrawn);
 * nobody approves their own request.
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_decide_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    NGX_HTTP_ZT_APPROVAL_LUA
    "local k, pending, id = KEYS[1], KEYS[2], ARGV[1]\n"
    "local status = zt_expire(k, pending, id, ARGV[2])\n"
    "if not status then return {'unknown', {}} end\n"
    "if not (status == 'pending'\n"
    "        or (status == 'approved' and ARGV[4] == 'denied')) then\n"
    "  return {'conflict', redis.call('HGETALL', k)}\n"
    "end\n"
    "local h = redis.call('HMGET', k, 'iss', 'sub', 'note')\n"
    "if ARGV[4] == 'approved' and h[1] == ARGV[6] and h[2] == ARGV[3]\n"
    "then\n"
    "  return {'self', redis.call('HGETALL', k)}\n"
    "end\n"
    "redis.call('HSET', k, 'status', ARGV[4], 'decided_by', ARGV[3],\n"
    "  'decided_at', zt_now, 'decided_note', ARGV[7])\n"
    "if ARGV[6] ~= '' then\n"
    "  redis.call('HSET', k, 'decided_by_iss', ARGV[6])\n"
    "end\n"
    "if ARGV[5] ~= '' then redis.call('HSET', k, 'reason', ARGV[5]) end\n"
    "if ARGV[4] == 'denied' then redis.call('HDEL', k, 'body') end\n"
    "redis.call('ZREM', pending, id)\n"
    "zt_notify(ARGV[2], id, h[3], ARGV[4], ARGV[7])\n"
    "return {'ok', redis.call('HGETALL', k)}\n",
    2);


/* KEYS: approval, pending set.  ARGV: id channel. */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_view_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    NGX_HTTP_ZT_APPROVAL_LUA
    "if not zt_expire(KEYS[1], KEYS[2], ARGV[1], ARGV[2]) then\n"
    "  return {'unknown', {}}\n"
    "end\n"
    "return {'ok', redis.call('HGETALL', KEYS[1])}\n",
    2);


/*
 * KEYS: pending set.  ARGV: prefix channel limit.  Expires what is due
 * first; returns {expired IDs, approvals still pending}, without their
 * bodies: a listing stays small, a reviewer reads one approval to see its
 * body.
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_approval_list_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    NGX_HTTP_ZT_APPROVAL_LUA
    "local pending, expired = KEYS[1], {}\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', pending, '-inf',\n"
    "                               zt_now)) do\n"
    "  local _, now_expired = zt_expire(ARGV[1] .. 'approval:' .. id,\n"
    "                                   pending, id, ARGV[2])\n"
    "  if now_expired then table.insert(expired, id) end\n"
    "  redis.call('ZREM', pending, id)\n"
    "end\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', pending,\n"
    "    '(' .. zt_now, '+inf', 'LIMIT', 0, tonumber(ARGV[3]))) do\n"
    "  local k = ARGV[1] .. 'approval:' .. id\n"
    "  local names = redis.call('HKEYS', k)\n"
    "  local h = {}\n"
    "  for _, f in ipairs(names) do\n"
    "    if f ~= 'body' then\n"
    "      table.insert(h, f)\n"
    "      table.insert(h, redis.call('HGET', k, f))\n"
    "    end\n"
    "  end\n"
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

    /*
     * An approval belongs to its caller, the token's issuer and subject:
     * without both, every such caller would be one and the same.
     */

    if (ctx->id.iss.len == 0 || ctx->id.sub.len == 0) {
        a->state = NGX_HTTP_ZT_REDIS_DONE;
        a->outcome = NGX_HTTP_ZT_APPROVAL_NOBODY;
        return ngx_http_zt_approval_finish(r, ctx, a);
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

    h = ngx_http_zt_header_in(r, &ngx_http_zt_approval_id_header, 0);

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
    ngx_str_t                      args[18];
    ngx_table_elt_t               *h;
    ngx_http_zt_approval_note_t    note;
    u_char                         rnd[NGX_HTTP_ZT_APPROVAL_ID_LEN / 2];
    u_char                         sha[64];

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

    ngx_hex_dump(sha, ctx->body_sha256, 32);

    if (ngx_http_zt_approval_keys(r, args, &a->id) != NGX_OK) {
        return NGX_ERROR;
    }

    args[4] = ctx->id.sub;
    args[5] = r->method_name;
    args[6] = r->unparsed_uri;
    args[7].data = sha;
    args[7].len = 64;

    h = ngx_http_zt_header_in(r, &ngx_http_zt_approval_why_header, 0);

    if (h) {
        args[8] = h->value;
        ngx_http_zt_approval_cut(&args[8], NGX_HTTP_ZT_APPROVAL_TEXT_MAX);

    } else {
        ngx_str_null(&args[8]);
    }

    args[9] = r->connection->addr_text;

    if (ngx_http_zt_redis_number(r, &args[10],
                                 ctx->rule ? (int64_t) ctx->rule->line : 0)
           != NGX_OK
        || ngx_http_zt_redis_number(r, &args[11], lcf->approval_ttl)
           != NGX_OK
        || ngx_http_zt_redis_number(r, &args[12],
                                    NGX_HTTP_ZT_APPROVAL_RETENTION)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * What the reviewer approves, when the operator keeps bodies: all of
     * it, as it would be forwarded, not the audit line's cut.
     */

    if (lcf->audit_body) {
        args[13] = ctx->body;

    } else {
        ngx_str_null(&args[13]);
    }

    if (r->headers_in.server.len) {
        args[14] = r->headers_in.server;

    } else {
        ngx_str_null(&args[14]);
    }

    args[15] = ctx->id.iss;

    note.id = &a->id;
    note.iss = &ctx->id.iss;
    note.sub = &ctx->id.sub;
    note.method = &r->method_name;
    note.uri = &r->unparsed_uri;

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_approval_write_note,
                               &note, &args[16])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_zt_redis_number(r, &args[17], ctx->body.len) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_approval_park_lua, args, 18,
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

    args[4] = ctx->id.sub;
    args[5] = r->method_name;
    args[6] = r->unparsed_uri;
    args[7].data = sha;
    args[7].len = 64;
    args[8] = ctx->id.iss;

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

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        a->state = NGX_HTTP_ZT_REDIS_FAILED;

    } else {
        a->state = NGX_HTTP_ZT_REDIS_DONE;
        a->outcome = NGX_HTTP_ZT_APPROVAL_PARKED;
        a->expires_at = (time_t) reply->integer;
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
                      "zt: approval %V parked for sub \"%V\" of \"%V\"",
                      &a->id, &ctx->id.sub, &ctx->id.iss);

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

    case NGX_HTTP_ZT_APPROVAL_NOBODY:
        ngx_str_set(&ctx->event, "approval.refuse");
        code = "approval_needs_identity";
        message = "this request needs an approval, and approvals need a "
                  "token with \"iss\" and \"sub\" claims";
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
    ngx_str_t                 args[4];
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    args[1] = zmcf->redis.prefix;

    if (ngx_http_zt_redis_key(r, &args[0], "approvals:pending", NULL)
           != NGX_OK
        || ngx_http_zt_redis_key(r, &args[2], "approvals", NULL) != NGX_OK
        || ngx_http_zt_redis_number(r, &args[3],
                                    NGX_HTTP_ZT_APPROVAL_LIST_MAX)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_approval_list_lua, args, 4,
                                  handler, data);
}


ngx_int_t
ngx_http_zt_approval_view(ngx_http_request_t *r, ngx_str_t *id,
    ngx_http_zt_redis_handler_pt handler, void *data)
{
    ngx_str_t  args[4];

    if (ngx_http_zt_approval_keys(r, args, id) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_approval_view_lua, args, 4,
                                  handler, data);
}


ngx_int_t
ngx_http_zt_approval_decide(ngx_http_request_t *r, ngx_str_t *id,
    ngx_http_zt_identity_t *reviewer, ngx_uint_t approve, ngx_str_t *reason,
    ngx_http_zt_redis_handler_pt handler, void *data)
{
    ngx_str_t                    args[9];
    ngx_http_zt_approval_note_t  note;

    if (ngx_http_zt_approval_keys(r, args, id) != NGX_OK) {
        return NGX_ERROR;
    }

    args[4] = reviewer->sub;
    args[7] = reviewer->iss;

    if (approve) {
        ngx_str_set(&args[5], "approved");

    } else {
        ngx_str_set(&args[5], "denied");
    }

    args[6] = *reason;
    ngx_http_zt_approval_cut(&args[6], NGX_HTTP_ZT_APPROVAL_TEXT_MAX);

    ngx_memzero(&note, sizeof(ngx_http_zt_approval_note_t));
    note.by = &reviewer->sub;
    note.by_iss = &reviewer->iss;
    note.reason = &args[6];

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_approval_write_note,
                               &note, &args[8])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_approval_decide_lua, args,
                                  9, handler, data);
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


/* members without braces: the script wraps them into each message */

static void
ngx_http_zt_approval_write_note(ngx_http_zt_json_out_t *out, void *data)
{
    ngx_http_zt_approval_note_t *note = data;

    if (note->id) {
        ngx_http_zt_json_member(out, "id", note->id);
        ngx_http_zt_json_member(out, "iss", note->iss);
        ngx_http_zt_json_member(out, "sub", note->sub);
        ngx_http_zt_json_member(out, "method", note->method);
        ngx_http_zt_json_member(out, "uri", note->uri);
        return;
    }

    ngx_http_zt_json_member(out, "by", note->by);

    if (note->by_iss->len) {
        ngx_http_zt_json_member(out, "by_iss", note->by_iss);
    }

    if (note->reason->len) {
        ngx_http_zt_json_member(out, "reason", note->reason);
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
 * pending set, ARGV id and channel.
 */

static ngx_int_t
ngx_http_zt_approval_keys(ngx_http_request_t *r, ngx_str_t *args,
    ngx_str_t *id)
{
    args[2] = *id;

    if (ngx_http_zt_redis_key(r, &args[0], "approval:", id) != NGX_OK
        || ngx_http_zt_redis_key(r, &args[1], "approvals:pending", NULL)
           != NGX_OK
        || ngx_http_zt_redis_key(r, &args[3], "approvals", NULL) != NGX_OK)
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
