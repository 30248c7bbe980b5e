
/*
 * PLACEHOLDER: being written.
 */


#include "ngx_http_zt_inference.h"

ngx_int_t
ngx_http_zt_body_read(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx)
{
    return NGX_ERROR;
}
ngx_int_t
ngx_http_zt_body_sha256(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    return NGX_ERROR;
}
