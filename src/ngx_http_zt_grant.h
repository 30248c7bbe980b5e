
/*
 * zt-inference: just-in-time grants: the lookup of the access phase and
 * the operations of the reviewer API.
 */


#ifndef _NGX_HTTP_ZT_GRANT_H_INCLUDED_
#define _NGX_HTTP_ZT_GRANT_H_INCLUDED_


/* the grant lookup of a request: see ngx_http_zt_grant.c */
struct ngx_http_zt_grant_wait_s {
    ngx_http_zt_redis_state_e   state;
};


ngx_int_t ngx_http_zt_grant_load(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
ngx_int_t ngx_http_zt_grant_create(ngx_http_request_t *r,
    ngx_http_zt_identity_t *reviewer, json_t *body, ngx_str_t *issuer,
    ngx_http_zt_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_zt_grant_created(ngx_http_request_t *r,
    struct redisReply *reply);
ngx_int_t ngx_http_zt_grant_list(ngx_http_request_t *r, ngx_str_t *iss,
    ngx_str_t *sub, ngx_http_zt_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_zt_grant_listed(ngx_http_request_t *r,
    struct redisReply *reply);
ngx_int_t ngx_http_zt_grant_revoke(ngx_http_request_t *r,
    ngx_http_zt_identity_t *reviewer, ngx_str_t *iss, ngx_str_t *sub,
    ngx_str_t *scope, ngx_http_zt_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_zt_grant_revoked(ngx_http_request_t *r,
    ngx_http_zt_identity_t *reviewer, ngx_str_t *iss, ngx_str_t *sub,
    ngx_str_t *scope, struct redisReply *reply);


#endif /* _NGX_HTTP_ZT_GRANT_H_INCLUDED_ */
