
/*
 * zt-inference: remote key sets.  `zt_jwks_request URI` names an internal
 * location that answers with a JWKS (proxying to the identity provider's
 * jwks_uri); `zt_oidc_issuer` finds that jwks_uri in the provider's
 * OpenID Connect discovery document first.  The documents are fetched
 * with in-memory background subrequests, so that TLS, the resolver,
 * timeouts and caching are nginx's own and no worker ever blocks.
 *
 * One shared-memory zone per set holds the last good document and its
 * version; every worker builds its EVP_PKEYs from it again only when the
 * version changed.  One fetch at a time across the workers (a lease in
 * the zone), at most one per min_refetch; an unknown kid makes a request
 * wait for one refetch, a due refresh happens behind a request that is
 * served meanwhile, and a failed fetch keeps the last good set.
 */


#include "ngx_http_zt_inference.h"


#define NGX_HTTP_ZT_JWKS_DOC_MAX     (128 * 1024)
#define NGX_HTTP_ZT_JWKS_URL_MAX     2048
#define NGX_HTTP_ZT_JWKS_LEASE       60000       /* ms a fetch may take */
#define NGX_HTTP_ZT_JWKS_POLL_MIN    5
#define NGX_HTTP_ZT_JWKS_POLL_MAX    100


/* in the zone: what every worker sees of the set */
typedef struct {
    ngx_uint_t                  version;    /* 0: no good set yet */
    ngx_msec_t                  fetched;    /* of the current set */
    ngx_msec_t                  attempt;    /* the last fetch's start */
    ngx_msec_t                  lease;      /* inflight until then */
    ngx_uint_t                  seq;        /* fetches started */
    ngx_uint_t                  inflight;
    ngx_uint_t                  attempted;
    ngx_uint_t                  failed;     /* the last fetch failed */
    u_char                      digest[32]; /* of doc */
    size_t                      len;
    size_t                      jwks_uri_len;
    u_char                      jwks_uri[NGX_HTTP_ZT_JWKS_URL_MAX];
    u_char                      doc[1];     /* NGX_HTTP_ZT_JWKS_DOC_MAX */
} ngx_http_zt_jwks_sh_t;


struct ngx_http_zt_jwks_s {
    ngx_str_t                   uri;
    ngx_str_t                   discovery;  /* the issuer, or empty */
    ngx_str_t                   name;       /* for the log: uri (issuer) */
    ngx_msec_t                  refresh;
    ngx_msec_t                  min_refetch;

    ngx_shm_zone_t             *zone;
    ngx_http_zt_jwks_sh_t      *sh;
    ngx_slab_pool_t            *shpool;

    /* this process's keys, built from version */
    ngx_uint_t                  version;
    ngx_array_t                *keys;
    ngx_pool_t                 *pool;
};


/* one fetch cycle (discovery, then the JWKS), owned by a request's pool */
typedef struct {
    ngx_http_zt_jwks_t         *set;
    ngx_http_request_t         *r;          /* the main request */
    ngx_uint_t                  seq;
    unsigned                    released:1;
    unsigned                    discover:1; /* discovery comes first */
} ngx_http_zt_jwks_flight_t;


/* one subrequest of a flight */
typedef struct {
    ngx_http_zt_jwks_flight_t  *flight;
    ngx_str_t                   url;        /* $zt_jwks_url */
    ngx_http_post_subrequest_t  ps;
    u_char                     *doc;        /* what it answered */
    size_t                      len;
    unsigned                    discovery:1;
    unsigned                    handled:1;
    unsigned                    too_large:1;
} ngx_http_zt_jwks_fetch_t;


struct ngx_http_zt_jwks_wait_s {
    ngx_http_request_t         *r;
    ngx_event_t                 timer;
    ngx_msec_t                  delay;
    ngx_uint_t                  nsets;
    ngx_http_zt_jwks_t         *sets[NGX_HTTP_ZT_JWKS_USES_MAX];
    ngx_uint_t                  seqs[NGX_HTTP_ZT_JWKS_USES_MAX];
    time_t                      retry_after;
    ngx_http_zt_jwks_t         *missing;    /* never fetched, for the log */
    unsigned                    waited:1;
    unsigned                    waiting:1;
};


typedef enum {
    NGX_HTTP_ZT_JWKS_CLAIMED = 0,   /* this process fetches now */
    NGX_HTTP_ZT_JWKS_INFLIGHT,      /* another fetch runs: seq is its */
    NGX_HTTP_ZT_JWKS_TOO_SOON       /* within min_refetch of the last */
} ngx_http_zt_jwks_claim_e;


static char *ngx_http_zt_jwks_pair(ngx_conf_t *cf,
    ngx_http_zt_jwt_conf_t *jcf);
static ngx_int_t ngx_http_zt_jwks_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_zt_jwks_conf_cleanup(void *data);
static ngx_http_zt_jwks_claim_e ngx_http_zt_jwks_claim(
    ngx_http_zt_jwks_t *set, ngx_uint_t *seq, ngx_uint_t *discover);
static ngx_int_t ngx_http_zt_jwks_start(ngx_http_request_t *r,
    ngx_http_zt_jwks_t *set, ngx_uint_t seq, ngx_uint_t discover,
    const char *why);
static ngx_int_t ngx_http_zt_jwks_subrequest(ngx_http_zt_jwks_flight_t *fl,
    ngx_uint_t discovery);
static ngx_int_t ngx_http_zt_jwks_fetched(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static const char *ngx_http_zt_jwks_discovered(ngx_http_zt_jwks_flight_t *fl,
    ngx_str_t *doc, ngx_log_t *log);
static const char *ngx_http_zt_jwks_store(ngx_http_zt_jwks_flight_t *fl,
    ngx_str_t *doc, ngx_log_t *log);
static void ngx_http_zt_jwks_release(ngx_http_zt_jwks_flight_t *fl,
    const char *failure, ngx_log_t *log);
static void ngx_http_zt_jwks_flight_cleanup(void *data);
static ngx_int_t ngx_http_zt_jwks_build(ngx_http_zt_jwks_t *set,
    u_char *doc, size_t len, ngx_log_t *log, ngx_array_t **keys,
    ngx_pool_t **pool);
static void ngx_http_zt_jwks_adopt(ngx_http_zt_jwks_t *set,
    ngx_uint_t version, ngx_array_t *keys, ngx_pool_t *pool);
static void ngx_http_zt_jwks_refresh(ngx_http_request_t *r,
    ngx_http_zt_jwks_t *set);
static ngx_int_t ngx_http_zt_jwks_wait(ngx_http_request_t *r,
    ngx_http_zt_jwks_wait_t *w);
static ngx_uint_t ngx_http_zt_jwks_waiting(ngx_http_zt_jwks_wait_t *w);
static void ngx_http_zt_jwks_wait_handler(ngx_event_t *ev);
static void ngx_http_zt_jwks_wait_cleanup(void *data);
static ngx_int_t ngx_http_zt_jwks_url_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_jwks_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_body_filter_pt  ngx_http_zt_jwks_next_body_filter;


#define ngx_http_zt_jwks_elapsed(since)                                       \
    ((ngx_msec_int_t) (ngx_current_msec - (since)))


/*
 * zt_jwks_request URI [issuer=ISS] [refresh=TIME] [min_refetch=TIME];
 *
 * cmd->offset is the location's ngx_http_zt_jwt_conf_t: the uses of this
 * block are in its remotes until merging makes them inherited.
 */

char *
ngx_http_zt_jwks_request_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_jwt_conf_t *jcf = (void *) ((char *) conf + cmd->offset);

    ngx_str_t               *value, s;
    ngx_int_t                t;
    ngx_uint_t               i;
    ngx_http_zt_jwks_use_t  *use;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: \"%V\" is not a location URI (\"/...\")",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (jcf->remotes == NULL) {
        jcf->remotes = ngx_array_create(cf->pool, 1,
                                        sizeof(ngx_http_zt_jwks_use_t));
        if (jcf->remotes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (jcf->remotes->nelts == NGX_HTTP_ZT_JWKS_USES_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: at most %d in one block", &cmd->name,
                           NGX_HTTP_ZT_JWKS_USES_MAX);
        return NGX_CONF_ERROR;
    }

    use = ngx_array_push(jcf->remotes);
    if (use == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(use, sizeof(ngx_http_zt_jwks_use_t));

    use->uri = value[1];
    use->refresh = 600000;
    use->min_refetch = 30000;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "issuer=", 7) == 0
            && value[i].len > 7)
        {
            use->issuer.data = value[i].data + 7;
            use->issuer.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "refresh=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            t = ngx_parse_time(&s, 0);

            if (t == NGX_ERROR || t < 1000) {
                goto invalid;
            }

            use->refresh = (ngx_msec_t) t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "min_refetch=", 12) == 0) {
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;

            t = ngx_parse_time(&s, 0);

            if (t == NGX_ERROR) {
                goto invalid;
            }

            use->min_refetch = (ngx_msec_t) t;
            continue;
        }

        goto invalid;
    }

    if (use->min_refetch > use->refresh) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: min_refetch is longer than refresh",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    return ngx_http_zt_jwks_pair(cf, jcf);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%V: invalid parameter \"%V\" (expected issuer=ISS, "
                       "refresh=TIME of 1s or more, min_refetch=TIME)",
                       &cmd->name, &value[i]);

    return NGX_CONF_ERROR;
}


/* zt_oidc_issuer URL; */

char *
ngx_http_zt_jwks_oidc_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_jwt_conf_t *jcf = (void *) ((char *) conf + cmd->offset);

    ngx_str_t  *value;

    if (jcf->oidc_issuer.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!(value[1].len > 8
          && ngx_strncmp(value[1].data, "https://", 8) == 0)
        && !(value[1].len > 7
             && ngx_strncmp(value[1].data, "http://", 7) == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: \"%V\" is not an https:// (or http://) URL",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    jcf->oidc_issuer = value[1];

    return ngx_http_zt_jwks_pair(cf, jcf);
}


/*
 * zt_oidc_issuer and the zt_jwks_request of the same block, in either
 * order: that request fetches the discovery document first, and the keys
 * it yields are bound to the issuer.
 */

static char *
ngx_http_zt_jwks_pair(ngx_conf_t *cf, ngx_http_zt_jwt_conf_t *jcf)
{
    ngx_http_zt_jwks_use_t  *use;

    if (jcf->oidc_issuer.len == 0 || jcf->remotes == NULL) {
        return NGX_CONF_OK;
    }

    if (jcf->remotes->nelts != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_oidc_issuer\" needs exactly one "
                           "\"zt_jwks_request\" in its block, not %ui",
                           jcf->remotes->nelts);
        return NGX_CONF_ERROR;
    }

    use = jcf->remotes->elts;

    if (use->issuer.len
        && (use->issuer.len != jcf->oidc_issuer.len
            || ngx_strncmp(use->issuer.data, jcf->oidc_issuer.data,
                           use->issuer.len) != 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_jwks_request %V issuer=%V\" contradicts "
                           "\"zt_oidc_issuer %V\"", &use->uri, &use->issuer,
                           &jcf->oidc_issuer);
        return NGX_CONF_ERROR;
    }

    use->issuer = jcf->oidc_issuer;
    use->discovery = jcf->oidc_issuer;

    return NGX_CONF_OK;
}


/*
 * At merge time, for the uses a location has (its own or inherited): each
 * gets its set, one per URI and discovery issuer, with its zone.
 */

char *
ngx_http_zt_jwks_merge(ngx_conf_t *cf, ngx_array_t *uses,
    ngx_str_t *oidc_issuer)
{
    u_char                  *p;
    ngx_str_t                name;
    ngx_uint_t               i;
    ngx_shm_zone_t          *zone;
    ngx_pool_cleanup_t      *cln;
    ngx_http_zt_jwks_t      *set;
    ngx_http_zt_jwks_use_t  *use;

    if (oidc_issuer->len && uses == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_oidc_issuer %V\" needs a \"zt_jwks_request\" "
                           "in its block (the internal location that "
                           "fetches for it)", oidc_issuer);
        return NGX_CONF_ERROR;
    }

    if (uses == NULL) {
        return NGX_CONF_OK;
    }

    use = uses->elts;

    for (i = 0; i < uses->nelts; i++) {

        if (use[i].set) {
            continue;
        }

        name.len = sizeof("zt_jwks:") - 1 + use[i].uri.len
                   + (use[i].discovery.len ? 1 + use[i].discovery.len : 0);
        name.data = ngx_pnalloc(cf->pool, name.len);
        if (name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        p = ngx_cpymem(name.data, "zt_jwks:", sizeof("zt_jwks:") - 1);
        p = ngx_cpymem(p, use[i].uri.data, use[i].uri.len);

        if (use[i].discovery.len) {
            *p++ = ' ';
            ngx_memcpy(p, use[i].discovery.data, use[i].discovery.len);
        }

        zone = ngx_shared_memory_add(cf, &name,
                                     NGX_HTTP_ZT_JWKS_DOC_MAX + 64 * 1024,
                                     &ngx_http_zt_inference_module);
        if (zone == NULL) {
            return NGX_CONF_ERROR;
        }

        set = zone->data;

        if (set) {
            if (set->refresh != use[i].refresh
                || set->min_refetch != use[i].min_refetch)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"zt_jwks_request %V\" is given twice "
                                   "with different refresh= or "
                                   "min_refetch=", &use[i].uri);
                return NGX_CONF_ERROR;
            }

            use[i].set = set;
            continue;
        }

        set = ngx_pcalloc(cf->pool, sizeof(ngx_http_zt_jwks_t));
        if (set == NULL) {
            return NGX_CONF_ERROR;
        }

        set->uri = use[i].uri;
        set->discovery = use[i].discovery;
        set->refresh = use[i].refresh;
        set->min_refetch = use[i].min_refetch;
        set->zone = zone;

        if (set->discovery.len) {
            set->name.len = set->uri.len + set->discovery.len + 3;
            set->name.data = ngx_pnalloc(cf->pool, set->name.len);
            if (set->name.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_sprintf(set->name.data, "%V (%V)", &set->uri,
                        &set->discovery);

        } else {
            set->name = set->uri;
        }

        /* a worker's keys go with the configuration */

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_zt_jwks_conf_cleanup;
        cln->data = set;

        zone->init = ngx_http_zt_jwks_init_zone;
        zone->data = set;

        use[i].set = set;
    }

    return NGX_CONF_OK;
}


/*
 * A reload hands the zone over: the last good set stays, and is due for
 * a refresh at once, since the new configuration may fetch it elsewhere.
 */

static ngx_int_t
ngx_http_zt_jwks_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_zt_jwks_t  *oset = data;
    ngx_http_zt_jwks_t  *set = shm_zone->data;

    size_t  len;

    set->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (oset) {
        set->sh = oset->sh;

        ngx_shmtx_lock(&set->shpool->mutex);
        set->sh->fetched = ngx_current_msec - set->refresh;
        ngx_shmtx_unlock(&set->shpool->mutex);

        return NGX_OK;
    }

    set->sh = ngx_slab_calloc(set->shpool,
                              offsetof(ngx_http_zt_jwks_sh_t, doc)
                              + NGX_HTTP_ZT_JWKS_DOC_MAX);
    if (set->sh == NULL) {
        return NGX_ERROR;
    }

    len = sizeof(" in zt_jwks_request zone \"\"") + shm_zone->shm.name.len;

    set->shpool->log_ctx = ngx_slab_alloc(set->shpool, len);
    if (set->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(set->shpool->log_ctx, " in zt_jwks_request zone \"%V\"%Z",
                &shm_zone->shm.name);

    return NGX_OK;
}


static void
ngx_http_zt_jwks_conf_cleanup(void *data)
{
    ngx_http_zt_jwks_t  *set = data;

    if (set->pool) {
        ngx_destroy_pool(set->pool);
        set->pool = NULL;
        set->keys = NULL;
    }
}


ngx_int_t
ngx_http_zt_jwks_add_variables(ngx_conf_t *cf)
{
    ngx_str_t             name = ngx_string("zt_jwks_url");
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_zt_jwks_url_variable;

    return NGX_OK;
}


/*
 * The answer of a fetch's subrequest is taken here, before nginx's
 * postpone filter: an in-memory subrequest whose answer outgrows
 * subrequest_output_buffer_size fails the client's connection with it,
 * and a document too large must only fail the fetch.
 */

ngx_int_t
ngx_http_zt_jwks_filter_init(ngx_conf_t *cf)
{
    ngx_http_zt_jwks_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_zt_jwks_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_jwks_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                     n;
    ngx_chain_t               *cl;
    ngx_http_zt_jwks_fetch_t  *f;

    if (r->post_subrequest == NULL
        || r->post_subrequest->handler != ngx_http_zt_jwks_fetched)
    {
        return ngx_http_zt_jwks_next_body_filter(r, in);
    }

    f = r->post_subrequest->data;

    for (cl = in; cl; cl = cl->next) {

        if (ngx_buf_special(cl->buf)) {
            continue;
        }

        if (!ngx_buf_in_memory(cl->buf) || f->too_large) {
            f->too_large = 1;
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
            continue;
        }

        n = cl->buf->last - cl->buf->pos;

        if (f->doc == NULL) {
            f->doc = ngx_pnalloc(r->pool, NGX_HTTP_ZT_JWKS_DOC_MAX);
            if (f->doc == NULL) {
                return NGX_ERROR;
            }
        }

        if (n > NGX_HTTP_ZT_JWKS_DOC_MAX - f->len) {
            f->too_large = 1;

        } else {
            ngx_memcpy(f->doc + f->len, cl->buf->pos, n);
            f->len += n;
        }

        cl->buf->pos = cl->buf->last;
    }

    return NGX_OK;
}


/*
 * $zt_jwks_url: in a fetch's subrequest, what it must fetch (the discovery
 * document, then the jwks_uri it names).  Subrequests share their
 * parent's variables: it is never cached.
 */

static ngx_int_t
ngx_http_zt_jwks_url_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_zt_jwks_fetch_t  *f;

    if (r->post_subrequest == NULL
        || r->post_subrequest->handler != ngx_http_zt_jwks_fetched)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    f = r->post_subrequest->data;

    if (f->url.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = f->url.data;
    v->len = f->url.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * This process's keys of the set, built again when another process (or
 * this one) stored a new version.  NULL: no set was ever fetched.  A set
 * older than refresh= starts a fetch behind this request, which goes on
 * with the keys at hand.
 */

ngx_array_t *
ngx_http_zt_jwks_keys(ngx_http_request_t *r, ngx_http_zt_jwks_t *set)
{
    u_char                 *doc;
    size_t                  len;
    ngx_uint_t              version;
    ngx_pool_t             *pool;
    ngx_array_t            *keys;
    ngx_http_zt_jwks_sh_t  *sh;

    sh = set->sh;

    ngx_http_zt_jwks_refresh(r, set);

    version = sh->version;

    if (version == set->version) {
        return set->keys;
    }

    /* a copy made under the lock: the document may change right after */

    doc = ngx_alloc(NGX_HTTP_ZT_JWKS_DOC_MAX, r->connection->log);
    if (doc == NULL) {
        return set->keys;
    }

    ngx_shmtx_lock(&set->shpool->mutex);

    version = sh->version;
    len = sh->len;
    ngx_memcpy(doc, sh->doc, len);

    ngx_shmtx_unlock(&set->shpool->mutex);

    if (ngx_http_zt_jwks_build(set, doc, len, r->connection->log, &keys,
                               &pool)
        == NGX_OK)
    {
        ngx_http_zt_jwks_adopt(set, version, keys, pool);

    } else {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "zt: the stored key set of \"%V\" (version %ui) "
                      "cannot be built again", &set->name, version);
    }

    ngx_free(doc);

    return set->keys;
}


/* the versions of the sets a location uses, for the token cache's key */

ngx_uint_t
ngx_http_zt_jwks_versions(ngx_http_request_t *r, ngx_array_t *uses,
    ngx_uint_t *versions)
{
    ngx_uint_t               i;
    ngx_http_zt_jwks_use_t  *use;

    if (uses == NULL) {
        return 0;
    }

    use = uses->elts;

    for (i = 0; i < uses->nelts; i++) {
        ngx_http_zt_jwks_refresh(r, use[i].set);
        versions[i] = use[i].set->sh->version;
    }

    return uses->nelts;
}


/*
 * No key fits the token.  The sets that may hold its key (bound to its
 * iss, or to none) are fetched again (or their running fetch awaited),
 * once per request and at most once per min_refetch.
 *
 * NGX_AGAIN: the request waits, the phases run again when the fetches
 * are over; NGX_BUSY: a set that may hold the key was never fetched and
 * cannot be now (ngx_http_zt_jwks_unavailable() answers); NGX_DECLINED:
 * nothing more to try, the token is refused.
 */

ngx_int_t
ngx_http_zt_jwks_need(ngx_http_request_t *r, ngx_array_t *uses,
    ngx_str_t *iss)
{
    time_t                    retry;
    ngx_int_t                 rc;
    ngx_msec_t                left;
    ngx_uint_t                i, j, seq, discover;
    ngx_msec_int_t            elapsed;
    ngx_pool_cleanup_t       *cln;
    ngx_http_zt_ctx_t        *ctx;
    ngx_http_zt_jwks_t       *set;
    ngx_http_zt_jwks_use_t   *use;
    ngx_http_zt_jwks_wait_t  *w;

    if (uses == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_zt_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    w = ctx->jwks;

    if (w == NULL) {
        w = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_jwks_wait_t));
        if (w == NULL) {
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_zt_jwks_wait_cleanup;
        cln->data = w;

        w->r = r;
        ctx->jwks = w;
    }

    /* the connection's events run the phases again meanwhile: still so */

    if (w->waiting) {
        return NGX_AGAIN;
    }

    use = uses->elts;
    rc = NGX_DECLINED;
    w->nsets = 0;
    w->missing = NULL;
    w->retry_after = 0;

    for (i = 0; i < uses->nelts; i++) {

        if (use[i].issuer.len
            && (iss == NULL
                || iss->len != use[i].issuer.len
                || ngx_strncmp(iss->data, use[i].issuer.data, iss->len)
                   != 0))
        {
            continue;
        }

        set = use[i].set;

        for (j = 0; j < w->nsets; j++) {
            if (w->sets[j] == set) {
                break;
            }
        }

        if (j < w->nsets) {
            continue;
        }

        if (w->waited) {
            /* fetched again for this request already */

            if (set->sh->version == 0) {
                goto missing;
            }

            continue;
        }

        switch (ngx_http_zt_jwks_claim(set, &seq, &discover)) {

        case NGX_HTTP_ZT_JWKS_CLAIMED:

            if (ngx_http_zt_jwks_start(r, set, seq, discover,
                                       set->sh->version ? "unknown key"
                                                        : "first use")
                != NGX_OK)
            {
                if (set->sh->version == 0) {
                    goto missing;
                }

                continue;
            }

            /* fall through */

        case NGX_HTTP_ZT_JWKS_INFLIGHT:
            w->sets[w->nsets] = set;
            w->seqs[w->nsets] = seq;
            w->nsets++;
            rc = NGX_AGAIN;
            continue;

        case NGX_HTTP_ZT_JWKS_TOO_SOON:

            if (set->sh->version) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "zt: no key fits the token and the key set "
                              "of \"%V\" was fetched less than "
                              "min_refetch ago", &set->name);
                continue;
            }

            goto missing;
        }

        continue;

    missing:

        elapsed = ngx_http_zt_jwks_elapsed(set->sh->attempt);

        left = (elapsed >= 0 && (ngx_msec_t) elapsed < set->min_refetch)
               ? set->min_refetch - (ngx_msec_t) elapsed : 0;

        retry = (time_t) ((left + 999) / 1000);

        if (retry == 0) {
            retry = 1;
        }

        if (w->missing == NULL || retry < w->retry_after) {
            w->retry_after = retry;
        }

        w->missing = set;
    }

    if (rc == NGX_AGAIN) {
        return ngx_http_zt_jwks_wait(r, w);
    }

    if (w->missing) {
        return NGX_BUSY;
    }

    return NGX_DECLINED;
}


/* 503 with Retry-After: no key set yet to check tokens with */

ngx_int_t
ngx_http_zt_jwks_unavailable(ngx_http_request_t *r)
{
    u_char                   *p;
    time_t                    retry;
    ngx_http_zt_ctx_t        *ctx;
    ngx_http_zt_jwks_wait_t  *w;

    ctx = ngx_http_zt_get_ctx(r);
    w = ctx ? ctx->jwks : NULL;

    retry = (w && w->retry_after > 0) ? w->retry_after : 1;

    if (w && w->missing) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "zt: no key set of \"%V\" was ever fetched: token "
                      "checks answer 503 (Retry-After: %T)",
                      &w->missing->name, retry);
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(p, "%T%Z", retry);

    if (ngx_http_zt_answer_header(r, "Retry-After", (char *) p) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_zt_answer_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "service_unavailable", "keys_unavailable",
                                    "the keys to check the token with could "
                                    "not be fetched yet, retry later");
}


/*
 * Whether this process may fetch the set now: no fetch runs (or the one
 * that runs outlived its lease: its process died), and the last began
 * min_refetch ago at least.  *seq is the fetch to wait for.
 */

static ngx_http_zt_jwks_claim_e
ngx_http_zt_jwks_claim(ngx_http_zt_jwks_t *set, ngx_uint_t *seq,
    ngx_uint_t *discover)
{
    ngx_http_zt_jwks_sh_t     *sh;
    ngx_http_zt_jwks_claim_e   rc;

    sh = set->sh;

    ngx_shmtx_lock(&set->shpool->mutex);

    if (sh->inflight
        && ngx_http_zt_jwks_elapsed(sh->lease) < 0)
    {
        rc = NGX_HTTP_ZT_JWKS_INFLIGHT;

    } else if (sh->attempted
               && ngx_http_zt_jwks_elapsed(sh->attempt)
                  < (ngx_msec_int_t) set->min_refetch)
    {
        rc = NGX_HTTP_ZT_JWKS_TOO_SOON;

    } else {
        rc = NGX_HTTP_ZT_JWKS_CLAIMED;

        sh->inflight = 1;
        sh->attempted = 1;
        sh->attempt = ngx_current_msec;
        sh->lease = ngx_current_msec + NGX_HTTP_ZT_JWKS_LEASE;
        sh->seq++;
    }

    *seq = sh->seq;

    /* the jwks_uri is looked up again when unknown or after a failure */
    *discover = set->discovery.len
                && (sh->jwks_uri_len == 0 || sh->failed);

    ngx_shmtx_unlock(&set->shpool->mutex);

    return rc;
}


/* a set due for refresh is fetched behind this request */

static void
ngx_http_zt_jwks_refresh(ngx_http_request_t *r, ngx_http_zt_jwks_t *set)
{
    ngx_uint_t              seq, discover;
    ngx_http_zt_jwks_sh_t  *sh;

    sh = set->sh;

    if (sh->version == 0
        || sh->inflight
        || ngx_http_zt_jwks_elapsed(sh->fetched)
           < (ngx_msec_int_t) set->refresh)
    {
        return;
    }

    if (ngx_http_zt_jwks_claim(set, &seq, &discover)
        != NGX_HTTP_ZT_JWKS_CLAIMED)
    {
        return;
    }

    /* a routine refresh reads the discovery document again too */

    (void) ngx_http_zt_jwks_start(r, set, seq, set->discovery.len != 0,
                                  "refresh");
}


/*
 * The claimed fetch begins: a background subrequest of the main request,
 * whose pool holds the flight and gives the claim back if the request
 * ends first.  On failure the claim is given back here.
 */

static ngx_int_t
ngx_http_zt_jwks_start(ngx_http_request_t *r, ngx_http_zt_jwks_t *set,
    ngx_uint_t seq, ngx_uint_t discover, const char *why)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_zt_jwks_flight_t  *fl;

    r = r->main;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_zt_jwks_flight_t));

    if (cln == NULL) {
        ngx_http_zt_jwks_flight_t  tmp;

        tmp.set = set;
        tmp.seq = seq;
        tmp.released = 0;

        ngx_http_zt_jwks_release(&tmp, "out of memory", r->connection->log);
        return NGX_ERROR;
    }

    fl = cln->data;
    ngx_memzero(fl, sizeof(ngx_http_zt_jwks_flight_t));

    fl->set = set;
    fl->r = r;
    fl->seq = seq;
    fl->discover = discover;

    cln->handler = ngx_http_zt_jwks_flight_cleanup;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "zt: fetching the key set of \"%V\" (%s)", &set->name,
                  why);

    if (ngx_http_zt_jwks_subrequest(fl, discover) != NGX_OK) {
        ngx_http_zt_jwks_release(fl, "the subrequest cannot be made",
                                 r->connection->log);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_jwks_subrequest(ngx_http_zt_jwks_flight_t *fl,
    ngx_uint_t discovery)
{
    u_char                    *p;
    size_t                     len;
    ngx_http_request_t        *r, *sr;
    ngx_http_zt_jwks_sh_t     *sh;
    ngx_http_zt_jwks_fetch_t  *f;

    r = fl->r;
    sh = fl->set->sh;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_jwks_fetch_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    f->flight = fl;
    f->discovery = discovery;
    f->ps.handler = ngx_http_zt_jwks_fetched;
    f->ps.data = f;

    if (discovery) {
        /* OpenID Connect Discovery 1.0, 4: no trailing slash before it */

        len = fl->set->discovery.len;

        if (fl->set->discovery.data[len - 1] == '/') {
            len--;
        }

        f->url.len = len + sizeof("/.well-known/openid-configuration") - 1;
        f->url.data = ngx_pnalloc(r->pool, f->url.len);
        if (f->url.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(f->url.data, fl->set->discovery.data, len);
        ngx_memcpy(p, "/.well-known/openid-configuration",
                   sizeof("/.well-known/openid-configuration") - 1);

    } else if (fl->set->discovery.len) {
        ngx_shmtx_lock(&fl->set->shpool->mutex);

        f->url.len = sh->jwks_uri_len;
        f->url.data = ngx_pnalloc(r->pool, f->url.len);

        if (f->url.data) {
            ngx_memcpy(f->url.data, sh->jwks_uri, f->url.len);
        }

        ngx_shmtx_unlock(&fl->set->shpool->mutex);

        if (f->url.data == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_subrequest(r, &fl->set->uri, NULL, &sr, &f->ps,
                            NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* file buffers are read into memory for the body filter above */
    sr->filter_need_in_memory = 1;

    /*
     * Nothing of the client's request goes to the identity provider: no
     * header (its Authorization, its cookies), no body.
     */

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;
    sr->headers_in.server = r->headers_in.server;
    sr->request_body = NULL;
    sr->header_only = 0;

    return NGX_OK;
}


/*
 * A fetch's subrequest is over.  Whatever it brought, the client's
 * request is not affected: the result is NGX_OK to nginx (an error would
 * end the main request too).
 */

static ngx_int_t
ngx_http_zt_jwks_fetched(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_zt_jwks_fetch_t *f = data;

    char                       buf[64];
    ngx_str_t                  doc;
    ngx_log_t                 *log;
    const char                *failure;
    ngx_http_zt_jwks_flight_t  *fl;

    if (f->handled || rc == NGX_AGAIN) {
        return rc;
    }

    f->handled = 1;
    fl = f->flight;
    log = sr->connection->log;

    if (fl->released) {
        return NGX_OK;
    }

    doc.data = f->doc;
    doc.len = f->len;

    if (rc != NGX_OK && rc != NGX_DONE) {
        ngx_snprintf((u_char *) buf, sizeof(buf), "nginx ended it with %i%Z",
                     rc);
        failure = buf;

    } else if (sr->headers_out.status != NGX_HTTP_OK) {
        ngx_snprintf((u_char *) buf, sizeof(buf), "it answered %ui%Z",
                     sr->headers_out.status);
        failure = buf;

    } else if (f->too_large) {
        failure = "the document is larger than 128k";

    } else if (doc.len == 0) {
        failure = "it answered an empty body";

    } else if (f->discovery) {
        failure = ngx_http_zt_jwks_discovered(fl, &doc, log);

        if (failure == NULL && sr->connection->error) {
            failure = "the connection of the request it ran with failed";
        }

        if (failure == NULL) {
            if (ngx_http_zt_jwks_subrequest(fl, 0) == NGX_OK) {
                return NGX_OK;
            }

            failure = "the subrequest for the jwks_uri cannot be made";
        }

    } else {
        failure = ngx_http_zt_jwks_store(fl, &doc, log);
    }

    if (failure) {
        ngx_http_zt_jwks_release(fl, failure, log);
    }

    return NGX_OK;
}


/*
 * The discovery document: its issuer must be the configured one, byte for
 * byte, and its jwks_uri an absolute URL of the issuer's scheme (https,
 * or http for an http issuer) that becomes $zt_jwks_url.
 */

static const char *
ngx_http_zt_jwks_discovered(ngx_http_zt_jwks_flight_t *fl, ngx_str_t *doc,
    ngx_log_t *log)
{
    u_char                 *p, *last;
    json_t                 *root, *iss, *uri;
    size_t                  len;
    ngx_uint_t              https;
    const char             *failure;
    ngx_http_zt_jwks_t     *set;
    ngx_http_zt_jwks_sh_t  *sh;

    set = fl->set;
    sh = set->sh;

    root = json_loadb((char *) doc->data, doc->len, JSON_REJECT_DUPLICATES,
                      NULL);

    if (!json_is_object(root)) {
        json_decref(root);
        return "the discovery document is not a JSON object";
    }

    failure = NULL;

    iss = json_object_get(root, "issuer");
    uri = json_object_get(root, "jwks_uri");

    if (!json_is_string(iss)
        || json_string_length(iss) != set->discovery.len
        || ngx_memcmp(json_string_value(iss), set->discovery.data,
                      set->discovery.len)
           != 0)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "zt: the discovery document of \"%V\" names the issuer "
                      "\"%s\", not \"%V\"", &set->uri,
                      json_is_string(iss) ? json_string_value(iss) : "",
                      &set->discovery);

        failure = "the discovery document names another issuer";
        goto done;
    }

    https = (set->discovery.data[4] == 's');

    if (!json_is_string(uri)) {
        failure = "the discovery document has no jwks_uri";
        goto done;
    }

    p = (u_char *) json_string_value(uri);
    len = json_string_length(uri);
    last = p + len;

    if (len > NGX_HTTP_ZT_JWKS_URL_MAX
        || !((len > 8 && ngx_strncmp(p, "https://", 8) == 0)
             || (!https && len > 7 && ngx_strncmp(p, "http://", 7) == 0)))
    {
        failure = https ? "the jwks_uri is not an https:// URL"
                        : "the jwks_uri is not an http(s):// URL";
        goto done;
    }

    for ( /* void */ ; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            failure = "the jwks_uri has a space or a control character";
            goto done;
        }
    }

    ngx_shmtx_lock(&set->shpool->mutex);

    ngx_memcpy(sh->jwks_uri, json_string_value(uri), len);
    sh->jwks_uri_len = len;

    ngx_shmtx_unlock(&set->shpool->mutex);

done:

    json_decref(root);

    return failure;
}


/*
 * A JWKS fetched: kept when it yields one usable key at least; stored as
 * a new version when it differs from the one kept.  This process adopts
 * the keys it has just built.
 */

static const char *
ngx_http_zt_jwks_store(ngx_http_zt_jwks_flight_t *fl, ngx_str_t *doc,
    ngx_log_t *log)
{
    u_char                  digest[32];
    ngx_uint_t              version, changed, nkeys;
    ngx_pool_t             *pool;
    ngx_array_t            *keys;
    ngx_http_zt_jwks_t     *set;
    ngx_http_zt_jwks_sh_t  *sh;

    set = fl->set;
    sh = set->sh;

    if (ngx_http_zt_sha256(digest, doc->data, doc->len) != NGX_OK) {
        return "SHA-256 failed";
    }

    if (ngx_http_zt_jwks_build(set, doc->data, doc->len, log, &keys, &pool)
        != NGX_OK)
    {
        return "the answer is not a JWKS with a usable key";
    }

    nkeys = keys->nelts;

    ngx_shmtx_lock(&set->shpool->mutex);

    changed = (sh->version == 0
               || ngx_memcmp(sh->digest, digest, sizeof(digest)) != 0);

    if (changed) {
        ngx_memcpy(sh->doc, doc->data, doc->len);
        sh->len = doc->len;
        ngx_memcpy(sh->digest, digest, sizeof(digest));
        sh->version++;
    }

    version = sh->version;
    sh->fetched = ngx_current_msec;
    sh->failed = 0;

    if (sh->seq == fl->seq) {
        sh->inflight = 0;
    }

    ngx_shmtx_unlock(&set->shpool->mutex);

    fl->released = 1;

    if (changed) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "zt: key set of \"%V\" fetched: version %ui, %ui "
                      "key(s)", &set->name, version, nkeys);

    } else {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "zt: key set of \"%V\" fetched: unchanged (version "
                      "%ui)", &set->name, version);
    }

    if (version != set->version) {
        ngx_http_zt_jwks_adopt(set, version, keys, pool);

    } else {
        ngx_destroy_pool(pool);
    }

    return NULL;
}


/*
 * The fetch is over without a new set: the last good one stays (stale if
 * error), and a set never fetched keeps token checks at 503.
 */

static void
ngx_http_zt_jwks_release(ngx_http_zt_jwks_flight_t *fl, const char *failure,
    ngx_log_t *log)
{
    ngx_msec_t              age;
    ngx_uint_t              version;
    ngx_http_zt_jwks_t     *set;
    ngx_http_zt_jwks_sh_t  *sh;

    if (fl->released) {
        return;
    }

    fl->released = 1;

    set = fl->set;
    sh = set->sh;

    ngx_shmtx_lock(&set->shpool->mutex);

    if (sh->seq == fl->seq) {
        sh->inflight = 0;
    }

    sh->failed = 1;
    version = sh->version;
    age = ngx_current_msec - sh->fetched;

    ngx_shmtx_unlock(&set->shpool->mutex);

    if (version) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "zt: fetching the key set of \"%V\" failed: %s; the "
                      "last good set stays in use (version %ui, fetched "
                      "%M s ago)", &set->name, failure, version,
                      age / 1000);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "zt: fetching the key set of \"%V\" failed: %s; no key "
                  "set yet: token checks that need it answer 503",
                  &set->name, failure);
}


static void
ngx_http_zt_jwks_flight_cleanup(void *data)
{
    ngx_http_zt_jwks_flight_t  *fl = data;

    ngx_http_zt_jwks_release(fl, "the request it ran with ended first",
                             ngx_cycle->log);
}


/* the usable keys of a JWKS document, in a pool of their own */

static ngx_int_t
ngx_http_zt_jwks_build(ngx_http_zt_jwks_t *set, u_char *doc, size_t len,
    ngx_log_t *log, ngx_array_t **keys, ngx_pool_t **pool)
{
    json_t      *root;
    ngx_int_t    rc;
    ngx_str_t    source, none;
    ngx_uint_t   skipped;

    *pool = ngx_create_pool(4096, ngx_cycle->log);
    if (*pool == NULL) {
        return NGX_ERROR;
    }

    *keys = ngx_array_create(*pool, 4, sizeof(ngx_http_zt_key_t));
    if (*keys == NULL) {
        goto failed;
    }

    root = json_loadb((char *) doc, len, JSON_REJECT_DUPLICATES, NULL);

    if (root == NULL) {
        goto failed;
    }

    source.len = sizeof("zt_jwks_request \"\"") - 1 + set->name.len;
    source.data = ngx_pnalloc(*pool, source.len);
    if (source.data == NULL) {
        json_decref(root);
        goto failed;
    }

    ngx_sprintf(source.data, "zt_jwks_request \"%V\"", &set->name);

    ngx_str_null(&none);

    rc = ngx_http_zt_keys_jwks(*pool, log, &source, root, *keys, &none,
                               &skipped);

    json_decref(root);

    if (rc == NGX_OK) {
        return NGX_OK;
    }

failed:

    ngx_destroy_pool(*pool);
    *pool = NULL;
    *keys = NULL;

    return NGX_DECLINED;
}


/* this process's keys become these; the old ones are freed */

static void
ngx_http_zt_jwks_adopt(ngx_http_zt_jwks_t *set, ngx_uint_t version,
    ngx_array_t *keys, ngx_pool_t *pool)
{
    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "zt: key set of \"%V\": this process uses version %ui "
                  "(%ui key(s))", &set->name, version, keys->nelts);

    if (set->pool) {
        ngx_destroy_pool(set->pool);
    }

    set->pool = pool;
    set->keys = keys;
    set->version = version;
}


/*
 * The request waits for the fetches of w->sets, polling the zone: a fetch
 * may run in another process.
 */

static ngx_int_t
ngx_http_zt_jwks_wait(ngx_http_request_t *r, ngx_http_zt_jwks_wait_t *w)
{
    w->waited = 1;
    w->waiting = 1;
    w->delay = NGX_HTTP_ZT_JWKS_POLL_MIN;

    w->timer.handler = ngx_http_zt_jwks_wait_handler;
    w->timer.data = w;
    w->timer.log = r->connection->log;

    ngx_add_timer(&w->timer, w->delay);

    /* a client that goes away meanwhile ends the request (and the wait) */

    if (r->read_event_handler == ngx_http_block_reading) {
        r->read_event_handler = ngx_http_test_reading;
    }

    return NGX_AGAIN;
}


static ngx_uint_t
ngx_http_zt_jwks_waiting(ngx_http_zt_jwks_wait_t *w)
{
    ngx_uint_t              i;
    ngx_http_zt_jwks_sh_t  *sh;

    for (i = 0; i < w->nsets; i++) {
        sh = w->sets[i]->sh;

        if (sh->inflight && sh->seq == w->seqs[i]
            && ngx_http_zt_jwks_elapsed(sh->lease) < 0)
        {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_zt_jwks_wait_handler(ngx_event_t *ev)
{
    ngx_http_zt_jwks_wait_t *w = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (ngx_http_zt_jwks_waiting(w)) {
        w->delay = ngx_min(w->delay * 2, NGX_HTTP_ZT_JWKS_POLL_MAX);
        ngx_add_timer(&w->timer, w->delay);
        return;
    }

    w->waiting = 0;

    r = w->r;
    c = r->connection;

    if (r->read_event_handler == ngx_http_test_reading) {
        r->read_event_handler = ngx_http_block_reading;
    }

    ngx_http_set_log_request(c->log, r);

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_zt_jwks_wait_cleanup(void *data)
{
    ngx_http_zt_jwks_wait_t  *w = data;

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
}
