
/*
 * zt-inference: response masking, the filter.  The directives (zt_mask,
 * zt_mask_pattern, zt_mask_types, zt_mask_buffer), which rules apply to a
 * response (unless=), the header filter that decides, and the body filter
 * that feeds the JSON scanner or the SSE parser and passes what they let
 * through, zero-copy where the bytes are unchanged.
 *
 * Failing closed: nothing unmasked is ever sent.  The header is held until
 * the first masked bytes are ready and the turn of the event loop in which
 * they came is over, so a body that fails before (invalid JSON, a value over
 * zt_mask_buffer, an encoding the filter cannot read, an answer that arrived
 * whole and is cut short) gets a clean 502.  A failure later, when the
 * header is out, closes the connection: the client sees a truncated
 * response, never the value.  Either way the error log says "zt: mask: ..."
 * and why.
 */


#include "ngx_http_zt_inference.h"
#include "ngx_http_zt_mask_scan.h"


#define NGX_HTTP_ZT_MASK_ACTIVE      1
#define NGX_HTTP_ZT_MASK_FINALIZING  2     /* sending its own 502 */
#define NGX_HTTP_ZT_MASK_FAILED      3

#define NGX_HTTP_ZT_MASK_BUF_SIZE    4096
#define NGX_HTTP_ZT_MASK_BUF_MAX     65536
#define NGX_HTTP_ZT_MASK_REF_MIN     1024  /* shorter spans are copied */
#define NGX_HTTP_ZT_MASK_HOLD        65536 /* waits with the header, at most */


struct ngx_http_zt_mask_ctx_s {
    ngx_http_request_t        *r;
    ngx_uint_t                 state;
    ngx_http_zt_mask_req_t     req;
    ngx_http_zt_mask_emit_t    emit;
    ngx_http_zt_mask_json_t   *json;
    ngx_http_zt_mask_sse_t    *sse;

    ngx_chain_t               *in;
    ngx_chain_t               *out;
    ngx_chain_t              **last_out;
    ngx_chain_t               *busy;
    ngx_chain_t               *free;       /* buffer headers */
    ngx_chain_t               *free_mem;   /* buffers with memory */
    ngx_chain_t               *mem;        /* being filled, not linked */
    ngx_buf_t                 *last_ref;   /* to extend a contiguous ref */

    off_t                      bytes;      /* output so far */
    size_t                     size;       /* of the input being read */

    ngx_event_t                release;    /* sends what is held back */

    unsigned                   header_sent:1;
    unsigned                   last:1;
    unsigned                   released:1;
    unsigned                   cleanup:1;
};


static ngx_uint_t ngx_http_zt_mask_request_cmd(ngx_command_t *cmd);
static char *ngx_http_zt_mask_off(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_zt_mask_conf_t *mcf);
static ngx_http_zt_mask_rule_t *ngx_http_zt_mask_rule_add(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_http_zt_mask_conf_t *mcf);
static char *ngx_http_zt_mask_options(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_zt_mask_rule_t *rule, ngx_str_t *value, ngx_uint_t n);
static char *ngx_http_zt_mask_with(ngx_conf_t *cf,
    ngx_http_zt_mask_rule_t *rule, ngx_str_t *with);
static ngx_int_t ngx_http_zt_mask_preaccess_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_mask_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_mask_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_zt_mask_kind(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_mask_encoded(ngx_http_request_t *r,
    ngx_str_t *enc);
static ngx_int_t ngx_http_zt_mask_process(ngx_http_request_t *r,
    ngx_http_zt_mask_ctx_t *mc, ngx_buf_t *b);
static ngx_int_t ngx_http_zt_mask_output(ngx_http_request_t *r,
    ngx_http_zt_mask_ctx_t *mc);
static ngx_int_t ngx_http_zt_mask_fail(ngx_http_request_t *r,
    ngx_http_zt_mask_ctx_t *mc);
static ngx_int_t ngx_http_zt_mask_hold(ngx_http_request_t *r,
    ngx_http_zt_mask_ctx_t *mc);
static void ngx_http_zt_mask_release(ngx_event_t *ev);
static void ngx_http_zt_mask_release_cleanup(void *data);
static ngx_int_t ngx_http_zt_mask_ref(void *data, u_char *p, size_t len);
static ngx_int_t ngx_http_zt_mask_copy(void *data, u_char *p, size_t len);
static ngx_int_t ngx_http_zt_mask_link_mem(ngx_http_zt_mask_ctx_t *mc);
static ngx_chain_t *ngx_http_zt_mask_get_buf(ngx_http_request_t *r,
    ngx_http_zt_mask_ctx_t *mc);


static ngx_http_output_header_filter_pt  ngx_http_zt_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_zt_next_body_filter;


/* always masked; ngx_http_zt_mask_kind() knows them by their place */

static ngx_str_t  ngx_http_zt_mask_default_types[] = {
    ngx_string("application/json"),
    ngx_string("text/event-stream"),
    ngx_string("application/x-ndjson"),
    ngx_string("application/ndjson"),
    ngx_string("application/jsonl"),
    ngx_null_string
};


static ngx_str_t  ngx_http_zt_mask_identity = ngx_string("identity");


/* ---- configuration ---- */


void
ngx_http_zt_mask_init_conf(ngx_http_zt_mask_conf_t *mcf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     mcf->rules = NULL;
     *     mcf->types_keys = NULL;
     *     mcf->types = { NULL };
     *     mcf->request = NULL;
     *     mcf->restore = 0;
     */

    mcf->buffer = NGX_CONF_UNSET_SIZE;
    mcf->off = NGX_CONF_UNSET;
    mcf->request_off = NGX_CONF_UNSET;
}


char *
ngx_http_zt_mask_merge_conf(ngx_conf_t *cf, ngx_http_zt_mask_conf_t *prev,
    ngx_http_zt_mask_conf_t *conf)
{
    ngx_uint_t                i;
    ngx_http_zt_mask_rule_t  *rule;

    /* like allow/deny: the rules of a location replace the inherited ones */

    if (conf->rules == NULL && conf->off == NGX_CONF_UNSET) {
        conf->rules = prev->rules;
    }

    if (conf->off == NGX_CONF_UNSET) {
        conf->off = 0;
    }

    if (conf->request == NULL && conf->request_off == NGX_CONF_UNSET) {
        conf->request = prev->request;
    }

    if (conf->request_off == NGX_CONF_UNSET) {
        conf->request_off = 0;
    }

    conf->restore = 0;

    if (conf->request) {
        rule = conf->request->elts;

        for (i = 0; i < conf->request->nelts; i++) {
            conf->restore |= rule[i].restore;
        }
    }

    ngx_conf_merge_size_value(conf->buffer, prev->buffer, 1024 * 1024);

    if (conf->buffer < 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_mask_buffer\" of %uz bytes is too small",
                           conf->buffer);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_merge_types(cf, &conf->types_keys, &conf->types,
                             &prev->types_keys, &prev->types,
                             ngx_http_zt_mask_default_types)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * zt_mask PATH [with=TEXT] [unless=CONDITION];  zt_mask off;
 * zt_mask_request PATH [with=TEXT] [unless=CONDITION] [restore];
 * zt_mask_request off;
 */

char *
ngx_http_zt_mask_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_loc_conf_t *zlcf = conf;

    ngx_str_t                *value, err;
    ngx_uint_t                i;
    ngx_http_zt_mask_rule_t  *rule;
    ngx_http_zt_jp_step_t    *st;

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        return ngx_http_zt_mask_off(cf, cmd, &zlcf->mask);
    }

    rule = ngx_http_zt_mask_rule_add(cf, cmd, &zlcf->mask);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    rule->type = NGX_HTTP_ZT_MASK_PATH;
    rule->name = value[1];

    ngx_str_null(&err);

    if (ngx_http_zt_jsonpath_compile(cf->pool, &rule->path, &value[1], &err)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JSON path \"%V\" in \"%V\": %V",
                           &value[1], &cmd->name, &err);
        return NGX_CONF_ERROR;
    }

    /* placeholders are named after the last member name: [CONTENT_1] */

    ngx_str_set(&rule->label, "VALUE");
    st = rule->path.steps;

    for (i = rule->path.nsteps; i-- > 0; /* void */) {
        if ((st[i].type == NGX_HTTP_ZT_JP_KEY
             || st[i].type == NGX_HTTP_ZT_JP_DESCEND)
            && st[i].name.len)
        {
            if (ngx_http_zt_mask_label(cf, &rule->label, &st[i].name)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            break;
        }
    }

    return ngx_http_zt_mask_options(cf, cmd, rule, &value[2],
                                    cf->args->nelts - 2);
}


/*
 * zt_mask_pattern DETECTOR|~REGEX [with=TEXT] [unless=CONDITION];
 * zt_mask_request_pattern DETECTOR|~REGEX [with=TEXT] [unless=CONDITION]
 *     [restore];
 */

char *
ngx_http_zt_mask_pattern_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_loc_conf_t *zlcf = conf;

    ngx_str_t                *value;
    ngx_uint_t                n;
    ngx_http_zt_mask_rule_t  *rule;

    value = cf->args->elts;

    rule = ngx_http_zt_mask_rule_add(cf, cmd, &zlcf->mask);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    rule->type = NGX_HTTP_ZT_MASK_PATTERN;

    if (ngx_http_zt_mask_detector(cf, rule, &value[1], cf->args->nelts - 1,
                                  &n)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return ngx_http_zt_mask_options(cf, cmd, rule, &value[1 + n],
                                    cf->args->nelts - 1 - n);
}


/* zt_mask_types TYPE ...;  the default types are always masked */

char *
ngx_http_zt_mask_types_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_command_t  c;

    c = *cmd;
    c.offset = offsetof(ngx_http_zt_loc_conf_t, mask.types_keys);
    c.post = ngx_http_zt_mask_default_types;

    return ngx_http_types_slot(cf, &c, conf);
}


/* the request directives keep their rules apart from the response's */

static ngx_uint_t
ngx_http_zt_mask_request_cmd(ngx_command_t *cmd)
{
    return cmd->offset == offsetof(ngx_http_zt_loc_conf_t, mask.request);
}


static char *
ngx_http_zt_mask_off(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_zt_mask_conf_t *mcf)
{
    ngx_flag_t    *off;
    ngx_array_t   *rules;

    if (ngx_http_zt_mask_request_cmd(cmd)) {
        rules = mcf->request;
        off = &mcf->request_off;

    } else {
        rules = mcf->rules;
        off = &mcf->off;
    }

    if (cf->args->nelts != 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V off\" takes no parameters", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (rules || *off != NGX_CONF_UNSET) {
        return "is duplicate or conflicts with a rule";
    }

    *off = 1;

    return NGX_CONF_OK;
}


static ngx_http_zt_mask_rule_t *
ngx_http_zt_mask_rule_add(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_zt_mask_conf_t *mcf)
{
    ngx_flag_t                off;
    ngx_array_t             **rules;
    ngx_http_zt_mask_rule_t  *rule;

    if (ngx_http_zt_mask_request_cmd(cmd)) {
        rules = &mcf->request;
        off = mcf->request_off;

    } else {
        rules = &mcf->rules;
        off = mcf->off;
    }

    if (off == 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "masking rules conflict with \"%V off\"",
                           &cmd->name);
        return NULL;
    }

    if (*rules == NULL) {
        *rules = ngx_array_create(cf->pool, 4,
                                  sizeof(ngx_http_zt_mask_rule_t));
        if (*rules == NULL) {
            return NULL;
        }
    }

    rule = ngx_array_push(*rules);
    if (rule == NULL) {
        return NULL;
    }

    ngx_memzero(rule, sizeof(ngx_http_zt_mask_rule_t));

    return rule;
}


static char *
ngx_http_zt_mask_options(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_zt_mask_rule_t *rule, ngx_str_t *value, ngx_uint_t n)
{
    char        *rv;
    ngx_str_t    with, text;
    ngx_uint_t   i, have_with;

    static ngx_str_t  redacted = ngx_string("[REDACTED]");

    with = redacted;
    have_with = 0;

    for (i = 0; i < n; i++) {

        if (value[i].len >= 5 && ngx_strncmp(value[i].data, "with=", 5) == 0) {

            if (have_with) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate \"with=\" in \"%V\"",
                                   &cmd->name);
                return NGX_CONF_ERROR;
            }

            with.data = value[i].data + 5;
            with.len = value[i].len - 5;
            have_with = 1;
            continue;
        }

        if (value[i].len >= 7
            && ngx_strncmp(value[i].data, "unless=", 7) == 0)
        {
            if (rule->unless) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate \"unless=\" in \"%V\"",
                                   &cmd->name);
                return NGX_CONF_ERROR;
            }

            text.data = value[i].data + 7;
            text.len = value[i].len - 7;

            if (text.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty condition in \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            rule->unless = ngx_pcalloc(cf->pool, sizeof(ngx_http_zt_cond_t));
            if (rule->unless == NULL) {
                return NGX_CONF_ERROR;
            }

            rv = ngx_http_zt_policy_cond_parse(cf, rule->unless, &text);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (value[i].len == 7 && ngx_strncmp(value[i].data, "restore", 7) == 0
            && ngx_http_zt_mask_request_cmd(cmd))
        {
            if (rule->restore) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate \"restore\" in \"%V\"",
                                   &cmd->name);
                return NGX_CONF_ERROR;
            }

            rule->restore = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\": "
                           "\"with=\", \"unless=\"%s expected",
                           &value[i], &cmd->name,
                           ngx_http_zt_mask_request_cmd(cmd)
                           ? " or \"restore\"" : "");
        return NGX_CONF_ERROR;
    }

    if (rule->restore && have_with) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"restore\" and \"with=\" exclude each other "
                           "in \"%V\": a restored value is replaced by a "
                           "placeholder", &cmd->name);
        return NGX_CONF_ERROR;
    }

    return ngx_http_zt_mask_with(cf, rule, &with);
}


/* the replacement, ready for each place it goes */

static char *
ngx_http_zt_mask_with(ngx_conf_t *cf, ngx_http_zt_mask_rule_t *rule,
    ngx_str_t *with)
{
    u_char  *p;
    size_t   len, i;

    rule->with = *with;

    len = ngx_http_zt_json_escape_len(with->data, with->len);

    p = ngx_pnalloc(cf->pool, len + 2);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    rule->with_json.data = p;
    *p++ = '"';

    rule->with_esc.data = p;
    p = ngx_http_zt_json_escape(p, with->data, with->len);
    rule->with_esc.len = p - rule->with_esc.data;

    *p++ = '"';
    rule->with_json.len = p - rule->with_json.data;

    /* in a plain-text event a line feed would end the data line */

    p = ngx_pnalloc(cf->pool, with->len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < with->len; i++) {
        p[i] = (with->data[i] == '\n' || with->data[i] == '\r')
               ? ' ' : with->data[i];
    }

    rule->with_line.data = p;
    rule->with_line.len = with->len;

    return NGX_CONF_OK;
}


/* ---- the request ---- */


/*
 * Where the filter hooks into nginx: the handler that asks the upstream for
 * an identity encoding, and the header and body filters.  The module's
 * place in the filter chain is set in "config".
 */

ngx_int_t
ngx_http_zt_mask_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_zt_mask_preaccess_handler;

    /*
     * Where no zt_policy judges the request first, its body is masked
     * before the content phase: after every access check, whatever
     * "satisfy" says.
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_zt_mask_request_handler;

    ngx_http_zt_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_zt_mask_header_filter;

    ngx_http_zt_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_zt_mask_body_filter;

    return NGX_OK;
}


/*
 * An upstream asked for gzip would send a body the filter cannot read, and
 * it fails closed on it.  So, where masking is on or usage limits read the
 * answer's usage, the upstream is asked for identity: the Accept-Encoding
 * lines the proxy copies say "identity", while r->headers_in.accept_encoding
 * keeps the client's own value, which the gzip filter and gzip_static read
 * to compress what goes to the client.
 */

static ngx_int_t
ngx_http_zt_mask_preaccess_handler(ngx_http_request_t *r)
{
    ngx_uint_t               i;
    ngx_list_part_t         *part;
    ngx_table_elt_t         *h, *orig;
    ngx_http_zt_loc_conf_t  *zlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    zlcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);

    if ((zlcf->mask.rules == NULL || zlcf->mask.rules->nelts == 0)
        && zlcf->usage.limits == NULL
        && !zlcf->mask.restore)
    {
        return NGX_DECLINED;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != sizeof("Accept-Encoding") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept-Encoding",
                               sizeof("Accept-Encoding") - 1)
               != 0
            || h[i].value.data == ngx_http_zt_mask_identity.data)
        {
            continue;
        }

        if (r->headers_in.accept_encoding == &h[i]) {
            orig = ngx_palloc(r->pool, sizeof(ngx_table_elt_t));
            if (orig == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *orig = h[i];
            r->headers_in.accept_encoding = orig;
        }

        h[i].value = ngx_http_zt_mask_identity;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_zt_mask_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                 enc;
    ngx_int_t                 rc, kind;
    ngx_uint_t                partial;
    ngx_array_t              *restore;
    ngx_http_zt_ctx_t        *zctx;
    ngx_http_zt_loc_conf_t   *zlcf;
    ngx_http_zt_mask_ctx_t   *mc;
    ngx_http_zt_mask_conf_t  *mcf;

    zctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    if (zctx && zctx->mask) {

        if (zctx->mask->state != NGX_HTTP_ZT_MASK_ACTIVE) {
            /* the 502 of a failure, or what follows it */
            return ngx_http_zt_next_header_filter(r);
        }

        /* a response replaced by another filter's: decide again */
        zctx->mask = NULL;
    }

    zlcf = ngx_http_get_module_loc_conf(r, ngx_http_zt_inference_module);
    mcf = &zlcf->mask;

    /* placeholders of the request's masking come back in the answer */

    restore = zctx ? ngx_http_zt_mask_request_restore(zctx) : NULL;

    if (((mcf->rules == NULL || mcf->rules->nelts == 0) && restore == NULL)
        || r != r->main
        || r->method == NGX_HTTP_HEAD
        || r->headers_out.status == NGX_HTTP_NO_CONTENT
        || r->headers_out.status == NGX_HTTP_NOT_MODIFIED
        || (r->headers_out.status && r->headers_out.status < NGX_HTTP_OK)
        || r->headers_out.content_length_n == 0)
    {
        return ngx_http_zt_next_header_filter(r);
    }

    /* zt_mask_types adds to the default types, and nginx keeps only the
     * first of them when the directive is given: the rest are found here */

    kind = ngx_http_zt_mask_kind(r);

    /* a slice of an answer cannot be judged, whatever its type says */

    partial = (r->headers_out.status == NGX_HTTP_PARTIAL_CONTENT);

    if (kind == NGX_DECLINED && !partial
        && ngx_http_test_content_type(r, &mcf->types) == NULL)
    {
        return ngx_http_zt_next_header_filter(r);
    }

    zctx = ngx_http_zt_get_ctx(r);
    if (zctx == NULL) {
        return NGX_ERROR;
    }

    mc = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_mask_ctx_t));
    if (mc == NULL) {
        return NGX_ERROR;
    }

    mc->req.max = mcf->buffer;
    mc->req.masked = &zctx->masked;
    mc->req.restore = restore;

    rc = ngx_http_zt_mask_select(r, &mc->req, mcf->rules, zctx);

    if (rc == NGX_DECLINED) {
        /* every rule's "unless" holds for this caller */
        return ngx_http_zt_next_header_filter(r);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    mc->state = NGX_HTTP_ZT_MASK_ACTIVE;
    mc->last_out = &mc->out;
    zctx->mask = mc;

    if (partial || ngx_http_zt_mask_encoded(r, &enc)) {
        if (partial) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "zt: mask: a partial answer (206) cannot be masked");

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "zt: mask: the response has "
                          "\"Content-Encoding: %V\", which cannot be masked",
                          &enc);
        }

        mc->state = NGX_HTTP_ZT_MASK_FINALIZING;

        rc = ngx_http_filter_finalize_request(r, &ngx_http_zt_inference_module,
                                              NGX_HTTP_BAD_GATEWAY);

        mc->state = NGX_HTTP_ZT_MASK_FAILED;

        return rc;
    }

    mc->emit.ref = ngx_http_zt_mask_ref;
    mc->emit.copy = ngx_http_zt_mask_copy;
    mc->emit.data = mc;
    mc->r = r;

    if (kind > 0) {
        mc->sse = ngx_http_zt_mask_sse_create(&mc->req, &mc->emit,
                                              kind == 2);
        if (mc->sse == NULL) {
            return NGX_ERROR;
        }

    } else {
        mc->json = ngx_http_zt_mask_json_create(&mc->req, &mc->emit);
        if (mc->json == NULL) {
            return NGX_ERROR;
        }

        ngx_http_zt_mask_json_reset(mc->json);
    }

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_weak_etag(r);

    r->filter_need_in_memory = 1;

    /* the header waits for the first masked bytes: see the top of the file */

    return NGX_OK;
}


/*
 * Which default type the answer has: 0 JSON, 1 server-sent events, 2
 * newline-delimited JSON, NGX_DECLINED none.  Read from the header itself:
 * with "zt_mask_types *" nginx never lowercases it.  An answer without a
 * type is read as JSON, as clients will, so it is masked or refused.
 */

static ngx_int_t
ngx_http_zt_mask_kind(ngx_http_request_t *r)
{
    ngx_uint_t   i;
    ngx_str_t   *t;

    if (r->headers_out.content_type.len == 0) {
        return 0;
    }

    for (i = 0; ngx_http_zt_mask_default_types[i].len; i++) {
        t = &ngx_http_zt_mask_default_types[i];

        if (r->headers_out.content_type_len == t->len
            && ngx_strncasecmp(r->headers_out.content_type.data, t->data,
                               t->len)
               == 0)
        {
            return (i < 2) ? (ngx_int_t) i : 2;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_zt_mask_encoded(ngx_http_request_t *r, ngx_str_t *enc)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != sizeof("Content-Encoding") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Encoding",
                               sizeof("Content-Encoding") - 1)
               != 0
            || h[i].value.len == 0
            || (h[i].value.len == 8
                && ngx_strncasecmp(h[i].value.data, (u_char *) "identity", 8)
                   == 0))
        {
            continue;
        }

        *enc = h[i].value;
        return 1;
    }

    h = r->headers_out.content_encoding;

    if (h && h->hash && h->value.len
        && !(h->value.len == 8
             && ngx_strncasecmp(h->value.data, (u_char *) "identity", 8) == 0))
    {
        *enc = h->value;
        return 1;
    }

    return 0;
}


static ngx_int_t
ngx_http_zt_mask_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_chain_t             *cl;
    ngx_http_zt_ctx_t       *zctx;
    ngx_http_zt_mask_ctx_t  *mc;

    zctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    if (zctx == NULL || zctx->mask == NULL
        || zctx->mask->state == NGX_HTTP_ZT_MASK_FINALIZING)
    {
        return ngx_http_zt_next_body_filter(r, in);
    }

    mc = zctx->mask;

    if (mc->state == NGX_HTTP_ZT_MASK_FAILED) {

        /* what the upstream still sends after a failure goes nowhere */

        for (cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        return NGX_ERROR;
    }

    if (in && ngx_chain_add_copy(r->pool, &mc->in, in) != NGX_OK) {
        return NGX_ERROR;
    }

    while (mc->in) {
        cl = mc->in;
        b = cl->buf;
        mc->in = cl->next;

        ngx_free_chain(r->pool, cl);

        if (ngx_http_zt_mask_process(r, mc, b) != NGX_OK) {
            return ngx_http_zt_mask_fail(r, mc);
        }
    }

    if (!mc->header_sent) {

        if (mc->bytes == 0 && !mc->last) {

            /* nothing to send yet: inputs are done with, the header waits */

            for (cl = mc->out; cl; cl = cl->next) {
                if (cl->buf->shadow) {
                    cl->buf->shadow->pos = cl->buf->shadow->last;
                }
            }

            if (mc->out) {
                *mc->last_out = mc->free;
                mc->free = mc->out;
                mc->out = NULL;
                mc->last_out = &mc->out;
            }

            return NGX_OK;
        }

        if (!mc->last && !mc->released
            && mc->bytes <= (off_t) ngx_min(mc->req.max,
                                            NGX_HTTP_ZT_MASK_HOLD))
        {
            return ngx_http_zt_mask_hold(r, mc);
        }

        if (mc->release.posted) {
            ngx_delete_posted_event(&mc->release);
        }

        mc->header_sent = 1;

        rc = ngx_http_zt_next_header_filter(r);

        if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
            return rc;
        }
    }

    return ngx_http_zt_mask_output(r, mc);
}


/* one input buffer through the scanner or the parser */

static ngx_int_t
ngx_http_zt_mask_process(ngx_http_request_t *r, ngx_http_zt_mask_ctx_t *mc,
    ngx_buf_t *b)
{
    u_char       *p, *last;
    off_t         before;
    ngx_int_t     rc;
    ngx_buf_t    *nb;
    ngx_chain_t  *cl;

    if (ngx_buf_in_memory(b)) {
        p = b->pos;
        last = b->last;

    } else if (ngx_buf_size(b) == 0) {
        p = NULL;
        last = NULL;

    } else {
        /* filter_need_in_memory asks the copy filter for memory */
        mc->req.err = "a response buffer is not in memory";
        return NGX_ERROR;
    }

    before = mc->bytes;
    mc->req.error_at = -1;
    mc->size = last - p;

    if (mc->json) {
        rc = ngx_http_zt_mask_json_feed(mc->json, p, last, b->last_buf);

    } else {
        rc = ngx_http_zt_mask_sse_feed(mc->sse, p, last, b->last_buf);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    mc->req.base += last - p;

    if (b->last_buf) {
        mc->last = 1;
    }

    if (ngx_http_zt_mask_link_mem(mc) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * The input buffer is released only once everything before this link
     * is sent: part of it may still be referenced.  The link also carries
     * the input's flags; an event goes out at once.
     */

    cl = ngx_http_zt_mask_get_buf(r, mc);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    nb = cl->buf;
    nb->sync = 1;
    nb->shadow = b;
    nb->last_buf = b->last_buf;
    nb->last_in_chain = b->last_in_chain;
    nb->flush = b->flush || (mc->sse && mc->bytes != before);
    nb->recycled = b->recycled;

    *mc->last_out = cl;
    mc->last_out = &cl->next;
    mc->last_ref = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_mask_output(ngx_http_request_t *r, ngx_http_zt_mask_ctx_t *mc)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    rc = ngx_http_zt_next_body_filter(r, mc->out);

    if (mc->busy == NULL) {
        mc->busy = mc->out;

    } else {
        for (cl = mc->busy; cl->next; cl = cl->next) { /* void */ }
        cl->next = mc->out;
    }

    mc->out = NULL;
    mc->last_out = &mc->out;
    mc->last_ref = NULL;

    while (mc->busy) {
        cl = mc->busy;
        b = cl->buf;

        if (ngx_buf_size(b) != 0) {
            break;
        }

        if (b->shadow) {
            b->shadow->pos = b->shadow->last;
        }

        mc->busy = cl->next;

        if (b->temporary && b->start) {
            b->pos = b->start;
            b->last = b->start;
            cl->next = mc->free_mem;
            mc->free_mem = cl;

        } else {
            cl->next = mc->free;
            mc->free = cl;
        }
    }

    return rc;
}


static ngx_int_t
ngx_http_zt_mask_fail(ngx_http_request_t *r, ngx_http_zt_mask_ctx_t *mc)
{
    u_char     *p, where[64];
    ngx_int_t   rc;

    p = where;

    if (mc->req.error_at >= 0) {
        p = ngx_snprintf(where, sizeof(where), " at byte %O of %s",
                         mc->req.error_at,
                         mc->sse ? "an event's data" : "the response");
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "zt: mask: %s%*s, %s",
                  mc->req.err ? mc->req.err : "masking failed",
                  (size_t) (p - where), where,
                  mc->header_sent ? "connection closed" : "answered 502");

    mc->out = NULL;
    mc->last_out = &mc->out;
    mc->in = NULL;

    if (mc->release.posted) {
        ngx_delete_posted_event(&mc->release);
    }

    if (!mc->header_sent) {
        mc->state = NGX_HTTP_ZT_MASK_FINALIZING;

        rc = ngx_http_filter_finalize_request(r, &ngx_http_zt_inference_module,
                                              NGX_HTTP_BAD_GATEWAY);

        mc->state = NGX_HTTP_ZT_MASK_FAILED;

        return rc;
    }

    mc->state = NGX_HTTP_ZT_MASK_FAILED;
    r->keepalive = 0;

    return NGX_ERROR;
}


/*
 * The first masked bytes are ready but the end of the answer is not in: the
 * header waits until the end of this turn of the event loop.  An upstream
 * that has the whole answer hands it over in that same turn (its end, the
 * last buffer, comes in a call of its own), so an answer that arrived whole
 * and fails at its end still gets a 502.  Only what arrives later, or after
 * 64 KiB (or zt_mask_buffer if less), can fail after the header: then the
 * connection is closed.  What waits is copied and the inputs are let go, as
 * if sent: an upstream ends the response only once its buffers are free.
 */

static ngx_int_t
ngx_http_zt_mask_hold(ngx_http_request_t *r, ngx_http_zt_mask_ctx_t *mc)
{
    off_t                bytes;
    ngx_buf_t           *b;
    ngx_chain_t         *cl, *next;
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_zt_mask_link_mem(mc) != NGX_OK) {
        return NGX_ERROR;
    }

    cl = mc->out;
    mc->out = NULL;
    mc->last_out = &mc->out;
    mc->last_ref = NULL;
    bytes = mc->bytes;

    for ( /* void */ ; cl; cl = next) {
        next = cl->next;
        b = cl->buf;

        if (b->shadow) {
            b->shadow->pos = b->shadow->last;
            b->shadow = NULL;
        }

        if (b->memory) {
            /* a reference into an input or the configuration */

            if (ngx_http_zt_mask_copy(mc, b->pos, b->last - b->pos)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            cl->next = mc->free;
            mc->free = cl;
            continue;
        }

        if (ngx_http_zt_mask_link_mem(mc) != NGX_OK) {
            return NGX_ERROR;
        }

        cl->next = NULL;
        *mc->last_out = cl;
        mc->last_out = &cl->next;
    }

    if (ngx_http_zt_mask_link_mem(mc) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the copies are not more output */
    mc->bytes = bytes;

    if (mc->release.posted) {
        return NGX_OK;
    }

    if (!mc->cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_zt_mask_release_cleanup;
        cln->data = mc;
        mc->cleanup = 1;

        mc->release.handler = ngx_http_zt_mask_release;
        mc->release.data = mc;
        mc->release.log = r->connection->log;
    }

    ngx_post_event(&mc->release, &ngx_posted_events);

    return NGX_OK;
}


static void
ngx_http_zt_mask_release(ngx_event_t *ev)
{
    ngx_http_zt_mask_ctx_t *mc = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = mc->r;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (mc->state != NGX_HTTP_ZT_MASK_ACTIVE || mc->header_sent) {
        return;
    }

    mc->released = 1;

    if (ngx_http_zt_mask_body_filter(r, NULL) == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_zt_mask_release_cleanup(void *data)
{
    ngx_http_zt_mask_ctx_t *mc = data;

    if (mc->release.posted) {
        ngx_delete_posted_event(&mc->release);
    }
}


/* ---- output ---- */


static ngx_int_t
ngx_http_zt_mask_ref(void *data, u_char *p, size_t len)
{
    ngx_http_zt_mask_ctx_t *mc = data;

    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    /* the usual span where masking cuts: short, into the buffer being
     * filled (as ngx_http_zt_mask_copy() would, without its loop) */

    if (len < NGX_HTTP_ZT_MASK_REF_MIN && mc->mem) {
        b = mc->mem->buf;

        if ((size_t) (b->end - b->last) >= len) {
            mc->bytes += len;
            b->last = ngx_cpymem(b->last, p, len);
            return NGX_OK;
        }
    }

    if (len == 0) {
        return NGX_OK;
    }

    if (mc->mem == NULL && mc->last_ref && mc->last_ref->last == p) {
        mc->bytes += len;
        mc->last_ref->last += len;
        return NGX_OK;
    }

    /*
     * A link costs more on its way to the socket than copying a short
     * span: where masking cuts a buffer into many pieces, they are copied
     * into a few large buffers.  Unchanged bytes at the start of an input
     * are referenced: an input without a match then goes out as it came.
     */

    if (len < NGX_HTTP_ZT_MASK_REF_MIN && (mc->mem || mc->last_ref)) {
        return ngx_http_zt_mask_copy(data, p, len);
    }

    mc->bytes += len;

    if (ngx_http_zt_mask_link_mem(mc) != NGX_OK) {
        return NGX_ERROR;
    }

    cl = ngx_http_zt_mask_get_buf(mc->r, mc);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;
    b->memory = 1;
    b->pos = p;
    b->last = p + len;

    *mc->last_out = cl;
    mc->last_out = &cl->next;
    mc->last_ref = b;

    return NGX_OK;
}


static ngx_int_t
ngx_http_zt_mask_copy(void *data, u_char *p, size_t len)
{
    ngx_http_zt_mask_ctx_t *mc = data;

    size_t        n, size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    mc->bytes += len;

    while (len) {

        if (mc->mem && mc->mem->buf->last == mc->mem->buf->end) {
            if (ngx_http_zt_mask_link_mem(mc) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (mc->mem == NULL) {

            if (mc->free_mem) {
                cl = mc->free_mem;
                mc->free_mem = cl->next;

            } else {
                /* room for what the input still holds, within bounds */

                size = ngx_max(len, mc->size + mc->size / 4);
                size = ngx_align(size, NGX_HTTP_ZT_MASK_BUF_SIZE);
                size = ngx_min(size, NGX_HTTP_ZT_MASK_BUF_MAX);

                b = ngx_create_temp_buf(mc->r->pool, size);
                if (b == NULL) {
                    return NGX_ERROR;
                }

                b->tag = (ngx_buf_tag_t) &ngx_http_zt_inference_module;

                cl = ngx_alloc_chain_link(mc->r->pool);
                if (cl == NULL) {
                    return NGX_ERROR;
                }

                cl->buf = b;
            }

            cl->next = NULL;
            mc->mem = cl;
        }

        b = mc->mem->buf;
        n = ngx_min(len, (size_t) (b->end - b->last));

        b->last = ngx_cpymem(b->last, p, n);
        p += n;
        len -= n;
    }

    return NGX_OK;
}


/* the memory buffer being filled goes after what is already linked */

static ngx_int_t
ngx_http_zt_mask_link_mem(ngx_http_zt_mask_ctx_t *mc)
{
    ngx_chain_t  *cl;

    cl = mc->mem;

    if (cl == NULL) {
        return NGX_OK;
    }

    mc->mem = NULL;

    if (cl->buf->last == cl->buf->pos) {
        cl->next = mc->free_mem;
        mc->free_mem = cl;
        return NGX_OK;
    }

    cl->next = NULL;
    *mc->last_out = cl;
    mc->last_out = &cl->next;
    mc->last_ref = NULL;

    return NGX_OK;
}


static ngx_chain_t *
ngx_http_zt_mask_get_buf(ngx_http_request_t *r, ngx_http_zt_mask_ctx_t *mc)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (mc->free) {
        cl = mc->free;
        mc->free = cl->next;
        ngx_memzero(cl->buf, sizeof(ngx_buf_t));

    } else {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NULL;
        }

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NULL;
        }

        cl->buf = b;
    }

    cl->buf->tag = (ngx_buf_tag_t) &ngx_http_zt_inference_module;
    cl->next = NULL;

    return cl;
}
