
/*
 * zt-inference: identity.  Takes the bearer token out of the request and
 * verifies it as a compact JWS (RFC 7515/7519) against the keys loaded at
 * configuration time (ngx_http_zt_keys.c): header sanity first, then the
 * signature with OpenSSL, then the registered claims.  The `zt_algorithms`
 * directive lives here too.  Nothing is read from disk and nothing is
 * remembered between requests.
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


#define NGX_HTTP_ZT_JWT_HEADER_KEYS  16
#define NGX_HTTP_ZT_JWT_SOURCES      (1 + NGX_HTTP_ZT_JWKS_USES_MAX)


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
    ngx_http_zt_jwt_conf_t *conf, ngx_str_t *token,
    ngx_http_zt_identity_t *id, ngx_str_t *err);
static ngx_int_t ngx_http_zt_jwt_header(ngx_http_request_t *r,
    ngx_str_t *raw, ngx_http_zt_jwt_header_t *hdr);
static ngx_int_t ngx_http_zt_jwt_header_plain(ngx_str_t *raw,
    ngx_http_zt_jwt_header_t *hdr);
static ngx_int_t ngx_http_zt_jwt_check_header(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_jwt_header_t *hdr,
    ngx_http_zt_alg_t **alg, ngx_str_t *err);
static ngx_int_t ngx_http_zt_jwt_check_claims(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, json_t *claims,
    ngx_http_zt_identity_t *id, ngx_str_t *err);
static ngx_int_t ngx_http_zt_jwt_select(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_alg_t *alg, ngx_str_t *kid,
    json_t *iss, ngx_http_zt_key_t **keyp, ngx_str_t *err);
static ngx_uint_t ngx_http_zt_jwt_bound_here(ngx_http_zt_jwt_keys_t *src,
    ngx_http_zt_key_t *k, json_t *iss);
static ngx_uint_t ngx_http_zt_jwt_keys(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_http_zt_jwt_keys_t *sources);
static ngx_int_t ngx_http_zt_jwt_hmac(ngx_http_zt_alg_t *alg,
    ngx_http_zt_key_t *key, ngx_str_t *input, ngx_str_t *sig);
static EVP_PKEY_CTX *ngx_http_zt_jwt_vctx(ngx_http_zt_alg_t *alg,
    ngx_http_zt_key_t *key, const EVP_MD *md);
static ngx_int_t ngx_http_zt_jwt_digest(const EVP_MD *md, ngx_str_t *input,
    u_char *digest, size_t *len);
static ngx_int_t ngx_http_zt_jwt_ecdsa_der(ngx_http_zt_alg_t *alg,
    ngx_str_t *sig, u_char *der, size_t *len);
static u_char *ngx_http_zt_jwt_der_int(u_char *p, u_char *v, size_t n);
static const EVP_MD *ngx_http_zt_jwt_md(ngx_uint_t hash);
static ngx_int_t ngx_http_zt_jwt_time(json_t *claims, const char *name,
    double *value, ngx_str_t *err);
static ngx_int_t ngx_http_zt_jwt_claim_walk(json_t *obj, u_char *p,
    u_char *last, json_t **found);
static ngx_int_t ngx_http_zt_jwt_strings(ngx_array_t *a, json_t *value,
    ngx_uint_t split);
static ngx_uint_t ngx_http_zt_jwt_in(ngx_array_t *list, json_t *value);


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
    u_char           *p, *last, hash[32], fp[NGX_HTTP_ZT_FP_LEN];
    size_t            len;
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    /*
     * nginx itself refuses a second Authorization line with 400; counting
     * them again keeps this true whatever filled the list
     */

    n = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0
            && h[i].key.len == sizeof("Authorization") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Authorization",
                               sizeof("Authorization") - 1)
               == 0)
        {
            n++;
        }
    }

    if (n > 1) {
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
    u_char                  hash[32];
    ngx_int_t               rc;
    ngx_http_zt_identity_t  vid;

    ngx_memzero(id, sizeof(ngx_http_zt_identity_t));

    if (ngx_http_zt_sha256(hash, token->data, token->len) != NGX_OK) {
        ngx_str_null(err);
        return NGX_ERROR;
    }

    ngx_hex_dump(id->fp, hash, NGX_HTTP_ZT_FP_LEN / 2);

    ngx_memzero(&vid, sizeof(ngx_http_zt_identity_t));

    rc = ngx_http_zt_jwt_check(r, conf, token, &vid, err);

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


static ngx_int_t
ngx_http_zt_jwt_check(ngx_http_request_t *r, ngx_http_zt_jwt_conf_t *conf,
    ngx_str_t *token, ngx_http_zt_identity_t *id, ngx_str_t *err)
{
    u_char                    *p, *last, *dot[2];
    json_t                    *claims, *iss;
    ngx_int_t                  rc;
    ngx_str_t                  seg[3], raw[3], input, issuer;
    ngx_uint_t                 i, n;
    ngx_http_zt_alg_t         *alg;
    ngx_http_zt_key_t         *key;
    ngx_http_zt_jwt_header_t   hdr;

    p = token->data;
    last = p + token->len;
    n = 0;

    for ( /* void */ ; p < last; p++) {
        if (*p == '.') {
            if (n == 2) {
                n++;
                break;
            }

            dot[n++] = p;
        }
    }

    if (n != 2) {
        ngx_http_zt_jwt_fail("malformed token: expected 3 segments");
    }

    seg[0].data = token->data;
    seg[0].len = dot[0] - token->data;
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

    claims = json_loadb((char *) raw[1].data, raw[1].len,
                        JSON_REJECT_DUPLICATES, NULL);

    if (claims && ngx_http_zt_json_cleanup_add(r->pool, claims) != NGX_OK) {
        return NGX_ERROR;
    }

    iss = json_is_object(claims) ? json_object_get(claims, "iss") : NULL;

    if (!json_is_string(iss)) {
        iss = NULL;
    }

    rc = ngx_http_zt_jwt_select(r, conf, alg, hdr.has_kid ? &hdr.kid : NULL,
                                iss, &key, err);

    if (rc == NGX_DONE) {
        /* a remote set may have got the key since: fetched again, once */

        if (iss) {
            issuer.data = (u_char *) json_string_value(iss);
            issuer.len = json_string_length(iss);
        }

        rc = ngx_http_zt_jwks_need(r, conf->remotes, iss ? &issuer : NULL);

        return (rc == NGX_DECLINED) ? NGX_DECLINED : rc;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    input.data = token->data;
    input.len = dot[1] - token->data;

    rc = ngx_http_zt_jwt_signature(r->connection->log, alg, key, &input,
                                   &raw[2]);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_zt_jwt_fail("invalid signature");
    }

    if (!json_is_object(claims)) {
        ngx_http_zt_jwt_fail("malformed token: payload is not a JSON object");
    }

    id->payload = raw[1];

    return ngx_http_zt_jwt_check_claims(r, conf, claims, id, err);
}


/*
 * The claims of a verified caller; after a token cache hit only their text
 * is at hand, and it is parsed here, once, if a condition or a variable
 * asks for a claim.
 */

json_t *
ngx_http_zt_jwt_claims(ngx_http_request_t *r, ngx_http_zt_identity_t *id)
{
    json_t  *claims;

    if (id->claims || id->payload.len == 0) {
        return id->claims;
    }

    claims = json_loadb((char *) id->payload.data, id->payload.len, 0, NULL);
    if (claims == NULL) {
        return NULL;
    }

    if (ngx_http_zt_json_cleanup_add(r->pool, claims) != NGX_OK) {
        return NULL;
    }

    id->claims = claims;

    return claims;
}


/*
 * The JOSE header, read into hdr.  NGX_DECLINED: not a JSON object.
 *
 * A header is a handful of short string members: those are read here
 * directly (_plain()).  Anything else (escapes, non-ASCII, other values,
 * a repeated name, not JSON at all) goes to jansson, which decides: the
 * direct reading only ever accepts what jansson reads the same way.
 */

static ngx_int_t
ngx_http_zt_jwt_header(ngx_http_request_t *r, ngx_str_t *raw,
    ngx_http_zt_jwt_header_t *hdr)
{
    json_t  *header, *v;

    ngx_memzero(hdr, sizeof(ngx_http_zt_jwt_header_t));

    if (ngx_http_zt_jwt_header_plain(raw, hdr) == NGX_OK) {
        return NGX_OK;
    }

    ngx_memzero(hdr, sizeof(ngx_http_zt_jwt_header_t));

    header = json_loadb((char *) raw->data, raw->len,
                        JSON_REJECT_DUPLICATES, NULL);

    if (header == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_zt_json_cleanup_add(r->pool, header) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!json_is_object(header)) {
        return NGX_DECLINED;
    }

    v = json_object_get(header, "alg");

    if (json_is_string(v)) {
        hdr->alg_string = 1;
        hdr->alg.data = (u_char *) json_string_value(v);
        hdr->alg.len = json_string_length(v);
    }

    hdr->has_crit = (json_object_get(header, "crit") != NULL);

    v = json_object_get(header, "typ");

    if (v != NULL) {
        hdr->has_typ = 1;

        if (json_is_string(v)) {
            hdr->typ_string = 1;
            hdr->typ.data = (u_char *) json_string_value(v);
            hdr->typ.len = json_string_length(v);
        }
    }

    v = json_object_get(header, "kid");

    if (v != NULL) {
        hdr->has_kid = 1;

        if (json_is_string(v)) {
            hdr->kid_string = 1;
            hdr->kid.data = (u_char *) json_string_value(v);
            hdr->kid.len = json_string_length(v);
        }
    }

    return NGX_OK;
}


/*
 * {"name":"value",...} with JSON whitespace, names and values of printable
 * ASCII without escapes, no name twice.  NGX_DECLINED for anything else.
 */

static ngx_int_t
ngx_http_zt_jwt_header_plain(ngx_str_t *raw, ngx_http_zt_jwt_header_t *hdr)
{
    u_char      *p, *last;
    ngx_str_t    str[2], names[NGX_HTTP_ZT_JWT_HEADER_KEYS];
    ngx_uint_t   i, j, n;

#define ngx_http_zt_jwt_ws(p)                                                 \
    while (p < last                                                           \
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))          \
    {                                                                         \
        p++;                                                                  \
    }

    p = raw->data;
    last = p + raw->len;

    ngx_http_zt_jwt_ws(p);

    if (p == last || *p++ != '{') {
        return NGX_DECLINED;
    }

    ngx_http_zt_jwt_ws(p);

    n = 0;

    if (p < last && *p == '}') {
        p++;
        goto done;
    }

    for ( ;; ) {

        /* a name, then a value: two strings */

        for (i = 0; i < 2; i++) {

            if (p == last || *p++ != '"') {
                return NGX_DECLINED;
            }

            str[i].data = p;

            while (p < last && *p >= 0x20 && *p < 0x7f && *p != '"'
                   && *p != '\\')
            {
                p++;
            }

            if (p == last || *p != '"') {
                return NGX_DECLINED;
            }

            str[i].len = p - str[i].data;
            p++;

            ngx_http_zt_jwt_ws(p);

            if (i == 0) {
                if (p == last || *p++ != ':') {
                    return NGX_DECLINED;
                }

                ngx_http_zt_jwt_ws(p);
            }
        }

        if (n == NGX_HTTP_ZT_JWT_HEADER_KEYS) {
            return NGX_DECLINED;
        }

        for (j = 0; j < n; j++) {
            if (names[j].len == str[0].len
                && ngx_memcmp(names[j].data, str[0].data, str[0].len) == 0)
            {
                return NGX_DECLINED;
            }
        }

        names[n++] = str[0];

        if (str[0].len == 3) {

            if (ngx_strncmp(str[0].data, "alg", 3) == 0) {
                hdr->alg_string = 1;
                hdr->alg = str[1];

            } else if (ngx_strncmp(str[0].data, "typ", 3) == 0) {
                hdr->has_typ = 1;
                hdr->typ_string = 1;
                hdr->typ = str[1];

            } else if (ngx_strncmp(str[0].data, "kid", 3) == 0) {
                hdr->has_kid = 1;
                hdr->kid_string = 1;
                hdr->kid = str[1];
            }

        } else if (str[0].len == 4 && ngx_strncmp(str[0].data, "crit", 4) == 0)
        {
            hdr->has_crit = 1;
        }

        if (p < last && *p == ',') {
            p++;
            ngx_http_zt_jwt_ws(p);
            continue;
        }

        if (p < last && *p == '}') {
            p++;
            break;
        }

        return NGX_DECLINED;
    }

done:

    ngx_http_zt_jwt_ws(p);

#undef ngx_http_zt_jwt_ws

    return p == last ? NGX_OK : NGX_DECLINED;
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
    ngx_http_zt_alg_t *alg, ngx_str_t *kid, json_t *iss,
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
    json_t *iss)
{
    ngx_str_t  *bound;

    bound = src->issuer ? src->issuer : &k->issuer;

    if (bound->len == 0) {
        return 1;
    }

    return iss != NULL
           && json_string_length(iss) == bound->len
           && ngx_memcmp(json_string_value(iss), bound->data, bound->len)
              == 0;
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
    int            rc;
    u_char        *s, digest[EVP_MAX_MD_SIZE];
    u_char         der[2 * (2 + 1 + 66) + 3];
    size_t         slen, dlen;
    ngx_int_t      n;
    EVP_PKEY_CTX  *pctx;
    const EVP_MD  *md;

    if (alg->family == NGX_HTTP_ZT_KEY_OCT) {
        return ngx_http_zt_jwt_hmac(alg, key, input, sig);
    }

    md = ngx_http_zt_jwt_md(alg->hash);
    if (md == NULL) {
        return NGX_ERROR;
    }

    if (alg->family == NGX_HTTP_ZT_KEY_EC) {
        n = ngx_http_zt_jwt_ecdsa_der(alg, sig, der, &slen);
        if (n != NGX_OK) {
            return n;
        }

        s = der;

    } else {
        if (sig->len != (size_t) EVP_PKEY_get_size(key->pkey)) {
            return NGX_DECLINED;
        }

        s = sig->data;
        slen = sig->len;
    }

    pctx = ngx_http_zt_jwt_vctx(alg, key, md);

    if (pctx == NULL) {
        ERR_clear_error();

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "zt: EVP_PKEY_verify_init() failed");

        return NGX_ERROR;
    }

    if (ngx_http_zt_jwt_digest(md, input, digest, &dlen) != NGX_OK) {
        rc = 0;

    } else {
        rc = EVP_PKEY_verify(pctx, s, slen, digest, dlen);
    }

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
 * DER: SEQUENCE { INTEGER R, INTEGER S }, each the shortest two's
 * complement of a non-negative number, as i2d_ECDSA_SIG() writes it.
 * der holds 2 * (2 + 1 + 66) + 3 bytes, enough for P-521.
 */

static ngx_int_t
ngx_http_zt_jwt_ecdsa_der(ngx_http_zt_alg_t *alg, ngx_str_t *sig,
    u_char *der, size_t *len)
{
    u_char  *p, body[2 * (2 + 1 + 66)];
    size_t   n;

    if (sig->len != 2 * alg->coord) {
        return NGX_DECLINED;
    }

    p = ngx_http_zt_jwt_der_int(body, sig->data, alg->coord);
    p = ngx_http_zt_jwt_der_int(p, sig->data + alg->coord, alg->coord);

    n = p - body;

    p = der;
    *p++ = 0x30;

    if (n >= 0x80) {
        *p++ = 0x81;
    }

    *p++ = (u_char) n;

    p = ngx_cpymem(p, body, n);

    *len = p - der;

    return NGX_OK;
}


static u_char *
ngx_http_zt_jwt_der_int(u_char *p, u_char *v, size_t n)
{
    /* no leading zero bytes, but one byte at least: zero is 02 01 00 */

    while (n > 1 && *v == 0) {
        v++;
        n--;
    }

    *p++ = 0x02;

    if (*v & 0x80) {
        *p++ = (u_char) (n + 1);
        *p++ = 0x00;

    } else {
        *p++ = (u_char) n;
    }

    return ngx_cpymem(p, v, n);
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
    ngx_http_zt_jwt_conf_t *conf, json_t *claims, ngx_http_zt_identity_t *id,
    ngx_str_t *err)
{
    double      exp, nbf, iat, now;
    json_t     *v, *e;
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t   scp = ngx_string("scp");

    now = (double) ngx_time();

    rc = ngx_http_zt_jwt_time(claims, "exp", &exp, err);
    if (rc == NGX_DONE) {
        ngx_http_zt_jwt_fail("missing exp");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (now > exp + conf->leeway) {
        ngx_http_zt_jwt_fail("token expired");
    }

    rc = ngx_http_zt_jwt_time(claims, "nbf", &nbf, err);
    if (rc == NGX_DECLINED) {
        return rc;
    }

    if (rc == NGX_OK && nbf > now + conf->leeway) {
        ngx_http_zt_jwt_fail("token not yet valid");
    }

    rc = ngx_http_zt_jwt_time(claims, "iat", &iat, err);
    if (rc == NGX_DECLINED) {
        return rc;
    }

    if (rc == NGX_OK && iat > now + conf->leeway) {
        ngx_http_zt_jwt_fail("token issued in the future");
    }

    v = json_object_get(claims, "iss");

    if (v != NULL && !json_is_string(v)) {
        ngx_http_zt_jwt_fail("malformed token: iss is not a string");
    }

    if (conf->issuers && conf->issuers->nelts) {
        if (v == NULL) {
            ngx_http_zt_jwt_fail("missing iss");
        }

        if (!ngx_http_zt_jwt_in(conf->issuers, v)) {
            ngx_http_zt_jwt_fail("issuer not accepted");
        }
    }

    if (v != NULL) {
        id->iss.data = (u_char *) json_string_value(v);
        id->iss.len = json_string_length(v);
    }

    if (conf->audiences && conf->audiences->nelts) {
        v = json_object_get(claims, "aud");

        if (v == NULL) {
            ngx_http_zt_jwt_fail("missing aud");
        }

        if (json_is_array(v)) {
            json_array_foreach(v, i, e) {
                if (ngx_http_zt_jwt_in(conf->audiences, e)) {
                    break;
                }
            }

            if (i == json_array_size(v)) {
                ngx_http_zt_jwt_fail("audience not accepted");
            }

        } else if (!ngx_http_zt_jwt_in(conf->audiences, v)) {
            ngx_http_zt_jwt_fail("audience not accepted");
        }
    }

    v = json_object_get(claims, "sub");

    if (v != NULL) {
        if (!json_is_string(v)) {
            ngx_http_zt_jwt_fail("malformed token: sub is not a string");
        }

        id->sub.data = (u_char *) json_string_value(v);
        id->sub.len = json_string_length(v);
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

    if (ngx_http_zt_jwt_claim(claims, &conf->scope_claim, &v,
                              r->connection->log)
        == NGX_ERROR)
    {
        ngx_http_zt_jwt_fail("ambiguous scope claim");
    }

    if (ngx_http_zt_jwt_strings(id->scopes, v, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (conf->scope_claim.len != scp.len
        || ngx_strncmp(conf->scope_claim.data, scp.data, scp.len) != 0)
    {
        v = json_object_get(claims, "scp");

        if (ngx_http_zt_jwt_strings(id->scopes, v, 1) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_zt_jwt_claim(claims, &conf->groups_claim, &v,
                              r->connection->log)
        == NGX_ERROR)
    {
        ngx_http_zt_jwt_fail("ambiguous groups claim");
    }

    if (ngx_http_zt_jwt_strings(id->groups, v, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (exp >= (double) NGX_MAX_TIME_T_VALUE) {
        id->exp = NGX_MAX_TIME_T_VALUE;

    } else if (exp <= 0) {
        id->exp = 0;

    } else {
        id->exp = (time_t) exp;
    }

    id->claims = claims;

    return NGX_OK;
}


/* NGX_OK: a number, NGX_DONE: absent, NGX_DECLINED: not a number */

static ngx_int_t
ngx_http_zt_jwt_time(json_t *claims, const char *name, double *value,
    ngx_str_t *err)
{
    json_t  *v;

    v = json_object_get(claims, name);

    if (v == NULL) {
        return NGX_DONE;
    }

    if (!json_is_number(v)) {
        err->data = (u_char *) (name[0] == 'e'
                                ? "malformed token: exp is not a number"
                                : name[0] == 'n'
                                ? "malformed token: nbf is not a number"
                                : "malformed token: iat is not a number");
        err->len = ngx_strlen(err->data);
        return NGX_DECLINED;
    }

    *value = json_number_value(v);

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
ngx_http_zt_jwt_strings(ngx_array_t *a, json_t *value, ngx_uint_t split)
{
    u_char     *p, *last, *start;
    size_t      i;
    json_t     *e;
    ngx_str_t  *s;

    if (json_is_array(value)) {
        json_array_foreach(value, i, e) {
            if (!json_is_string(e) || json_string_length(e) == 0) {
                continue;
            }

            s = ngx_array_push(a);
            if (s == NULL) {
                return NGX_ERROR;
            }

            s->data = (u_char *) json_string_value(e);
            s->len = json_string_length(e);
        }

        return NGX_OK;
    }

    if (!json_is_string(value)) {
        return NGX_OK;
    }

    p = (u_char *) json_string_value(value);
    last = p + json_string_length(value);

    if (!split) {
        if (p == last) {
            return NGX_OK;
        }

        s = ngx_array_push(a);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->data = p;
        s->len = last - p;

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
ngx_http_zt_jwt_in(ngx_array_t *list, json_t *value)
{
    size_t      len;
    u_char     *s;
    ngx_str_t  *item;
    ngx_uint_t  i;

    if (!json_is_string(value)) {
        return 0;
    }

    s = (u_char *) json_string_value(value);
    len = json_string_length(value);
    item = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (item[i].len == len && ngx_strncmp(item[i].data, s, len) == 0) {
            return 1;
        }
    }

    return 0;
}
