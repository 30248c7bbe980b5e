
/*
 * zt-inference: DPoP (RFC 9449).  `zt_dpop` says whether a location takes
 * DPoP-bound tokens.  A request with `Authorization: DPoP` must carry, in
 * one DPoP header, a JWS signed by a public key in its own header, made
 * for this request (htm, htu), for this token (ath), just now (iat), never
 * used before (jti), by the key the token is bound to (cnf.jkt, checked
 * by the caller, ngx_http_zt_cnf.c, through the thumbprint computed here).
 *
 * The jti of every accepted proof is kept in one shared-memory zone
 * (zt_dpop_replay_cache) across workers and reloads until the proof would
 * be too old anyway.  A full zone refuses proofs (503) rather than accept
 * one it could not remember.
 */


#include "ngx_http_zt_inference.h"


#define NGX_HTTP_ZT_DPOP_JTI_MAX       256
#define NGX_HTTP_ZT_DPOP_REPLAY_SIZE   (4 * 1024 * 1024)
#define NGX_HTTP_ZT_DPOP_B64_SHA256    43


/* one accepted proof: 64 bytes on a 64-bit machine, a slab's exact size */
typedef struct {
    ngx_rbtree_node_t           node;       /* key: SHA-256(jti) bytes */
    ngx_queue_t                 queue;      /* the oldest first */
    uint32_t                    tag;        /* the next 4 bytes of it */
    uint32_t                    expire;
} ngx_http_zt_dpop_jti_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;
} ngx_http_zt_dpop_replay_sh_t;


typedef struct {
    ngx_http_zt_dpop_replay_sh_t  *sh;
    ngx_slab_pool_t               *shpool;
} ngx_http_zt_dpop_replay_t;


/* a proof, read */
typedef struct {
    ngx_http_zt_alg_t          *alg;
    ngx_http_zt_key_t           key;
    json_t                     *jwk;
    json_t                     *claims;
    ngx_str_t                   input;      /* header.payload, as sent */
    ngx_str_t                   sig;
    ngx_str_t                   jti;
    double                      iat;
} ngx_http_zt_dpop_proof_t;


static ngx_int_t ngx_http_zt_dpop_header(ngx_http_request_t *r,
    ngx_str_t *proof, ngx_str_t *err);
static ngx_int_t ngx_http_zt_dpop_read(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *proof,
    ngx_http_zt_dpop_proof_t *p, ngx_str_t *err);
static ngx_int_t ngx_http_zt_dpop_jwk(ngx_http_request_t *r,
    ngx_http_zt_dpop_proof_t *p, json_t *header, ngx_str_t *err);
static ngx_int_t ngx_http_zt_dpop_claims(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *token,
    ngx_http_zt_dpop_proof_t *p, ngx_str_t *err);
static ngx_int_t ngx_http_zt_dpop_htu(ngx_http_request_t *r,
    ngx_http_zt_dpop_conf_t *conf, json_t *htu);
static ngx_int_t ngx_http_zt_dpop_normalize(ngx_pool_t *pool,
    ngx_str_t *url, ngx_str_t *out, size_t *origin);
static u_char *ngx_http_zt_dpop_dots(u_char *start, u_char *end);
static ngx_int_t ngx_http_zt_dpop_thumbprint(json_t *jwk, u_char *out);
static ngx_int_t ngx_http_zt_dpop_b64_sha256(ngx_str_t *parts, ngx_uint_t n,
    u_char *out);
static ngx_int_t ngx_http_zt_dpop_replay(ngx_http_request_t *r,
    ngx_http_zt_dpop_conf_t *conf, ngx_http_zt_dpop_proof_t *p,
    time_t leeway);
static void ngx_http_zt_dpop_replay_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_zt_dpop_replay_init(ngx_shm_zone_t *shm_zone,
    void *data);


static ngx_str_t  ngx_http_zt_dpop_zone = ngx_string("zt_dpop_replay");


/* members that only a private or a symmetric JWK has (RFC 7518, 6) */
static char  *ngx_http_zt_dpop_private[] = {
    "d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL
};


/* sets err to a reason of the module's own (no quotes, no backslashes) */
#define ngx_http_zt_dpop_fail(e)                                             \
    do {                                                                     \
        err->len = sizeof(e) - 1;                                            \
        err->data = (u_char *) e;                                            \
        return NGX_DECLINED;                                                 \
    } while (0)


/* zt_dpop off|optional|required [origin=URL ...] */

char *
ngx_http_zt_dpop_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_loc_conf_t *lcf = conf;

    size_t       len;
    ngx_str_t   *value, url, *origin;
    ngx_uint_t   i;

    if (lcf->dpop.mode != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        lcf->dpop.mode = NGX_HTTP_ZT_DPOP_OFF;

    } else if (ngx_strcmp(value[1].data, "optional") == 0) {
        lcf->dpop.mode = NGX_HTTP_ZT_DPOP_OPTIONAL;

    } else if (ngx_strcmp(value[1].data, "required") == 0) {
        lcf->dpop.mode = NGX_HTTP_ZT_DPOP_REQUIRED;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid value \"%V\", expected off, "
                           "optional or required", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    lcf->dpop.origins = NULL;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "origin=", 7) != 0
            || lcf->dpop.mode == NGX_HTTP_ZT_DPOP_OFF)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": invalid parameter \"%V\"",
                               &cmd->name, &value[i]);
            return NGX_CONF_ERROR;
        }

        url.data = value[i].data + 7;
        url.len = value[i].len - 7;

        if (lcf->dpop.origins == NULL) {
            lcf->dpop.origins = ngx_array_create(cf->pool, 2,
                                                 sizeof(ngx_str_t));
            if (lcf->dpop.origins == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        origin = ngx_array_push(lcf->dpop.origins);
        if (origin == NULL) {
            return NGX_CONF_ERROR;
        }

        /* an origin: scheme://host[:port], at most a "/" after it */

        if (ngx_strlchr(url.data, url.data + url.len, '?') != NULL
            || ngx_strlchr(url.data, url.data + url.len, '#') != NULL
            || ngx_http_zt_dpop_normalize(cf->pool, &url, origin, &len)
               != NGX_OK
            || origin->len != len + 1)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": \"%V\" is not an origin such as "
                               "https://api.example.com",
                               &cmd->name, &value[i]);
            return NGX_CONF_ERROR;
        }

        origin->len = len;
    }

    return NGX_CONF_OK;
}


/*
 * Called by the front door's merge once zt_algorithms is merged: the
 * proofs' algorithms are the asymmetric ones of zt_algorithms, and a
 * location that takes proofs gets the replay zone.
 */

char *
ngx_http_zt_dpop_merge(ngx_conf_t *cf, ngx_http_zt_loc_conf_t *prev,
    ngx_http_zt_loc_conf_t *conf)
{
    u_char                     *p;
    size_t                      size;
    ngx_shm_zone_t             *shm_zone;
    ngx_http_zt_alg_t          *alg;
    ngx_http_zt_main_conf_t    *zmcf;
    ngx_http_zt_dpop_replay_t  *replay;

    if (conf->dpop.mode == NGX_CONF_UNSET_UINT) {
        conf->dpop.mode = (prev->dpop.mode == NGX_CONF_UNSET_UINT)
                          ? NGX_HTTP_ZT_DPOP_OFF : prev->dpop.mode;
        conf->dpop.origins = prev->dpop.origins;
    }

    if (conf->dpop.mode == NGX_HTTP_ZT_DPOP_OFF) {
        return NGX_CONF_OK;
    }

    conf->dpop.algs.data = ngx_pnalloc(cf->pool, 16 * sizeof("XXXXX "));
    if (conf->dpop.algs.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = conf->dpop.algs.data;

    for (alg = ngx_http_zt_algs; alg->name.len; alg++) {

        if (!(conf->jwt.algorithms & alg->bit)
            || alg->family == NGX_HTTP_ZT_KEY_OCT)
        {
            continue;
        }

        if (p != conf->dpop.algs.data) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, alg->name.data, alg->name.len);
    }

    conf->dpop.algs.len = p - conf->dpop.algs.data;

    if (conf->dpop.algs.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_dpop\" needs an asymmetric algorithm "
                           "(RS*, PS* or ES*) in \"zt_algorithms\"");
        return NGX_CONF_ERROR;
    }

    zmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_zt_inference_module);

    size = (zmcf->dpop_replay_size == NGX_CONF_UNSET_SIZE)
           ? NGX_HTTP_ZT_DPOP_REPLAY_SIZE : zmcf->dpop_replay_size;

    if (size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_dpop_replay_cache\" is too small, "
                           "at least %uz", 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_zt_dpop_zone, size,
                                     &ngx_http_zt_inference_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data == NULL) {
        replay = ngx_pcalloc(cf->pool, sizeof(ngx_http_zt_dpop_replay_t));
        if (replay == NULL) {
            return NGX_CONF_ERROR;
        }

        shm_zone->init = ngx_http_zt_dpop_replay_init;
        shm_zone->data = replay;
    }

    conf->dpop.replay = shm_zone;

    return NGX_CONF_OK;
}


/*
 * The proof of a request with `Authorization: DPoP <token>`, checked as
 * RFC 9449, 4.3 says, and its key against jkt, the token's cnf.jkt.
 *
 * NGX_OK: a good proof, its jti now remembered; NGX_DECLINED: a bad proof
 * (err says why); NGX_DONE: a good proof by another key than the token's;
 * NGX_BUSY: the replay cache is full; NGX_ERROR: could not tell.
 */

ngx_int_t
ngx_http_zt_dpop_verify(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_str_t *token, ngx_str_t *jkt, ngx_str_t *err)
{
    u_char                    thumb[NGX_HTTP_ZT_DPOP_B64_SHA256];
    ngx_int_t                 rc;
    ngx_str_t                 proof;
    ngx_http_zt_dpop_proof_t  p;

    rc = ngx_http_zt_dpop_header(r, &proof, err);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_zt_dpop_read(r, lcf, &proof, &p, err);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_zt_dpop_claims(r, lcf, token, &p, err);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_zt_jwt_signature(r->connection->log, p.alg, &p.key,
                                   &p.input, &p.sig);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_zt_dpop_fail("invalid DPoP proof signature");
    }

    if (ngx_http_zt_dpop_thumbprint(p.jwk, thumb) != NGX_OK) {
        return NGX_ERROR;
    }

    if (jkt->len != NGX_HTTP_ZT_DPOP_B64_SHA256
        || ngx_memcmp(jkt->data, thumb, NGX_HTTP_ZT_DPOP_B64_SHA256) != 0)
    {
        ngx_str_set(err, "the DPoP proof key is not the one the token is "
                         "bound to");
        return NGX_DONE;
    }

    /* last: only a proof good in every other way uses up its jti */

    rc = ngx_http_zt_dpop_replay(r, &lcf->dpop, &p, lcf->jwt.leeway);

    if (rc == NGX_DECLINED) {
        ngx_http_zt_dpop_fail("DPoP proof jti was already used");
    }

    return rc;
}


ngx_int_t
ngx_http_zt_dpop_unavailable(ngx_http_request_t *r)
{
    ngx_str_t  type, code, message;

    if (ngx_http_zt_answer_header(r, "Retry-After", "1") != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_set(&type, "service_unavailable");
    ngx_str_set(&code, "dpop_replay_cache_full");
    ngx_str_set(&message, "the gateway cannot remember more DPoP proofs "
                          "now, retry with a new proof");

    return ngx_http_zt_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE, &type, &code,
                              &message);
}


/* the one DPoP header (RFC 9449, 4.3: not more than one) */

static ngx_int_t
ngx_http_zt_dpop_header(ngx_http_request_t *r, ngx_str_t *proof,
    ngx_str_t *err)
{
    ngx_table_elt_t  *h;

    static ngx_str_t  name = ngx_string("DPoP");

    ngx_str_null(proof);

    h = ngx_http_zt_header_in(r, &name, 0);

    if (h == NULL) {
        ngx_http_zt_dpop_fail("missing DPoP proof");
    }

    if (ngx_http_zt_header_in(r, &name, 1) != NULL) {
        ngx_http_zt_dpop_fail("more than one DPoP header");
    }

    *proof = h->value;

    if (proof->len > NGX_HTTP_ZT_TOKEN_MAX) {
        ngx_http_zt_dpop_fail("DPoP proof too large");
    }

    return NGX_OK;
}


/* a compact JWS whose header is a DPoP proof's (RFC 9449, 4.2) */

static ngx_int_t
ngx_http_zt_dpop_read(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_str_t *proof, ngx_http_zt_dpop_proof_t *p, ngx_str_t *err)
{
    u_char     *dot[2], *s, *last;
    json_t     *header, *v;
    ngx_int_t   rc;
    ngx_str_t   seg[3], raw[3];
    ngx_uint_t  i, n;

    ngx_memzero(p, sizeof(ngx_http_zt_dpop_proof_t));

    n = 0;
    last = proof->data + proof->len;

    for (s = proof->data; s < last; s++) {
        if (*s == '.') {
            if (n == 2) {
                ngx_http_zt_dpop_fail("malformed DPoP proof: expected 3 "
                                      "segments");
            }

            dot[n++] = s;
        }
    }

    if (n != 2) {
        ngx_http_zt_dpop_fail("malformed DPoP proof: expected 3 segments");
    }

    seg[0].data = proof->data;
    seg[0].len = dot[0] - proof->data;
    seg[1].data = dot[0] + 1;
    seg[1].len = dot[1] - seg[1].data;
    seg[2].data = dot[1] + 1;
    seg[2].len = last - seg[2].data;

    for (i = 0; i < 3; i++) {
        rc = ngx_http_zt_base64url_decode(r->pool, &seg[i], &raw[i]);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            ngx_http_zt_dpop_fail("malformed DPoP proof: bad base64url");
        }
    }

    p->input.data = proof->data;
    p->input.len = dot[1] - proof->data;
    p->sig = raw[2];

    header = json_loadb((char *) raw[0].data, raw[0].len,
                        JSON_REJECT_DUPLICATES, NULL);

    if (header != NULL
        && ngx_http_zt_json_cleanup_add(r->pool, header) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!json_is_object(header)) {
        ngx_http_zt_dpop_fail("malformed DPoP proof: header is not a JSON "
                              "object");
    }

    /* media types are case-insensitive (RFC 7515, 4.1.9) */

    v = json_object_get(header, "typ");

    if (!json_is_string(v)
        || json_string_length(v) != sizeof("dpop+jwt") - 1
        || ngx_strncasecmp((u_char *) json_string_value(v),
                           (u_char *) "dpop+jwt", sizeof("dpop+jwt") - 1)
           != 0)
    {
        ngx_http_zt_dpop_fail("DPoP proof typ is not dpop+jwt");
    }

    v = json_object_get(header, "alg");

    if (!json_is_string(v)) {
        ngx_http_zt_dpop_fail("DPoP proof has no alg");
    }

    if (json_string_length(v) == 4
        && ngx_strncasecmp((u_char *) json_string_value(v),
                           (u_char *) "none", 4) == 0)
    {
        ngx_http_zt_dpop_fail("DPoP proof alg none is not allowed");
    }

    p->alg = ngx_http_zt_keys_alg((u_char *) json_string_value(v),
                                  json_string_length(v));

    if (p->alg == NULL) {
        ngx_http_zt_dpop_fail("unsupported DPoP proof alg");
    }

    if (p->alg->family == NGX_HTTP_ZT_KEY_OCT) {
        ngx_http_zt_dpop_fail("DPoP proof alg must be asymmetric");
    }

    if (!(lcf->jwt.algorithms & p->alg->bit)) {
        err->data = ngx_pnalloc(r->pool, sizeof("DPoP proof alg  is not "
                                                "allowed")
                                         + p->alg->name.len);
        if (err->data == NULL) {
            return NGX_ERROR;
        }

        err->len = ngx_sprintf(err->data, "DPoP proof alg %V is not allowed",
                               &p->alg->name)
                   - err->data;

        return NGX_DECLINED;
    }

    /* RFC 7515, 4.1.11: no extension is understood here */

    if (json_object_get(header, "crit") != NULL) {
        ngx_http_zt_dpop_fail("DPoP proof has an unsupported crit header");
    }

    rc = ngx_http_zt_dpop_jwk(r, p, header, err);
    if (rc != NGX_OK) {
        return rc;
    }

    p->claims = json_loadb((char *) raw[1].data, raw[1].len,
                           JSON_REJECT_DUPLICATES, NULL);

    if (p->claims != NULL
        && ngx_http_zt_json_cleanup_add(r->pool, p->claims) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!json_is_object(p->claims)) {
        ngx_http_zt_dpop_fail("malformed DPoP proof: payload is not a JSON "
                              "object");
    }

    return NGX_OK;
}


/*
 * The public key of the header's jwk, made by the same code as the keys
 * of zt_jwks_file.
 */

static ngx_int_t
ngx_http_zt_dpop_jwk(ngx_http_request_t *r, ngx_http_zt_dpop_proof_t *p,
    json_t *header, ngx_str_t *err)
{
    char        **name;
    json_t       *kty;
    const char   *why;

    p->jwk = json_object_get(header, "jwk");

    if (!json_is_object(p->jwk)) {
        ngx_http_zt_dpop_fail("DPoP proof has no jwk");
    }

    for (name = ngx_http_zt_dpop_private; *name; name++) {
        if (json_object_get(p->jwk, *name) != NULL) {
            ngx_http_zt_dpop_fail("DPoP proof jwk holds a private key");
        }
    }

    kty = json_object_get(p->jwk, "kty");

    if (json_is_string(kty) && ngx_strcmp(json_string_value(kty), "oct") == 0)
    {
        ngx_http_zt_dpop_fail("DPoP proof jwk is a symmetric key");
    }

    if (!json_is_string(kty)
        || (ngx_strcmp(json_string_value(kty), "RSA") != 0
            && ngx_strcmp(json_string_value(kty), "EC") != 0))
    {
        ngx_http_zt_dpop_fail("DPoP proof jwk is not an RSA or EC key");
    }

    /* a key of the request's own, freed with it (and so are its contexts) */

    why = ngx_http_zt_keys_jwk(r->pool, p->jwk, &p->key);

    if (why != NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: DPoP proof jwk refused: %s", why);

        ngx_http_zt_dpop_fail("DPoP proof jwk is not a usable public key");
    }

    if (!ngx_http_zt_keys_fit(&p->key, p->alg)) {
        ngx_http_zt_dpop_fail("DPoP proof jwk does not fit its alg");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_dpop_claims(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_str_t *token, ngx_http_zt_dpop_proof_t *p, ngx_str_t *err)
{
    u_char     ath[NGX_HTTP_ZT_DPOP_B64_SHA256];
    double     now;
    json_t    *v;
    ngx_int_t  rc;

    v = json_object_get(p->claims, "jti");

    if (!json_is_string(v) || json_string_length(v) == 0) {
        ngx_http_zt_dpop_fail("DPoP proof has no jti");
    }

    if (json_string_length(v) > NGX_HTTP_ZT_DPOP_JTI_MAX) {
        ngx_http_zt_dpop_fail("DPoP proof jti is too long");
    }

    p->jti.data = (u_char *) json_string_value(v);
    p->jti.len = json_string_length(v);

    /* methods are case-sensitive (RFC 9110, 9.1) */

    v = json_object_get(p->claims, "htm");

    if (!json_is_string(v)) {
        ngx_http_zt_dpop_fail("DPoP proof has no htm");
    }

    if (json_string_length(v) != r->method_name.len
        || ngx_strncmp(json_string_value(v), r->method_name.data,
                       r->method_name.len)
           != 0)
    {
        ngx_http_zt_dpop_fail("DPoP proof htm does not match the request");
    }

    v = json_object_get(p->claims, "htu");

    if (!json_is_string(v)) {
        ngx_http_zt_dpop_fail("DPoP proof has no htu");
    }

    rc = ngx_http_zt_dpop_htu(r, &lcf->dpop, v);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_zt_dpop_fail("DPoP proof htu does not match the request");
    }

    v = json_object_get(p->claims, "iat");

    if (!json_is_number(v)) {
        ngx_http_zt_dpop_fail("DPoP proof has no iat");
    }

    p->iat = json_number_value(v);
    now = (double) ngx_time();

    if (p->iat < now - lcf->jwt.leeway) {
        ngx_http_zt_dpop_fail("DPoP proof is too old (iat)");
    }

    if (p->iat > now + lcf->jwt.leeway) {
        ngx_http_zt_dpop_fail("DPoP proof iat is in the future");
    }

    v = json_object_get(p->claims, "ath");

    if (!json_is_string(v)) {
        ngx_http_zt_dpop_fail("DPoP proof has no ath");
    }

    if (ngx_http_zt_dpop_b64_sha256(token, 1, ath) != NGX_OK) {
        return NGX_ERROR;
    }

    if (json_string_length(v) != NGX_HTTP_ZT_DPOP_B64_SHA256
        || ngx_memcmp(json_string_value(v), ath, NGX_HTTP_ZT_DPOP_B64_SHA256)
           != 0)
    {
        ngx_http_zt_dpop_fail("DPoP proof ath does not match the token");
    }

    return NGX_OK;
}


/*
 * RFC 9449, 4.3: htu names this request's URI, query and fragment left
 * out, both sides normalized.  The request's scheme is the connection's
 * and its host the Host header's, unless origin= fixes the origins a
 * proof may name (a gateway behind a TLS terminator, or one that must not
 * trust Host).
 */

static ngx_int_t
ngx_http_zt_dpop_htu(ngx_http_request_t *r, ngx_http_zt_dpop_conf_t *conf,
    json_t *htu)
{
    u_char     *p, *last;
    size_t      olen, len;
    ngx_int_t   rc;
    ngx_str_t   claim, norm, url, want, path, scheme, *origin;
    ngx_uint_t  i;

    claim.data = (u_char *) json_string_value(htu);
    claim.len = json_string_length(htu);

    rc = ngx_http_zt_dpop_normalize(r->pool, &claim, &norm, &olen);
    if (rc != NGX_OK) {
        return rc;
    }

    path = r->unparsed_uri;

    p = ngx_strlchr(path.data, path.data + path.len, '?');
    if (p) {
        path.len = p - path.data;
    }

    if (path.len == 0 || path.data[0] != '/') {
        return NGX_DECLINED;
    }

    if (conf->origins) {
        origin = conf->origins->elts;

        for (i = 0; i < conf->origins->nelts; i++) {
            if (origin[i].len == olen
                && ngx_strncmp(origin[i].data, norm.data, olen) == 0)
            {
                break;
            }
        }

        if (i == conf->origins->nelts) {
            return NGX_DECLINED;
        }

        ngx_str_null(&scheme);
        url.len = olen + path.len;

    } else {
        if (r->headers_in.host == NULL) {
            return NGX_DECLINED;
        }

#if (NGX_HTTP_SSL)
        if (r->connection->ssl) {
            ngx_str_set(&scheme, "https://");

        } else
#endif
        {
            ngx_str_set(&scheme, "http://");
        }

        url.len = scheme.len + r->headers_in.host->value.len + path.len;
    }

    url.data = ngx_pnalloc(r->pool, url.len);
    if (url.data == NULL) {
        return NGX_ERROR;
    }

    if (conf->origins) {
        last = ngx_cpymem(url.data, norm.data, olen);

    } else {
        last = ngx_cpymem(url.data, scheme.data, scheme.len);
        last = ngx_cpymem(last, r->headers_in.host->value.data,
                          r->headers_in.host->value.len);
    }

    ngx_memcpy(last, path.data, path.len);

    rc = ngx_http_zt_dpop_normalize(r->pool, &url, &want, &len);
    if (rc != NGX_OK) {
        return rc;
    }

    if (want.len != norm.len || ngx_strncmp(want.data, norm.data, norm.len))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * An http(s) URL in the form RFC 3986 compares (6.2.2, 6.2.3): scheme and
 * host in lower case, no default port, an empty path as "/", unreserved
 * characters percent-decoded and the other escapes in upper case, no dot
 * segments; query and fragment left out.  *origin: the length of
 * scheme://host[:port].  NGX_DECLINED: not an absolute http(s) URL this
 * gateway could be called by (user info, odd hosts, bad escapes).
 */

static ngx_int_t
ngx_http_zt_dpop_normalize(ngx_pool_t *pool, ngx_str_t *url, ngx_str_t *out,
    size_t *origin)
{
    u_char      *p, *last, *host, *host_end, *auth_end, *path, *o, *start, c;
    ngx_int_t    v;
    ngx_uint_t   https, port, digits, dflt;

    static u_char  hex[] = "0123456789ABCDEF";

    p = url->data;
    last = p + url->len;

    if (last - p >= 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        https = 1;
        p += 8;

    } else if (last - p >= 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        https = 0;
        p += 7;

    } else {
        return NGX_DECLINED;
    }

    host = p;

    while (p < last && *p != '/' && *p != '?' && *p != '#') {
        p++;
    }

    auth_end = p;

    if (host < auth_end && *host == '[') {
        for (p = host + 1; p < auth_end && *p != ']'; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')
                  || (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
            {
                return NGX_DECLINED;
            }
        }

        if (p == auth_end) {
            return NGX_DECLINED;
        }

        host_end = p + 1;

    } else {
        for (p = host; p < auth_end && *p != ':'; p++) {
            c = *p;

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                  || (c >= 'A' && c <= 'Z') || c == '-' || c == '.'
                  || c == '_' || c == '~'))
            {
                return NGX_DECLINED;
            }
        }

        host_end = p;
    }

    if (host_end == host) {
        return NGX_DECLINED;
    }

    dflt = https ? 443 : 80;
    port = dflt;

    if (host_end < auth_end) {
        if (*host_end != ':') {
            return NGX_DECLINED;
        }

        digits = 0;
        port = 0;

        for (p = host_end + 1; p < auth_end; p++) {
            if (*p < '0' || *p > '9' || ++digits > 5) {
                return NGX_DECLINED;
            }

            port = port * 10 + (*p - '0');
        }

        if (digits == 0) {
            port = dflt;

        } else if (port == 0 || port > 65535) {
            return NGX_DECLINED;
        }
    }

    path = auth_end;

    for (p = path; p < last && *p != '?' && *p != '#'; p++) {
        /* void */
    }

    last = p;

    out->data = ngx_pnalloc(pool, sizeof("https://:65535/")
                                  + (host_end - host) + (last - path));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    o = ngx_cpymem(out->data, https ? "https://" : "http://",
                   https ? 8 : 7);

    for (p = host; p < host_end; p++) {
        *o++ = ngx_tolower(*p);
    }

    if (port != dflt) {
        o = ngx_sprintf(o, ":%ui", port);
    }

    *origin = o - out->data;
    start = o;

    if (path == last) {
        *o++ = '/';
    }

    for (p = path; p < last; p++) {
        c = *p;

        if (c == '%') {
            v = (last - p < 3) ? NGX_ERROR : ngx_hextoi(p + 1, 2);

            if (v == NGX_ERROR) {
                return NGX_DECLINED;
            }

            c = (u_char) v;
            p += 2;

            if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                || (c >= 'A' && c <= 'Z') || c == '-' || c == '.'
                || c == '_' || c == '~')
            {
                *o++ = c;

            } else {
                *o++ = '%';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 0x0f];
            }

            continue;
        }

        if (c <= 0x20 || c == 0x7f) {
            return NGX_DECLINED;
        }

        *o++ = c;
    }

    o = ngx_http_zt_dpop_dots(start, o);

    out->len = o - out->data;

    return NGX_OK;
}


/*
 * RFC 3986, 5.2.4, on a path that starts with "/", in place: the output
 * never outgrows what was read.
 */

static u_char *
ngx_http_zt_dpop_dots(u_char *start, u_char *end)
{
    u_char  *in, *out, *s;
    size_t   len;

    in = start;
    out = start;

    while (in < end) {

        /* in is at a "/": the segment runs to the next one */

        for (s = in + 1; s < end && *s != '/'; s++) {
            /* void */
        }

        len = s - in - 1;

        if ((len == 1 && in[1] == '.')
            || (len == 2 && in[1] == '.' && in[2] == '.'))
        {
            if (len == 2) {
                while (out > start && *--out != '/') {
                    /* void */
                }
            }

            in = s;

            if (in == end) {
                *out++ = '/';
            }

            continue;
        }

        while (in < s) {
            *out++ = *in++;
        }
    }

    return out;
}


/* RFC 7638: the SHA-256 of the required members, in order, base64url */

static ngx_int_t
ngx_http_zt_dpop_thumbprint(json_t *jwk, u_char *out)
{
    char       **members;
    json_t      *v;
    ngx_str_t    parts[7];
    ngx_uint_t   i, n;

    static char  *ec[] = { "{\"crv\":\"", "crv", "\",\"kty\":\"EC\",\"x\":\"",
                           "x", "\",\"y\":\"", "y", "\"}" };
    static char  *rsa[] = { "{\"e\":\"", "e", "\",\"kty\":\"RSA\",\"n\":\"",
                            "n", "\"}" };

    /*
     * the loader checked every member: base64url, or one of the curve
     * names, so none needs escaping
     */

    v = json_object_get(jwk, "kty");

    if (ngx_strcmp(json_string_value(v), "EC") == 0) {
        members = ec;
        n = 7;

    } else {
        members = rsa;
        n = 5;
    }

    for (i = 0; i < n; i++) {

        if (i % 2 == 0) {
            parts[i].data = (u_char *) members[i];
            parts[i].len = ngx_strlen(members[i]);
            continue;
        }

        v = json_object_get(jwk, members[i]);

        if (!json_is_string(v)) {
            return NGX_ERROR;
        }

        parts[i].data = (u_char *) json_string_value(v);
        parts[i].len = json_string_length(v);
    }

    return ngx_http_zt_dpop_b64_sha256(parts, n, out);
}


/* out: NGX_HTTP_ZT_DPOP_B64_SHA256 characters */

static ngx_int_t
ngx_http_zt_dpop_b64_sha256(ngx_str_t *parts, ngx_uint_t n, u_char *out)
{
    u_char     hash[32], b64[ngx_base64_encoded_length(32)];
    ngx_str_t  src, dst;

    if (ngx_http_zt_sha256_parts(hash, parts, n) != NGX_OK) {
        return NGX_ERROR;
    }

    src.data = hash;
    src.len = sizeof(hash);
    dst.data = b64;

    ngx_encode_base64url(&dst, &src);

    ngx_memcpy(out, dst.data, NGX_HTTP_ZT_DPOP_B64_SHA256);

    return NGX_OK;
}


/*
 * Remembers the proof's jti until iat + leeway, after which the proof is
 * refused as too old anyway.  NGX_OK: first seen; NGX_DECLINED: seen
 * before; NGX_BUSY: the zone is full (logged).
 */

static ngx_int_t
ngx_http_zt_dpop_replay(ngx_http_request_t *r, ngx_http_zt_dpop_conf_t *conf,
    ngx_http_zt_dpop_proof_t *p, time_t leeway)
{
    u_char                      hash[32];
    time_t                      now;
    uint32_t                    tag;
    ngx_queue_t                *q;
    ngx_rbtree_key_t            key;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_http_zt_dpop_jti_t     *e, *found;
    ngx_http_zt_dpop_replay_t  *replay;

    if (ngx_http_zt_sha256(hash, p->jti.data, p->jti.len) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memcpy(&key, hash, sizeof(ngx_rbtree_key_t));
    ngx_memcpy(&tag, hash + sizeof(ngx_rbtree_key_t), sizeof(uint32_t));

    replay = conf->replay->data;
    now = ngx_time();

    ngx_shmtx_lock(&replay->shpool->mutex);

    /* what has expired goes first, the oldest at the head */

    while (!ngx_queue_empty(&replay->sh->queue)) {
        q = ngx_queue_head(&replay->sh->queue);
        e = ngx_queue_data(q, ngx_http_zt_dpop_jti_t, queue);

        if ((time_t) e->expire > now) {
            break;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&replay->sh->rbtree, &e->node);
        ngx_slab_free_locked(replay->shpool, e);
    }

    node = replay->sh->rbtree.root;
    sentinel = replay->sh->rbtree.sentinel;
    e = NULL;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        found = (ngx_http_zt_dpop_jti_t *) node;

        if (tag != found->tag) {
            node = (tag < found->tag) ? node->left : node->right;
            continue;
        }

        e = found;
        break;
    }

    if (e && (time_t) e->expire > now) {
        ngx_shmtx_unlock(&replay->shpool->mutex);
        return NGX_DECLINED;
    }

    if (e) {
        /* expired, but behind a younger head: forget it now */
        ngx_queue_remove(&e->queue);
        ngx_rbtree_delete(&replay->sh->rbtree, &e->node);

    } else {
        e = ngx_slab_alloc_locked(replay->shpool,
                                  sizeof(ngx_http_zt_dpop_jti_t));
    }

    if (e == NULL) {
        ngx_shmtx_unlock(&replay->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "zt: the DPoP replay cache is full, proofs are "
                      "refused: raise \"zt_dpop_replay_cache\"");

        return NGX_BUSY;
    }

    e->node.key = key;
    e->tag = tag;
    e->expire = (uint32_t) ((time_t) p->iat + leeway + 1);

    ngx_rbtree_insert(&replay->sh->rbtree, &e->node);
    ngx_queue_insert_tail(&replay->sh->queue, &e->queue);

    ngx_shmtx_unlock(&replay->shpool->mutex);

    return NGX_OK;
}


/* ordered by the key, then by the tag */

static void
ngx_http_zt_dpop_replay_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (((ngx_http_zt_dpop_jti_t *) node)->tag
                 < ((ngx_http_zt_dpop_jti_t *) temp)->tag)
                ? &temp->left : &temp->right;
        }

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


/* a reload keeps the zone and what it remembers: a proof stays used */

static ngx_int_t
ngx_http_zt_dpop_replay_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_zt_dpop_replay_t  *oreplay = data;
    ngx_http_zt_dpop_replay_t  *replay = shm_zone->data;

    static u_char  log_ctx[] = " in zt_dpop_replay_cache zone";

    if (oreplay) {
        replay->sh = oreplay->sh;
        replay->shpool = oreplay->shpool;
        return NGX_OK;
    }

    replay->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    replay->sh = ngx_slab_calloc(replay->shpool,
                                 sizeof(ngx_http_zt_dpop_replay_sh_t));
    if (replay->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&replay->sh->rbtree, &replay->sh->sentinel,
                    ngx_http_zt_dpop_replay_insert);
    ngx_queue_init(&replay->sh->queue);

    replay->shpool->log_ctx = ngx_slab_alloc(replay->shpool, sizeof(log_ctx));
    if (replay->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(replay->shpool->log_ctx, log_ctx, sizeof(log_ctx));

    /* a full zone is answered and logged once, by the request */
    replay->shpool->log_nomem = 0;

    return NGX_OK;
}
