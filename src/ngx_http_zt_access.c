
/*
 * PLACEHOLDER: being written.
 */


#include "ngx_http_zt_inference.h"

ngx_int_t
ngx_http_zt_access_handler(ngx_http_request_t *r)
{
    return NGX_DECLINED;
}
