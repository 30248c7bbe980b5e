
/*
 * PLACEHOLDER: being written.
 */


#include "ngx_http_zt_inference.h"

char *
ngx_http_zt_jwt_set_algorithms(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not implemented yet";
}
ngx_int_t
ngx_http_zt_jwt_bearer(ngx_http_request_t *r, ngx_str_t *token, ngx_str_t *err)
{
    return NGX_ERROR;
}
ngx_int_t
ngx_http_zt_jwt_verify(ngx_http_request_t *r, ngx_http_zt_jwt_conf_t *conf,
    ngx_str_t *token, ngx_http_zt_identity_t *id, ngx_str_t *err)
{
    return NGX_ERROR;
}
