
/*
 * zt-inference: what the Redis concern offers the others.  Redis holds the
 * approval queue and the just-in-time grants; it is reached through
 * hiredis's async API on nginx's own event loop, so that a worker never
 * waits for it.
 */


#ifndef _NGX_HTTP_ZT_REDIS_H_INCLUDED_
#define _NGX_HTTP_ZT_REDIS_H_INCLUDED_


struct redisReply;


/*
 * Called once per command, never from inside ngx_http_zt_redis_command():
 * reply is NULL when Redis failed (down, timed out, connection lost); a
 * reply of type REDIS_REPLY_ERROR is Redis's own error.  The reply is freed
 * when the handler returns.  Not called at all when the request went away
 * first (finalized or terminated before the reply came).
 */
typedef void (*ngx_http_zt_redis_handler_pt)(ngx_http_request_t *r,
    struct redisReply *reply, void *data);

/* the same for a command that belongs to no request */
typedef void (*ngx_http_zt_redis_done_pt)(struct redisReply *reply,
    void *data);


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


char *ngx_http_zt_redis_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_zt_redis_command(ngx_http_request_t *r,
    ngx_http_zt_redis_handler_pt handler, void *data, const char *fmt, ...);
ngx_int_t ngx_http_zt_redis_command_argv(ngx_http_request_t *r,
    ngx_http_zt_redis_handler_pt handler, void *data, ngx_uint_t argc,
    ngx_str_t *argv);
ngx_int_t ngx_http_zt_redis_command_detached(ngx_http_request_t *r,
    ngx_http_zt_redis_done_pt done, void *data, ngx_uint_t argc,
    ngx_str_t *argv);
ngx_int_t ngx_http_zt_redis_deadline(ngx_http_request_t *r, ngx_str_t *s);
ngx_str_t *ngx_http_zt_redis_retry_after(ngx_http_request_t *r);
ngx_int_t ngx_http_zt_redis_unavailable(ngx_http_request_t *r);
void ngx_http_zt_redis_exit_process(ngx_cycle_t *cycle);

#endif /* _NGX_HTTP_ZT_REDIS_H_INCLUDED_ */
