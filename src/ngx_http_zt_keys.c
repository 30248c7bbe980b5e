
/*
 * PLACEHOLDER: being written.
 */


#include "ngx_http_zt_inference.h"

char *
ngx_http_zt_keys_load(ngx_conf_t *cf, ngx_array_t *keys, ngx_str_t *path)
{
    return "is not implemented yet";
}
