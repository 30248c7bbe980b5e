
/*
 * zt_policy: the ordered allow/deny/approve rules of a location, their
 * conditions (parsed and compiled once, at configuration time) and their
 * evaluation against the verified caller, the request line and, when a
 * rule asks for it, the request body.
 */


#include "ngx_http_zt_inference.h"


#define NGX_HTTP_ZT_NUMBER_LEN  64


typedef struct {
    ngx_http_zt_cond_t         *cond;
} ngx_http_zt_policy_select_t;


static char *ngx_http_zt_policy_cond_json(ngx_conf_t *cf,
    ngx_http_zt_cond_t *cond, ngx_str_t *spec);
static u_char *ngx_http_zt_policy_path_end(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_policy_path_top(ngx_http_zt_jsonpath_t *path);
static ngx_int_t ngx_http_zt_policy_member_holds(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_cond_t *cond);
static char *ngx_http_zt_policy_cond_error(ngx_conf_t *cf, char *what,
    ngx_str_t *text);
static ngx_int_t ngx_http_zt_policy_strs_has(ngx_array_t *a, ngx_str_t *s);
static ngx_int_t ngx_http_zt_policy_join(ngx_conf_t *cf, ngx_str_t *value);
static ngx_int_t ngx_http_zt_policy_claim_holds(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_cond_t *cond);
static ngx_int_t ngx_http_zt_policy_json_holds(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_cond_t *cond);
static ngx_int_t ngx_http_zt_policy_json_value(json_t *value, void *data);
static ngx_int_t ngx_http_zt_policy_equals(json_t *v, ngx_str_t *text);
static ngx_int_t ngx_http_zt_policy_number(ngx_str_t *text, double *d);
static ngx_int_t ngx_http_zt_policy_text(json_t *v, u_char *buf,
    ngx_str_t *text);


/*
 * The operator may stand apart from its value, as in the reference's
 * body~* "drop\s+table": an argument that ends in an operator with nothing
 * after it is joined with the next one.  Returns the number of conditions,
 * which are then value[2] and on.
 */

static ngx_int_t
ngx_http_zt_policy_join(ngx_conf_t *cf, ngx_str_t *value)
{
    u_char      *p, *eq;
    ngx_str_t    a, *arg;
    ngx_uint_t   i, n, open;

    n = 2;
    arg = &a;

    for (i = 2; i < cf->args->nelts; i++) {
        a = value[i];

        eq = ngx_strlchr(arg->data, arg->data + arg->len, '=');

        open = (arg->len && arg->data[arg->len - 1] == '~')
               || (arg->len > 1 && arg->data[arg->len - 2] == '~'
                   && arg->data[arg->len - 1] == '*')
               || (eq && eq == arg->data + arg->len - 1);

        if (open && i + 1 < cf->args->nelts) {
            p = ngx_pnalloc(cf->pool, arg->len + value[i + 1].len + 1);
            if (p == NULL) {
                return NGX_ERROR;
            }

            value[n].data = p;
            p = ngx_cpymem(p, arg->data, arg->len);
            p = ngx_cpymem(p, value[i + 1].data, value[i + 1].len);
            *p = '\0';
            value[n].len = p - value[n].data;

            i++;
            n++;
            continue;
        }

        value[n++] = *arg;
    }

    return n - 2;
}


char *
ngx_http_zt_policy_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_policy_conf_t  *pcf;

    char                *rv;
    ngx_int_t            n;
    ngx_str_t           *value;
    ngx_uint_t           i;
    ngx_http_zt_rule_t  *rule;

    pcf = (ngx_http_zt_policy_conf_t *) ((char *) conf + cmd->offset);

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {

        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V: \"off\" takes no conditions", &value[0]);
            return NGX_CONF_ERROR;
        }

        if (pcf->enabled == 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V: \"off\" together with rules in the same "
                               "block", &value[0]);
            return NGX_CONF_ERROR;
        }

        if (pcf->enabled == 0) {
            return "is duplicate";
        }

        pcf->enabled = 0;

        return NGX_CONF_OK;
    }

    if (pcf->enabled == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: rules together with \"off\" in the same "
                           "block", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (pcf->rules == NULL) {
        pcf->rules = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_zt_rule_t));
        if (pcf->rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rule = ngx_array_push(pcf->rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[1].data, "allow") == 0) {
        rule->action = NGX_HTTP_ZT_ALLOW;

    } else if (ngx_strcmp(value[1].data, "deny") == 0) {
        rule->action = NGX_HTTP_ZT_DENY;

    } else if (ngx_strcmp(value[1].data, "approve") == 0) {
        rule->action = NGX_HTTP_ZT_APPROVE;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: unknown action \"%V\", "
                           "expected allow, deny, approve or off",
                           &value[0], &value[1]);
        return NGX_CONF_ERROR;
    }

    rule->line = cf->conf_file->line;
    rule->conds = NULL;

    n = ngx_http_zt_policy_join(cf, value);
    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    rule->nconds = n;

    if (rule->nconds) {
        rule->conds = ngx_pcalloc(cf->pool,
                                  rule->nconds * sizeof(ngx_http_zt_cond_t));
        if (rule->conds == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; i < rule->nconds; i++) {

        rv = ngx_http_zt_policy_cond_parse(cf, &rule->conds[i],
                                           &value[i + 2]);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        switch (rule->conds[i].type) {
        case NGX_HTTP_ZT_COND_BODY_RE:
            pcf->body_re = 1;
            break;
        case NGX_HTTP_ZT_COND_JSON_EQ:
        case NGX_HTTP_ZT_COND_JSON_RE:
            pcf->body_json = 1;

            if (!ngx_http_zt_policy_path_top(&rule->conds[i].path)) {
                pcf->body_json_deep = 1;
            }

            break;
        default:
            break;
        }
    }

    /*
     * set here, not left for the merge: a parent's "zt_policy off" must
     * not switch off the rules of a nested location
     */

    pcf->enabled = 1;

    return NGX_CONF_OK;
}


/*
 * Parses one condition.  Messages name the directive being parsed (the
 * masking directives reuse this for "unless="), and values point into the
 * configuration text, which lives as long as the configuration.
 */

char *
ngx_http_zt_policy_cond_parse(ngx_conf_t *cf, ngx_http_zt_cond_t *cond,
    ngx_str_t *text)
{
    u_char     *p, *last, *eq;
    ngx_str_t   re;
    ngx_uint_t  caseless;

    ngx_memzero(cond, sizeof(ngx_http_zt_cond_t));

    cond->text = *text;

    p = text->data;
    last = p + text->len;

#define ngx_http_zt_prefix(s)                                                 \
    ((size_t) (last - p) >= sizeof(s) - 1                                     \
     && ngx_strncmp(p, s, sizeof(s) - 1) == 0)

    if (ngx_http_zt_prefix("scope=")) {
        cond->type = NGX_HTTP_ZT_COND_SCOPE;
        p += sizeof("scope=") - 1;

    } else if (ngx_http_zt_prefix("group=")) {
        cond->type = NGX_HTTP_ZT_COND_GROUP;
        p += sizeof("group=") - 1;

    } else if (ngx_http_zt_prefix("sub=")) {
        cond->type = NGX_HTTP_ZT_COND_CLAIM;
        ngx_str_set(&cond->name, "sub");
        p += sizeof("sub=") - 1;

    } else if (ngx_http_zt_prefix("claim.")) {
        cond->type = NGX_HTTP_ZT_COND_CLAIM;
        p += sizeof("claim.") - 1;

        eq = ngx_strlchr(p, last, '=');
        if (eq == NULL) {
            return ngx_http_zt_policy_cond_error(cf, "unknown condition",
                                                 text);
        }

        cond->name.data = p;
        cond->name.len = eq - p;

        if (cond->name.len == 0
            || cond->name.data[0] == '.'
            || cond->name.data[cond->name.len - 1] == '.'
            || ngx_strlcasestrn(p, eq, (u_char *) "..", 2 - 1) != NULL)
        {
            return ngx_http_zt_policy_cond_error(cf, "invalid claim name in",
                                                 text);
        }

        p = eq + 1;

    } else if (ngx_http_zt_prefix("method=")) {
        cond->type = NGX_HTTP_ZT_COND_METHOD;
        p += sizeof("method=") - 1;

        for (eq = p; eq < last; eq++) {
            if (*eq < 'A' || *eq > 'Z') {
                return ngx_http_zt_policy_cond_error(cf,
                                        "method must be in upper case letters "
                                        "(methods are case-sensitive) in",
                                        text);
            }
        }

    } else if (ngx_http_zt_prefix("body~")) {
        cond->type = NGX_HTTP_ZT_COND_BODY_RE;
        p += sizeof("body~") - 1;

        caseless = 0;

        if (p < last && *p == '*') {
            caseless = 1;
            p++;
        }

        if (p == last) {
            return ngx_http_zt_policy_cond_error(cf, "empty value in", text);
        }

        re.data = p;
        re.len = last - p;

        return ngx_http_zt_regex_compile(cf, &cond->re, &re, caseless);

    } else if (ngx_http_zt_prefix("json:")) {
        p += sizeof("json:") - 1;

        re.data = p;
        re.len = last - p;

        return ngx_http_zt_policy_cond_json(cf, cond, &re);

    } else {
        return ngx_http_zt_policy_cond_error(cf, "unknown condition", text);
    }

#undef ngx_http_zt_prefix

    if (p == last) {
        return ngx_http_zt_policy_cond_error(cf, "empty value in", text);
    }

    cond->value.data = p;
    cond->value.len = last - p;

    return NGX_CONF_OK;
}


/* json:PATH=V, json:PATH~RE, json:PATH~*RE */

static char *
ngx_http_zt_policy_cond_json(ngx_conf_t *cf, ngx_http_zt_cond_t *cond,
    ngx_str_t *spec)
{
    u_char     *p, *last;
    ngx_str_t   path, value, err, *args;
    ngx_uint_t  caseless;

    args = cf->args->elts;

    p = spec->data;
    last = p + spec->len;

    p = ngx_http_zt_policy_path_end(p, last);

    if (p == last) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: expected \"=\" or \"~\" after the JSON path "
                           "in \"%V\"", &args[0], &cond->text);
        return NGX_CONF_ERROR;
    }

    path.data = spec->data;
    path.len = p - spec->data;

    ngx_str_null(&err);

    if (ngx_http_zt_jsonpath_compile(cf->pool, &cond->path, &path, &err)
        != NGX_OK)
    {
        if (err.len == 0) {
            ngx_str_set(&err, "cannot compile");
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: invalid JSON path \"%V\" in \"%V\": %V",
                           &args[0], &path, &cond->text, &err);
        return NGX_CONF_ERROR;
    }

    caseless = 0;

    if (*p == '=') {
        cond->type = NGX_HTTP_ZT_COND_JSON_EQ;
        p++;

    } else {
        cond->type = NGX_HTTP_ZT_COND_JSON_RE;
        p++;

        if (p < last && *p == '*') {
            caseless = 1;
            p++;
        }
    }

    if (p == last) {
        return ngx_http_zt_policy_cond_error(cf, "empty value in",
                                             &cond->text);
    }

    value.data = p;
    value.len = last - p;

    if (cond->type == NGX_HTTP_ZT_COND_JSON_EQ) {
        cond->value = value;
        return NGX_CONF_OK;
    }

    return ngx_http_zt_regex_compile(cf, &cond->re, &value, caseless);
}


/* $.name: a member of the outermost object, found without a tree */

static ngx_uint_t
ngx_http_zt_policy_path_top(ngx_http_zt_jsonpath_t *path)
{
    return path->nsteps == 1 && path->steps[0].type == NGX_HTTP_ZT_JP_KEY;
}


/*
 * The operator after a path is its first "=" or "~" outside brackets:
 * a quoted name ($['a=b']) may hold either.
 */

static u_char *
ngx_http_zt_policy_path_end(u_char *p, u_char *last)
{
    u_char  quote, bracket;

    quote = 0;
    bracket = 0;

    for ( /* void */ ; p < last; p++) {

        if (quote) {
            if (*p == '\\' && p + 1 < last) {
                p++;

            } else if (*p == quote) {
                quote = 0;
            }

            continue;
        }

        if (bracket) {
            if (*p == '\'' || *p == '"') {
                quote = *p;

            } else if (*p == ']') {
                bracket = 0;
            }

            continue;
        }

        switch (*p) {
        case '[':
            bracket = 1;
            break;

        case '=':
        case '~':
            return p;
        }
    }

    return last;
}


static char *
ngx_http_zt_policy_cond_error(ngx_conf_t *cf, char *what, ngx_str_t *text)
{
    ngx_str_t  *args;

    args = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: %s \"%V\"",
                       &args[0], what, text);

    return NGX_CONF_ERROR;
}


/*
 * Returns 1 when the condition holds, 0 when not, NGX_ERROR when it
 * cannot be told (the body was not read, a match hit PCRE2's limits):
 * callers treat that as "does not hold" and log it.
 */

ngx_int_t
ngx_http_zt_policy_cond_holds(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_cond_t *cond)
{
    switch (cond->type) {

    case NGX_HTTP_ZT_COND_SCOPE:

        if (!ctx->verified) {
            return 0;
        }

        if (ngx_http_zt_policy_strs_has(ctx->id.scopes, &cond->value)) {
            return 1;
        }

        /* just-in-time grants, once looked up (docs/reference.md) */

        if (ctx->grants_loaded
            && ngx_http_zt_policy_strs_has(ctx->grants, &cond->value))
        {
            return 1;
        }

        return 0;

    case NGX_HTTP_ZT_COND_GROUP:

        if (!ctx->verified) {
            return 0;
        }

        return ngx_http_zt_policy_strs_has(ctx->id.groups, &cond->value);

    case NGX_HTTP_ZT_COND_CLAIM:
        return ngx_http_zt_policy_claim_holds(r, ctx, cond);

    case NGX_HTTP_ZT_COND_METHOD:
        return r->method_name.len == cond->value.len
               && ngx_strncmp(r->method_name.data, cond->value.data,
                              cond->value.len) == 0;

    case NGX_HTTP_ZT_COND_BODY_RE:
        return ngx_http_zt_body_match(ctx, &cond->re);

    case NGX_HTTP_ZT_COND_JSON_EQ:
    case NGX_HTTP_ZT_COND_JSON_RE:
        return ngx_http_zt_policy_json_holds(r, ctx, cond);
    }

    return NGX_ERROR;
}


/*
 * The first rule whose conditions all hold, or NULL.
 *
 * A rule that fails on scope= conditions alone sets ctx->scope_missed:
 * a just-in-time grant may make it hold, so whoever looks the grants up
 * (ctx->grants, ctx->grants_loaded) decides again afterwards.
 *
 * A condition that cannot be evaluated does not hold.  In a deny or an
 * approve rule that would let the request slip past the rule meant to stop
 * it, so the walk ends there: NULL, with ctx->decision set to
 * NGX_HTTP_ZT_DECISION_ERROR.
 */

ngx_http_zt_rule_t *
ngx_http_zt_policy_decide(ngx_http_request_t *r,
    ngx_http_zt_policy_conf_t *pcf, ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_uint_t           i, j, holds, scope_only;
    ngx_http_zt_cond_t  *cond;
    ngx_http_zt_rule_t  *rule;

    ctx->scope_missed = 0;

    if (pcf->rules == NULL) {
        return NULL;
    }

    rule = pcf->rules->elts;

    for (i = 0; i < pcf->rules->nelts; i++) {

        holds = 1;
        scope_only = 0;

        for (j = 0; j < rule[i].nconds; j++) {

            cond = &rule[i].conds[j];

            rc = ngx_http_zt_policy_cond_holds(r, ctx, cond);

            if (rc == 1) {
                continue;
            }

            if (rc == NGX_ERROR) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "zt: condition \"%V\" of the zt_policy rule at "
                              "line %ui cannot be evaluated",
                              &cond->text, rule[i].line);

                if (rule[i].action != NGX_HTTP_ZT_ALLOW) {
                    ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
                    return NULL;
                }

                holds = 0;
                scope_only = 0;
                break;
            }

            /* rc == 0: look on past a missing scope, a grant may give it */

            holds = 0;

            if (cond->type == NGX_HTTP_ZT_COND_SCOPE) {
                scope_only = 1;
                continue;
            }

            scope_only = 0;
            break;
        }

        if (holds) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "zt: zt_policy rule at line %ui holds",
                           rule[i].line);
            return &rule[i];
        }

        if (scope_only) {
            ctx->scope_missed = 1;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_zt_policy_strs_has(ngx_array_t *a, ngx_str_t *s)
{
    ngx_str_t   *str;
    ngx_uint_t   i;

    if (a == NULL) {
        return 0;
    }

    str = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (str[i].len == s->len
            && ngx_strncmp(str[i].data, s->data, s->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_zt_policy_claim_holds(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_cond_t *cond)
{
    size_t   i;
    json_t  *v, *e, *claims;

    claims = ctx->verified ? ngx_http_zt_jwt_claims(r, &ctx->id) : NULL;

    if (claims == NULL) {
        return 0;
    }

    switch (ngx_http_zt_jwt_claim(claims, &cond->name, &v,
                                  r->connection->log))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        return 0;

    default:
        return NGX_ERROR;
    }

    /* roles and the like are arrays: the claim holds V when one is V */

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            if (ngx_http_zt_policy_equals(e, &cond->value)) {
                return 1;
            }
        }

        return 0;
    }

    return ngx_http_zt_policy_equals(v, &cond->value);
}


static ngx_int_t
ngx_http_zt_policy_json_holds(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_cond_t *cond)
{
    json_t                       *json;
    ngx_int_t                     rc;
    ngx_http_zt_policy_select_t   sel;

    if (!ctx->body_read) {
        return NGX_ERROR;
    }

    if (ctx->body_json_members && ngx_http_zt_policy_path_top(&cond->path)) {
        return ngx_http_zt_policy_member_holds(r, ctx, cond);
    }

    json = ngx_http_zt_body_json(r, ctx);

    if (json == NULL) {
        /* not JSON: no value is at any path */
        return ctx->body_error ? NGX_ERROR : 0;
    }

    sel.cond = cond;

    rc = ngx_http_zt_jsonpath_select(&cond->path, json,
                                     ngx_http_zt_policy_json_value, &sel);

    if (rc == NGX_DONE) {
        return 1;
    }

    if (rc == NGX_OK) {
        return 0;
    }

    return NGX_ERROR;
}


/*
 * A json: condition on a top-level member, from the members the judging
 * read found: a string is matched as it is; a number or a literal is
 * built alone, as the tree would have it; an object or an array matches
 * no value, as in the tree.
 */

static ngx_int_t
ngx_http_zt_policy_member_holds(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_cond_t *cond)
{
    ngx_int_t                     rc;
    ngx_str_t                    *name;
    ngx_uint_t                    i;
    ngx_http_zt_json_read_t       rd;
    ngx_http_zt_json_member_t    *m;
    ngx_http_zt_policy_select_t   sel;

    if (ctx->body_members == NULL) {
        return 0;
    }

    name = &cond->path.steps[0].name;
    m = ctx->body_members->elts;

    for (i = 0; i < ctx->body_members->nelts; i++) {
        if (m[i].name.len == name->len
            && ngx_memcmp(m[i].name.data, name->data, name->len) == 0)
        {
            break;
        }
    }

    if (i == ctx->body_members->nelts
        || m[i].type == JSON_OBJECT || m[i].type == JSON_ARRAY)
    {
        return 0;
    }

    m = &m[i];

    if (m->type == JSON_STRING) {
        if (cond->type == NGX_HTTP_ZT_COND_JSON_EQ) {
            return m->value.len == cond->value.len
                   && ngx_memcmp(m->value.data, cond->value.data,
                                 m->value.len) == 0;
        }

        return ngx_http_zt_regex_match(&cond->re, m->value.data,
                                       m->value.len);
    }

    ngx_memzero(&rd, sizeof(ngx_http_zt_json_read_t));
    rd.pool = r->pool;
    rd.build = 1;

    if (ngx_http_zt_json_read(&rd, m->value.data, m->value.len) != NGX_OK) {
        return NGX_ERROR;
    }

    sel.cond = cond;

    rc = ngx_http_zt_policy_json_value(rd.root, &sel);

    json_decref(rd.root);

    if (rc == NGX_DONE) {
        return 1;
    }

    return (rc == NGX_OK) ? 0 : NGX_ERROR;
}


static ngx_int_t
ngx_http_zt_policy_json_value(json_t *value, void *data)
{
    ngx_http_zt_policy_select_t *sel = data;

    u_char               buf[NGX_HTTP_ZT_NUMBER_LEN];
    ngx_int_t            rc;
    ngx_str_t            text;
    ngx_http_zt_cond_t  *cond;

    cond = sel->cond;

    if (cond->type == NGX_HTTP_ZT_COND_JSON_EQ) {
        return ngx_http_zt_policy_equals(value, &cond->value) ? NGX_DONE
                                                              : NGX_OK;
    }

    if (ngx_http_zt_policy_text(value, buf, &text) != NGX_OK) {
        return NGX_OK;
    }

    rc = ngx_http_zt_regex_match(&cond->re, text.data, text.len);

    if (rc == 1) {
        return NGX_DONE;
    }

    if (rc == 0) {
        return NGX_OK;
    }

    return NGX_ERROR;
}


/*
 * A scalar equals the configured text when the text is the string, or the
 * JSON text of the number (by value: 0.5 equals 5e-1), true, false, null.
 */

static ngx_int_t
ngx_http_zt_policy_equals(json_t *v, ngx_str_t *text)
{
    u_char  buf[NGX_HTTP_ZT_NUMBER_LEN];
    double  d;
    size_t  len;

    switch (json_typeof(v)) {

    case JSON_STRING:
        len = json_string_length(v);
        return len == text->len
               && ngx_memcmp(json_string_value(v), text->data, len) == 0;

    case JSON_INTEGER:
        len = ngx_sprintf(buf, "%L", (int64_t) json_integer_value(v)) - buf;

        if (len == text->len && ngx_memcmp(buf, text->data, len) == 0) {
            return 1;
        }

        /* fall through */

    case JSON_REAL:
        return ngx_http_zt_policy_number(text, &d) == NGX_OK
               && d == json_number_value(v);

    case JSON_TRUE:
        return text->len == 4 && ngx_strncmp(text->data, "true", 4) == 0;

    case JSON_FALSE:
        return text->len == 5 && ngx_strncmp(text->data, "false", 5) == 0;

    case JSON_NULL:
        return text->len == 4 && ngx_strncmp(text->data, "null", 4) == 0;

    default:
        return 0;
    }
}


/* the text as a JSON number, if it is one */

static ngx_int_t
ngx_http_zt_policy_number(ngx_str_t *text, double *d)
{
    char    buf[NGX_HTTP_ZT_NUMBER_LEN], *end;
    size_t  i;

    if (text->len == 0 || text->len >= NGX_HTTP_ZT_NUMBER_LEN) {
        return NGX_DECLINED;
    }

    /* strtod() takes more than JSON: hex, "inf", "nan", blanks */

    if (text->data[0] != '-'
        && (text->data[0] < '0' || text->data[0] > '9'))
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < text->len; i++) {
        switch (text->data[i]) {
        case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9':
        case '-': case '+': case '.': case 'e': case 'E':
            buf[i] = text->data[i];
            continue;
        }

        return NGX_DECLINED;
    }

    buf[i] = '\0';

    *d = strtod(buf, &end);

    if (end != buf + text->len) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The text a regex sees for a scalar: a string's bytes, a number in its
 * shortest exact form, true, false, null.  buf must hold
 * NGX_HTTP_ZT_NUMBER_LEN bytes.
 */

static ngx_int_t
ngx_http_zt_policy_text(json_t *v, u_char *buf, ngx_str_t *text)
{
    int     n;
    double  d;

    switch (json_typeof(v)) {

    case JSON_STRING:
        text->data = (u_char *) json_string_value(v);
        text->len = json_string_length(v);
        return NGX_OK;

    case JSON_INTEGER:
        text->data = buf;
        text->len = ngx_sprintf(buf, "%L", (int64_t) json_integer_value(v))
                    - buf;
        return NGX_OK;

    case JSON_REAL:
        d = json_real_value(v);

        n = snprintf((char *) buf, NGX_HTTP_ZT_NUMBER_LEN, "%.15g", d);

        if (strtod((char *) buf, NULL) != d) {
            n = snprintf((char *) buf, NGX_HTTP_ZT_NUMBER_LEN, "%.17g", d);
        }

        if (n <= 0 || n >= NGX_HTTP_ZT_NUMBER_LEN) {
            return NGX_DECLINED;
        }

        text->data = buf;
        text->len = n;
        return NGX_OK;

    case JSON_TRUE:
        ngx_str_set(text, "true");
        return NGX_OK;

    case JSON_FALSE:
        ngx_str_set(text, "false");
        return NGX_OK;

    case JSON_NULL:
        ngx_str_set(text, "null");
        return NGX_OK;

    default:
        return NGX_DECLINED;
    }
}
