
/*
 * The shm store of usage limits: a shared-memory zone per zone= name, an
 * rbtree of keys, each with the windows it spends in (start, used, the
 * limit last applied).  Every change happens under the zone's lock, so a
 * reservation checks and fills all the windows of a key at once across
 * the workers of one nginx.
 *
 * A key whose windows have all ended holds nothing: it is freed when room
 * is needed (from the least recently used end) and a little at each
 * reservation.  A key still spending is never forgotten to make room, as
 * that would hand it a new budget: a zone that is full of live keys
 * answers 503.
 */


#include "ngx_http_zt_inference.h"


#define NGX_HTTP_ZT_USAGE_SHM_SCAN     64     /* stale keys freed at most */


typedef struct {
    int64_t                         start;     /* 0: never spent */
    int64_t                         used;
    int64_t                         limit;
} ngx_http_zt_usage_shm_win_t;


typedef struct {
    ngx_str_node_t                  sn;        /* hash and key */
    ngx_queue_t                     queue;     /* most recent first */
    time_t                          expire;    /* its last window ends */
    ngx_http_zt_usage_shm_win_t     win[NGX_HTTP_ZT_USAGE_PERIODS];
    u_char                          data[1];
} ngx_http_zt_usage_shm_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;
} ngx_http_zt_usage_shm_sh_t;


typedef struct {
    ngx_http_zt_usage_shm_sh_t     *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_zt_usage_shm_t;


static ngx_int_t ngx_http_zt_usage_shm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_zt_usage_shm_node_t *ngx_http_zt_usage_shm_find(
    ngx_http_zt_usage_shm_t *shm, ngx_str_t *key, uint32_t hash);
static ngx_http_zt_usage_shm_node_t *ngx_http_zt_usage_shm_create(
    ngx_http_zt_usage_shm_t *shm, ngx_str_t *key, uint32_t hash, time_t now,
    time_t *full_for);
static ngx_uint_t ngx_http_zt_usage_shm_expire(ngx_http_zt_usage_shm_t *shm,
    time_t now, ngx_uint_t n);
static ngx_int_t ngx_http_zt_usage_shm_one(ngx_http_request_t *r,
    ngx_http_zt_usage_t *u, ngx_http_zt_usage_res_t *res, int64_t now_ms);
static void ngx_http_zt_usage_shm_undo(ngx_http_zt_usage_res_t *res);


/* not the module: a token cache zone of the same name is another zone */
static ngx_uint_t  ngx_http_zt_usage_shm_tag;


ngx_int_t
ngx_http_zt_usage_shm_add(ngx_conf_t *cf, ngx_http_zt_usage_zone_t *zone)
{
    ngx_shm_zone_t           *shm_zone;
    ngx_http_zt_usage_shm_t  *shm;

    shm_zone = ngx_shared_memory_add(cf, &zone->name, zone->size,
                                     &ngx_http_zt_usage_shm_tag);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data == NULL) {
        shm = ngx_pcalloc(cf->pool, sizeof(ngx_http_zt_usage_shm_t));
        if (shm == NULL) {
            return NGX_ERROR;
        }

        shm_zone->init = ngx_http_zt_usage_shm_init_zone;
        shm_zone->data = shm;
    }

    zone->shm_zone = shm_zone;

    return NGX_OK;
}


/* a reload keeps the zone and what every key has spent */

static ngx_int_t
ngx_http_zt_usage_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_zt_usage_shm_t  *oshm = data;
    ngx_http_zt_usage_shm_t  *shm = shm_zone->data;

    size_t  len;

    if (oshm) {
        shm->sh = oshm->sh;
        shm->shpool = oshm->shpool;
        return NGX_OK;
    }

    shm->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm->sh = shm->shpool->data;
        return NGX_OK;
    }

    shm->sh = ngx_slab_alloc(shm->shpool, sizeof(ngx_http_zt_usage_shm_sh_t));
    if (shm->sh == NULL) {
        return NGX_ERROR;
    }

    shm->shpool->data = shm->sh;

    ngx_rbtree_init(&shm->sh->rbtree, &shm->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&shm->sh->queue);

    len = sizeof(" in zt_usage_limit zone \"\"") + shm_zone->shm.name.len;

    shm->shpool->log_ctx = ngx_slab_alloc(shm->shpool, len);
    if (shm->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shm->shpool->log_ctx, " in zt_usage_limit zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is answered 503 with a message of its own */
    shm->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * Reserves the cost of every limit; a limit without room undoes those
 * before it, so that a refused request holds nothing.  u->outcome says how
 * it went; NGX_ERROR only on a local failure.
 */

ngx_int_t
ngx_http_zt_usage_shm_reserve(ngx_http_request_t *r, ngx_http_zt_usage_t *u)
{
    int64_t      now_ms;
    ngx_int_t    rc;
    ngx_uint_t   i;
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    for (i = 0; i < u->nres; i++) {

        rc = ngx_http_zt_usage_shm_one(r, u, &u->res[i], now_ms);

        if (rc == NGX_OK) {
            continue;
        }

        while (i--) {
            ngx_http_zt_usage_shm_undo(&u->res[i]);
        }

        return (rc == NGX_DECLINED) ? NGX_OK : NGX_ERROR;
    }

    u->outcome = NGX_HTTP_ZT_USAGE_RESERVED;

    return NGX_OK;
}


/* NGX_OK: reserved; NGX_DECLINED: u->outcome says why not */

static ngx_int_t
ngx_http_zt_usage_shm_one(ngx_http_request_t *r, ngx_http_zt_usage_t *u,
    ngx_http_zt_usage_res_t *res, int64_t now_ms)
{
    time_t                         now, period, full_for;
    uint32_t                       hash;
    ngx_uint_t                     i, fits;
    ngx_http_zt_usage_shm_t       *shm;
    ngx_http_zt_usage_win_t       *w;
    ngx_http_zt_usage_shm_win_t   *sw;
    ngx_http_zt_usage_shm_node_t  *node;

    shm = res->limit->zone->shm_zone->data;
    now = (time_t) (now_ms / 1000);
    hash = ngx_crc32_short(res->key.data, res->key.len);

    ngx_shmtx_lock(&shm->shpool->mutex);

    (void) ngx_http_zt_usage_shm_expire(shm, now, 1);

    node = ngx_http_zt_usage_shm_find(shm, &res->key, hash);

    if (node == NULL) {
        node = ngx_http_zt_usage_shm_create(shm, &res->key, hash, now,
                                            &full_for);
        if (node == NULL) {
            ngx_shmtx_unlock(&shm->shpool->mutex);

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "zt: usage: zone \"%V\" is full of keys still "
                          "spending, \"%V\" refused with 503: make the zone "
                          "larger", &res->limit->zone->name, &res->key);

            u->outcome = NGX_HTTP_ZT_USAGE_FULL;
            u->full_for = full_for;
            u->blocking = res;
            return NGX_DECLINED;
        }

    } else {
        ngx_queue_remove(&node->queue);
        ngx_queue_insert_head(&shm->sh->queue, &node->queue);
    }

    fits = 1;

    for (i = 0; i < res->nwin; i++) {
        w = &res->win[i];
        sw = &node->win[w->period];
        period = ngx_http_zt_usage_seconds[w->period];

        w->start = now - now % period;
        w->used = (sw->start == w->start) ? sw->used : 0;
        w->reset = (w->start + period) * 1000 - now_ms;

        if (w->used + res->cost > w->limit) {
            fits = 0;
        }
    }

    if (fits) {
        for (i = 0; i < res->nwin; i++) {
            w = &res->win[i];
            sw = &node->win[w->period];
            period = ngx_http_zt_usage_seconds[w->period];

            w->used += res->cost;

            sw->start = w->start;
            sw->used = w->used;
            sw->limit = w->limit;

            if (node->expire < w->start + period) {
                node->expire = w->start + period;
            }
        }
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);

    if (!fits) {
        u->outcome = NGX_HTTP_ZT_USAGE_REFUSED;
        u->blocking = res;

        for (i = 0; i < res->nwin; i++) {
            if (res->cost > res->win[i].limit) {
                u->outcome = NGX_HTTP_ZT_USAGE_TOO_LARGE;
            }
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* gives back a reservation just made, to the very windows it went to */

static void
ngx_http_zt_usage_shm_undo(ngx_http_zt_usage_res_t *res)
{
    uint32_t                       hash;
    ngx_uint_t                     i;
    ngx_http_zt_usage_shm_t       *shm;
    ngx_http_zt_usage_shm_win_t   *sw;
    ngx_http_zt_usage_shm_node_t  *node;

    shm = res->limit->zone->shm_zone->data;
    hash = ngx_crc32_short(res->key.data, res->key.len);

    ngx_shmtx_lock(&shm->shpool->mutex);

    node = ngx_http_zt_usage_shm_find(shm, &res->key, hash);

    for (i = 0; node && i < res->nwin; i++) {
        sw = &node->win[res->win[i].period];

        if (sw->start == res->win[i].start) {
            sw->used = ngx_max(sw->used - res->cost, 0);
        }

        res->win[i].used -= res->cost;
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);
}


/*
 * Settles a reservation with what the request is charged: a refund goes
 * back to the windows reserved, if they still run (an ended window holds
 * nothing to refund); more than reserved is added to the windows of now.
 */

void
ngx_http_zt_usage_shm_settle(ngx_log_t *log, ngx_http_zt_usage_res_t *res,
    int64_t charge)
{
    time_t                         now, period, start, full_for;
    int64_t                        delta;
    uint32_t                       hash;
    ngx_uint_t                     i;
    ngx_http_zt_usage_shm_t       *shm;
    ngx_http_zt_usage_win_t       *w;
    ngx_http_zt_usage_shm_win_t   *sw;
    ngx_http_zt_usage_shm_node_t  *node;

    delta = charge - res->cost;

    if (delta == 0) {
        return;
    }

    shm = res->limit->zone->shm_zone->data;
    hash = ngx_crc32_short(res->key.data, res->key.len);
    now = ngx_time();

    ngx_shmtx_lock(&shm->shpool->mutex);

    node = ngx_http_zt_usage_shm_find(shm, &res->key, hash);

    if (node == NULL && delta > 0) {
        node = ngx_http_zt_usage_shm_create(shm, &res->key, hash, now,
                                            &full_for);
        if (node == NULL) {
            ngx_shmtx_unlock(&shm->shpool->mutex);

            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "zt: usage: zone \"%V\" is full, %L tokens of "
                          "\"%V\" could not be charged",
                          &res->limit->zone->name, delta, &res->key);
            return;
        }
    }

    for (i = 0; node && i < res->nwin; i++) {
        w = &res->win[i];
        sw = &node->win[w->period];

        if (delta < 0) {
            if (sw->start == w->start) {
                sw->used = ngx_max(sw->used + delta, 0);
            }

            continue;
        }

        period = ngx_http_zt_usage_seconds[w->period];
        start = now - now % period;

        if (sw->start != start) {
            sw->start = start;
            sw->used = 0;
        }

        sw->used += delta;
        sw->limit = w->limit;

        if (node->expire < start + period) {
            node->expire = start + period;
        }
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "zt: usage: settled \"%V\" in zone \"%V\": %L",
                   &res->key, &res->limit->zone->name, delta);
}


/* the windows of a key that still run, for the reviewer API */

ngx_int_t
ngx_http_zt_usage_shm_read(ngx_http_zt_usage_zone_t *zone, ngx_str_t *key,
    ngx_http_zt_usage_win_t *win, ngx_uint_t *nwin)
{
    time_t                         now, period;
    int64_t                        now_ms;
    ngx_uint_t                     p;
    ngx_time_t                    *tp;
    ngx_http_zt_usage_shm_t       *shm;
    ngx_http_zt_usage_shm_win_t   *sw;
    ngx_http_zt_usage_shm_node_t  *node;

    *nwin = 0;

    if (zone->shm_zone == NULL) {
        return NGX_OK;
    }

    shm = zone->shm_zone->data;
    tp = ngx_timeofday();
    now = tp->sec;
    now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    ngx_shmtx_lock(&shm->shpool->mutex);

    node = ngx_http_zt_usage_shm_find(shm, key,
                                      ngx_crc32_short(key->data, key->len));

    for (p = 0; node && p < NGX_HTTP_ZT_USAGE_PERIODS; p++) {
        sw = &node->win[p];
        period = ngx_http_zt_usage_seconds[p];

        if (sw->start == 0 || sw->start != now - now % period) {
            continue;
        }

        win[*nwin].period = p;
        win[*nwin].limit = sw->limit;
        win[*nwin].start = sw->start;
        win[*nwin].used = sw->used;
        win[*nwin].reset = (sw->start + period) * 1000 - now_ms;
        (*nwin)++;
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_zt_usage_shm_reset(ngx_http_zt_usage_zone_t *zone, ngx_str_t *key)
{
    ngx_http_zt_usage_shm_t       *shm;
    ngx_http_zt_usage_shm_node_t  *node;

    if (zone->shm_zone == NULL) {
        return NGX_OK;
    }

    shm = zone->shm_zone->data;

    ngx_shmtx_lock(&shm->shpool->mutex);

    node = ngx_http_zt_usage_shm_find(shm, key,
                                      ngx_crc32_short(key->data, key->len));

    if (node) {
        ngx_queue_remove(&node->queue);
        ngx_rbtree_delete(&shm->sh->rbtree, &node->sn.node);
        ngx_slab_free_locked(shm->shpool, node);
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);

    return NGX_OK;
}


static ngx_http_zt_usage_shm_node_t *
ngx_http_zt_usage_shm_find(ngx_http_zt_usage_shm_t *shm, ngx_str_t *key,
    uint32_t hash)
{
    ngx_str_node_t  *sn;

    sn = ngx_str_rbtree_lookup(&shm->sh->rbtree, key, hash);

    return (ngx_http_zt_usage_shm_node_t *) sn;
}


/*
 * A new key, under the lock.  When the zone has no room, keys whose
 * windows have all ended are freed first; NULL when none is, and
 * *full_for is when the least recently used key ends.
 */

static ngx_http_zt_usage_shm_node_t *
ngx_http_zt_usage_shm_create(ngx_http_zt_usage_shm_t *shm, ngx_str_t *key,
    uint32_t hash, time_t now, time_t *full_for)
{
    size_t                         size;
    ngx_queue_t                   *q;
    ngx_http_zt_usage_shm_node_t  *node;

    size = offsetof(ngx_http_zt_usage_shm_node_t, data) + key->len;

    node = ngx_slab_alloc_locked(shm->shpool, size);

    if (node == NULL
        && ngx_http_zt_usage_shm_expire(shm, now,
                                        NGX_HTTP_ZT_USAGE_SHM_SCAN))
    {
        node = ngx_slab_alloc_locked(shm->shpool, size);
    }

    if (node == NULL) {
        *full_for = 1;

        if (!ngx_queue_empty(&shm->sh->queue)) {
            q = ngx_queue_last(&shm->sh->queue);
            node = ngx_queue_data(q, ngx_http_zt_usage_shm_node_t, queue);

            *full_for = ngx_max(node->expire - now, 1);
        }

        return NULL;
    }

    ngx_memzero(node, offsetof(ngx_http_zt_usage_shm_node_t, data));
    ngx_memcpy(node->data, key->data, key->len);

    node->sn.node.key = hash;
    node->sn.str.data = node->data;
    node->sn.str.len = key->len;

    ngx_rbtree_insert(&shm->sh->rbtree, &node->sn.node);
    ngx_queue_insert_head(&shm->sh->queue, &node->queue);

    return node;
}


/*
 * Looks at up to n keys from the least recently used end and frees those
 * whose windows have all ended.  Returns how many were freed.
 */

static ngx_uint_t
ngx_http_zt_usage_shm_expire(ngx_http_zt_usage_shm_t *shm, time_t now,
    ngx_uint_t n)
{
    ngx_uint_t                     freed, seen;
    ngx_queue_t                   *q, *prev;
    ngx_http_zt_usage_shm_node_t  *node;

    freed = 0;
    seen = 0;

    for (q = ngx_queue_last(&shm->sh->queue);
         q != ngx_queue_sentinel(&shm->sh->queue) && seen < n;
         q = prev)
    {
        prev = ngx_queue_prev(q);
        seen++;

        node = ngx_queue_data(q, ngx_http_zt_usage_shm_node_t, queue);

        if (node->expire > now) {
            /* a day window used long ago may sit before shorter ones */
            continue;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&shm->sh->rbtree, &node->sn.node);
        ngx_slab_free_locked(shm->shpool, node);
        freed++;
    }

    return freed;
}
