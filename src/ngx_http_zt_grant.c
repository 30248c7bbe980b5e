
/*
 * Just-in-time grants: a reviewer gives a subject of an issuer a scope
 * until it expires, through the reviewer API (ngx_http_zt_api.c, which
 * runs the operations below); the access phase looks a caller's grants up
 * only when a scope= condition failed on the token's own scopes
 * (ngx_http_zt_grant_load()).
 *
 * Redis layout (prefix from zt_redis):
 *   <prefix>grant:N:ISS:SUB  hash: SCOPE -> {"iss","sub","scope",
 *                            "expires_at","granted_by","granted_by_iss",
 *                            "reason","created_at"} as JSON; N is the
 *                            length of ISS in bytes, so that no two pairs
 *                            share a key whatever they hold; the key
 *                            expires with its last grant
 *   <prefix>grants           channel: {"event":"grant"|"revoke",...}
 */


#include "ngx_http_zt_inference.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_ZT_GRANT_TTL_MAX    (7 * 86400)
#define NGX_HTTP_ZT_GRANT_NAME_MAX   256
#define NGX_HTTP_ZT_GRANT_TEXT_MAX   1024


static void ngx_http_zt_grant_loaded(ngx_http_request_t *r,
    redisReply *reply, void *data);
static void ngx_http_zt_grant_write_list(ngx_http_zt_json_out_t *out,
    void *data);
static void ngx_http_zt_grant_write(ngx_http_zt_json_out_t *out,
    void *data);
static void ngx_http_zt_grant_write_revoked(ngx_http_zt_json_out_t *out,
    void *data);
static ngx_int_t ngx_http_zt_grant_key(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *iss, ngx_str_t *sub);
static ngx_int_t ngx_http_zt_grant_name(json_t *v, ngx_str_t *s,
    ngx_uint_t scope);
static ngx_int_t ngx_http_zt_grant_name_valid(ngx_str_t *s,
    ngx_uint_t scope);


/* a grant, as ngx_http_zt_grant_write() writes it */
typedef struct {
    char                       *event;      /* NULL: the grant itself */
    ngx_str_t                  *iss;
    ngx_str_t                  *sub;
    ngx_str_t                  *scope;
    ngx_str_t                  *by;
    ngx_str_t                  *by_iss;
    ngx_str_t                  *reason;
    char                       *status;
} ngx_http_zt_grant_json_t;


/* KEYS: grants of a subject.  The scopes still active. */
static ngx_http_zt_redis_script_t  ngx_http_zt_grant_lookup_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    "local out = {}\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  local ok, g = pcall(cjson.decode, all[i + 1])\n"
    "  if ok and type(g) == 'table' and tonumber(g.expires_at)\n"
    "     and tonumber(g.expires_at) > zt_now then\n"
    "    table.insert(out, all[i])\n"
    "  end\n"
    "end\n"
    "return out\n",
    1);


/* KEYS: grants of a subject.  Active grants as JSON. */
static ngx_http_zt_redis_script_t  ngx_http_zt_grant_list_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    "local out = {}\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  local ok, g = pcall(cjson.decode, all[i + 1])\n"
    "  if ok and type(g) == 'table' and tonumber(g.expires_at)\n"
    "     and tonumber(g.expires_at) > zt_now then\n"
    "    table.insert(out, all[i + 1])\n"
    "  end\n"
    "end\n"
    "return out\n",
    1);


/*
 * KEYS: grants of a subject.  ARGV: scope ttl grant channel message: the
 * grant and the message are JSON objects the gateway wrote, but for their
 * times and closing brace.  Drops the expired grants of the subject on the
 * way.
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_grant_create_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    "local expires = zt_now + tonumber(ARGV[2])\n"
    "local last = expires\n"
    "local g = ARGV[3] .. ',\"expires_at\":' .. expires\n"
    "  .. ',\"created_at\":' .. zt_now .. '}'\n"
    "redis.call('HSET', KEYS[1], ARGV[1], g)\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  local ok, o = pcall(cjson.decode, all[i + 1])\n"
    "  local e = ok and type(o) == 'table' and tonumber(o.expires_at) or 0\n"
    "  if e <= zt_now then redis.call('HDEL', KEYS[1], all[i])\n"
    "  elseif e > last then last = e end\n"
    "end\n"
    "redis.call('EXPIREAT', KEYS[1], last)\n"
    "redis.call('PUBLISH', ARGV[4], ARGV[5] .. ',\"expires_at\":' .. expires\n"
    "  .. ',\"at\":' .. zt_now .. '}')\n"
    "return g\n",
    1);


/*
 * KEYS: grants of a subject.  ARGV: scope channel message (a JSON object
 * but for its time and closing brace).  1 when an active grant was
 * revoked.
 */
static ngx_http_zt_redis_script_t  ngx_http_zt_grant_revoke_lua =
    ngx_http_zt_redis_script(
    NGX_HTTP_ZT_REDIS_LUA
    "local g = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not g then return 0 end\n"
    "redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "local ok, o = pcall(cjson.decode, g)\n"
    "if not (ok and type(o) == 'table' and tonumber(o.expires_at)\n"
    "        and tonumber(o.expires_at) > zt_now) then\n"
    "  return 0\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[2], ARGV[3] .. ',\"at\":' .. zt_now .. '}')\n"
    "return 1\n",
    1);


/*
 * NGX_OK: ctx->grants holds the subject's active grants; NGX_AGAIN: Redis
 * was asked, the phases run again when it answers; NGX_ERROR: Redis
 * cannot tell, and the caller answers 503.
 */

ngx_int_t
ngx_http_zt_grant_load(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_str_t                  args[1];
    ngx_http_zt_grant_wait_t  *g;

    if (ctx->grants_loaded) {
        return NGX_OK;
    }

    g = ctx->grant;

    if (g == NULL) {
        g = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_grant_wait_t));
        if (g == NULL) {
            return NGX_ERROR;
        }

        ctx->grant = g;
    }

    switch (g->state) {

    case NGX_HTTP_ZT_REDIS_BUSY:
        return NGX_AGAIN;

    case NGX_HTTP_ZT_REDIS_FAILED:
        return NGX_ERROR;

    default:
        break;
    }

    /* grants are given to an issuer's subject: a token without both has none */

    if (!ctx->verified || ctx->id.iss.len == 0 || ctx->id.sub.len == 0) {
        ctx->grants = ngx_array_create(r->pool, 1, sizeof(ngx_str_t));
        if (ctx->grants == NULL) {
            return NGX_ERROR;
        }

        ctx->grants_loaded = 1;
        return NGX_OK;
    }

    if (ngx_http_zt_grant_key(r, &args[0], &ctx->id.iss, &ctx->id.sub)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_zt_redis_eval(r, &ngx_http_zt_grant_lookup_lua, args, 1,
                                ngx_http_zt_grant_loaded, NULL);

    if (rc != NGX_DONE) {
        g->state = NGX_HTTP_ZT_REDIS_FAILED;
        return NGX_ERROR;
    }

    g->state = NGX_HTTP_ZT_REDIS_BUSY;

    return NGX_AGAIN;
}


static void
ngx_http_zt_grant_loaded(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_str_t                 *s;
    ngx_uint_t                 i;
    redisReply                *e;
    ngx_http_zt_ctx_t         *ctx;
    ngx_http_zt_grant_wait_t  *g;

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);
    g = ctx->grant;

    g->state = NGX_HTTP_ZT_REDIS_FAILED;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        goto done;
    }

    ctx->grants = ngx_array_create(r->pool, reply->elements + 1,
                                   sizeof(ngx_str_t));
    if (ctx->grants == NULL) {
        goto done;
    }

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            continue;
        }

        s = ngx_array_push(ctx->grants);
        if (s == NULL) {
            goto done;
        }

        s->len = e->len;
        s->data = ngx_pnalloc(r->pool, e->len);
        if (s->data == NULL) {
            goto done;
        }

        ngx_memcpy(s->data, e->str, e->len);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: sub \"%V\" holds a grant of scope \"%V\" "
                      "(iss \"%V\")", &ctx->id.sub, s, &ctx->id.iss);
    }

    ctx->grants_loaded = 1;
    g->state = NGX_HTTP_ZT_REDIS_DONE;

done:

    ngx_http_core_run_phases(r);
}


/*
 * The reviewer API's operations.  Each answers a bad request at once, or
 * asks Redis and returns what ngx_http_zt_redis_eval() does; the answer
 * to the reply is ngx_http_zt_grant_created() and the like, NGX_DECLINED
 * when the reply is not what the script returns.
 */

ngx_int_t
ngx_http_zt_grant_create(ngx_http_request_t *r,
    ngx_http_zt_identity_t *reviewer, json_t *body, ngx_str_t *issuer,
    ngx_http_zt_redis_handler_pt handler, void *data)
{
    time_t                    ttl;
    json_t                   *v;
    ngx_str_t                 args[6], iss, sub, scope, reason, s;
    ngx_http_zt_grant_json_t  g;

    if (body == NULL) {
        return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request_error",
                                        "invalid_grant",
                                        "a grant needs a JSON body");
    }

    if (ngx_http_zt_grant_name(json_object_get(body, "sub"), &sub, 0)
        != NGX_OK)
    {
        return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request_error",
                                        "invalid_grant",
                                        "\"sub\" must be a non-empty "
                                        "string");
    }

    v = json_object_get(body, "iss");

    if (v == NULL || json_is_null(v)) {
        if (issuer == NULL) {
            return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request_error",
                                            "issuer_required",
                                            "name the subject's issuer with "
                                            "\"iss\": the gateway accepts "
                                            "tokens of more than one issuer");
        }

        iss = *issuer;

    } else if (ngx_http_zt_grant_name(v, &iss, 0) != NGX_OK) {
        return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request_error",
                                        "invalid_grant",
                                        "\"iss\" must be a non-empty "
                                        "string");
    }

    if (ngx_http_zt_grant_name(json_object_get(body, "scope"), &scope, 1)
        != NGX_OK)
    {
        return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request_error",
                                        "invalid_grant",
                                        "\"scope\" must be one scope "
                                        "name");
    }

    v = json_object_get(body, "ttl");
    ttl = NGX_ERROR;

    if (json_is_integer(v)) {
        if (json_integer_value(v) > 0
            && json_integer_value(v) <= NGX_HTTP_ZT_GRANT_TTL_MAX)
        {
            ttl = (time_t) json_integer_value(v);
        }

    } else if (json_is_string(v)) {
        s.data = (u_char *) json_string_value(v);
        s.len = json_string_length(v);
        ttl = ngx_parse_time(&s, 1);
    }

    if (ttl == NGX_ERROR || ttl <= 0 || ttl > NGX_HTTP_ZT_GRANT_TTL_MAX) {
        return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request_error",
                                        "invalid_grant",
                                        "\"ttl\" must be a time from 1s "
                                        "to 7d, such as \"15m\"");
    }

    v = json_object_get(body, "reason");
    ngx_str_null(&reason);

    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) {
            return ngx_http_zt_answer_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request_error",
                                            "invalid_grant",
                                            "\"reason\" must be a string");
        }

        reason.data = (u_char *) json_string_value(v);
        reason.len = ngx_min(json_string_length(v),
                             NGX_HTTP_ZT_GRANT_TEXT_MAX);

        while (reason.len < json_string_length(v) && reason.len
               && (reason.data[reason.len] & 0xc0) == 0x80)
        {
            reason.len--;
        }
    }

    /* like approvals: nobody widens their own access */

    if (sub.len == reviewer->sub.len
        && ngx_strncmp(sub.data, reviewer->sub.data, sub.len) == 0
        && iss.len == reviewer->iss.len
        && ngx_strncmp(iss.data, reviewer->iss.data, iss.len) == 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "zt: sub \"%V\" of \"%V\" tried to grant themselves "
                      "scope \"%V\"", &reviewer->sub, &reviewer->iss,
                      &scope);

        return ngx_http_zt_answer_error(r, NGX_HTTP_FORBIDDEN,
                                        "permission_error", "self_grant",
                                        "a reviewer cannot grant "
                                        "themselves a scope");
    }

    args[1] = scope;

    g.event = NULL;
    g.iss = &iss;
    g.sub = &sub;
    g.scope = &scope;
    g.by = &reviewer->sub;
    g.by_iss = &reviewer->iss;
    g.reason = &reason;
    g.status = NULL;

    if (ngx_http_zt_grant_key(r, &args[0], &iss, &sub) != NGX_OK
        || ngx_http_zt_redis_number(r, &args[2], ttl) != NGX_OK
        || ngx_http_zt_json_build(r->pool, ngx_http_zt_grant_write, &g,
                                  &args[3])
           != NGX_OK
        || ngx_http_zt_redis_key(r, &args[4], "grants", NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g.event = "grant";

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_grant_write, &g,
                               &args[5])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "zt: \"%V\" grants scope \"%V\" to sub \"%V\" of \"%V\" "
                  "for %T s", &reviewer->sub, &scope, &sub, &iss, ttl);

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_grant_create_lua, args, 6,
                                  handler, data);
}


ngx_int_t
ngx_http_zt_grant_created(ngx_http_request_t *r, redisReply *reply)
{
    u_char  *p;
    size_t   len;

    if (reply->type != REDIS_REPLY_STRING) {
        return NGX_DECLINED;
    }

    len = sizeof("{\"grant\":}\n") - 1 + reply->len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(p, "{\"grant\":%*s}\n", reply->len, reply->str);

    return ngx_http_zt_answer_json(r, NGX_HTTP_CREATED, p, len);
}


ngx_int_t
ngx_http_zt_grant_list(ngx_http_request_t *r, ngx_str_t *iss, ngx_str_t *sub,
    ngx_http_zt_redis_handler_pt handler, void *data)
{
    ngx_str_t  key;

    if (ngx_http_zt_grant_key(r, &key, iss, sub) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_grant_list_lua, &key, 1,
                                  handler, data);
}


ngx_int_t
ngx_http_zt_grant_listed(ngx_http_request_t *r, redisReply *reply)
{
    ngx_str_t  json;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_DECLINED;
    }

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_grant_write_list, reply,
                               &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_zt_answer_json(r, NGX_HTTP_OK, json.data, json.len);
}


/* {"grants":[GRANT,...]}\n: the grants as the create script stored them */

static void
ngx_http_zt_grant_write_list(ngx_http_zt_json_out_t *out, void *data)
{
    redisReply *reply = data;

    ngx_uint_t   i;
    redisReply  *e;

    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_key(out, "grants");
    ngx_http_zt_json_open(out, '[');

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type == REDIS_REPLY_STRING) {
            ngx_http_zt_json_text(out, (u_char *) e->str, e->len);
        }
    }

    ngx_http_zt_json_close(out, ']');
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_raw(out, (u_char *) "\n", 1);
}


ngx_int_t
ngx_http_zt_grant_revoke(ngx_http_request_t *r,
    ngx_http_zt_identity_t *reviewer, ngx_str_t *iss, ngx_str_t *sub,
    ngx_str_t *scope, ngx_http_zt_redis_handler_pt handler, void *data)
{
    ngx_str_t                 args[4];
    ngx_http_zt_grant_json_t  g;

    if (ngx_http_zt_grant_name_valid(iss, 0) != NGX_OK
        || ngx_http_zt_grant_name_valid(sub, 0) != NGX_OK
        || ngx_http_zt_grant_name_valid(scope, 1) != NGX_OK)
    {
        return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_FOUND,
                                        "not_found_error", "grant_unknown",
                                        "no such grant");
    }

    g.event = "revoke";
    g.iss = iss;
    g.sub = sub;
    g.scope = scope;
    g.by = &reviewer->sub;
    g.by_iss = &reviewer->iss;
    g.reason = NULL;
    g.status = NULL;

    args[1] = *scope;

    if (ngx_http_zt_grant_key(r, &args[0], iss, sub) != NGX_OK
        || ngx_http_zt_redis_key(r, &args[2], "grants", NULL) != NGX_OK
        || ngx_http_zt_json_build(r->pool, ngx_http_zt_grant_write, &g,
                                  &args[3])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_zt_redis_eval(r, &ngx_http_zt_grant_revoke_lua, args, 4,
                                  handler, data);
}


ngx_int_t
ngx_http_zt_grant_revoked(ngx_http_request_t *r,
    ngx_http_zt_identity_t *reviewer, ngx_str_t *iss, ngx_str_t *sub,
    ngx_str_t *scope, redisReply *reply)
{
    ngx_str_t                 json;
    ngx_http_zt_grant_json_t  revoked;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return NGX_DECLINED;
    }

    if (reply->integer != 1) {
        return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_FOUND,
                                        "not_found_error", "grant_unknown",
                                        "no such active grant");
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "zt: \"%V\" revoked scope \"%V\" of sub \"%V\" of \"%V\"",
                  &reviewer->sub, scope, sub, iss);

    ngx_memzero(&revoked, sizeof(ngx_http_zt_grant_json_t));
    revoked.iss = iss;
    revoked.sub = sub;
    revoked.scope = scope;
    revoked.status = "revoked";

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_grant_write_revoked,
                               &revoked, &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_zt_answer_json(r, NGX_HTTP_OK, json.data, json.len);
}


/* {"grant":{"iss","sub","scope","status":"revoked"}}\n */

static void
ngx_http_zt_grant_write_revoked(ngx_http_zt_json_out_t *out, void *data)
{
    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_key(out, "grant");
    ngx_http_zt_grant_write(out, data);
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_raw(out, (u_char *) "\n", 1);
}


/*
 * A grant, or the message of an event on it, as a JSON object left open:
 * the script adds the times Redis knows and closes it.
 */

static void
ngx_http_zt_grant_write(ngx_http_zt_json_out_t *out, void *data)
{
    ngx_http_zt_grant_json_t *g = data;

    ngx_str_t  s;

    ngx_http_zt_json_open(out, '{');

    if (g->event) {
        s.data = (u_char *) g->event;
        s.len = ngx_strlen(g->event);
        ngx_http_zt_json_member(out, "event", &s);
    }

    ngx_http_zt_json_member(out, "iss", g->iss);
    ngx_http_zt_json_member(out, "sub", g->sub);
    ngx_http_zt_json_member(out, "scope", g->scope);

    if (g->status) {
        s.data = (u_char *) g->status;
        s.len = ngx_strlen(g->status);
        ngx_http_zt_json_member(out, "status", &s);
    }

    if (g->by) {
        ngx_http_zt_json_member(out, g->event ? "by" : "granted_by", g->by);

        if (g->by_iss->len) {
            ngx_http_zt_json_member(out, g->event ? "by_iss"
                                                  : "granted_by_iss",
                                    g->by_iss);
        }
    }

    if (g->reason && g->reason->len) {
        ngx_http_zt_json_member(out, "reason", g->reason);
    }
}


/*
 * The grant's key: <prefix>grant:N:ISS:SUB, N the length of ISS, so that
 * an issuer or a subject holding ":" cannot make another pair's key.
 */

static ngx_int_t
ngx_http_zt_grant_key(ngx_http_request_t *r, ngx_str_t *key, ngx_str_t *iss,
    ngx_str_t *sub)
{
    u_char     *p;
    ngx_str_t   name;

    name.data = ngx_pnalloc(r->pool, NGX_SIZE_T_LEN + 2 + iss->len
                                     + sub->len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(name.data, "%uz:%V:%V", iss->len, iss, sub);
    name.len = p - name.data;

    return ngx_http_zt_redis_key(r, key, "grant:", &name);
}


/* an issuer, a subject or a scope: a short string; a scope has no space */

static ngx_int_t
ngx_http_zt_grant_name(json_t *v, ngx_str_t *s, ngx_uint_t scope)
{
    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    s->data = (u_char *) json_string_value(v);
    s->len = json_string_length(v);

    return ngx_http_zt_grant_name_valid(s, scope);
}


static ngx_int_t
ngx_http_zt_grant_name_valid(ngx_str_t *s, ngx_uint_t scope)
{
    size_t  i;

    if (s->len == 0 || s->len > NGX_HTTP_ZT_GRANT_NAME_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] == 0x7f
            || (scope && s->data[i] == ' '))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
