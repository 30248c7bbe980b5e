
/*
 * zt-inference: the approval queue: the flow of a request that meets an
 * approve rule, and the transitions a reviewer makes (the reviewer API,
 * ngx_http_zt_api.c, asks for them).
 */


#ifndef _NGX_HTTP_ZT_APPROVAL_H_INCLUDED_
#define _NGX_HTTP_ZT_APPROVAL_H_INCLUDED_


/* the approval flow of a request that met an approve rule (ctx->approval) */
struct ngx_http_zt_approval_s {
    ngx_http_zt_redis_state_e   state;
    ngx_uint_t                  outcome;
    ngx_str_t                   id;
    ngx_str_t                   reviewer;   /* who decided it */
    time_t                      expires_at;
};


ngx_int_t ngx_http_zt_approval_handler(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx);
char *ngx_http_zt_approval_merge(ngx_conf_t *cf,
    ngx_http_zt_loc_conf_t *conf);

/*
 * The reviewer's side.  Each sends one script and returns what
 * ngx_http_zt_redis_eval() does; the handler gets the reply:
 *   list:    {expired IDs, {APPROVAL as HGETALL gives it, ...}}
 *   view:    {"ok"|"unknown", APPROVAL}
 *   decide:  {"ok"|"unknown"|"self"|"conflict", APPROVAL}
 */
ngx_int_t ngx_http_zt_approval_list(ngx_http_request_t *r,
    ngx_http_zt_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_zt_approval_view(ngx_http_request_t *r, ngx_str_t *id,
    ngx_http_zt_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_zt_approval_decide(ngx_http_request_t *r, ngx_str_t *id,
    ngx_http_zt_identity_t *reviewer, ngx_uint_t approve, ngx_str_t *reason,
    ngx_http_zt_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_zt_approval_id_valid(ngx_str_t *id);


#endif /* _NGX_HTTP_ZT_APPROVAL_H_INCLUDED_ */
