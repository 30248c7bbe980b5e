
/*
 * zt-inference: verification keys (zt_jwks_file, and the documents of
 * remote key sets) and the JWS algorithms they serve.
 */


#ifndef _NGX_HTTP_ZT_KEYS_H_INCLUDED_
#define _NGX_HTTP_ZT_KEYS_H_INCLUDED_


#include <openssl/evp.h>


/* zt_algorithms: a bit per supported JWS algorithm */
#define NGX_HTTP_ZT_RS256            0x0001
#define NGX_HTTP_ZT_RS384            0x0002
#define NGX_HTTP_ZT_RS512            0x0004
#define NGX_HTTP_ZT_PS256            0x0008
#define NGX_HTTP_ZT_PS384            0x0010
#define NGX_HTTP_ZT_PS512            0x0020
#define NGX_HTTP_ZT_ES256            0x0040
#define NGX_HTTP_ZT_ES384            0x0080
#define NGX_HTTP_ZT_ES512            0x0100
#define NGX_HTTP_ZT_HS256            0x0200
#define NGX_HTTP_ZT_HS384            0x0400
#define NGX_HTTP_ZT_HS512            0x0800

/* the most algs one key may serve: RS256 to PS512 for an RSA key */
#define NGX_HTTP_ZT_ALG_SLOTS        6


/* key families: an alg is only ever checked against a key of its family */
typedef enum {
    NGX_HTTP_ZT_KEY_RSA = 1,
    NGX_HTTP_ZT_KEY_EC,
    NGX_HTTP_ZT_KEY_OCT
} ngx_http_zt_key_type_e;


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  bit;
    ngx_http_zt_key_type_e      family;
    ngx_uint_t                  hash;       /* SHA-2 bits */
    ngx_uint_t                  pss;
    int                         curve_nid;  /* ES*: the only curve */
    size_t                      coord;      /* ES*: bytes of R and of S */
    ngx_uint_t                  slot;       /* in the key's vctx[] */
} ngx_http_zt_alg_t;


/* an asymmetric key's OpenSSL objects, freed with the key's pool */
typedef struct {
    EVP_PKEY                   *pkey;
    EVP_PKEY_CTX               *vctx[NGX_HTTP_ZT_ALG_SLOTS];
} ngx_http_zt_key_crypto_t;


typedef struct {
    ngx_str_t                   kid;        /* empty: no kid (PEM file) */
    ngx_str_t                   issuer;     /* issuer=: empty for any */
    ngx_http_zt_key_type_e      type;
    ngx_uint_t                  alg;        /* JWK "alg" bit, 0: any */
    ngx_int_t                   curve_nid;  /* EC only */
    EVP_PKEY                   *pkey;       /* RSA and EC */
    ngx_http_zt_key_crypto_t   *crypto;     /* RSA and EC */
    ngx_str_t                   secret;     /* oct */
} ngx_http_zt_key_t;


extern ngx_http_zt_alg_t  ngx_http_zt_algs[];   /* ends with an empty name */


ngx_http_zt_alg_t *ngx_http_zt_keys_alg(u_char *name, size_t len);
ngx_uint_t ngx_http_zt_keys_fit(ngx_http_zt_key_t *key,
    ngx_http_zt_alg_t *alg);
char *ngx_http_zt_keys_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_zt_keys_jwks(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *source, json_t *root, ngx_array_t *keys, ngx_str_t *issuer,
    ngx_uint_t *skipped);
const char *ngx_http_zt_keys_jwk(ngx_pool_t *pool, json_t *jwk,
    ngx_http_zt_key_t *key);


#endif /* _NGX_HTTP_ZT_KEYS_H_INCLUDED_ */
