
/*
 * zt-inference: SHA-256 with a context prepared once per process; files
 * the configuration names; strict base64url.
 */


#ifndef _NGX_HTTP_ZT_UTIL_H_INCLUDED_
#define _NGX_HTTP_ZT_UTIL_H_INCLUDED_


ngx_int_t ngx_http_zt_sha256(u_char *out, u_char *data, size_t len);
ngx_int_t ngx_http_zt_sha256_parts(u_char *out, ngx_str_t *parts,
    ngx_uint_t n);
ngx_int_t ngx_http_zt_sha256_prefix(u_char *out, u_char *data, size_t len,
    u_char *prefix_out, size_t prefix);
ngx_int_t ngx_http_zt_conf_file(ngx_conf_t *cf, ngx_pool_t *pool,
    ngx_str_t *name, size_t max, ngx_str_t *text);
ngx_int_t ngx_http_zt_base64url_decode(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
ngx_table_elt_t *ngx_http_zt_header_in(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t n);
void ngx_http_zt_util_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_ZT_UTIL_H_INCLUDED_ */
