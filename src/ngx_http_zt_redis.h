
/*
 * zt-inference: what the Redis concern offers the others.  Redis holds the
 * approval queue (section 5) and the just-in-time grants (section 6); it is
 * reached through hiredis's async API on nginx's own event loop, so that a
 * worker never waits for it.  Included at the end of ngx_http_zt_inference.h.
 */


#ifndef _NGX_HTTP_ZT_REDIS_H_INCLUDED_
#define _NGX_HTTP_ZT_REDIS_H_INCLUDED_


struct redisReply;

typedef struct ngx_http_zt_approval_s    ngx_http_zt_approval_t;
typedef struct ngx_http_zt_grant_wait_s  ngx_http_zt_grant_wait_t;


/*
 * Called once per command, never from inside ngx_http_zt_redis_command():
 * reply is NULL when Redis failed (down, timed out, connection lost); a
 * reply of type REDIS_REPLY_ERROR is Redis's own error.  The reply is freed
 * when the handler returns.  Not called at all when the request went away
 * first (finalized or terminated before the reply came).
 */
typedef void (*ngx_http_zt_redis_handler_pt)(ngx_http_request_t *r,
    struct redisReply *reply, void *data);


/*
 * The first lines of every script that changes state: the last ARGV is
 * the deadline (ngx_http_zt_redis_deadline()), past which the gateway has
 * answered 503 already.  A command Redis runs late (it was paused, or
 * overloaded) then changes nothing: an approval is not consumed, nor a
 * request parked, behind the back of a caller who was told to retry.
 */
#define NGX_HTTP_ZT_REDIS_LATE_LUA                                            \
    "local zt_t = redis.call('TIME')\n"                                       \
    "if zt_t[1] * 1000 + math.floor(zt_t[2] / 1000)\n"                        \
    "   > tonumber(ARGV[#ARGV]) then\n"                                       \
    "  return redis.error_reply('ZTLATE past the gateway deadline')\n"        \
    "end\n"


/* a Redis round trip of the access phase: kept in the request context */
typedef enum {
    NGX_HTTP_ZT_REDIS_IDLE = 0,
    NGX_HTTP_ZT_REDIS_BUSY,         /* a command is in flight */
    NGX_HTTP_ZT_REDIS_DONE,         /* answered */
    NGX_HTTP_ZT_REDIS_FAILED        /* Redis down, slow or in error */
} ngx_http_zt_redis_state_e;


/* reviewer API operations (zt_approval_api locations) */
typedef enum {
    NGX_HTTP_ZT_API_LIST = 1,       /* GET    <loc>/approvals */
    NGX_HTTP_ZT_API_GET,            /* GET    <loc>/approvals/ID */
    NGX_HTTP_ZT_API_APPROVE,        /* POST   <loc>/approvals/ID/approve */
    NGX_HTTP_ZT_API_DENY,           /* POST   <loc>/approvals/ID/deny */
    NGX_HTTP_ZT_API_GRANT_CREATE,   /* POST   <loc>/grants */
    NGX_HTTP_ZT_API_GRANT_LIST,     /* GET    <loc>/grants?sub= */
    NGX_HTTP_ZT_API_GRANT_REVOKE    /* DELETE <loc>/grants/SUB/SCOPE */
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


/* the grant lookup of a request: see ngx_http_zt_grant.c */
struct ngx_http_zt_grant_wait_s {
    ngx_http_zt_redis_state_e   state;
};


/* ngx_http_zt_redis.c */
char *ngx_http_zt_redis_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_zt_redis_command(ngx_http_request_t *r,
    ngx_http_zt_redis_handler_pt handler, void *data, const char *fmt, ...);
ngx_int_t ngx_http_zt_redis_command_argv(ngx_http_request_t *r,
    ngx_http_zt_redis_handler_pt handler, void *data, ngx_uint_t argc,
    ngx_str_t *argv);
ngx_int_t ngx_http_zt_redis_deadline(ngx_http_request_t *r, ngx_str_t *s);
ngx_str_t *ngx_http_zt_redis_retry_after(ngx_http_request_t *r);
ngx_int_t ngx_http_zt_redis_unavailable(ngx_http_request_t *r);
void ngx_http_zt_redis_exit_process(ngx_cycle_t *cycle);

/* ngx_http_zt_approval.c */
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

/* ngx_http_zt_grant.c */
ngx_int_t ngx_http_zt_grant_load(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
ngx_int_t ngx_http_zt_grant_api(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_approval_t *api, json_t *body);


#endif /* _NGX_HTTP_ZT_REDIS_H_INCLUDED_ */
