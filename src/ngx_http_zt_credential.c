
/*
 * The model's own credential: read once from zt_upstream_credential_file at
 * configuration time and offered as $zt_upstream_credential, so that the
 * gateway, not the client, holds it.  It is never logged.
 */


#include "ngx_http_zt_inference.h"


#define NGX_HTTP_ZT_CREDENTIAL_MAX  16384


char *
ngx_http_zt_credential_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t *credential = (ngx_str_t *) ((char *) conf + cmd->offset);

    u_char     *p, *last;
    ngx_str_t  *value, path, text;

    if (credential->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_http_zt_conf_file(cf, cf->pool, &path, NGX_HTTP_ZT_CREDENTIAL_MAX,
                              &text)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* editors leave a trailing newline that is no part of the secret */

    p = text.data;
    last = p + text.len;

    while (last > p && (last[-1] == '\n' || last[-1] == '\r'
                        || last[-1] == ' ' || last[-1] == '\t'))
    {
        last--;
    }

    if (last == p) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is empty", &cmd->name, &path);
        return NGX_CONF_ERROR;
    }

    for (credential->data = p; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V \"%V\" has a control character: a "
                               "header cannot carry it", &cmd->name, &path);
            return NGX_CONF_ERROR;
        }
    }

    credential->len = last - credential->data;

    return NGX_CONF_OK;
}
