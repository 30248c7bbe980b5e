
/*
 * zt-inference: compiled JSON paths and their walk over a jansson document.
 */


#ifndef _NGX_HTTP_ZT_JSONPATH_H_INCLUDED_
#define _NGX_HTTP_ZT_JSONPATH_H_INCLUDED_


/*
 * One compiled JSON path: "$" then steps applied left to right, each to
 * every value the previous step selected ("$" alone: nsteps 0, the root).
 *
 *   KEY      .name, ['name'], ["name"]: the member "name" of an object
 *   INDEX    [n]: element n (from 0) of an array
 *   ANY      .*, [*]: every member value of an object, element of an array
 *   DESCEND  ..name, ..['name']: the member "name" of the current value
 *            and of every object nested in it at any depth
 *
 * Names are raw bytes (quotes and backslash escapes removed) and may
 * contain any byte; they are not NUL-terminated.
 */
typedef enum {
    NGX_HTTP_ZT_JP_KEY = 1,     /* .name or ['name'] */
    NGX_HTTP_ZT_JP_INDEX,       /* [n] */
    NGX_HTTP_ZT_JP_ANY,         /* [*] or .* */
    NGX_HTTP_ZT_JP_DESCEND      /* ..name: name here or at any depth below */
} ngx_http_zt_jp_step_e;

typedef struct {
    ngx_http_zt_jp_step_e       type;
    ngx_str_t                   name;
    ngx_uint_t                  index;
} ngx_http_zt_jp_step_t;

typedef struct {
    ngx_str_t                   text;       /* as written, for messages */
    ngx_http_zt_jp_step_t      *steps;
    ngx_uint_t                  nsteps;
} ngx_http_zt_jsonpath_t;


ngx_int_t ngx_http_zt_jsonpath_compile(ngx_pool_t *pool,
    ngx_http_zt_jsonpath_t *jp, ngx_str_t *text, ngx_str_t *err);

/*
 * select calls handler for every value jp selects in root, in document
 * order; handler returns NGX_OK to go on, anything else to stop, and that
 * is what select returns (NGX_DONE: "found, stop"); NGX_OK: all seen.
 */
ngx_int_t ngx_http_zt_jsonpath_select(ngx_http_zt_jsonpath_t *jp,
    json_t *root, ngx_int_t (*handler)(json_t *value, void *data),
    void *data);


#endif /* _NGX_HTTP_ZT_JSONPATH_H_INCLUDED_ */
