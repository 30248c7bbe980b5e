
/*
 * zt-inference: just-in-time grants.
 */


#ifndef _NGX_HTTP_ZT_GRANT_H_INCLUDED_
#define _NGX_HTTP_ZT_GRANT_H_INCLUDED_


/* the grant lookup of a request: see ngx_http_zt_grant.c */
struct ngx_http_zt_grant_wait_s {
    ngx_http_zt_redis_state_e   state;
};


ngx_int_t ngx_http_zt_grant_load(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
ngx_int_t ngx_http_zt_grant_api(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_approval_t *api, json_t *body);


#endif /* _NGX_HTTP_ZT_GRANT_H_INCLUDED_ */
