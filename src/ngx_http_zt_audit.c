
/*
 * PLACEHOLDER: being written.
 */


#include "ngx_http_zt_inference.h"

ngx_int_t
ngx_http_zt_variables_add(ngx_conf_t *cf)
{
    return NGX_OK;
}
