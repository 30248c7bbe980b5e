
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

    u_char           *p, *last;
    ssize_t           n;
    ngx_str_t        *value, path;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (credential->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = path;
    file.log = cf->log;

    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "zt_upstream_credential_file: cannot open \"%s\"",
                           path.data);
        return NGX_CONF_ERROR;
    }

    p = NULL;
    n = NGX_ERROR;

    if (ngx_fd_info(file.fd, &fi) != NGX_FILE_ERROR
        && ngx_file_size(&fi) <= NGX_HTTP_ZT_CREDENTIAL_MAX)
    {
        p = ngx_pnalloc(cf->pool, ngx_file_size(&fi) + 1);
        if (p != NULL) {
            n = ngx_read_file(&file, p, ngx_file_size(&fi), 0);
        }
    }

    (void) ngx_close_file(file.fd);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_upstream_credential_file: cannot read \"%s\" "
                           "(at most %d bytes)", path.data,
                           NGX_HTTP_ZT_CREDENTIAL_MAX);
        return NGX_CONF_ERROR;
    }

    /* editors leave a trailing newline that is no part of the secret */

    last = p + n;

    while (last > p && (last[-1] == '\n' || last[-1] == '\r'
                        || last[-1] == ' ' || last[-1] == '\t'))
    {
        last--;
    }

    if (last == p) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zt_upstream_credential_file: \"%s\" is empty",
                           path.data);
        return NGX_CONF_ERROR;
    }

    for (credential->data = p; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zt_upstream_credential_file: \"%s\" has a "
                               "control character: a header cannot carry it",
                               path.data);
            return NGX_CONF_ERROR;
        }
    }

    credential->len = last - credential->data;

    return NGX_CONF_OK;
}
