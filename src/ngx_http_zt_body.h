
/*
 * zt-inference: the request body, read in the access phase for the rules
 * and the audit that look at it, and judged once before any rule runs.
 */


#ifndef _NGX_HTTP_ZT_BODY_H_INCLUDED_
#define _NGX_HTTP_ZT_BODY_H_INCLUDED_


/* what a location needs of the body (ngx_http_zt_body_needs) */
#define NGX_HTTP_ZT_BODY_READ     0x01  /* read it whole */
#define NGX_HTTP_ZT_BODY_JUDGE    0x02  /* read it as the model will, or
                                           refuse it */
#define NGX_HTTP_ZT_BODY_STRINGS  0x04  /* a JSON body's strings, unescaped */
#define NGX_HTTP_ZT_BODY_JSON     0x08  /* it must be JSON */
#define NGX_HTTP_ZT_BODY_VALUES   0x20  /* values built, if it is JSON */
#define NGX_HTTP_ZT_BODY_MEMBERS  0x10  /* if it is JSON: the members of an
                                           outermost object, the bytes of
                                           its strings; no values built */


/* why the gateway answered instead of the model: 400, 413 or 415 */
typedef struct {
    ngx_uint_t                  status;
    ngx_str_t                   code;
    ngx_str_t                   message;
} ngx_http_zt_body_refusal_t;


ngx_uint_t ngx_http_zt_body_needs(ngx_http_zt_loc_conf_t *lcf);
ngx_int_t ngx_http_zt_body_read(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx);
ngx_int_t ngx_http_zt_body_sha256(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
ngx_int_t ngx_http_zt_body_match(ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_regex_t *re);
json_t *ngx_http_zt_body_json(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx);


#endif /* _NGX_HTTP_ZT_BODY_H_INCLUDED_ */
