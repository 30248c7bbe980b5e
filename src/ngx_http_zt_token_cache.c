
/*
 * The verified-token cache (zt_token_cache): a shared-memory zone across
 * workers that maps a token, verified under one location's settings, to
 * the claims the policy needs, so that a client reusing its token skips
 * parsing and signature checks.  An entry never outlives the token's exp,
 * the least recently used entries go first when the zone is full, and a
 * reload (new keys) starts with an empty cache.
 *
 * An entry keeps the token itself and what it was verified under, and a
 * lookup compares both byte for byte (the token in constant time):
 * nothing is hashed on the way, and only the very token that was
 * verified, under the very same settings, is ever found.
 */


#include "ngx_http_zt_inference.h"


typedef struct {
    ngx_rbtree_node_t           node;       /* key: the token's last bytes */
    ngx_queue_t                 queue;      /* LRU, most recent first */
    time_t                      expire;
    time_t                      exp;
    u_char                      fp[NGX_HTTP_ZT_FP_LEN];
    uint16_t                    bind_len;
    uint16_t                    token_len;
    uint16_t                    sub_len;
    uint16_t                    iss_len;
    uint16_t                    nscopes;
    uint16_t                    ngroups;
    uint32_t                    lists_len;
    uint32_t                    payload_len;
    u_char                      data[1];    /* bind token sub iss scopes
                                               groups payload */
} ngx_http_zt_token_cache_node_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;
} ngx_http_zt_token_cache_sh_t;


typedef struct {
    ngx_http_zt_token_cache_sh_t  *sh;
    ngx_slab_pool_t               *shpool;
} ngx_http_zt_token_cache_t;


static ngx_int_t ngx_http_zt_token_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_zt_token_cache_bind(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_token_cache_bind_t *bind);
static ngx_rbtree_key_t ngx_http_zt_token_cache_key(ngx_str_t *token);
static ngx_uint_t ngx_http_zt_token_cache_holds(
    ngx_http_zt_token_cache_node_t *tn, ngx_str_t *token);
static ngx_int_t ngx_http_zt_token_cache_cmp(ngx_rbtree_key_t key,
    size_t token_len, u_char *bind, size_t bind_len,
    ngx_http_zt_token_cache_node_t *tn);
static void ngx_http_zt_token_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_zt_token_cache_node_t *ngx_http_zt_token_cache_find(
    ngx_http_zt_token_cache_t *cache, ngx_rbtree_key_t key, ngx_str_t *token,
    ngx_http_zt_token_cache_bind_t *bind);
static void ngx_http_zt_token_cache_free(ngx_http_zt_token_cache_t *cache,
    ngx_http_zt_token_cache_node_t *tn);
static ngx_int_t ngx_http_zt_token_cache_strings(ngx_pool_t *pool,
    ngx_array_t **list, u_char **p, ngx_uint_t n);
static size_t ngx_http_zt_token_cache_list_size(ngx_array_t *list);
static u_char *ngx_http_zt_token_cache_list_copy(u_char *p,
    ngx_array_t *list);

char *
ngx_http_zt_token_cache_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_loc_conf_t *zlcf = conf;

    u_char                     *p;
    ssize_t                     size;
    ngx_str_t                  *value, name, s;
    ngx_uint_t                  i;
    ngx_shm_zone_t             *shm_zone;
    ngx_http_zt_token_cache_t  *cache;

    if (zlcf->token_cache != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        zlcf->token_cache = NULL;
        return NGX_CONF_OK;
    }

    ngx_str_null(&name);
    size = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zt_token_cache: invalid zone \"%V\", "
                                   "expected zone=NAME:SIZE", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || name.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zt_token_cache: invalid zone \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zt_token_cache: zone \"%V\" is too "
                                   "small, at least %uz", &value[i],
                                   8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_ttl=", 8) == 0) {

            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            zlcf->token_cache_max_ttl = ngx_parse_time(&s, 1);

            if (zlcf->token_cache_max_ttl == (time_t) NGX_ERROR
                || zlcf->token_cache_max_ttl == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zt_token_cache: invalid \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_token_cache: invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_token_cache: \"zone=NAME:SIZE\" is required");
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_zt_inference_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data == NULL) {
        cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_zt_token_cache_t));
        if (cache == NULL) {
            return NGX_CONF_ERROR;
        }

        shm_zone->init = ngx_http_zt_token_cache_init_zone;
        shm_zone->data = cache;
    }

    zlcf->token_cache = shm_zone;

    return NGX_CONF_OK;
}


/*
 * A reload hands over the old zone and its tree: the entries stay until
 * evicted, but none is found again, since every binding includes the new
 * configuration's salt.  So new keys or settings empty the cache.
 */

static ngx_int_t
ngx_http_zt_token_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_zt_token_cache_t  *ocache = data;
    ngx_http_zt_token_cache_t  *cache = shm_zone->data;

    size_t  len;

    if (ocache) {
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    cache->sh = ngx_slab_calloc(cache->shpool,
                                sizeof(ngx_http_zt_token_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_zt_token_cache_insert);
    ngx_queue_init(&cache->sh->queue);

    len = sizeof(" in zt_token_cache zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in zt_token_cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts; running out of slab memory is no error to log */
    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * The binding ties the token to the settings it was verified under (keys
 * and their issuer= bindings, issuers, audiences, algorithms, leeway,
 * claim names): a token verified for one location is no proof for another
 * with stricter settings.  The settings' addresses identify them within
 * one configuration, and the configuration's random salt tells
 * configurations apart.  The versions of the location's remote key sets
 * are in it too: once a set changes, its tokens are verified again, so a
 * key the identity provider dropped stops vouching for cached tokens.
 */

static void
ngx_http_zt_token_cache_bind(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_token_cache_bind_t *bind)
{
    u_char                   *p;
    ngx_uint_t                n, versions[NGX_HTTP_ZT_JWKS_USES_MAX];
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    n = ngx_http_zt_jwks_versions(r, conf->remotes, versions);

    p = ngx_cpymem(bind->data, zmcf->cache_salt, sizeof(zmcf->cache_salt));
    p = ngx_cpymem(p, conf, sizeof(ngx_http_zt_jwt_conf_t));
    p = ngx_cpymem(p, versions, n * sizeof(ngx_uint_t));

    bind->len = p - bind->data;
}


/*
 * The tree is ordered by the token's last bytes, then by the whole token
 * and binding.  Those bytes end the signature, which only the issuer's
 * key decides, so they spread the entries; and since equal ones are told
 * apart by the full comparison, no token can stand in for another.
 */

static ngx_rbtree_key_t
ngx_http_zt_token_cache_key(ngx_str_t *token)
{
    ngx_rbtree_key_t  key;

    key = 0;

    if (token->len >= sizeof(ngx_rbtree_key_t)) {
        ngx_memcpy(&key, token->data + token->len - sizeof(ngx_rbtree_key_t),
                   sizeof(ngx_rbtree_key_t));
    }

    return key;
}


/*
 * The tree is ordered by what is not secret or cannot be guessed from a
 * walk: the token's last bytes, its length and the settings it was
 * verified under.  The token's own bytes are never ordered on, only
 * compared for equality in constant time, so how long a lookup takes
 * says nothing about a cached token; one slot holds one token.
 */

static ngx_int_t
ngx_http_zt_token_cache_cmp(ngx_rbtree_key_t key, size_t token_len,
    u_char *bind, size_t bind_len, ngx_http_zt_token_cache_node_t *tn)
{
    if (key != tn->node.key) {
        return (key < tn->node.key) ? -1 : 1;
    }

    if (token_len != tn->token_len) {
        return (token_len < tn->token_len) ? -1 : 1;
    }

    if (bind_len != tn->bind_len) {
        return (bind_len < tn->bind_len) ? -1 : 1;
    }

    return ngx_memcmp(bind, tn->data, bind_len);
}


/*
 * Equality in constant time, eight bytes a step: CRYPTO_memcmp() goes a
 * byte at a time, and over a 600-byte RS256 token that was a fifth of
 * what a cached request costs the module.
 */

static ngx_uint_t
ngx_http_zt_token_cache_holds(ngx_http_zt_token_cache_node_t *tn,
    ngx_str_t *token)
{
    u_char    *a, *b;
    size_t     i, n;
    uint64_t   x, y, diff;

    a = token->data;
    b = tn->data + tn->bind_len;
    n = token->len;
    diff = 0;

    for (i = 0; i + 8 <= n; i += 8) {
        ngx_memcpy(&x, a + i, 8);
        ngx_memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }

    for ( /* void */ ; i < n; i++) {
        diff |= a[i] ^ b[i];
    }

    return diff == 0;
}


static void
ngx_http_zt_token_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t              **p;
    ngx_http_zt_token_cache_node_t  *tn;

    tn = (ngx_http_zt_token_cache_node_t *) node;

    for ( ;; ) {

        p = (ngx_http_zt_token_cache_cmp(node->key, tn->token_len, tn->data,
                                         tn->bind_len,
                                         (ngx_http_zt_token_cache_node_t *)
                                         temp)
             < 0)
            ? &temp->left : &temp->right;

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * NGX_OK: the identity is filled from the cache; NGX_DECLINED: a miss,
 * and bind is what ngx_http_zt_token_cache_store() keeps the identity
 * under once the token is verified.
 */

ngx_int_t
ngx_http_zt_token_cache_lookup(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *token, ngx_http_zt_identity_t *id,
    ngx_http_zt_token_cache_bind_t *bind)
{
    u_char                          *p, *q;
    size_t                           size;
    ngx_int_t                        rc;
    ngx_http_zt_token_cache_t       *cache;
    ngx_http_zt_token_cache_node_t  *tn;

    if (lcf->token_cache == NULL) {
        return NGX_DECLINED;
    }

    cache = lcf->token_cache->data;

    ngx_http_zt_token_cache_bind(r, &lcf->jwt, bind);

    ngx_shmtx_lock(&cache->shpool->mutex);

    tn = ngx_http_zt_token_cache_find(cache,
                                      ngx_http_zt_token_cache_key(token),
                                      token, bind);

    if (tn == NULL || !ngx_http_zt_token_cache_holds(tn, token)) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    if (tn->expire <= ngx_time()) {
        ngx_http_zt_token_cache_free(cache, tn);
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_queue_remove(&tn->queue);
    ngx_queue_insert_head(&cache->sh->queue, &tn->queue);

    /*
     * copied out under the lock, in one piece: the entry may be evicted
     * right after
     */

    rc = NGX_ERROR;

    id->claims = NULL;
    id->exp = tn->exp;
    ngx_memcpy(id->fp, tn->fp, NGX_HTTP_ZT_FP_LEN);

    size = tn->sub_len + tn->iss_len + tn->lists_len + tn->payload_len;

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        goto done;
    }

    ngx_memcpy(p, tn->data + tn->bind_len + tn->token_len, size);

    id->sub.data = p;
    id->sub.len = tn->sub_len;
    p += tn->sub_len;

    id->iss.data = p;
    id->iss.len = tn->iss_len;
    p += tn->iss_len;

    q = p;

    if (ngx_http_zt_token_cache_strings(r->pool, &id->scopes, &q,
                                        tn->nscopes)
        != NGX_OK
        || ngx_http_zt_token_cache_strings(r->pool, &id->groups, &q,
                                           tn->ngroups)
           != NGX_OK)
    {
        goto done;
    }

    id->payload.data = p + tn->lists_len;
    id->payload.len = tn->payload_len;

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "zt: token cache %s, fp=%*s",
                   rc == NGX_OK ? "hit" : "error", NGX_HTTP_ZT_FP_LEN, id->fp);

    return rc;
}


/*
 * Keeps a just-verified identity until the token's exp (or max_ttl, if
 * sooner), evicting the least recently used entries to make room.
 */

void
ngx_http_zt_token_cache_store(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *token,
    ngx_http_zt_token_cache_bind_t *bind, ngx_http_zt_identity_t *id)
{
    u_char                          *p;
    size_t                           size, lists;
    time_t                           now, expire;
    ngx_uint_t                       tries;
    ngx_queue_t                     *q;
    ngx_rbtree_key_t                 key;
    ngx_http_zt_token_cache_t       *cache;
    ngx_http_zt_token_cache_node_t  *tn;

    if (lcf->token_cache == NULL) {
        return;
    }

    now = ngx_time();
    expire = id->exp;

    if (lcf->token_cache_max_ttl != NGX_CONF_UNSET
        && now + lcf->token_cache_max_ttl < expire)
    {
        expire = now + lcf->token_cache_max_ttl;
    }

    if (expire <= now || id->sub.len > 0xffff || id->iss.len > 0xffff
        || token->len > 0xffff
        || (id->scopes && id->scopes->nelts > 0xffff)
        || (id->groups && id->groups->nelts > 0xffff))
    {
        return;
    }

    cache = lcf->token_cache->data;
    key = ngx_http_zt_token_cache_key(token);

    lists = ngx_http_zt_token_cache_list_size(id->scopes)
            + ngx_http_zt_token_cache_list_size(id->groups);

    size = offsetof(ngx_http_zt_token_cache_node_t, data)
           + bind->len + token->len + id->sub.len + id->iss.len + lists
           + id->payload.len;

    ngx_shmtx_lock(&cache->shpool->mutex);

    tn = ngx_http_zt_token_cache_find(cache, key, token, bind);

    if (tn) {
        if (ngx_http_zt_token_cache_holds(tn, token)) {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return;
        }

        ngx_http_zt_token_cache_free(cache, tn);
    }

    for (tries = 0; /* void */; tries++) {

        tn = ngx_slab_alloc_locked(cache->shpool, size);
        if (tn != NULL) {
            break;
        }

        if (tries == 16 || ngx_queue_empty(&cache->sh->queue)) {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return;
        }

        q = ngx_queue_last(&cache->sh->queue);
        ngx_http_zt_token_cache_free(cache,
                      ngx_queue_data(q, ngx_http_zt_token_cache_node_t, queue));
    }

    tn->node.key = key;
    tn->expire = expire;
    tn->exp = id->exp;
    ngx_memcpy(tn->fp, id->fp, NGX_HTTP_ZT_FP_LEN);
    tn->bind_len = (uint16_t) bind->len;
    tn->token_len = (uint16_t) token->len;
    tn->sub_len = (uint16_t) id->sub.len;
    tn->iss_len = (uint16_t) id->iss.len;
    tn->nscopes = (uint16_t) (id->scopes ? id->scopes->nelts : 0);
    tn->ngroups = (uint16_t) (id->groups ? id->groups->nelts : 0);
    tn->lists_len = (uint32_t) lists;
    tn->payload_len = (uint32_t) id->payload.len;

    p = ngx_cpymem(tn->data, bind->data, bind->len);
    p = ngx_cpymem(p, token->data, token->len);
    p = ngx_cpymem(p, id->sub.data, id->sub.len);
    p = ngx_cpymem(p, id->iss.data, id->iss.len);
    p = ngx_http_zt_token_cache_list_copy(p, id->scopes);
    p = ngx_http_zt_token_cache_list_copy(p, id->groups);
    ngx_memcpy(p, id->payload.data, id->payload.len);

    ngx_rbtree_insert(&cache->sh->rbtree, &tn->node);
    ngx_queue_insert_head(&cache->sh->queue, &tn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


static ngx_http_zt_token_cache_node_t *
ngx_http_zt_token_cache_find(ngx_http_zt_token_cache_t *cache,
    ngx_rbtree_key_t key, ngx_str_t *token,
    ngx_http_zt_token_cache_bind_t *bind)
{
    ngx_int_t                        rc;
    ngx_rbtree_node_t               *node, *sentinel;
    ngx_http_zt_token_cache_node_t  *tn;

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        tn = (ngx_http_zt_token_cache_node_t *) node;

        rc = ngx_http_zt_token_cache_cmp(key, token->len, bind->data,
                                         bind->len, tn);

        if (rc == 0) {
            return tn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_zt_token_cache_free(ngx_http_zt_token_cache_t *cache,
    ngx_http_zt_token_cache_node_t *tn)
{
    ngx_queue_remove(&tn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, &tn->node);
    ngx_slab_free_locked(cache->shpool, tn);
}


/* lists are stored as a 16-bit length and the bytes of each string */

static size_t
ngx_http_zt_token_cache_list_size(ngx_array_t *list)
{
    size_t       size;
    ngx_str_t   *s;
    ngx_uint_t   i;

    size = 0;

    if (list) {
        s = list->elts;

        for (i = 0; i < list->nelts; i++) {
            size += sizeof(uint16_t) + ngx_min(s[i].len, 0xffff);
        }
    }

    return size;
}


static u_char *
ngx_http_zt_token_cache_list_copy(u_char *p, ngx_array_t *list)
{
    uint16_t     len;
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (list == NULL) {
        return p;
    }

    s = list->elts;

    for (i = 0; i < list->nelts; i++) {
        len = (uint16_t) ngx_min(s[i].len, 0xffff);
        p = ngx_cpymem(p, &len, sizeof(uint16_t));
        p = ngx_cpymem(p, s[i].data, len);
    }

    return p;
}


/* the strings point into the copy of the entry at *p */

static ngx_int_t
ngx_http_zt_token_cache_strings(ngx_pool_t *pool, ngx_array_t **list,
    u_char **p, ngx_uint_t n)
{
    uint16_t     len;
    ngx_str_t   *s;
    ngx_uint_t   i;

    *list = ngx_array_create(pool, n ? n : 1, sizeof(ngx_str_t));
    if (*list == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        ngx_memcpy(&len, *p, sizeof(uint16_t));
        *p += sizeof(uint16_t);

        s = ngx_array_push(*list);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->len = len;
        s->data = *p;
        *p += len;
    }

    return NGX_OK;
}
