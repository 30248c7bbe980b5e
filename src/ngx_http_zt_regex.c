
/*
 * PCRE2 regexes of the configuration (zt_policy body~ and json:~, masking
 * patterns): compiled and JIT-compiled once, released with the
 * configuration, matched with one match block per process, freed when the
 * process exits.
 */


#include "ngx_http_zt_inference.h"


static void ngx_http_zt_regex_cleanup(void *data);


/* a worker is single-threaded: one match block serves every match */
static pcre2_match_data  *ngx_http_zt_regex_md;


char *
ngx_http_zt_regex_compile(ngx_conf_t *cf, ngx_http_zt_regex_t *re,
    ngx_str_t *text, ngx_uint_t caseless)
{
    int                  errcode;
    u_char               errstr[256];
    uint32_t             options, minlength;
    PCRE2_SIZE           erroff;
    ngx_pool_cleanup_t  *cln;

    options = PCRE2_UTF|PCRE2_MATCH_INVALID_UTF;

    if (caseless) {
        options |= PCRE2_CASELESS;
    }

    re->text = *text;
    re->code = pcre2_compile(text->data, text->len, options, &errcode,
                             &erroff, NULL);

    if (re->code == NULL) {
        pcre2_get_error_message(errcode, errstr, sizeof(errstr));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: invalid regex \"%V\": %s at offset %uz",
                           &((ngx_str_t *) cf->args->elts)[0], text, errstr,
                           (size_t) erroff);
        return NGX_CONF_ERROR;
    }

    /* JIT is an optimisation: a platform without it matches all the same */
    (void) pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);

    /*
     * PCRE2's lower bound on what a match spans, in characters: a subject
     * of fewer bytes cannot match (a body~ regex meets many short strings)
     */

    if (pcre2_pattern_info(re->code, PCRE2_INFO_MINLENGTH, &minlength) != 0) {
        minlength = 0;
    }

    re->min = minlength;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        pcre2_code_free(re->code);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_zt_regex_cleanup;
    cln->data = re->code;

    return NGX_CONF_OK;
}


static void
ngx_http_zt_regex_cleanup(void *data)
{
    pcre2_code_free(data);
}


/*
 * Returns 1 on a match, 0 on none, NGX_ERROR when matching failed (match
 * limits): the caller treats an error as a condition that cannot be
 * proven, so the gateway fails closed.
 */

ngx_int_t
ngx_http_zt_regex_match(ngx_http_zt_regex_t *re, u_char *s, size_t len)
{
    int                rc;
    pcre2_match_data  *md;

    md = ngx_http_zt_regex_match_data();
    if (md == NULL) {
        return NGX_ERROR;
    }

    rc = pcre2_match(re->code, s ? s : (u_char *) "", len, 0, 0, md, NULL);

    if (rc >= 0) {
        return 1;
    }

    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }

    return NGX_ERROR;
}


/*
 * The process's match block, made on first use: room for the whole match
 * only, its offsets valid until the next match.
 */

pcre2_match_data *
ngx_http_zt_regex_match_data(void)
{
    if (ngx_http_zt_regex_md == NULL) {
        ngx_http_zt_regex_md = pcre2_match_data_create(1, NULL);
    }

    return ngx_http_zt_regex_md;
}


void
ngx_http_zt_regex_exit_process(ngx_cycle_t *cycle)
{
    pcre2_match_data_free(ngx_http_zt_regex_md);
    ngx_http_zt_regex_md = NULL;
}
