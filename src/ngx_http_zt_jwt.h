
/*
 * zt-inference: identity.  The bearer token, its verification, and the
 * verified caller it yields.
 */


#ifndef _NGX_HTTP_ZT_JWT_H_INCLUDED_
#define _NGX_HTTP_ZT_JWT_H_INCLUDED_


#define NGX_HTTP_ZT_TOKEN_MAX        8192
#define NGX_HTTP_ZT_FP_LEN           16      /* hex chars of token SHA-256 */


/* verification settings of a location: keys and claims checks */
typedef struct {
    ngx_array_t                *keys;       /* of ngx_http_zt_key_t */
    ngx_array_t                *issuers;    /* of ngx_str_t */
    ngx_array_t                *audiences;  /* of ngx_str_t */
    ngx_uint_t                  algorithms;
    time_t                      leeway;
    ngx_str_t                   scope_claim;
    ngx_str_t                   groups_claim;
} ngx_http_zt_jwt_conf_t;


/* the caller, once the token is verified */
typedef struct {
    json_t                     *claims;     /* released by a pool cleanup */
    ngx_str_t                   payload;    /* claims as JSON text */
    ngx_str_t                   sub;
    ngx_str_t                   iss;
    ngx_array_t                *scopes;     /* of ngx_str_t */
    ngx_array_t                *groups;     /* of ngx_str_t */
    time_t                      exp;
    u_char                      fp[NGX_HTTP_ZT_FP_LEN];
} ngx_http_zt_identity_t;


ngx_int_t ngx_http_zt_jwt_bearer(ngx_http_request_t *r, ngx_str_t *token,
    ngx_str_t *err);
ngx_int_t ngx_http_zt_jwt_verify(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_str_t *token,
    ngx_http_zt_identity_t *id, ngx_str_t *err);
json_t *ngx_http_zt_jwt_claims(ngx_http_request_t *r,
    ngx_http_zt_identity_t *id);
char *ngx_http_zt_jwt_set_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_zt_base64url_decode(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
ngx_uint_t ngx_http_zt_jwt_alg(u_char *name, size_t len);
ngx_http_zt_key_type_e ngx_http_zt_jwt_alg_family(ngx_uint_t alg);
void ngx_http_zt_jwt_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_ZT_JWT_H_INCLUDED_ */
