
/*
 * zt-inference: JSON text: the strict fast reader, escaping any bytes into
 * a JSON string, UTF-8 checks, and jansson values released with a pool.
 */


#ifndef _NGX_HTTP_ZT_JSON_H_INCLUDED_
#define _NGX_HTTP_ZT_JSON_H_INCLUDED_


#include <jansson.h>


json_t *ngx_http_zt_json_parse(ngx_pool_t *pool, u_char *data, size_t len);
size_t ngx_http_zt_utf8_valid(u_char *p, u_char *last);
u_char *ngx_http_zt_json_escape(u_char *dst, u_char *src, size_t len);
size_t ngx_http_zt_json_escape_len(u_char *src, size_t len);
ngx_int_t ngx_http_zt_json_cleanup_add(ngx_pool_t *pool, json_t *json);


#endif /* _NGX_HTTP_ZT_JSON_H_INCLUDED_ */
