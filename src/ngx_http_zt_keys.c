
/*
 * zt-inference: verification keys.  `zt_jwks_file` reads a JWKS (or one
 * JWK) or a PEM public key once, at configuration time, and turns each
 * usable key into an OpenSSL EVP_PKEY (RSA, EC P-256/P-384/P-521) or the
 * raw bytes of an `oct` secret.  Requests never touch the file again.
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


static ngx_int_t ngx_http_zt_keys_read(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text);
static char *ngx_http_zt_keys_pem(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *name, ngx_str_t *text);
static char *ngx_http_zt_keys_jwks(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *name, json_t *root);
static const char *ngx_http_zt_keys_rsa(ngx_conf_t *cf,
    ngx_http_zt_key_t *key, json_t *jwk);
static const char *ngx_http_zt_keys_ec(ngx_conf_t *cf,
    ngx_http_zt_key_t *key, json_t *jwk);
static const char *ngx_http_zt_keys_oct(ngx_conf_t *cf,
    ngx_http_zt_key_t *key, json_t *jwk);
static const char *ngx_http_zt_keys_fromdata(const char *type,
    OSSL_PARAM_BLD *bld, EVP_PKEY **pkey);
static ngx_int_t ngx_http_zt_keys_member(ngx_conf_t *cf, json_t *jwk,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_zt_keys_curve(EVP_PKEY *pkey);
static ngx_int_t ngx_http_zt_keys_keep(ngx_conf_t *cf, EVP_PKEY *pkey);
static void ngx_http_zt_keys_cleanup(void *data);


char *
ngx_http_zt_keys_load(ngx_conf_t *cf, ngx_array_t *keys, ngx_str_t *path)
{
    char          *rv;
    u_char        *p, *last;
    json_t        *root;
    ngx_str_t      name, text;
    json_error_t   jerr;

    name = *path;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_zt_keys_read(cf, &name, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    p = text.data;
    last = p + text.len;

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    if (p < last && (*p == '{' || *p == '[')) {

        root = json_loadb((char *) text.data, text.len,
                          JSON_REJECT_DUPLICATES, &jerr);

        if (root == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zt_jwks_file \"%V\" is not valid JSON: %s "
                               "at line %d, column %d",
                               &name, jerr.text, jerr.line, jerr.column);
            return NGX_CONF_ERROR;
        }

        rv = ngx_http_zt_keys_jwks(cf, keys, &name, root);

        json_decref(root);

        return rv;
    }

    if (ngx_strlcasestrn(p, last, (u_char *) "-----BEGIN ",
                         sizeof("-----BEGIN ") - 1 - 1)
        != NULL)
    {
        return ngx_http_zt_keys_pem(cf, keys, &name, &text);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "zt_jwks_file \"%V\" is neither a JWKS (JSON) nor "
                       "a PEM public key", &name);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_zt_keys_read(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *text)
{
    off_t            size;
    size_t           len;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_file_info_t  fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "zt_jwks_file \"%V\" cannot be opened", name);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "zt_jwks_file \"%V\": " ngx_fd_info_n " failed",
                           name);
        goto done;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_jwks_file \"%V\" is not a regular file", name);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_jwks_file \"%V\" is empty", name);
        goto done;
    }

    if (size > NGX_HTTP_ZT_KEYS_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_jwks_file \"%V\" is too large (%O bytes, "
                           "at most %d)", name, size,
                           NGX_HTTP_ZT_KEYS_FILE_MAX);
        goto done;
    }

    text->data = ngx_pnalloc(cf->temp_pool, (size_t) size + 1);
    if (text->data == NULL) {
        goto done;
    }

    len = 0;

    while (len < (size_t) size) {
        n = ngx_read_fd(fd, text->data + len, (size_t) size - len);

        if (n == -1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "zt_jwks_file \"%V\" cannot be read", name);
            goto done;
        }

        if (n == 0) {
            break;
        }

        len += n;
    }

    text->len = len;
    text->data[len] = '\0';

    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", name);
    }

    return rc;
}


static char *
ngx_http_zt_keys_pem(ngx_conf_t *cf, ngx_array_t *keys, ngx_str_t *name,
    ngx_str_t *text)
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

    if (ngx_http_zt_keys_keep(cf, pkey) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    key = ngx_array_push(keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(key, sizeof(ngx_http_zt_key_t));

    key->pkey = pkey;

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


static char *
ngx_http_zt_keys_jwks(ngx_conf_t *cf, ngx_array_t *keys, ngx_str_t *name,
    json_t *root)
{
    size_t              i;
    json_t             *list, *jwk, *kid;
    ngx_uint_t          used, skipped;
    const char         *why;
    ngx_http_zt_key_t   key, *k;

    if (!json_is_object(root)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_jwks_file \"%V\" is neither a JWKS "
                           "({\"keys\":[...]}) nor a JWK", name);
        return NGX_CONF_ERROR;
    }

    list = json_object_get(root, "keys");

    if (list == NULL && json_object_get(root, "kty") != NULL) {
        list = json_array();
        if (list == NULL || json_array_append(list, root) != 0) {
            json_decref(list);
            return NGX_CONF_ERROR;
        }

    } else if (json_is_array(list)) {
        json_incref(list);

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_jwks_file \"%V\" is neither a JWKS "
                           "({\"keys\":[...]}) nor a JWK", name);
        return NGX_CONF_ERROR;
    }

    used = 0;
    skipped = 0;

    json_array_foreach(list, i, jwk) {

        ngx_memzero(&key, sizeof(ngx_http_zt_key_t));

        why = ngx_http_zt_keys_jwk(cf, &key, jwk);

        if (why == NULL) {
            k = ngx_array_push(keys);
            if (k == NULL) {
                json_decref(list);
                return NGX_CONF_ERROR;
            }

            *k = key;
            used++;
            continue;
        }

        if (why == (const char *) NGX_CONF_ERROR) {
            json_decref(list);
            return NGX_CONF_ERROR;
        }

        skipped++;

        kid = json_object_get(jwk, "kid");

        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "zt_jwks_file \"%V\": key #%uz (kid \"%s\") "
                           "skipped: %s", name, i + 1,
                           json_is_string(kid) ? json_string_value(kid) : "",
                           why);
    }

    json_decref(list);

    if (used == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_jwks_file \"%V\" has no usable key "
                           "(%ui skipped)", name, skipped);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * NULL: the key is usable, else why it is skipped (or NGX_CONF_ERROR).
 * Only cf->pool and cf->temp_pool are used, and the key is freed with
 * cf->pool: a DPoP proof's jwk is read here with the request's pool.
 */

const char *
ngx_http_zt_keys_jwk(ngx_conf_t *cf, ngx_http_zt_key_t *key, json_t *jwk)
{
    size_t       i;
    json_t      *kty, *v, *op;
    const char  *type;

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
        key->kid.data = ngx_pnalloc(cf->pool, key->kid.len + 1);
        if (key->kid.data == NULL) {
            return (const char *) NGX_CONF_ERROR;
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

        key->alg = ngx_http_zt_jwt_alg((u_char *) json_string_value(v),
                                       json_string_length(v));
        if (key->alg == 0) {
            return "\"alg\" is not a supported JWS algorithm";
        }

        if (ngx_http_zt_jwt_alg_family(key->alg) != key->type) {
            return "\"alg\" does not fit \"kty\"";
        }
    }

    switch (key->type) {

    case NGX_HTTP_ZT_KEY_RSA:
        return ngx_http_zt_keys_rsa(cf, key, jwk);

    case NGX_HTTP_ZT_KEY_EC:
        return ngx_http_zt_keys_ec(cf, key, jwk);

    default: /* NGX_HTTP_ZT_KEY_OCT */
        return ngx_http_zt_keys_oct(cf, key, jwk);
    }
}


static const char *
ngx_http_zt_keys_rsa(ngx_conf_t *cf, ngx_http_zt_key_t *key, json_t *jwk)
{
    BIGNUM          *n, *e;
    ngx_str_t        nv, ev;
    const char      *why;
    OSSL_PARAM_BLD  *bld;

    if (ngx_http_zt_keys_member(cf, jwk, "n", &nv) != NGX_OK
        || ngx_http_zt_keys_member(cf, jwk, "e", &ev) != NGX_OK)
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

    why = ngx_http_zt_keys_fromdata("RSA", bld, &key->pkey);

    if (why == NULL && ngx_http_zt_keys_keep(cf, key->pkey) != NGX_OK) {
        why = (const char *) NGX_CONF_ERROR;
    }

done:

    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    return why;
}


static const char *
ngx_http_zt_keys_ec(ngx_conf_t *cf, ngx_http_zt_key_t *key, json_t *jwk)
{
    size_t           coord;
    json_t          *crv;
    u_char          *point;
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

    if (ngx_http_zt_keys_member(cf, jwk, "x", &x) != NGX_OK
        || ngx_http_zt_keys_member(cf, jwk, "y", &y) != NGX_OK)
    {
        return "\"x\" or \"y\" is missing or not base64url";
    }

    if (x.len != coord || y.len != coord) {
        return "\"x\" or \"y\" has the wrong length for \"crv\"";
    }

    /* an uncompressed SEC 1 point: 04 || X || Y */

    point = ngx_pnalloc(cf->temp_pool, 1 + 2 * coord);
    if (point == NULL) {
        return (const char *) NGX_CONF_ERROR;
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

    why = ngx_http_zt_keys_fromdata("EC", bld, &key->pkey);

    OSSL_PARAM_BLD_free(bld);

    if (why == NULL && ngx_http_zt_keys_keep(cf, key->pkey) != NGX_OK) {
        return (const char *) NGX_CONF_ERROR;
    }

    return why;
}


static const char *
ngx_http_zt_keys_oct(ngx_conf_t *cf, ngx_http_zt_key_t *key, json_t *jwk)
{
    if (ngx_http_zt_keys_member(cf, jwk, "k", &key->secret) != NGX_OK) {
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
 * A base64url member decoded into cf->pool.  Padding is tolerated here
 * (some issuers publish it), unlike in tokens.
 */

static ngx_int_t
ngx_http_zt_keys_member(ngx_conf_t *cf, json_t *jwk, const char *name,
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

    if (ngx_http_zt_base64url_decode(cf->pool, &src, value) != NGX_OK
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


/* the key lives as long as the configuration that uses it */

static ngx_int_t
ngx_http_zt_keys_keep(ngx_conf_t *cf, EVP_PKEY *pkey)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_free(pkey);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_zt_keys_cleanup;
    cln->data = pkey;

    return NGX_OK;
}


static void
ngx_http_zt_keys_cleanup(void *data)
{
    EVP_PKEY_free(data);
}
