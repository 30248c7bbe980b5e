
/*
 * zt-inference: remote key sets (zt_jwks_request, zt_oidc_issuer), fetched
 * through an internal location and shared by the workers.
 */


#ifndef _NGX_HTTP_ZT_JWKS_H_INCLUDED_
#define _NGX_HTTP_ZT_JWKS_H_INCLUDED_


/* zt_jwks_request directives a location may have */
#define NGX_HTTP_ZT_JWKS_USES_MAX    8


typedef struct ngx_http_zt_jwks_s       ngx_http_zt_jwks_t;
typedef struct ngx_http_zt_jwks_wait_s  ngx_http_zt_jwks_wait_t;


/* a location's use of a remote key set: zt_jwks_request URI ... */
typedef struct {
    ngx_str_t                   uri;
    ngx_str_t                   issuer;     /* issuer=: empty for any */
    ngx_str_t                   discovery;  /* zt_oidc_issuer */
    ngx_msec_t                  refresh;
    ngx_msec_t                  min_refetch;
    ngx_http_zt_jwks_t         *set;        /* shared by equal uses */
} ngx_http_zt_jwks_use_t;


char *ngx_http_zt_jwks_request_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_zt_jwks_oidc_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_zt_jwks_merge(ngx_conf_t *cf, ngx_array_t *uses,
    ngx_str_t *oidc_issuer);
ngx_int_t ngx_http_zt_jwks_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_zt_jwks_filter_init(ngx_conf_t *cf);

ngx_array_t *ngx_http_zt_jwks_keys(ngx_http_request_t *r,
    ngx_http_zt_jwks_t *set);
ngx_uint_t ngx_http_zt_jwks_versions(ngx_http_request_t *r,
    ngx_array_t *uses, ngx_uint_t *versions);
ngx_int_t ngx_http_zt_jwks_need(ngx_http_request_t *r, ngx_array_t *uses,
    ngx_str_t *iss);
ngx_int_t ngx_http_zt_jwks_unavailable(ngx_http_request_t *r);


#endif /* _NGX_HTTP_ZT_JWKS_H_INCLUDED_ */
