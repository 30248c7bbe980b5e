
/*
 * zt-inference: the verified-token cache (zt_token_cache).
 */


#ifndef _NGX_HTTP_ZT_TOKEN_CACHE_H_INCLUDED_
#define _NGX_HTTP_ZT_TOKEN_CACHE_H_INCLUDED_


/*
 * What a cached token was verified under: the configuration's salt, the
 * location's verification settings and the versions of its remote key
 * sets, as bytes compared whole.
 */
typedef struct {
    size_t                      len;
    u_char                      data[16 + sizeof(ngx_http_zt_jwt_conf_t)
                                     + NGX_HTTP_ZT_JWKS_USES_MAX
                                       * sizeof(ngx_uint_t)];
} ngx_http_zt_token_cache_bind_t;


char *ngx_http_zt_token_cache_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_zt_token_cache_lookup(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *token,
    ngx_http_zt_identity_t *id, ngx_http_zt_token_cache_bind_t *bind);
void ngx_http_zt_token_cache_store(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *token,
    ngx_http_zt_token_cache_bind_t *bind, ngx_http_zt_identity_t *id);


#endif /* _NGX_HTTP_ZT_TOKEN_CACHE_H_INCLUDED_ */
