
/*
 * zt-inference: the approval queue (approve rules, the reviewer API).
 */


#ifndef _NGX_HTTP_ZT_APPROVAL_H_INCLUDED_
#define _NGX_HTTP_ZT_APPROVAL_H_INCLUDED_


/* reviewer API operations (zt_approval_api locations) */
typedef enum {
    NGX_HTTP_ZT_API_LIST = 1,       /* GET    <loc>/approvals */
    NGX_HTTP_ZT_API_GET,            /* GET    <loc>/approvals/ID */
    NGX_HTTP_ZT_API_APPROVE,        /* POST   <loc>/approvals/ID/approve */
    NGX_HTTP_ZT_API_DENY,           /* POST   <loc>/approvals/ID/deny */
    NGX_HTTP_ZT_API_GRANT_CREATE,   /* POST   <loc>/grants */
    NGX_HTTP_ZT_API_GRANT_LIST,     /* GET    <loc>/grants?sub= */
    NGX_HTTP_ZT_API_GRANT_REVOKE,   /* DELETE <loc>/grants/SUB/SCOPE */
    NGX_HTTP_ZT_API_USAGE           /* GET, DELETE <loc>/usage/KEY */
} ngx_http_zt_api_op_e;


/*
 * The approval state of a request (ctx->approval): the flow of a request
 * that met an approve rule, or the operation of a reviewer API request.
 */
struct ngx_http_zt_approval_s {
    ngx_http_zt_redis_state_e   state;
    ngx_uint_t                  outcome;
    ngx_str_t                   id;
    ngx_str_t                   reviewer;   /* who decided it */
    time_t                      expires_at;

    ngx_http_zt_api_op_e        op;
    ngx_str_t                   sub;        /* grants: subject */
    ngx_str_t                   scope;      /* grants: scope */
};


ngx_int_t ngx_http_zt_approval_handler(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx);
char *ngx_http_zt_approval_api_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_zt_approval_merge(ngx_conf_t *cf,
    ngx_http_zt_loc_conf_t *conf);
ngx_int_t ngx_http_zt_approval_key(ngx_http_request_t *r, ngx_str_t *key,
    char *kind, ngx_str_t *name);
ngx_int_t ngx_http_zt_approval_time(ngx_http_request_t *r, ngx_str_t *s,
    time_t t);


#endif /* _NGX_HTTP_ZT_APPROVAL_H_INCLUDED_ */
