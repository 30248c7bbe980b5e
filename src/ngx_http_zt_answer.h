
/*
 * zt-inference: the gateway's own answers (JSON error bodies, RFC 6750
 * challenges).
 */


#ifndef _NGX_HTTP_ZT_ANSWER_H_INCLUDED_
#define _NGX_HTTP_ZT_ANSWER_H_INCLUDED_


ngx_int_t ngx_http_zt_answer(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *code, ngx_str_t *message);
ngx_int_t ngx_http_zt_answer_error(ngx_http_request_t *r, ngx_uint_t status,
    char *type, char *code, char *message);
ngx_int_t ngx_http_zt_answer_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *json, size_t len);
ngx_int_t ngx_http_zt_answer_header(ngx_http_request_t *r, char *key,
    char *value);
ngx_int_t ngx_http_zt_answer_unauthorized(ngx_http_request_t *r,
    ngx_str_t *err);
ngx_int_t ngx_http_zt_answer_forbidden(ngx_http_request_t *r);


#endif /* _NGX_HTTP_ZT_ANSWER_H_INCLUDED_ */
