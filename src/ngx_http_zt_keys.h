
/*
 * zt-inference: verification keys (zt_jwks_file), loaded once at
 * configuration time, and the JWS algorithms they serve.
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


/* key families: an alg is only ever checked against a key of its family */
typedef enum {
    NGX_HTTP_ZT_KEY_RSA = 1,
    NGX_HTTP_ZT_KEY_EC,
    NGX_HTTP_ZT_KEY_OCT
} ngx_http_zt_key_type_e;


typedef struct {
    ngx_str_t                   kid;        /* empty: no kid (PEM file) */
    ngx_http_zt_key_type_e      type;
    ngx_uint_t                  alg;        /* JWK "alg" bit, 0: any */
    ngx_int_t                   curve_nid;  /* EC only */
    EVP_PKEY                   *pkey;       /* RSA and EC */
    ngx_str_t                   secret;     /* oct */
    unsigned                    request:1;  /* a request's own (DPoP) */
} ngx_http_zt_key_t;


char *ngx_http_zt_keys_load(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *path);
const char *ngx_http_zt_keys_jwk(ngx_conf_t *cf, ngx_http_zt_key_t *key,
    json_t *jwk);


#endif /* _NGX_HTTP_ZT_KEYS_H_INCLUDED_ */
