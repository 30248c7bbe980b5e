
/*
 * zt-inference: the request body, read in the access phase for the rules
 * and the audit that look at it.
 */


#ifndef _NGX_HTTP_ZT_BODY_H_INCLUDED_
#define _NGX_HTTP_ZT_BODY_H_INCLUDED_


ngx_int_t ngx_http_zt_body_read(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx);
ngx_int_t ngx_http_zt_body_sha256(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
json_t *ngx_http_zt_body_json(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx);


#endif /* _NGX_HTTP_ZT_BODY_H_INCLUDED_ */
