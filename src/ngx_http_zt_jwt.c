
/*
 * zt-inference: identity.  Takes the bearer token out of the request and
 * verifies it as a compact JWS (RFC 7515/7519) against the keys loaded at
 * configuration time (ngx_http_zt_keys.c): header sanity first, then the
 * signature with OpenSSL, then the registered claims.  The header and the
 * claims are read by the strict JSON reader (ngx_http_zt_json.c); jansson
 * values of the claims are built only when a claim name needs walking or
 * a condition asks for them.  The `zt_algorithms` directive lives here
 * too.  Nothing is read from disk and nothing is remembered between
 * requests.
 */


#include "ngx_http_zt_inference.h"

#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>


/* what the checks read from the JOSE header */
typedef struct {
    ngx_str_t                   alg;
    ngx_str_t                   typ;
    ngx_str_t                   kid;
    unsigned                    alg_string:1;
    unsigned                    has_typ:1;
    unsigned                    typ_string:1;
    unsigned                    has_kid:1;
    unsigned                    kid_string:1;
    unsigned                    has_crit:1;
} ngx_http_zt_jwt_header_t;


#define NGX_HTTP_ZT_JWT_SOURCES      (1 + NGX_HTTP_ZT_JWKS_USES_MAX)


/* the payload: its members as the reader gave them, jansson's if built */
typedef struct {
    ngx_http_request_t         *r;
    ngx_str_t                   text;
    ngx_array_t                *members;    /* of ngx_http_zt_json_member_t */
    ngx_str_t                  *strings;    /* what the members point at */
    json_t                     *claims;
} ngx_http_zt_jwt_payload_t;


/* a claim as the checks read it, whichever of the two it came from */
typedef struct {
    json_type                   type;
    ngx_str_t                   str;        /* JSON_STRING */
    double                      number;     /* JSON_INTEGER, JSON_REAL */
    ngx_str_t                  *items;      /* JSON_ARRAY: its strings */
    ngx_uint_t                  nitems;
    unsigned                    found:1;
} ngx_http_zt_jwt_value_t;


/* keys of one origin: a location's files, or one remote key set */
typedef struct {
    ngx_http_zt_key_t          *keys;
    ngx_uint_t                  nkeys;
    ngx_str_t                  *issuer;     /* NULL: each key's own */
} ngx_http_zt_jwt_keys_t;


/*
 * The process's caches (see _digest() and _md()), freed by
 * ngx_http_zt_jwt_exit_process().
 */
static EVP_MD_CTX              *mctx;
static EVP_MD                  *mds[3];


static ngx_int_t ngx_http_zt_jwt_check(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_str_t *token, u_char **dot,
    u_char *digest, ngx_http_zt_identity_t *id, ngx_str_t *err);
static ngx_int_t ngx_http_zt_jwt_header(ngx_http_request_t *r,
    ngx_str_t *raw, ngx_http_zt_jwt_header_t *hdr);
static ngx_int_t ngx_http_zt_jwt_check_header(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_jwt_header_t *hdr,
    ngx_http_zt_alg_t **alg, ngx_str_t *err);
static ngx_int_t ngx_http_zt_jwt_payload(ngx_http_zt_jwt_payload_t *pl);
static json_t *ngx_http_zt_jwt_payload_json(ngx_http_zt_jwt_payload_t *pl);
static json_t *ngx_http_zt_jwt_json(ngx_pool_t *pool, ngx_str_t *text);
static ngx_int_t ngx_http_zt_jwt_get(ngx_http_zt_jwt_payload_t *pl,
    char *name, ngx_http_zt_jwt_value_t *v);
static ngx_int_t ngx_http_zt_jwt_get_claim(ngx_http_zt_jwt_payload_t *pl,
    ngx_str_t *name, ngx_http_zt_jwt_value_t *v);
static ngx_int_t ngx_http_zt_jwt_value(ngx_pool_t *pool, json_t *json,
    ngx_http_zt_jwt_value_t *v);
static ngx_int_t ngx_http_zt_jwt_check_claims(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_jwt_payload_t *pl,
    ngx_http_zt_identity_t *id, ngx_str_t *err);
static ngx_int_t ngx_http_zt_jwt_select(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_alg_t *alg, ngx_str_t *kid,
    ngx_str_t *iss, ngx_http_zt_key_t **keyp, ngx_str_t *err);
static ngx_uint_t ngx_http_zt_jwt_bound_here(ngx_http_zt_jwt_keys_t *src,
    ngx_http_zt_key_t *k, ngx_str_t *iss);
static ngx_uint_t ngx_http_zt_jwt_keys(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_jwt_keys_t *sources);
static ngx_int_t ngx_http_zt_jwt_verify_digest(ngx_log_t *log,
    ngx_http_zt_alg_t *alg, ngx_http_zt_key_t *key, const EVP_MD *md,
    u_char *digest, size_t dlen, ngx_str_t *sig);
static ngx_int_t ngx_http_zt_jwt_hmac(ngx_http_zt_alg_t *alg,
    ngx_http_zt_key_t *key, ngx_str_t *input, ngx_str_t *sig);
static EVP_PKEY_CTX *ngx_http_zt_jwt_vctx(ngx_http_zt_alg_t *alg,
    ngx_http_zt_key_t *key, const EVP_MD *md);
static ngx_int_t ngx_http_zt_jwt_digest(const EVP_MD *md, ngx_str_t *input,
    u_char *digest, size_t *len);
static ngx_int_t ngx_http_zt_jwt_ecdsa_der(ngx_http_zt_alg_t *alg,
    ngx_str_t *sig, u_char **der, size_t *len);
static const EVP_MD *ngx_http_zt_jwt_md(ngx_uint_t hash);
static ngx_int_t ngx_http_zt_jwt_time(ngx_http_zt_jwt_payload_t *pl,
    char *name, double *value, ngx_str_t *err);
static ngx_int_t ngx_http_zt_jwt_claim_walk(json_t *obj, u_char *p,
    u_char *last, json_t **found);
static ngx_int_t ngx_http_zt_jwt_strings(ngx_array_t *a,
    ngx_http_zt_jwt_value_t *value, ngx_uint_t split);
static ngx_uint_t ngx_http_zt_jwt_in(ngx_array_t *list,
    ngx_http_zt_jwt_value_t *value);
static ngx_uint_t ngx_http_zt_jwt_has(ngx_array_t *list, ngx_str_t *s);


/* what access tokens may call themselves (RFC 7519, RFC 9068) */
static ngx_str_t  ngx_http_zt_jwt_types[] = {
    ngx_string("JWT"),
    ngx_string("at+jwt"),
    ngx_string("application/at+jwt"),
    ngx_null_string
};


/* sets err to a reason of the module's own (no quotes, no backslashes) */
#define ngx_http_zt_jwt_fail(e)                                              \
    do {                                                                     \
        err->len = sizeof(e) - 1;                                            \
        err->data = (u_char *) e;                                            \
        return NGX_DECLINED;                                                 \
    } while (0)

/* the same, when no key is there for the token: a key set may bring it */
#define ngx_http_zt_jwt_nokey(e)                                             \
    do {                                                                     \
        err->len = sizeof(e) - 1;                                            \
        err->data = (u_char *) e;                                            \
        return NGX_DONE;                                                     \
    } while (0)


char *
ngx_http_zt_jwt_set_algorithms(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t          *value;
    ngx_uint_t         *mask, i;
    ngx_http_zt_alg_t  *alg;

    mask = (ngx_uint_t *) (p + cmd->offset);

    if (*mask != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    *mask = 0;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 4
            && ngx_strncasecmp(value[i].data, (u_char *) "none", 4) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": algorithm \"%V\" is never allowed: "
                               "it means an unsigned token",
                               &cmd->name, &value[i]);
            return NGX_CONF_ERROR;
        }

        alg = ngx_http_zt_keys_alg(value[i].data, value[i].len);

        if (alg == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": unknown algorithm \"%V\", expected "
                               "RS256, RS384, RS512, PS256, PS384, PS512, "
                               "ES256, ES384, ES512, HS256, HS384 or HS512",
                               &cmd->name, &value[i]);
            return NGX_CONF_ERROR;
        }

        if (*mask & alg->bit) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": algorithm \"%V\" is duplicate",
                               &cmd->name, &value[i]);
            return NGX_CONF_ERROR;
        }

        *mask |= alg->bit;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_zt_jwt_merge_conf(ngx_conf_t *cf, ngx_http_zt_jwt_conf_t *prev,
    ngx_http_zt_jwt_conf_t *conf)
{
    ngx_str_t               *iss;
    ngx_uint_t               i, unbound, remote;
    ngx_http_zt_key_t       *key;
    ngx_http_zt_jwks_use_t  *use;

    /* the http block is never merged itself, but is the first "prev" */

    if (ngx_http_zt_jwks_merge(cf, prev->remotes, &prev->oidc_issuer)
        != NGX_CONF_OK
        || ngx_http_zt_jwks_merge(cf, conf->remotes, &conf->oidc_issuer)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->keys == NULL) {
        conf->keys = prev->keys;
    }

    if (conf->remotes == NULL) {
        conf->remotes = prev->remotes;
    }

    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_uint_value(conf->algorithms, prev->algorithms,
                              NGX_HTTP_ZT_RS256|NGX_HTTP_ZT_ES256);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 30);
    ngx_conf_merge_str_value(conf->scope_claim, prev->scope_claim, "scope");
    ngx_conf_merge_str_value(conf->groups_claim, prev->groups_claim,
                             "groups");

    /*
     * Several issuers and a key bound to none: that key vouches for
     * tokens naming any of them.  Said once for each set of keys and
     * issuers, not again for every location that inherits them.
     */

    if (conf->issuers == NULL || conf->issuers->nelts < 2) {
        return NGX_CONF_OK;
    }

    if (conf->keys == prev->keys && conf->remotes == prev->remotes
        && conf->issuers == prev->issuers)
    {
        if (prev->warned) {
            conf->warned = 1;
            return NGX_CONF_OK;
        }

        /* the level above (http) is never merged itself: mark it here */
        prev->warned = 1;
    }

    unbound = 0;

    if (conf->keys) {
        key = conf->keys->elts;

        for (i = 0; i < conf->keys->nelts; i++) {
            if (key[i].issuer.len == 0) {
                unbound++;
            }
        }
    }

    remote = 0;

    if (conf->remotes) {
        use = conf->remotes->elts;

        for (i = 0; i < conf->remotes->nelts; i++) {
            if (use[i].issuer.len == 0) {
                remote++;
            }
        }
    }

    conf->warned = 1;

    if (unbound + remote == 0) {
        return NGX_CONF_OK;
    }

    iss = conf->issuers->elts;

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "zt: %ui key(s) and %ui remote key set(s) bound to no "
                       "issuer verify tokens of each of the %ui accepted "
                       "issuers (\"%V\", \"%V\"%s): a partner's key could "
                       "vouch for another issuer's token; bind them with "
                       "issuer=ISS",
                       unbound, remote, conf->issuers->nelts, &iss[0],
                       &iss[1], conf->issuers->nelts > 2 ? ", ..." : "");

    return NGX_CONF_OK;
}


ngx_uint_t
ngx_http_zt_jwt_has_keys(ngx_http_zt_jwt_conf_t *conf)
{
    return (conf->keys && conf->keys->nelts)
           || (conf->remotes && conf->remotes->nelts);
}


/* *dpop is set when the scheme is DPoP (RFC 9449) rather than Bearer */

ngx_int_t
ngx_http_zt_jwt_bearer(ngx_http_request_t *r, ngx_str_t *token,
    ngx_uint_t *dpop, ngx_str_t *err)
{
    u_char  *p, *last, hash[32], fp[NGX_HTTP_ZT_FP_LEN];
    size_t   len;

    static ngx_str_t  name = ngx_string("Authorization");

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    /*
     * nginx itself refuses a second Authorization line with 400; looking
     * again keeps this true whatever filled the list
     */

    if (ngx_http_zt_header_in(r, &name, 1) != NULL) {
        ngx_str_set(err, "more than one Authorization header");
        goto failed;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    *dpop = (last - p >= 4 && ngx_strncasecmp(p, (u_char *) "DPoP", 4) == 0);
    len = *dpop ? sizeof("DPoP") - 1 : sizeof("Bearer") - 1;

    if ((size_t) (last - p) < len
        || (!*dpop && ngx_strncasecmp(p, (u_char *) "Bearer", len) != 0)
        || (last - p > (ssize_t) len && p[len] != ' ' && p[len] != '\t'))
    {
        ngx_str_set(err, "unsupported authorization scheme");
        goto failed;
    }

    p += len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (p == last) {
        ngx_str_set(err, "missing bearer token");
        goto failed;
    }

    if ((size_t) (last - p) > NGX_HTTP_ZT_TOKEN_MAX) {
        ngx_str_set(err, "token too large");

        if (ngx_http_zt_sha256(hash, p, last - p) != NGX_OK) {
            goto failed;
        }

        ngx_hex_dump(fp, hash, NGX_HTTP_ZT_FP_LEN / 2);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: invalid token: %V, fp=%*s",
                      err, (size_t) NGX_HTTP_ZT_FP_LEN, fp);

        return NGX_ERROR;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "zt: invalid token: %V", err);

    return NGX_ERROR;
}


ngx_int_t
ngx_http_zt_jwt_verify(ngx_http_request_t *r, ngx_http_zt_jwt_conf_t *conf,
    ngx_str_t *token, ngx_http_zt_identity_t *id, ngx_str_t *err)
{
    u_char                 *p, *last, *dot[2], hash[32], digest[32];
    ngx_int_t               rc;
    ngx_http_zt_identity_t  vid;

    ngx_memzero(id, sizeof(ngx_http_zt_identity_t));

    /* three segments: two dots, and no third */

    p = token->data;
    last = p + token->len;

    dot[0] = memchr(p, '.', last - p);
    dot[1] = dot[0] ? memchr(dot[0] + 1, '.', last - dot[0] - 1) : NULL;

    if (dot[1] && memchr(dot[1] + 1, '.', last - dot[1] - 1)) {
        dot[1] = NULL;
    }

    /*
     * One pass over the token gives its fingerprint and the SHA-256 of
     * its signing input (all before the second dot), which the RS256,
     * PS256 and ES256 signatures are over.
     */

    if (ngx_http_zt_sha256_prefix(hash, p, token->len, digest,
                                  dot[1] ? (size_t) (dot[1] - p) : 0)
        != NGX_OK)
    {
        ngx_str_null(err);
        return NGX_ERROR;
    }

    ngx_hex_dump(id->fp, hash, NGX_HTTP_ZT_FP_LEN / 2);

    ngx_memzero(&vid, sizeof(ngx_http_zt_identity_t));

    if (dot[1] == NULL) {
        ngx_str_set(err, "malformed token: expected 3 segments");
        rc = NGX_DECLINED;

    } else {
        rc = ngx_http_zt_jwt_check(r, conf, token, dot, digest, &vid, err);
    }

    if (rc == NGX_OK) {
        ngx_memcpy(vid.fp, id->fp, NGX_HTTP_ZT_FP_LEN);
        *id = vid;
        return NGX_OK;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: invalid token: %V, fp=%*s",
                      err, (size_t) NGX_HTTP_ZT_FP_LEN, id->fp);
        return NGX_DECLINED;
    }

    /* waiting for a key set (NGX_AGAIN), or none to be had (NGX_BUSY) */

    if (rc == NGX_AGAIN || rc == NGX_BUSY) {
        return rc;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "zt: token verification failed, fp=%*s",
                  (size_t) NGX_HTTP_ZT_FP_LEN, id->fp);

    /* no description: the caller answers 500, not 401 */
    ngx_str_null(err);

    return NGX_ERROR;
}


/* dot: the token's two dots; digest: the SHA-256 of what is before dot[1] */

static ngx_int_t
ngx_http_zt_jwt_check(ngx_http_request_t *r, ngx_http_zt_jwt_conf_t *conf,
    ngx_str_t *token, u_char **dot, u_char *digest,
    ngx_http_zt_identity_t *id, ngx_str_t *err)
{
    ngx_int_t                   rc;
    ngx_str_t                   seg[3], raw[3], input, *iss;
    ngx_uint_t                  i;
    const EVP_MD               *md;
    ngx_http_zt_alg_t          *alg;
    ngx_http_zt_key_t          *key;
    ngx_http_zt_jwt_value_t     v;
    ngx_http_zt_jwt_header_t    hdr;
    ngx_http_zt_jwt_payload_t   pl;

    seg[0].data = token->data;
    seg[0].len = dot[0] - token->data;
    seg[1].data = dot[0] + 1;
    seg[1].len = dot[1] - seg[1].data;
    seg[2].data = dot[1] + 1;
    seg[2].len = token->data + token->len - seg[2].data;

    for (i = 0; i < 3; i++) {
        rc = ngx_http_zt_base64url_decode(r->pool, &seg[i], &raw[i]);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            ngx_http_zt_jwt_fail("malformed token: bad base64url");
        }
    }

    rc = ngx_http_zt_jwt_header(r, &raw[0], &hdr);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_zt_jwt_fail("malformed token: header is not a JSON object");
    }

    rc = ngx_http_zt_jwt_check_header(r, conf, &hdr, &alg, err);
    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * The payload is read before the signature is checked, for its iss
     * alone: a key bound to an issuer is never tried on a token of
     * another.  Whether it is a JSON object is told after the signature,
     * as before.
     */

    ngx_memzero(&pl, sizeof(ngx_http_zt_jwt_payload_t));
    pl.r = r;
    pl.text = raw[1];

    rc = ngx_http_zt_jwt_payload(&pl);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    iss = NULL;

    if (rc == NGX_OK) {
        if (ngx_http_zt_jwt_get(&pl, "iss", &v) != NGX_OK) {
            return NGX_ERROR;
        }

        if (v.found && v.type == JSON_STRING) {
            iss = &v.str;
        }
    }

    rc = ngx_http_zt_jwt_select(r, conf, alg, hdr.has_kid ? &hdr.kid : NULL,
                                iss, &key, err);

    if (rc == NGX_DONE) {
        /* a remote set may have got the key since: fetched again, once */

        rc = ngx_http_zt_jwks_need(r, conf->remotes, iss);

        return (rc == NGX_DECLINED) ? NGX_DECLINED : rc;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (alg->family != NGX_HTTP_ZT_KEY_OCT && alg->hash == 256) {
        md = ngx_http_zt_jwt_md(256);
        if (md == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_zt_jwt_verify_digest(r->connection->log, alg, key, md,
                                           digest, 32, &raw[2]);

    } else {
        input.data = token->data;
        input.len = dot[1] - token->data;

        rc = ngx_http_zt_jwt_signature(r->connection->log, alg, key, &input,
                                       &raw[2]);
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_zt_jwt_fail("invalid signature");
    }

    if (pl.members == NULL) {
        ngx_http_zt_jwt_fail("malformed token: payload is not a JSON object");
    }

    id->payload = raw[1];

    return ngx_http_zt_jwt_check_claims(r, conf, &pl, id, err);
}


/*
 * The claims of a verified caller as jansson values, built from their
 * text once, when a condition or a variable first asks for a claim.
 */

json_t *
ngx_http_zt_jwt_claims(ngx_http_request_t *r, ngx_http_zt_identity_t *id)
{
    if (id->claims || id->payload.len == 0) {
        return id->claims;
    }

    id->claims = ngx_http_zt_jwt_json(r->pool, &id->payload);

    return id->claims;
}


/* claims text as jansson values, released with the pool */

static json_t *
ngx_http_zt_jwt_json(ngx_pool_t *pool, ngx_str_t *text)
{
    json_t                   *root;
    ngx_http_zt_json_read_t   rd;

    ngx_memzero(&rd, sizeof(ngx_http_zt_json_read_t));
    rd.pool = pool;

    root = ngx_http_zt_json_load(&rd, text->data, text->len);

    if (root == NULL || ngx_http_zt_json_cleanup_add(pool, root) != NGX_OK) {
        return NULL;
    }

    return root;
}


/*
 * The JOSE header, read into hdr.  NGX_DECLINED: not a JSON object, or a
 * string in it holds "\u0000".
 */

static ngx_int_t
ngx_http_zt_jwt_header(ngx_http_request_t *r, ngx_str_t *raw,
    ngx_http_zt_jwt_header_t *hdr)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_http_zt_json_read_t     rd;
    ngx_http_zt_json_member_t  *m;

    ngx_memzero(hdr, sizeof(ngx_http_zt_jwt_header_t));
    ngx_memzero(&rd, sizeof(ngx_http_zt_json_read_t));

    rd.pool = r->pool;
    rd.members = ngx_array_create(r->pool, 4,
                                  sizeof(ngx_http_zt_json_member_t));
    if (rd.members == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_zt_json_read(&rd, raw->data, raw->len);

    if (rc != NGX_OK) {
        return rc;
    }

    if (!rd.object || rd.nul) {
        return NGX_DECLINED;
    }

    m = rd.members->elts;

    for (i = 0; i < rd.members->nelts; i++) {

        if (m[i].name.len == 4
            && ngx_strncmp(m[i].name.data, "crit", 4) == 0)
        {
            hdr->has_crit = 1;
            continue;
        }

        if (m[i].name.len != 3) {
            continue;
        }

        if (ngx_strncmp(m[i].name.data, "alg", 3) == 0) {
            if (m[i].type == JSON_STRING) {
                hdr->alg_string = 1;
                hdr->alg = m[i].value;
            }

        } else if (ngx_strncmp(m[i].name.data, "typ", 3) == 0) {
            hdr->has_typ = 1;

            if (m[i].type == JSON_STRING) {
                hdr->typ_string = 1;
                hdr->typ = m[i].value;
            }

        } else if (ngx_strncmp(m[i].name.data, "kid", 3) == 0) {
            hdr->has_kid = 1;

            if (m[i].type == JSON_STRING) {
                hdr->kid_string = 1;
                hdr->kid = m[i].value;
            }
        }
    }

    return NGX_OK;
}


/*
 * The payload's members.  NGX_DECLINED: not a JSON object, or a string in
 * it holds "\u0000" (pl->members stays NULL).
 */

static ngx_int_t
ngx_http_zt_jwt_payload(ngx_http_zt_jwt_payload_t *pl)
{
    ngx_int_t                 rc;
    ngx_http_zt_json_read_t   rd;

    ngx_memzero(&rd, sizeof(ngx_http_zt_json_read_t));

    rd.pool = pl->r->pool;
    rd.members = ngx_array_create(rd.pool, 8,
                                  sizeof(ngx_http_zt_json_member_t));
    rd.strings = ngx_array_create(rd.pool, 16, sizeof(ngx_str_t));

    if (rd.members == NULL || rd.strings == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_zt_json_read(&rd, pl->text.data, pl->text.len);

    if (rc != NGX_OK) {
        return rc;
    }

    if (!rd.object || rd.nul) {
        return NGX_DECLINED;
    }

    pl->members = rd.members;
    pl->strings = rd.strings->elts;

    return NGX_OK;
}


/* the claims as jansson values, built when a check needs them */

static json_t *
ngx_http_zt_jwt_payload_json(ngx_http_zt_jwt_payload_t *pl)
{
    if (pl->claims == NULL) {
        pl->claims = ngx_http_zt_jwt_json(pl->r->pool, &pl->text);
    }

    return pl->claims;
}


/*
 * The member called name, as json_object_get() would find it.  An array
 * holding no array or object has its strings among the reader's, in
 * order; one that does is read through jansson.
 */

static ngx_int_t
ngx_http_zt_jwt_get(ngx_http_zt_jwt_payload_t *pl, char *name,
    ngx_http_zt_jwt_value_t *v)
{
    size_t                      len;
    json_t                     *claims;
    ngx_uint_t                  i;
    ngx_http_zt_json_member_t  *m;

    ngx_memzero(v, sizeof(ngx_http_zt_jwt_value_t));

    len = ngx_strlen(name);
    m = pl->members->elts;

    for (i = 0; i < pl->members->nelts; i++) {
        if (m[i].name.len == len && ngx_memcmp(m[i].name.data, name, len) == 0)
        {
            break;
        }
    }

    if (i == pl->members->nelts) {
        return NGX_OK;
    }

    m = &m[i];

    if (m->type == JSON_ARRAY && m->nested) {
        claims = ngx_http_zt_jwt_payload_json(pl);
        if (claims == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_zt_jwt_value(pl->r->pool,
                                     json_object_getn(claims, name, len), v);
    }

    v->found = 1;
    v->type = m->type;
    v->number = m->number;

    if (m->type == JSON_STRING) {
        v->str = m->value;

    } else if (m->type == JSON_ARRAY) {
        v->items = pl->strings + m->strings;
        v->nitems = m->nstrings;
    }

    return NGX_OK;
}


/*
 * A claim name as ngx_http_zt_jwt_claim() reads it: one with no dot is
 * one member; one with dots may walk nested objects, through jansson.
 * NGX_DECLINED: ambiguous.
 */

static ngx_int_t
ngx_http_zt_jwt_get_claim(ngx_http_zt_jwt_payload_t *pl, ngx_str_t *name,
    ngx_http_zt_jwt_value_t *v)
{
    u_char     buf[64];
    json_t    *claims, *json;
    ngx_int_t  rc;

    if (ngx_strlchr(name->data, name->data + name->len, '.') == NULL
        && name->len < sizeof(buf))
    {
        ngx_memcpy(buf, name->data, name->len);
        buf[name->len] = '\0';

        return ngx_http_zt_jwt_get(pl, (char *) buf, v);
    }

    claims = ngx_http_zt_jwt_payload_json(pl);
    if (claims == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_zt_jwt_claim(claims, name, &json, pl->r->connection->log);

    if (rc == NGX_ERROR) {
        return NGX_DECLINED;
    }

    return ngx_http_zt_jwt_value(pl->r->pool, json, v);
}


/* a jansson value as the checks read it; json may be NULL: not found */

static ngx_int_t
ngx_http_zt_jwt_value(ngx_pool_t *pool, json_t *json,
    ngx_http_zt_jwt_value_t *v)
{
    size_t      i;
    json_t     *e;
    ngx_str_t  *s;

    ngx_memzero(v, sizeof(ngx_http_zt_jwt_value_t));

    if (json == NULL) {
        return NGX_OK;
    }

    v->found = 1;
    v->type = json_typeof(json);

    switch (v->type) {

    case JSON_STRING:
        v->str.data = (u_char *) json_string_value(json);
        v->str.len = json_string_length(json);
        break;

    case JSON_INTEGER:
    case JSON_REAL:
        v->number = json_number_value(json);
        break;

    case JSON_ARRAY:
        v->items = ngx_palloc(pool, (json_array_size(json) + 1)
                                    * sizeof(ngx_str_t));
        if (v->items == NULL) {
            return NGX_ERROR;
        }

        json_array_foreach(json, i, e) {
            if (json_is_string(e)) {
                s = &v->items[v->nitems++];
                s->data = (u_char *) json_string_value(e);
                s->len = json_string_length(e);
            }
        }

        break;

    default:
        break;
    }

    return NGX_OK;
}


/*
 * Everything the header says is checked before any key touches the
 * signature: a token only ever meets a key of the family its alg names.
 */

static ngx_int_t
ngx_http_zt_jwt_check_header(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_jwt_header_t *hdr,
    ngx_http_zt_alg_t **algp, ngx_str_t *err)
{
    u_char             *name;
    size_t              len;
    ngx_str_t          *type;
    ngx_http_zt_alg_t  *alg;

    if (!hdr->alg_string) {
        ngx_http_zt_jwt_fail("missing alg");
    }

    name = hdr->alg.data;
    len = hdr->alg.len;

    if (len == 4 && ngx_strncasecmp(name, (u_char *) "none", 4) == 0) {
        ngx_http_zt_jwt_fail("alg none is not allowed");
    }

    alg = ngx_http_zt_keys_alg(name, len);

    if (alg == NULL) {
        ngx_http_zt_jwt_fail("unsupported alg");
    }

    if (!(conf->algorithms & alg->bit)) {
        err->data = ngx_pnalloc(r->pool, sizeof("alg XXXXX is not allowed"));
        if (err->data == NULL) {
            return NGX_ERROR;
        }

        err->len = ngx_sprintf(err->data, "alg %V is not allowed", &alg->name)
                   - err->data;

        return NGX_DECLINED;
    }

    /* RFC 7515, 4.1.11: we implement no extension, so none is understood */

    if (hdr->has_crit) {
        ngx_http_zt_jwt_fail("unsupported crit header");
    }

    if (hdr->has_typ) {
        if (!hdr->typ_string) {
            ngx_http_zt_jwt_fail("unsupported typ");
        }

        name = hdr->typ.data;
        len = hdr->typ.len;

        for (type = ngx_http_zt_jwt_types; type->len; type++) {
            if (type->len == len
                && ngx_strncasecmp(type->data, name, len) == 0)
            {
                break;
            }
        }

        if (type->len == 0) {
            ngx_http_zt_jwt_fail("unsupported typ");
        }
    }

    if (hdr->has_kid && !hdr->kid_string) {
        ngx_http_zt_jwt_fail("malformed token: kid is not a string");
    }

    *algp = alg;

    return NGX_OK;
}


/*
 * A kid selects the keys that carry it.  A token whose kid no key carries,
 * and a token without a kid, fall back to the keys that fit its alg (with
 * a kid: only those without one, as a PEM file), and then there must be
 * exactly one: a signature is never tried against several keys.
 *
 * A key bound to an issuer (issuer=) is not there for a token of another
 * issuer, nor for one whose iss is missing or not a string (iss NULL):
 * the binding is checked before any signature, so that a partner's key
 * can never vouch for a token that names another issuer.
 */

static ngx_int_t
ngx_http_zt_jwt_select(ngx_http_request_t *r, ngx_http_zt_jwt_conf_t *conf,
    ngx_http_zt_alg_t *alg, ngx_str_t *kid, ngx_str_t *iss,
    ngx_http_zt_key_t **keyp, ngx_str_t *err)
{
    ngx_uint_t               i, j, n, known, elsewhere, other;
    ngx_http_zt_key_t       *k, *key;
    ngx_http_zt_jwt_keys_t   sources[NGX_HTTP_ZT_JWT_SOURCES], *src;

    n = ngx_http_zt_jwt_keys(r, conf, sources);


    key = NULL;
    known = 0;
    elsewhere = 0;
    other = 0;

    if (kid) {
        for (i = 0; i < n; i++) {
            src = &sources[i];

            for (j = 0; j < src->nkeys; j++) {
                k = &src->keys[j];

                if (k->kid.len != kid->len
                    || ngx_strncmp(k->kid.data, kid->data, kid->len) != 0)
                {
                    continue;
                }

                if (!ngx_http_zt_jwt_bound_here(src, k, iss)) {
                    elsewhere = 1;
                    continue;
                }

                known = 1;

                if (ngx_http_zt_keys_fit(k, alg)) {
                    *keyp = k;
                    return NGX_OK;
                }
            }
        }

        if (known) {
            ngx_http_zt_jwt_fail("key does not match alg");
        }
    }

    for (i = 0; i < n; i++) {
        src = &sources[i];

        for (j = 0; j < src->nkeys; j++) {
            k = &src->keys[j];

            if ((kid && k->kid.len) || !ngx_http_zt_keys_fit(k, alg)) {
                continue;
            }

            if (!ngx_http_zt_jwt_bound_here(src, k, iss)) {
                other = 1;
                continue;
            }

            if (key) {
                if (kid) {
                    ngx_http_zt_jwt_fail("unknown kid");
                }

                ngx_http_zt_jwt_fail("kid required");
            }

            key = k;
        }
    }

    if (key == NULL) {
        if (kid) {
            if (elsewhere) {
                ngx_http_zt_jwt_nokey("kid is bound to another issuer");
            }

            ngx_http_zt_jwt_nokey("unknown kid");
        }

        if (other) {
            ngx_http_zt_jwt_nokey("no key for the token's issuer");
        }

        ngx_http_zt_jwt_nokey("no key for alg");
    }

    *keyp = key;

    return NGX_OK;
}


/* a key is there for a token: bound to no issuer, or to the token's iss */

static ngx_uint_t
ngx_http_zt_jwt_bound_here(ngx_http_zt_jwt_keys_t *src, ngx_http_zt_key_t *k,
    ngx_str_t *iss)
{
    ngx_str_t  *bound;

    bound = src->issuer ? src->issuer : &k->issuer;

    if (bound->len == 0) {
        return 1;
    }

    return iss != NULL
           && iss->len == bound->len
           && ngx_memcmp(iss->data, bound->data, bound->len) == 0;
}


/*
 * The keys a location verifies with: its files, then the remote sets it
 * uses (as far as they were fetched), each bound as its use says.
 */

static ngx_uint_t
ngx_http_zt_jwt_keys(ngx_http_request_t *r, ngx_http_zt_jwt_conf_t *conf,
    ngx_http_zt_jwt_keys_t *sources)
{
    ngx_uint_t               i, n;
    ngx_array_t             *keys;
    ngx_http_zt_jwks_use_t  *use;

    n = 0;

    if (conf->keys && conf->keys->nelts) {
        sources[n].keys = conf->keys->elts;
        sources[n].nkeys = conf->keys->nelts;
        sources[n].issuer = NULL;
        n++;
    }

    if (conf->remotes == NULL) {
        return n;
    }

    use = conf->remotes->elts;

    for (i = 0; i < conf->remotes->nelts; i++) {
        keys = ngx_http_zt_jwks_keys(r, use[i].set);

        if (keys == NULL || keys->nelts == 0) {
            continue;
        }

        sources[n].keys = keys->elts;
        sources[n].nkeys = keys->nelts;
        sources[n].issuer = &use[i].issuer;
        n++;
    }

    return n;
}


/*
 * A JWS signature over input checked with key, which must fit alg
 * (ngx_http_zt_keys_fit()).  NGX_OK: valid, NGX_DECLINED: not, NGX_ERROR:
 * could not tell.
 */

ngx_int_t
ngx_http_zt_jwt_signature(ngx_log_t *log, ngx_http_zt_alg_t *alg,
    ngx_http_zt_key_t *key, ngx_str_t *input, ngx_str_t *sig)
{
    u_char         digest[EVP_MAX_MD_SIZE];
    size_t         dlen;
    const EVP_MD  *md;

    if (alg->family == NGX_HTTP_ZT_KEY_OCT) {
        return ngx_http_zt_jwt_hmac(alg, key, input, sig);
    }

    md = ngx_http_zt_jwt_md(alg->hash);
    if (md == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_zt_jwt_digest(md, input, digest, &dlen) != NGX_OK) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    return ngx_http_zt_jwt_verify_digest(log, alg, key, md, digest, dlen,
                                         sig);
}


/* an RSA or ECDSA signature over what digest (made with md) is of */

static ngx_int_t
ngx_http_zt_jwt_verify_digest(ngx_log_t *log, ngx_http_zt_alg_t *alg,
    ngx_http_zt_key_t *key, const EVP_MD *md, u_char *digest, size_t dlen,
    ngx_str_t *sig)
{
    int            rc;
    u_char        *der, *s;
    size_t         len;
    ngx_int_t      n;
    EVP_PKEY_CTX  *pctx;

    der = NULL;

    if (alg->family == NGX_HTTP_ZT_KEY_EC) {
        n = ngx_http_zt_jwt_ecdsa_der(alg, sig, &der, &len);
        if (n != NGX_OK) {
            return n;
        }

        s = der;

    } else {
        if (sig->len != (size_t) EVP_PKEY_get_size(key->pkey)) {
            return NGX_DECLINED;
        }

        s = sig->data;
        len = sig->len;
    }

    pctx = ngx_http_zt_jwt_vctx(alg, key, md);

    if (pctx == NULL) {
        OPENSSL_free(der);
        ERR_clear_error();

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "zt: EVP_PKEY_verify_init() failed");

        return NGX_ERROR;
    }

    rc = EVP_PKEY_verify(pctx, s, len, digest, dlen);

    OPENSSL_free(der);

    /* a mismatch leaves reasons in the queue: they are no one's business */
    ERR_clear_error();

    return rc == 1 ? NGX_OK : NGX_DECLINED;
}


/*
 * Setting up a verify operation (fetching the algorithm, making the
 * provider's context, padding and digest parameters) costs about a tenth
 * of an RSA verify, and it is the same for every token signed by one key
 * with one alg.  So a process prepares a context per key and alg on first
 * use and keeps it with the key (ngx_http_zt_key_crypto_t), which frees it
 * with the key: a worker fills its own copy (never the master before the
 * fork), a worker is single-threaded, and EVP_PKEY_verify() keeps nothing
 * of one signature for the next, so no request sees anything of another.
 */

static EVP_PKEY_CTX *
ngx_http_zt_jwt_vctx(ngx_http_zt_alg_t *alg, ngx_http_zt_key_t *key,
    const EVP_MD *md)
{
    EVP_PKEY_CTX  *ctx, **slot;

    slot = &key->crypto->vctx[alg->slot];

    if (*slot) {
        return *slot;
    }

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (ctx == NULL) {
        return NULL;
    }

    if (EVP_PKEY_verify_init(ctx) != 1
        || EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)
    {
        goto failed;
    }

    if (alg->family == NGX_HTTP_ZT_KEY_RSA) {
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, alg->pss
                                              ? RSA_PKCS1_PSS_PADDING
                                              : RSA_PKCS1_PADDING)
            <= 0)
        {
            goto failed;
        }

        if (alg->pss
            && (EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST)
                <= 0
                || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0))
        {
            goto failed;
        }
    }

    *slot = ctx;

    return ctx;

failed:

    EVP_PKEY_CTX_free(ctx);

    return NULL;
}


/* one digest context per process: a worker is single-threaded */

static ngx_int_t
ngx_http_zt_jwt_digest(const EVP_MD *md, ngx_str_t *input, u_char *digest,
    size_t *len)
{
    unsigned int  n;

    if (mctx == NULL) {
        mctx = EVP_MD_CTX_new();
        if (mctx == NULL) {
            return NGX_ERROR;
        }
    }

    if (EVP_DigestInit_ex2(mctx, md, NULL) != 1
        || EVP_DigestUpdate(mctx, input->data, input->len) != 1
        || EVP_DigestFinal_ex(mctx, digest, &n) != 1)
    {
        return NGX_ERROR;
    }

    *len = n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_jwt_hmac(ngx_http_zt_alg_t *alg, ngx_http_zt_key_t *key,
    ngx_str_t *input, ngx_str_t *sig)
{
    u_char         mac[EVP_MAX_MD_SIZE];
    unsigned int   len;
    const EVP_MD  *md;

    md = ngx_http_zt_jwt_md(alg->hash);
    if (md == NULL) {
        return NGX_ERROR;
    }

    if (HMAC(md, key->secret.data, (int) key->secret.len, input->data,
             input->len, mac, &len)
        == NULL)
    {
        return NGX_ERROR;
    }

    if (sig->len != len || CRYPTO_memcmp(mac, sig->data, len) != 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * JWS carries ECDSA as R || S of fixed width (RFC 7518, 3.4); EVP wants
 * the DER of an ECDSA-Sig-Value, which OpenSSL writes (*der: its memory,
 * for OPENSSL_free()).  NGX_DECLINED: not of the width the alg says.
 */

static ngx_int_t
ngx_http_zt_jwt_ecdsa_der(ngx_http_zt_alg_t *alg, ngx_str_t *sig,
    u_char **der, size_t *len)
{
    int         n;
    BIGNUM     *r, *s;
    ECDSA_SIG  *es;

    if (sig->len != 2 * alg->coord) {
        return NGX_DECLINED;
    }

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig->data, (int) alg->coord, NULL);
    s = BN_bin2bn(sig->data + alg->coord, (int) alg->coord, NULL);

    if (es == NULL || r == NULL || s == NULL) {
        goto failed;
    }

    /* es owns r and s from now on */

    if (ECDSA_SIG_set0(es, r, s) != 1) {
        goto failed;
    }

    r = NULL;
    s = NULL;

    *der = NULL;
    n = i2d_ECDSA_SIG(es, der);

    ECDSA_SIG_free(es);

    if (n <= 0) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    *len = n;

    return NGX_OK;

failed:

    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    ERR_clear_error();

    return NGX_ERROR;
}


/*
 * The digests, fetched once per process: EVP_sha256() and the like are
 * fetched again by every operation that uses them.
 */

static const EVP_MD *
ngx_http_zt_jwt_md(ngx_uint_t hash)
{
    ngx_uint_t   i;
    const char  *name;

    switch (hash) {
    case 256:
        i = 0;
        name = "SHA256";
        break;
    case 384:
        i = 1;
        name = "SHA384";
        break;
    case 512:
        i = 2;
        name = "SHA512";
        break;
    default:
        return NULL;
    }

    if (mds[i] == NULL) {
        mds[i] = EVP_MD_fetch(NULL, name, NULL);
    }

    return mds[i];
}


void
ngx_http_zt_jwt_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    EVP_MD_CTX_free(mctx);
    mctx = NULL;

    for (i = 0; i < 3; i++) {
        EVP_MD_free(mds[i]);
        mds[i] = NULL;
    }
}


static ngx_int_t
ngx_http_zt_jwt_check_claims(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_jwt_payload_t *pl,
    ngx_http_zt_identity_t *id, ngx_str_t *err)
{
    double                   exp, nbf, iat, now;
    ngx_int_t                rc;
    ngx_str_t                scp = ngx_string("scp");
    ngx_uint_t               i;
    ngx_http_zt_jwt_value_t  v;

    now = (double) ngx_time();

    rc = ngx_http_zt_jwt_time(pl, "exp", &exp, err);
    if (rc == NGX_DONE) {
        ngx_http_zt_jwt_fail("missing exp");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (now > exp + conf->leeway) {
        ngx_http_zt_jwt_fail("token expired");
    }

    rc = ngx_http_zt_jwt_time(pl, "nbf", &nbf, err);
    if (rc == NGX_DECLINED || rc == NGX_ERROR) {
        return rc;
    }

    if (rc == NGX_OK && nbf > now + conf->leeway) {
        ngx_http_zt_jwt_fail("token not yet valid");
    }

    rc = ngx_http_zt_jwt_time(pl, "iat", &iat, err);
    if (rc == NGX_DECLINED || rc == NGX_ERROR) {
        return rc;
    }

    if (rc == NGX_OK && iat > now + conf->leeway) {
        ngx_http_zt_jwt_fail("token issued in the future");
    }

    if (ngx_http_zt_jwt_get(pl, "iss", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    if (v.found && v.type != JSON_STRING) {
        ngx_http_zt_jwt_fail("malformed token: iss is not a string");
    }

    if (conf->issuers && conf->issuers->nelts) {
        if (!v.found) {
            ngx_http_zt_jwt_fail("missing iss");
        }

        if (!ngx_http_zt_jwt_in(conf->issuers, &v)) {
            ngx_http_zt_jwt_fail("issuer not accepted");
        }
    }

    if (v.found) {
        id->iss = v.str;
    }

    if (conf->audiences && conf->audiences->nelts) {
        if (ngx_http_zt_jwt_get(pl, "aud", &v) != NGX_OK) {
            return NGX_ERROR;
        }

        if (!v.found) {
            ngx_http_zt_jwt_fail("missing aud");
        }

        if (v.type == JSON_ARRAY) {
            for (i = 0; i < v.nitems; i++) {
                if (ngx_http_zt_jwt_has(conf->audiences, &v.items[i])) {
                    break;
                }
            }

            if (i == v.nitems) {
                ngx_http_zt_jwt_fail("audience not accepted");
            }

        } else if (!ngx_http_zt_jwt_in(conf->audiences, &v)) {
            ngx_http_zt_jwt_fail("audience not accepted");
        }
    }

    if (ngx_http_zt_jwt_get(pl, "sub", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    if (v.found) {
        if (v.type != JSON_STRING) {
            ngx_http_zt_jwt_fail("malformed token: sub is not a string");
        }

        id->sub = v.str;
    }

    id->scopes = ngx_array_create(r->pool, 4, sizeof(ngx_str_t));
    id->groups = ngx_array_create(r->pool, 4, sizeof(ngx_str_t));

    if (id->scopes == NULL || id->groups == NULL) {
        return NGX_ERROR;
    }

    /*
     * A scope or groups claim that names two values is refused, not read
     * as empty: an empty group list would let a "deny group=" rule pass.
     */

    rc = ngx_http_zt_jwt_get_claim(pl, &conf->scope_claim, &v);

    if (rc == NGX_DECLINED) {
        ngx_http_zt_jwt_fail("ambiguous scope claim");
    }

    if (rc != NGX_OK || ngx_http_zt_jwt_strings(id->scopes, &v, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (conf->scope_claim.len != scp.len
        || ngx_strncmp(conf->scope_claim.data, scp.data, scp.len) != 0)
    {
        if (ngx_http_zt_jwt_get(pl, "scp", &v) != NGX_OK
            || ngx_http_zt_jwt_strings(id->scopes, &v, 1) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    rc = ngx_http_zt_jwt_get_claim(pl, &conf->groups_claim, &v);

    if (rc == NGX_DECLINED) {
        ngx_http_zt_jwt_fail("ambiguous groups claim");
    }

    if (rc != NGX_OK || ngx_http_zt_jwt_strings(id->groups, &v, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (exp >= (double) NGX_MAX_TIME_T_VALUE) {
        id->exp = NGX_MAX_TIME_T_VALUE;

    } else if (exp <= 0) {
        id->exp = 0;

    } else {
        id->exp = (time_t) exp;
    }

    /* built for a check, they need not be built again */
    id->claims = pl->claims;

    return NGX_OK;
}


/*
 * NGX_OK: a number, NGX_DONE: absent, NGX_DECLINED: not a number,
 * NGX_ERROR: no memory
 */

static ngx_int_t
ngx_http_zt_jwt_time(ngx_http_zt_jwt_payload_t *pl, char *name,
    double *value, ngx_str_t *err)
{
    ngx_http_zt_jwt_value_t  v;

    if (ngx_http_zt_jwt_get(pl, name, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!v.found) {
        return NGX_DONE;
    }

    if (v.type != JSON_INTEGER && v.type != JSON_REAL) {
        err->data = (u_char *) (name[0] == 'e'
                                ? "malformed token: exp is not a number"
                                : name[0] == 'n'
                                ? "malformed token: nbf is not a number"
                                : "malformed token: iat is not a number");
        err->len = ngx_strlen(err->data);
        return NGX_DECLINED;
    }

    *value = v.number;

    return NGX_OK;
}


/*
 * The one reading of a claim name, for policy conditions (claim.NAME=,
 * sub=, and so unless= of masking), the scope and groups claims and
 * $zt_claim_NAME.  A name is read every way its dots allow: as one member
 * name, or cut at any of its dots into member names that walk nested
 * objects ("a.b.c" is "a.b.c", "a" > "b.c", "a.b" > "c" or "a" > "b" >
 * "c").  Arrays are not walked into.
 *
 * NGX_OK: the readings that find a value all find the same one (*value);
 * NGX_DECLINED: none finds one; NGX_ERROR: two find different values.
 * Then the name does not say which value is meant, and the caller must
 * fail closed: a condition that cannot be evaluated, a token refused.
 */

ngx_int_t
ngx_http_zt_jwt_claim(json_t *claims, ngx_str_t *name, json_t **value,
    ngx_log_t *log)
{
    ngx_int_t  rc;

    *value = NULL;

    if (name->len == 0) {
        return NGX_DECLINED;
    }

    rc = ngx_http_zt_jwt_claim_walk(claims, name->data,
                                    name->data + name->len, value);

    if (rc == NGX_ERROR) {
        *value = NULL;

        if (log) {
            ngx_log_error(NGX_LOG_INFO, log, 0,
                          "zt: claim \"%V\" is ambiguous: the token has "
                          "different values under the names it may mean",
                          name);
        }

        return NGX_ERROR;
    }

    return *value ? NGX_OK : NGX_DECLINED;
}


/*
 * Every (object, rest of the name) pair is met once: a token's tree gives
 * each member one path, so the walk is bounded by the claims' size times
 * the name's dots.
 */

static ngx_int_t
ngx_http_zt_jwt_claim_walk(json_t *obj, u_char *p, u_char *last,
    json_t **found)
{
    u_char  *dot;
    json_t  *v;

    if (!json_is_object(obj)) {
        return NGX_OK;
    }

    v = json_object_getn(obj, (const char *) p, last - p);

    if (v) {
        if (*found && !json_equal(*found, v)) {
            return NGX_ERROR;
        }

        *found = v;
    }

    for (dot = ngx_strlchr(p, last, '.');
         dot;
         dot = ngx_strlchr(dot + 1, last, '.'))
    {
        if (dot == p || dot + 1 == last) {
            continue;
        }

        v = json_object_getn(obj, (const char *) p, dot - p);

        if (v && ngx_http_zt_jwt_claim_walk(v, dot + 1, last, found)
                 != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A claim name as the resolver reads it: not empty, and no empty part
 * between dots (".a", "a.", "a..b"), which no reading could walk.
 */

ngx_int_t
ngx_http_zt_jwt_claim_name_valid(ngx_str_t *name)
{
    u_char  *p, *last;

    if (name->len == 0) {
        return 0;
    }

    last = name->data + name->len;

    if (name->data[0] == '.' || last[-1] == '.') {
        return 0;
    }

    for (p = name->data; p + 1 < last; p++) {
        if (p[0] == '.' && p[1] == '.') {
            return 0;
        }
    }

    return 1;
}


/* zt_scope_claim, zt_groups_claim */

char *
ngx_http_zt_jwt_set_claim_name(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char       *rv;
    ngx_str_t  *value, *name;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    name = (ngx_str_t *) ((char *) conf + cmd->offset);
    value = cf->args->elts;

    if (!ngx_http_zt_jwt_claim_name_valid(name)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid claim name \"%V\" (empty, or "
                           "an empty part between dots)",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a string (space-separated when split is set) or an array of strings */

static ngx_int_t
ngx_http_zt_jwt_strings(ngx_array_t *a, ngx_http_zt_jwt_value_t *value,
    ngx_uint_t split)
{
    u_char      *p, *last, *start;
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (!value->found) {
        return NGX_OK;
    }

    if (value->type == JSON_ARRAY) {
        for (i = 0; i < value->nitems; i++) {
            if (value->items[i].len == 0) {
                continue;
            }

            s = ngx_array_push(a);
            if (s == NULL) {
                return NGX_ERROR;
            }

            *s = value->items[i];
        }

        return NGX_OK;
    }

    if (value->type != JSON_STRING) {
        return NGX_OK;
    }

    p = value->str.data;
    last = p + value->str.len;

    if (!split) {
        if (p == last) {
            return NGX_OK;
        }

        s = ngx_array_push(a);
        if (s == NULL) {
            return NGX_ERROR;
        }

        *s = value->str;

        return NGX_OK;
    }

    while (p < last) {

        while (p < last && *p == ' ') {
            p++;
        }

        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        if (p == start) {
            break;
        }

        s = ngx_array_push(a);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->data = start;
        s->len = p - start;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_zt_jwt_in(ngx_array_t *list, ngx_http_zt_jwt_value_t *value)
{
    if (!value->found || value->type != JSON_STRING) {
        return 0;
    }

    return ngx_http_zt_jwt_has(list, &value->str);
}


static ngx_uint_t
ngx_http_zt_jwt_has(ngx_array_t *list, ngx_str_t *s)
{
    ngx_str_t   *item;
    ngx_uint_t   i;

    item = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (item[i].len == s->len
            && ngx_strncmp(item[i].data, s->data, s->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}
