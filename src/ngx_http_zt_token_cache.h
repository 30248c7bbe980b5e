
/*
 * zt-inference: the verified-token cache (zt_token_cache).
 */


#ifndef _NGX_HTTP_ZT_TOKEN_CACHE_H_INCLUDED_
#define _NGX_HTTP_ZT_TOKEN_CACHE_H_INCLUDED_


char *ngx_http_zt_token_cache_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_zt_token_cache_lookup(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_str_t *token,
    ngx_http_zt_identity_t *id, u_char *digest);
void ngx_http_zt_token_cache_store(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, u_char *digest,
    ngx_http_zt_identity_t *id);


#endif /* _NGX_HTTP_ZT_TOKEN_CACHE_H_INCLUDED_ */
