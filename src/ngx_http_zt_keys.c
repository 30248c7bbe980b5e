
/*
 * zt-inference: verification keys and the JWS algorithms they serve.
 * `zt_jwks_file PATH [issuer=ISS]` reads a JWKS (or one JWK) or a PEM
 * public key once, at configuration time; remote key sets
 * (ngx_http_zt_jwks.c) hand their documents to the same JWKS reader at run
 * time.  Each usable key becomes an OpenSSL EVP_PKEY (RSA, EC P-256/P-384/
 * P-521) or the raw bytes of an `oct` secret, and lives as long as the
 * pool it was read into.
 */


#include "ngx_http_zt_inference.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>


#define NGX_HTTP_ZT_KEYS_FILE_MAX    (1024 * 1024)
#define NGX_HTTP_ZT_RSA_MIN_BITS     2048
#define NGX_HTTP_ZT_OCT_MIN_LEN      32


static char *ngx_http_zt_keys_load(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *path, ngx_str_t *issuer);
static char *ngx_http_zt_keys_pem(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *name, ngx_str_t *text, ngx_str_t *issuer);
static const char *ngx_http_zt_keys_rsa(ngx_pool_t *pool,
    ngx_http_zt_key_t *key, json_t *jwk);
static const char *ngx_http_zt_keys_ec(ngx_pool_t *pool,
    ngx_http_zt_key_t *key, json_t *jwk);
static const char *ngx_http_zt_keys_oct(ngx_pool_t *pool,
    ngx_http_zt_key_t *key, json_t *jwk);
static const char *ngx_http_zt_keys_fromdata(const char *type,
    OSSL_PARAM_BLD *bld, EVP_PKEY **pkey);
static ngx_int_t ngx_http_zt_keys_member(ngx_pool_t *pool, json_t *jwk,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_zt_keys_curve(EVP_PKEY *pkey);
static ngx_int_t ngx_http_zt_keys_keep(ngx_pool_t *pool,
    ngx_http_zt_key_t *key, EVP_PKEY *pkey);
static void ngx_http_zt_keys_cleanup(void *data);


/* what ngx_http_zt_keys_jwk() says when memory ran out, not the key */
static const char  ngx_http_zt_keys_nomem[] = "out of memory";


ngx_http_zt_alg_t  ngx_http_zt_algs[] = {

    { ngx_string("RS256"), NGX_HTTP_ZT_RS256, NGX_HTTP_ZT_KEY_RSA,
      256, 0, NID_undef, 0, 0 },
    { ngx_string("RS384"), NGX_HTTP_ZT_RS384, NGX_HTTP_ZT_KEY_RSA,
      384, 0, NID_undef, 0, 1 },
    { ngx_string("RS512"), NGX_HTTP_ZT_RS512, NGX_HTTP_ZT_KEY_RSA,
      512, 0, NID_undef, 0, 2 },
    { ngx_string("PS256"), NGX_HTTP_ZT_PS256, NGX_HTTP_ZT_KEY_RSA,
      256, 1, NID_undef, 0, 3 },
    { ngx_string("PS384"), NGX_HTTP_ZT_PS384, NGX_HTTP_ZT_KEY_RSA,
      384, 1, NID_undef, 0, 4 },
    { ngx_string("PS512"), NGX_HTTP_ZT_PS512, NGX_HTTP_ZT_KEY_RSA,
      512, 1, NID_undef, 0, 5 },
    { ngx_string("ES256"), NGX_HTTP_ZT_ES256, NGX_HTTP_ZT_KEY_EC,
      256, 0, NID_X9_62_prime256v1, 32, 0 },
    { ngx_string("ES384"), NGX_HTTP_ZT_ES384, NGX_HTTP_ZT_KEY_EC,
      384, 0, NID_secp384r1, 48, 0 },
    { ngx_string("ES512"), NGX_HTTP_ZT_ES512, NGX_HTTP_ZT_KEY_EC,
      512, 0, NID_secp521r1, 66, 0 },
    { ngx_string("HS256"), NGX_HTTP_ZT_HS256, NGX_HTTP_ZT_KEY_OCT,
      256, 0, NID_undef, 0, 0 },
    { ngx_string("HS384"), NGX_HTTP_ZT_HS384, NGX_HTTP_ZT_KEY_OCT,
      384, 0, NID_undef, 0, 0 },
    { ngx_string("HS512"), NGX_HTTP_ZT_HS512, NGX_HTTP_ZT_KEY_OCT,
      512, 0, NID_undef, 0, 0 },
    { ngx_null_string, 0, 0, 0, 0, NID_undef, 0, 0 }
};


/* JWS names are case-sensitive (RFC 7515, 4.1.1) */

ngx_http_zt_alg_t *
ngx_http_zt_keys_alg(u_char *name, size_t len)
{
    ngx_http_zt_alg_t  *alg;

    for (alg = ngx_http_zt_algs; alg->name.len; alg++) {
        if (alg->name.len == len
            && ngx_strncmp(alg->name.data, name, len) == 0)
        {
            return alg;
        }
    }

    return NULL;
}


/* whether a key may check a signature of alg: same family, same curve */

ngx_uint_t
ngx_http_zt_keys_fit(ngx_http_zt_key_t *key, ngx_http_zt_alg_t *alg)
{
    if (key->type != alg->family) {
        return 0;
    }

    if (key->alg && key->alg != alg->bit) {
        return 0;
    }

    switch (alg->family) {

    case NGX_HTTP_ZT_KEY_EC:
        return key->curve_nid == alg->curve_nid;

    case NGX_HTTP_ZT_KEY_OCT:
        /* RFC 7518, 3.2: a secret at least as long as the hash */
        return key->secret.len >= alg->hash / 8;

    default:
        return 1;
    }
}


/* zt_jwks_file PATH [issuer=ISS]; */

char *
ngx_http_zt_keys_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_array_t **keys = (ngx_array_t **) ((char *) conf + cmd->offset);

    ngx_str_t  *value, issuer;

    value = cf->args->elts;

    ngx_str_null(&issuer);

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "issuer=", 7) != 0
            || value[2].len == 7)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V: invalid parameter \"%V\", expected "
                               "\"issuer=ISS\"", &cmd->name, &value[2]);
            return NGX_CONF_ERROR;
        }

        issuer.data = value[2].data + 7;
        issuer.len = value[2].len - 7;
    }

    if (*keys == NULL) {
        *keys = ngx_array_create(cf->pool, 2, sizeof(ngx_http_zt_key_t));
        if (*keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return ngx_http_zt_keys_load(cf, *keys, &value[1], &issuer);
}


/* the keys of a file, appended to keys, bound to issuer (may be empty) */

static char *
ngx_http_zt_keys_load(ngx_conf_t *cf, ngx_array_t *keys, ngx_str_t *path,
    ngx_str_t *issuer)
{
    u_char                   *p, *last, *nl;
    json_t                   *root;
    ngx_int_t                 rc;
    ngx_str_t                 name, text, source;
    ngx_uint_t                skipped, line;
    ngx_http_zt_json_read_t   rd;

    name = *path;

    if (ngx_http_zt_conf_file(cf, cf->temp_pool, &name,
                              NGX_HTTP_ZT_KEYS_FILE_MAX, &text)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    p = text.data;
    last = p + text.len;

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    if (p < last && (*p == '{' || *p == '[')) {

        ngx_memzero(&rd, sizeof(ngx_http_zt_json_read_t));
        rd.pool = cf->temp_pool;

        root = ngx_http_zt_json_load(&rd, text.data, text.len);

        if (root == NULL && rd.why == NULL) {
            return NGX_CONF_ERROR;
        }

        if (root == NULL && rd.nul) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zt_jwks_file \"%V\" is not valid JSON: a "
                               "string holds \"\\u0000\"", &name);
            return NGX_CONF_ERROR;
        }

        if (root == NULL) {
            line = 1;
            nl = text.data - 1;

            for (p = text.data; p < text.data + rd.offset; p++) {
                if (*p == '\n') {
                    line++;
                    nl = p;
                }
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zt_jwks_file \"%V\" is not valid JSON: %s "
                               "at line %ui, column %uz",
                               &name, rd.why, line,
                               (size_t) (text.data + rd.offset - nl));
            return NGX_CONF_ERROR;
        }

        source.len = sizeof("zt_jwks_file \"\"") - 1 + name.len;
        source.data = ngx_pnalloc(cf->temp_pool, source.len);
        if (source.data == NULL) {
            json_decref(root);
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(source.data, "zt_jwks_file \"%V\"", &name);

        rc = ngx_http_zt_keys_jwks(cf->pool, cf->log, &source, root, keys,
                                   issuer, &skipped);

        json_decref(root);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DECLINED) {
            if (skipped) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%V has no usable key (%ui skipped)",
                                   &source, skipped);

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%V is neither a JWKS ({\"keys\":[...]}) "
                                   "nor a JWK", &source);
            }

            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strlcasestrn(p, last, (u_char *) "-----BEGIN ",
                         sizeof("-----BEGIN ") - 1 - 1)
        != NULL)
    {
        return ngx_http_zt_keys_pem(cf, keys, &name, &text, issuer);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "zt_jwks_file \"%V\" is neither a JWKS (JSON) nor "
                       "a PEM public key", &name);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_zt_keys_pem(ngx_conf_t *cf, ngx_array_t *keys, ngx_str_t *name,
    ngx_str_t *text, ngx_str_t *issuer)
{
    int                 bits;
    BIO                *bio;
    EVP_PKEY           *pkey;
    ngx_int_t           nid;
    ngx_http_zt_key_t  *key;

    bio = BIO_new_mem_buf(text->data, (int) text->len);
    if (bio == NULL) {
        return NGX_CONF_ERROR;
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

    BIO_free(bio);
    ERR_clear_error();

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_jwks_file \"%V\" holds no PEM public key "
                           "(\"-----BEGIN PUBLIC KEY-----\")", name);
        return NGX_CONF_ERROR;
    }

    key = ngx_array_push(keys);
    if (key == NULL) {
        EVP_PKEY_free(pkey);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(key, sizeof(ngx_http_zt_key_t));

    if (ngx_http_zt_keys_keep(cf->pool, key, pkey) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    key->issuer = *issuer;

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(pkey);

        if (bits < NGX_HTTP_ZT_RSA_MIN_BITS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zt_jwks_file \"%V\": RSA key of %d bits is "
                               "too weak, %d at least", name, bits,
                               NGX_HTTP_ZT_RSA_MIN_BITS);
            return NGX_CONF_ERROR;
        }

        key->type = NGX_HTTP_ZT_KEY_RSA;
        break;

    case EVP_PKEY_EC:
        nid = ngx_http_zt_keys_curve(pkey);

        if (nid == NID_undef) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zt_jwks_file \"%V\": EC key is not on "
                               "P-256, P-384 or P-521", name);
            return NGX_CONF_ERROR;
        }

        key->type = NGX_HTTP_ZT_KEY_EC;
        key->curve_nid = nid;
        break;

    default:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_jwks_file \"%V\": PEM key is neither RSA nor "
                           "EC", name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The usable keys of a JWKS ({"keys":[...]}) or of one JWK, appended to
 * keys and allocated from pool; each key skipped is logged at warn with
 * why, prefixed with source.  issuer (may be empty) binds every key.
 * NGX_OK: one key at least; NGX_DECLINED: root is no JWKS (*skipped is 0)
 * or has no usable key; NGX_ERROR: out of memory.
 */

ngx_int_t
ngx_http_zt_keys_jwks(ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *source,
    json_t *root, ngx_array_t *keys, ngx_str_t *issuer, ngx_uint_t *skipped)
{
    size_t              i;
    json_t             *list, *jwk, *kid;
    ngx_uint_t          used;
    const char         *why;
    ngx_http_zt_key_t   key, *k;

    *skipped = 0;

    if (!json_is_object(root)) {
        return NGX_DECLINED;
    }

    list = json_object_get(root, "keys");

    if (list == NULL && json_object_get(root, "kty") != NULL) {
        list = json_array();
        if (list == NULL || json_array_append(list, root) != 0) {
            json_decref(list);
            return NGX_ERROR;
        }

    } else if (json_is_array(list)) {
        json_incref(list);

    } else {
        return NGX_DECLINED;
    }

    used = 0;

    json_array_foreach(list, i, jwk) {

        why = ngx_http_zt_keys_jwk(pool, jwk, &key);

        if (why == NULL) {
            k = ngx_array_push(keys);
            if (k == NULL) {
                json_decref(list);
                return NGX_ERROR;
            }

            *k = key;
            k->issuer = *issuer;
            used++;
            continue;
        }

        if (why == ngx_http_zt_keys_nomem) {
            json_decref(list);
            return NGX_ERROR;
        }

        (*skipped)++;

        kid = json_object_get(jwk, "kid");

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "%V: key #%uz (kid \"%s\") skipped: %s", source, i + 1,
                      json_is_string(kid) ? json_string_value(kid) : "", why);
    }

    json_decref(list);

    return used ? NGX_OK : NGX_DECLINED;
}


/*
 * One JWK as a verification key in pool (freed with it).  NULL: the key is
 * usable; else why not (ngx_http_zt_keys_nomem when memory ran out).  The
 * key is bound to no issuer.
 */

const char *
ngx_http_zt_keys_jwk(ngx_pool_t *pool, json_t *jwk, ngx_http_zt_key_t *key)
{
    size_t              i;
    json_t             *kty, *v, *op;
    const char         *type;
    ngx_http_zt_alg_t  *alg;

    ngx_memzero(key, sizeof(ngx_http_zt_key_t));

    if (!json_is_object(jwk)) {
        return "not a JSON object";
    }

    kty = json_object_get(jwk, "kty");

    if (!json_is_string(kty)) {
        return "no \"kty\"";
    }

    type = json_string_value(kty);

    v = json_object_get(jwk, "use");

    if (v != NULL && !(json_is_string(v)
                       && ngx_strcmp(json_string_value(v), "sig") == 0))
    {
        return "\"use\" is not \"sig\"";
    }

    v = json_object_get(jwk, "key_ops");

    if (v != NULL) {
        if (!json_is_array(v)) {
            return "\"key_ops\" is not an array";
        }

        json_array_foreach(v, i, op) {
            if (json_is_string(op)
                && ngx_strcmp(json_string_value(op), "verify") == 0)
            {
                break;
            }
        }

        if (i == json_array_size(v)) {
            return "\"key_ops\" has no \"verify\"";
        }
    }

    v = json_object_get(jwk, "kid");

    if (v != NULL) {
        if (!json_is_string(v)) {
            return "\"kid\" is not a string";
        }

        key->kid.len = json_string_length(v);
        key->kid.data = ngx_pnalloc(pool, key->kid.len + 1);
        if (key->kid.data == NULL) {
            return ngx_http_zt_keys_nomem;
        }

        ngx_memcpy(key->kid.data, json_string_value(v), key->kid.len + 1);
    }

    if (ngx_strcmp(type, "RSA") == 0) {
        key->type = NGX_HTTP_ZT_KEY_RSA;

    } else if (ngx_strcmp(type, "EC") == 0) {
        key->type = NGX_HTTP_ZT_KEY_EC;

    } else if (ngx_strcmp(type, "oct") == 0) {
        key->type = NGX_HTTP_ZT_KEY_OCT;

    } else {
        return "\"kty\" is not RSA, EC or oct";
    }

    v = json_object_get(jwk, "alg");

    if (v != NULL) {
        if (!json_is_string(v)) {
            return "\"alg\" is not a string";
        }

        alg = ngx_http_zt_keys_alg((u_char *) json_string_value(v),
                                   json_string_length(v));
        if (alg == NULL) {
            return "\"alg\" is not a supported JWS algorithm";
        }

        if (alg->family != key->type) {
            return "\"alg\" does not fit \"kty\"";
        }

        key->alg = alg->bit;
    }

    switch (key->type) {

    case NGX_HTTP_ZT_KEY_RSA:
        return ngx_http_zt_keys_rsa(pool, key, jwk);

    case NGX_HTTP_ZT_KEY_EC:
        return ngx_http_zt_keys_ec(pool, key, jwk);

    default: /* NGX_HTTP_ZT_KEY_OCT */
        return ngx_http_zt_keys_oct(pool, key, jwk);
    }
}


static const char *
ngx_http_zt_keys_rsa(ngx_pool_t *pool, ngx_http_zt_key_t *key, json_t *jwk)
{
    BIGNUM          *n, *e;
    EVP_PKEY        *pkey;
    ngx_str_t        nv, ev;
    const char      *why;
    OSSL_PARAM_BLD  *bld;

    if (ngx_http_zt_keys_member(pool, jwk, "n", &nv) != NGX_OK
        || ngx_http_zt_keys_member(pool, jwk, "e", &ev) != NGX_OK)
    {
        return "\"n\" or \"e\" is missing or not base64url";
    }

    n = BN_bin2bn(nv.data, (int) nv.len, NULL);
    e = BN_bin2bn(ev.data, (int) ev.len, NULL);
    bld = OSSL_PARAM_BLD_new();

    why = "RSA key cannot be built";

    if (n == NULL || e == NULL || bld == NULL) {
        goto done;
    }

    if (BN_num_bits(n) < NGX_HTTP_ZT_RSA_MIN_BITS) {
        why = "RSA modulus is shorter than 2048 bits";
        goto done;
    }

    if (BN_is_zero(e) || !BN_is_odd(e)) {
        why = "RSA exponent is invalid";
        goto done;
    }

    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
    {
        goto done;
    }

    why = ngx_http_zt_keys_fromdata("RSA", bld, &pkey);

    if (why == NULL && ngx_http_zt_keys_keep(pool, key, pkey) != NGX_OK) {
        why = ngx_http_zt_keys_nomem;
    }

done:

    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    return why;
}


static const char *
ngx_http_zt_keys_ec(ngx_pool_t *pool, ngx_http_zt_key_t *key, json_t *jwk)
{
    size_t           coord;
    json_t          *crv;
    u_char          *point;
    EVP_PKEY        *pkey;
    ngx_str_t        x, y;
    const char      *group, *why, *name;
    OSSL_PARAM_BLD  *bld;

    crv = json_object_get(jwk, "crv");
    name = json_is_string(crv) ? json_string_value(crv) : "";

    if (ngx_strcmp(name, "P-256") == 0) {
        group = SN_X9_62_prime256v1;
        key->curve_nid = NID_X9_62_prime256v1;
        coord = 32;

    } else if (ngx_strcmp(name, "P-384") == 0) {
        group = SN_secp384r1;
        key->curve_nid = NID_secp384r1;
        coord = 48;

    } else if (ngx_strcmp(name, "P-521") == 0) {
        group = SN_secp521r1;
        key->curve_nid = NID_secp521r1;
        coord = 66;

    } else {
        return "\"crv\" is not P-256, P-384 or P-521";
    }

    if (key->alg
        && ((key->alg == NGX_HTTP_ZT_ES256 && coord != 32)
            || (key->alg == NGX_HTTP_ZT_ES384 && coord != 48)
            || (key->alg == NGX_HTTP_ZT_ES512 && coord != 66)))
    {
        return "\"alg\" does not fit \"crv\"";
    }

    if (ngx_http_zt_keys_member(pool, jwk, "x", &x) != NGX_OK
        || ngx_http_zt_keys_member(pool, jwk, "y", &y) != NGX_OK)
    {
        return "\"x\" or \"y\" is missing or not base64url";
    }

    if (x.len != coord || y.len != coord) {
        return "\"x\" or \"y\" has the wrong length for \"crv\"";
    }

    /* an uncompressed SEC 1 point: 04 || X || Y */

    point = ngx_pnalloc(pool, 1 + 2 * coord);
    if (point == NULL) {
        return ngx_http_zt_keys_nomem;
    }

    point[0] = 0x04;
    ngx_memcpy(point + 1, x.data, coord);
    ngx_memcpy(point + 1 + coord, y.data, coord);

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL) {
        return "EC key cannot be built";
    }

    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, 0)
        != 1
        || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            point, 1 + 2 * coord)
           != 1)
    {
        OSSL_PARAM_BLD_free(bld);
        return "EC key cannot be built";
    }

    why = ngx_http_zt_keys_fromdata("EC", bld, &pkey);

    OSSL_PARAM_BLD_free(bld);

    if (why == NULL && ngx_http_zt_keys_keep(pool, key, pkey) != NGX_OK) {
        return ngx_http_zt_keys_nomem;
    }

    return why;
}


static const char *
ngx_http_zt_keys_oct(ngx_pool_t *pool, ngx_http_zt_key_t *key, json_t *jwk)
{
    if (ngx_http_zt_keys_member(pool, jwk, "k", &key->secret) != NGX_OK) {
        return "\"k\" is missing or not base64url";
    }

    if (key->secret.len < NGX_HTTP_ZT_OCT_MIN_LEN) {
        return "\"k\" is shorter than 256 bits";
    }

    return NULL;
}


/*
 * Builds a public key and has OpenSSL check it (an EC point must lie on
 * its curve): a key that cannot verify anything is refused here, not on
 * the first request.
 */

static const char *
ngx_http_zt_keys_fromdata(const char *type, OSSL_PARAM_BLD *bld,
    EVP_PKEY **pkey)
{
    const char    *why;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx, *check;

    *pkey = NULL;
    why = NULL;
    check = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        why = "OpenSSL refused the key";
        goto done;
    }

    check = EVP_PKEY_CTX_new_from_pkey(NULL, *pkey, NULL);

    if (check == NULL || EVP_PKEY_public_check(check) != 1) {
        why = "OpenSSL refused the key";
    }

done:

    if (why && *pkey) {
        EVP_PKEY_free(*pkey);
        *pkey = NULL;
    }

    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    ERR_clear_error();

    return why;
}


/*
 * A base64url member decoded into pool.  Padding is tolerated here (some
 * issuers publish it), unlike in tokens.
 */

static ngx_int_t
ngx_http_zt_keys_member(ngx_pool_t *pool, json_t *jwk, const char *name,
    ngx_str_t *value)
{
    json_t     *v;
    ngx_str_t   src;

    v = json_object_get(jwk, name);

    if (!json_is_string(v) || json_string_length(v) == 0) {
        return NGX_DECLINED;
    }

    src.data = (u_char *) json_string_value(v);
    src.len = json_string_length(v);

    while (src.len && src.data[src.len - 1] == '=') {
        src.len--;
    }

    if (ngx_http_zt_base64url_decode(pool, &src, value) != NGX_OK
        || value->len == 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_keys_curve(EVP_PKEY *pkey)
{
    int     nid;
    char    name[64];
    size_t  len;

    if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &len) != 1) {
        ERR_clear_error();
        return NID_undef;
    }

    nid = OBJ_sn2nid(name);

    if (nid == NID_undef) {
        nid = EC_curve_nist2nid(name);
    }

    switch (nid) {
    case NID_X9_62_prime256v1:
    case NID_secp384r1:
    case NID_secp521r1:
        return nid;
    default:
        return NID_undef;
    }
}


/*
 * The key's EVP_PKEY, and the verify contexts a process prepares for it
 * (ngx_http_zt_jwt.c), live as long as the pool: freed with it, in the
 * process that made them.  On failure pkey is freed.
 */

static ngx_int_t
ngx_http_zt_keys_keep(ngx_pool_t *pool, ngx_http_zt_key_t *key,
    EVP_PKEY *pkey)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_zt_key_crypto_t  *crypto;

    cln = ngx_pool_cleanup_add(pool, sizeof(ngx_http_zt_key_crypto_t));
    if (cln == NULL) {
        EVP_PKEY_free(pkey);
        return NGX_ERROR;
    }

    crypto = cln->data;
    ngx_memzero(crypto, sizeof(ngx_http_zt_key_crypto_t));
    crypto->pkey = pkey;

    cln->handler = ngx_http_zt_keys_cleanup;

    key->pkey = pkey;
    key->crypto = crypto;

    return NGX_OK;
}


static void
ngx_http_zt_keys_cleanup(void *data)
{
    ngx_http_zt_key_crypto_t  *crypto = data;

    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_ZT_ALG_SLOTS; i++) {
        EVP_PKEY_CTX_free(crypto->vctx[i]);
    }

    EVP_PKEY_free(crypto->pkey);
}
