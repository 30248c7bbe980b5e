
/*
 * PLACEHOLDER: being written.
 */


#include "ngx_http_zt_inference.h"

