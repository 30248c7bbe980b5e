
/*
 * PLACEHOLDER: being written.
 */


#include "ngx_http_zt_inference.h"

char *
ngx_http_zt_policy_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not implemented yet";
}
ngx_http_zt_rule_t *
ngx_http_zt_policy_decide(ngx_http_request_t *r,
    ngx_http_zt_policy_conf_t *pcf, ngx_http_zt_ctx_t *ctx)
{
    return NULL;
}
