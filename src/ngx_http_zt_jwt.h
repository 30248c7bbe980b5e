
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
    ngx_array_t                *remotes;    /* of ngx_http_zt_jwks_use_t */
    ngx_str_t                   oidc_issuer;  /* this block's, not merged */
    ngx_array_t                *issuers;    /* of ngx_str_t */
    ngx_array_t                *audiences;  /* of ngx_str_t */
    ngx_uint_t                  algorithms;
    time_t                      leeway;
    ngx_str_t                   scope_claim;
    ngx_str_t                   groups_claim;
    unsigned                    warned:1;   /* about keys bound to none */
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
    ngx_uint_t *dpop, ngx_str_t *err);
ngx_int_t ngx_http_zt_jwt_verify(ngx_http_request_t *r,
    ngx_http_zt_jwt_conf_t *conf, ngx_str_t *token,
    ngx_http_zt_identity_t *id, ngx_str_t *err);
json_t *ngx_http_zt_jwt_claims(ngx_http_request_t *r,
    ngx_http_zt_identity_t *id);
ngx_int_t ngx_http_zt_jwt_claim(json_t *claims, ngx_str_t *name,
    json_t **value, ngx_log_t *log);
ngx_int_t ngx_http_zt_jwt_claim_name_valid(ngx_str_t *name);
char *ngx_http_zt_jwt_set_claim_name(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_zt_jwt_merge_conf(ngx_conf_t *cf,
    ngx_http_zt_jwt_conf_t *prev, ngx_http_zt_jwt_conf_t *conf);
ngx_uint_t ngx_http_zt_jwt_has_keys(ngx_http_zt_jwt_conf_t *conf);
char *ngx_http_zt_jwt_set_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_zt_jwt_signature(ngx_log_t *log, ngx_http_zt_alg_t *alg,
    ngx_http_zt_key_t *key, ngx_str_t *input, ngx_str_t *sig);
void ngx_http_zt_jwt_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_ZT_JWT_H_INCLUDED_ */
