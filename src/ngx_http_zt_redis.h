
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
 * Called once per command, never from inside ngx_http_zt_redis_eval():
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
 * A Lua script run with EVAL by ngx_http_zt_redis_eval(): its arguments
 * are its keys, then its other arguments, then the command's deadline,
 * which the script's first lines (NGX_HTTP_ZT_REDIS_LUA) check.  Any
 * number of keys and arguments, any reply: what a concern needs to change
 * several keys at once, or not at all, in Redis's clock (approvals,
 * grants, a budget reserved against several windows).
 */
typedef struct {
    ngx_str_t                   lua;
    ngx_uint_t                  keys;
} ngx_http_zt_redis_script_t;

#define ngx_http_zt_redis_script(lua, keys)  { ngx_string(lua), keys }


/*
 * The first lines of every script.  The last ARGV is the deadline, in
 * Redis's clock (microseconds), past which the gateway has answered 503
 * already: a command Redis runs late (it was paused, or overloaded) then
 * changes nothing, so that an approval is not consumed, nor a request
 * parked, behind the back of a caller who was told to retry.  zt_now is
 * Redis's time in seconds: the scripts keep time in Redis's clock alone,
 * whatever the clocks of the nginx hosts say.
 */
#define NGX_HTTP_ZT_REDIS_LUA                                                 \
    "local zt_t = redis.call('TIME')\n"                                       \
    "local zt_now = tonumber(zt_t[1])\n"                                      \
    "if zt_now * 1000000 + tonumber(zt_t[2]) >= tonumber(ARGV[#ARGV]) then\n" \
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
ngx_int_t ngx_http_zt_redis_eval(ngx_http_request_t *r,
    ngx_http_zt_redis_script_t *script, ngx_str_t *args, ngx_uint_t n,
    ngx_http_zt_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_zt_redis_eval_detached(ngx_http_request_t *r,
    ngx_http_zt_redis_script_t *script, ngx_str_t *args, ngx_uint_t n,
    ngx_http_zt_redis_done_pt done, void *data);
ngx_int_t ngx_http_zt_redis_key(ngx_http_request_t *r, ngx_str_t *key,
    char *kind, ngx_str_t *name);
ngx_int_t ngx_http_zt_redis_number(ngx_http_request_t *r, ngx_str_t *s,
    int64_t n);
ngx_str_t *ngx_http_zt_redis_retry_after(ngx_http_request_t *r);
ngx_int_t ngx_http_zt_redis_unavailable(ngx_http_request_t *r);
void ngx_http_zt_redis_exit_process(ngx_cycle_t *cycle);

#endif /* _NGX_HTTP_ZT_REDIS_H_INCLUDED_ */
