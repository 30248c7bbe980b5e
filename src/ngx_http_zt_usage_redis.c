
/*
 * The Redis store of usage limits, shared by every gateway that uses the
 * same Redis: one Lua script reserves against every window of a request
 * (all are checked, then all are added to, atomically), another settles
 * after the answer without the request (bound to the worker's connection),
 * a third reads or resets a key for the reviewer API.  Windows are
 * computed from Redis's own TIME, so that gateways with different clocks
 * agree on them.
 *
 * Layout (prefix from zt_redis, "zt:" by default), one hash per window:
 *   <prefix>usage:<zone>:<key>:<period>   start used limit; it expires
 *                                         when its window ends
 * with <period> one of s, m, h, d.
 */


#include "ngx_http_zt_inference.h"

#include <hiredis/hiredis.h>


/* what a settlement's error log line names, kept until its reply */
typedef struct {
    ngx_queue_t                     queue;      /* in the free list */
    u_char                          what[160];
    size_t                          len;
} ngx_http_zt_usage_redis_note_t;


static ngx_int_t ngx_http_zt_usage_redis_key(ngx_http_request_t *r,
    ngx_str_t *out, ngx_str_t *zone, ngx_str_t *key, ngx_uint_t period);
static void ngx_http_zt_usage_redis_reserved(ngx_http_request_t *r,
    redisReply *reply, void *data);
static void ngx_http_zt_usage_redis_settled(redisReply *reply, void *data);


/*
 * KEYS: the windows.  ARGV: per window its period (s), limit and the cost,
 * then the deadline.  Returns {"ok"|"refused", now in ms, then per window
 * its start and what it has used: after the reservation, or, refused,
 * before}.
 */
static char  ngx_http_zt_usage_reserve_lua[] =
    NGX_HTTP_ZT_REDIS_LUA
    "local now = tonumber(zt_t[1])\n"
    "local f = function(v) return string.format('%.0f', v) end\n"
    "local ok, start, used = true, {}, {}\n"
    "for i = 1, #KEYS do\n"
    "  local p, lim, cost = tonumber(ARGV[3 * i - 2]),\n"
    "    tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])\n"
    "  start[i] = now - now % p\n"
    "  local h = redis.call('HMGET', KEYS[i], 'start', 'used')\n"
    "  used[i] = 0\n"
    "  if tonumber(h[1]) == start[i] then used[i] = tonumber(h[2]) or 0 end\n"
    "  if used[i] + cost > lim then ok = false end\n"
    "end\n"
    "local out = {ok and 'ok' or 'refused',\n"
    "  now * 1000 + math.floor(tonumber(zt_t[2]) / 1000)}\n"
    "for i = 1, #KEYS do\n"
    "  local p, lim, cost = tonumber(ARGV[3 * i - 2]),\n"
    "    tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])\n"
    "  if ok then\n"
    "    used[i] = used[i] + cost\n"
    "    redis.call('HSET', KEYS[i], 'start', f(start[i]), 'used',\n"
    "      f(used[i]), 'limit', f(lim))\n"
    "    redis.call('PEXPIREAT', KEYS[i], f((start[i] + p) * 1000))\n"
    "  end\n"
    "  out[#out + 1] = start[i]\n"
    "  out[#out + 1] = used[i]\n"
    "end\n"
    "return out\n";


/*
 * KEYS: the windows reserved.  ARGV: per window its period, limit, the
 * start it was reserved in, and the difference to charge.  A refund goes
 * to the window reserved if it still runs; more goes to the window of now.
 * The deadline (the last ARGV) is not checked: a settlement late is still
 * right.
 */
static char  ngx_http_zt_usage_settle_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1])\n"
    "local f = function(v) return string.format('%.0f', v) end\n"
    "for i = 1, #KEYS do\n"
    "  local p, lim, rs, d = tonumber(ARGV[4 * i - 3]),\n"
    "    tonumber(ARGV[4 * i - 2]), tonumber(ARGV[4 * i - 1]),\n"
    "    tonumber(ARGV[4 * i])\n"
    "  local h = redis.call('HMGET', KEYS[i], 'start', 'used')\n"
    "  local s, u = tonumber(h[1]), tonumber(h[2]) or 0\n"
    "  if d > 0 then\n"
    "    local start = now - now % p\n"
    "    if s ~= start then u = 0 end\n"
    "    redis.call('HSET', KEYS[i], 'start', f(start), 'used', f(u + d),\n"
    "      'limit', f(lim))\n"
    "    redis.call('PEXPIREAT', KEYS[i], f((start + p) * 1000))\n"
    "  elseif d < 0 and s == rs then\n"
    "    u = u + d\n"
    "    if u < 0 then u = 0 end\n"
    "    redis.call('HSET', KEYS[i], 'used', f(u))\n"
    "  end\n"
    "end\n"
    "return 1\n";


/*
 * KEYS: the windows of a key (s, m, h, d of each zone).  ARGV: "1" to
 * reset them first, the deadline.  Returns {now in ms, then per window
 * start, used, limit (-1: none, or the window has ended)}.
 */
static char  ngx_http_zt_usage_show_lua[] =
    NGX_HTTP_ZT_REDIS_LUA
    "local now = tonumber(zt_t[1])\n"
    "local p = {s = 1, m = 60, h = 3600, d = 86400}\n"
    "if ARGV[1] == '1' then redis.call('DEL', unpack(KEYS)) end\n"
    "local out = {now * 1000 + math.floor(tonumber(zt_t[2]) / 1000)}\n"
    "for i = 1, #KEYS do\n"
    "  local h = redis.call('HMGET', KEYS[i], 'start', 'used', 'limit')\n"
    "  local s = tonumber(h[1])\n"
    "  local per = p[string.sub(KEYS[i], -1)]\n"
    "  if s and per and s == now - now % per then\n"
    "    out[#out + 1] = s\n"
    "    out[#out + 1] = tonumber(h[2]) or 0\n"
    "    out[#out + 1] = tonumber(h[3]) or -1\n"
    "  else\n"
    "    out[#out + 1] = -1\n"
    "    out[#out + 1] = 0\n"
    "    out[#out + 1] = -1\n"
    "  end\n"
    "end\n"
    "return out\n";


/* settlement notes of this worker, reused */
static ngx_queue_t  ngx_http_zt_usage_redis_notes;
static ngx_uint_t   ngx_http_zt_usage_redis_notes_init;


/*
 * NGX_AGAIN: the script is on its way, its reply runs the phases again;
 * NGX_DECLINED: Redis cannot be asked; NGX_ERROR: a local failure.
 */

ngx_int_t
ngx_http_zt_usage_redis_reserve(ngx_http_request_t *r, ngx_http_zt_usage_t *u)
{
    ngx_int_t                    rc;
    ngx_str_t                   *args, *keys, *argv;
    ngx_uint_t                   i, j, n, k;
    ngx_http_zt_usage_res_t     *res;
    ngx_http_zt_usage_win_t     *w;
    ngx_http_zt_redis_script_t   script;

    n = 0;

    for (i = 0; i < u->nres; i++) {
        n += u->res[i].nwin;
    }

    args = ngx_palloc(r->pool, 4 * n * sizeof(ngx_str_t));
    if (args == NULL) {
        return NGX_ERROR;
    }

    keys = args;
    argv = &args[n];
    k = 0;

    for (i = 0; i < u->nres; i++) {
        res = &u->res[i];

        for (j = 0; j < res->nwin; j++, k++) {
            w = &res->win[j];

            if (ngx_http_zt_usage_redis_key(r, &keys[k],
                                            &res->limit->zone->name,
                                            &res->key, w->period)
                   != NGX_OK
                || ngx_http_zt_redis_number(r, &argv[3 * k],
                                    ngx_http_zt_usage_seconds[w->period])
                   != NGX_OK
                || ngx_http_zt_redis_number(r, &argv[3 * k + 1], w->limit)
                   != NGX_OK
                || ngx_http_zt_redis_number(r, &argv[3 * k + 2], res->cost)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    script.lua.data = (u_char *) ngx_http_zt_usage_reserve_lua;
    script.lua.len = sizeof(ngx_http_zt_usage_reserve_lua) - 1;
    script.keys = n;

    rc = ngx_http_zt_redis_eval(r, &script, args, 4 * n,
                                ngx_http_zt_usage_redis_reserved, u);

    return (rc == NGX_DONE) ? NGX_AGAIN : rc;
}


static void
ngx_http_zt_usage_redis_reserved(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_zt_usage_t *u = data;

    int64_t                   now_ms;
    ngx_uint_t                i, j, k, n, ok;
    redisReply               *e;
    ngx_http_zt_usage_res_t  *res;
    ngx_http_zt_usage_win_t  *w;

    u->state = NGX_HTTP_ZT_REDIS_FAILED;
    u->outcome = NGX_HTTP_ZT_USAGE_UNAVAILABLE;

    n = 0;

    for (i = 0; i < u->nres; i++) {
        n += u->res[i].nwin;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2 + 2 * n
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        goto done;
    }

    for (i = 2; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
            goto done;
        }
    }

    e = reply->element[0];
    ok = (e->len == 2 && ngx_strncmp(e->str, "ok", 2) == 0);

    if (!ok && !(e->len == 7 && ngx_strncmp(e->str, "refused", 7) == 0)) {
        goto done;
    }

    now_ms = reply->element[1]->integer;
    k = 2;

    for (i = 0; i < u->nres; i++) {
        res = &u->res[i];

        for (j = 0; j < res->nwin; j++) {
            w = &res->win[j];

            w->start = reply->element[k++]->integer;
            w->used = reply->element[k++]->integer;
            w->reset = (w->start + ngx_http_zt_usage_seconds[w->period])
                       * 1000 - now_ms;

            if (!ok && u->blocking == NULL
                && w->used + res->cost > w->limit)
            {
                u->blocking = res;
            }
        }
    }

    if (ok) {
        u->outcome = NGX_HTTP_ZT_USAGE_RESERVED;

    } else {
        if (u->blocking == NULL) {
            u->blocking = &u->res[0];
        }

        u->outcome = NGX_HTTP_ZT_USAGE_REFUSED;

        for (j = 0; j < u->blocking->nwin; j++) {
            if (u->blocking->cost > u->blocking->win[j].limit) {
                u->outcome = NGX_HTTP_ZT_USAGE_TOO_LARGE;
            }
        }
    }

    u->state = NGX_HTTP_ZT_REDIS_DONE;

done:

    if (u->state == NGX_HTTP_ZT_REDIS_FAILED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "zt: usage: the reservation could not be made in "
                      "Redis, answered 503");
    }

    ngx_http_core_run_phases(r);
}


/*
 * Sent as the request ends and not waited for; a settlement that fails
 * leaves the reservation charged, and says so in the error log.
 */

void
ngx_http_zt_usage_redis_settle(ngx_http_request_t *r, ngx_http_zt_usage_t *u)
{
    int64_t                          delta;
    ngx_str_t                       *args, *keys, *argv;
    ngx_uint_t                       i, j, n, k;
    ngx_queue_t                     *q;
    ngx_http_zt_usage_res_t         *res;
    ngx_http_zt_usage_win_t         *w;
    ngx_http_zt_redis_script_t       script;
    ngx_http_zt_usage_redis_note_t  *note;

    n = 0;

    for (i = 0; i < u->nres; i++) {
        delta = (u->from_answer ? u->charged : u->res[i].cost)
                - u->res[i].cost;

        if (delta) {
            n += u->res[i].nwin;
        }
    }

    if (n == 0) {
        return;
    }

    if (!ngx_http_zt_usage_redis_notes_init) {
        ngx_queue_init(&ngx_http_zt_usage_redis_notes);
        ngx_http_zt_usage_redis_notes_init = 1;
    }

    args = ngx_palloc(r->pool, 5 * n * sizeof(ngx_str_t));
    if (args == NULL) {
        goto failed;
    }

    keys = args;
    argv = &args[n];
    k = 0;

    for (i = 0; i < u->nres; i++) {
        res = &u->res[i];
        delta = (u->from_answer ? u->charged : res->cost) - res->cost;

        if (delta == 0) {
            continue;
        }

        for (j = 0; j < res->nwin; j++, k++) {
            w = &res->win[j];

            if (ngx_http_zt_usage_redis_key(r, &keys[k],
                                            &res->limit->zone->name,
                                            &res->key, w->period)
                   != NGX_OK
                || ngx_http_zt_redis_number(r, &argv[4 * k],
                                    ngx_http_zt_usage_seconds[w->period])
                   != NGX_OK
                || ngx_http_zt_redis_number(r, &argv[4 * k + 1], w->limit)
                   != NGX_OK
                || ngx_http_zt_redis_number(r, &argv[4 * k + 2], w->start)
                   != NGX_OK
                || ngx_http_zt_redis_number(r, &argv[4 * k + 3], delta)
                   != NGX_OK)
            {
                goto failed;
            }
        }
    }

    if (!ngx_queue_empty(&ngx_http_zt_usage_redis_notes)) {
        q = ngx_queue_head(&ngx_http_zt_usage_redis_notes);
        ngx_queue_remove(q);
        note = ngx_queue_data(q, ngx_http_zt_usage_redis_note_t, queue);

    } else {
        /* outlives requests: reused through the free list, never freed */
        note = ngx_palloc(ngx_cycle->pool,
                          sizeof(ngx_http_zt_usage_redis_note_t));
        if (note == NULL) {
            goto failed;
        }
    }

    note->len = ngx_snprintf(note->what, sizeof(note->what),
                             "\"%V\" in zone \"%V\"", &u->res[0].key,
                             &u->res[0].limit->zone->name)
                - note->what;

    script.lua.data = (u_char *) ngx_http_zt_usage_settle_lua;
    script.lua.len = sizeof(ngx_http_zt_usage_settle_lua) - 1;
    script.keys = n;

    if (ngx_http_zt_redis_eval_detached(r, &script, args, 5 * n,
                                        ngx_http_zt_usage_redis_settled, note)
        != NGX_DONE)
    {
        ngx_queue_insert_head(&ngx_http_zt_usage_redis_notes, &note->queue);
        goto failed;
    }

    return;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "zt: usage: settlement of \"%V\" in zone \"%V\" not sent "
                  "to Redis, the reservation stays charged",
                  &u->res[0].key, &u->res[0].limit->zone->name);
}


static void
ngx_http_zt_usage_redis_settled(redisReply *reply, void *data)
{
    ngx_http_zt_usage_redis_note_t *note = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "zt: usage: settlement of %*s failed in Redis, the "
                      "reservation stays charged", note->len, note->what);

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "zt: usage: settled %*s", note->len, note->what);
    }

    ngx_queue_insert_head(&ngx_http_zt_usage_redis_notes, &note->queue);
}


/*
 * GET and DELETE <loc>/usage/KEY: the windows of every zone kept in
 * Redis, reset first for DELETE.  NGX_DONE: handler(r, reply, data) gets
 * the reply, for ngx_http_zt_usage_api_shown(); NGX_DECLINED: Redis cannot
 * be asked.
 */

ngx_int_t
ngx_http_zt_usage_redis_api(ngx_http_request_t *r, ngx_str_t *key,
    ngx_uint_t reset, ngx_http_zt_redis_handler_pt handler, void *data)
{
    ngx_str_t                  *args;
    ngx_uint_t                  i, p, n, k;
    ngx_http_zt_main_conf_t    *zmcf;
    ngx_http_zt_usage_zone_t  **zones;
    ngx_http_zt_redis_script_t  script;

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);
    zones = zmcf->usage_zones->elts;

    n = 0;

    for (i = 0; i < zmcf->usage_zones->nelts; i++) {
        if (zones[i]->stores & NGX_HTTP_ZT_USAGE_REDIS) {
            n += NGX_HTTP_ZT_USAGE_PERIODS;
        }
    }

    args = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_str_t));
    if (args == NULL) {
        return NGX_ERROR;
    }

    k = 0;

    for (i = 0; i < zmcf->usage_zones->nelts; i++) {
        if (!(zones[i]->stores & NGX_HTTP_ZT_USAGE_REDIS)) {
            continue;
        }

        for (p = 0; p < NGX_HTTP_ZT_USAGE_PERIODS; p++) {
            if (ngx_http_zt_usage_redis_key(r, &args[k++], &zones[i]->name,
                                            key, p)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    args[k].data = (u_char *) (reset ? "1" : "0");
    args[k].len = 1;

    script.lua.data = (u_char *) ngx_http_zt_usage_show_lua;
    script.lua.len = sizeof(ngx_http_zt_usage_show_lua) - 1;
    script.keys = n;

    return ngx_http_zt_redis_eval(r, &script, args, n + 1, handler, data);
}


/*
 * The reviewer API's answer from the reply of ngx_http_zt_usage_api();
 * NGX_DECLINED: a reply it cannot use.
 */

ngx_int_t
ngx_http_zt_usage_api_shown(ngx_http_request_t *r, ngx_str_t *key,
    redisReply *reply)
{
    int64_t                   now_ms;
    ngx_uint_t                i, k, n, p;
    redisReply              **e;
    ngx_http_zt_usage_win_t  *w, *windows;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || (reply->elements - 1) % (3 * NGX_HTTP_ZT_USAGE_PERIODS) != 0)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
            return NGX_DECLINED;
        }
    }

    n = (reply->elements - 1) / 3;
    now_ms = reply->element[0]->integer;

    windows = ngx_palloc(r->pool, (n ? n : 1)
                                  * sizeof(ngx_http_zt_usage_win_t));
    if (windows == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* per zone: its running windows first, start -1 after the last */

    for (i = 0; i < n; i += NGX_HTTP_ZT_USAGE_PERIODS) {
        k = 0;

        for (p = 0; p < NGX_HTTP_ZT_USAGE_PERIODS; p++) {
            e = &reply->element[1 + 3 * (i + p)];

            if (e[0]->integer == -1) {
                continue;
            }

            w = &windows[i + k++];

            w->period = p;
            w->start = e[0]->integer;
            w->used = e[1]->integer;
            w->limit = e[2]->integer;
            w->reset = (w->start + ngx_http_zt_usage_seconds[p]) * 1000
                       - now_ms;
        }

        while (k < NGX_HTTP_ZT_USAGE_PERIODS) {
            windows[i + k++].start = -1;
        }
    }

    return ngx_http_zt_usage_api_answer(r, key, windows);
}


/* <prefix>usage:<zone>:<key>:<period> */

static ngx_int_t
ngx_http_zt_usage_redis_key(ngx_http_request_t *r, ngx_str_t *out,
    ngx_str_t *zone, ngx_str_t *key, ngx_uint_t period)
{
    u_char                   *p;
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    out->len = zmcf->redis.prefix.len + sizeof("usage:::") - 1 + zone->len
               + key->len + 1;

    p = ngx_pnalloc(r->pool, out->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    p = ngx_cpymem(p, zmcf->redis.prefix.data, zmcf->redis.prefix.len);
    p = ngx_cpymem(p, "usage:", sizeof("usage:") - 1);
    p = ngx_cpymem(p, zone->data, zone->len);
    *p++ = ':';
    p = ngx_cpymem(p, key->data, key->len);
    *p++ = ':';
    *p = ngx_http_zt_usage_names[period];

    return NGX_OK;
}
