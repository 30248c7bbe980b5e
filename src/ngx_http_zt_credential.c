
/*
 * PLACEHOLDER: being written.
 */


#include "ngx_http_zt_inference.h"

char *
ngx_http_zt_credential_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not implemented yet";
}
