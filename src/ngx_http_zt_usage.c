
/*
 * Usage limits on model tokens (zt_usage_limit, zt_usage_limit_store): the
 * directives, the estimate of a request's cost, the reservation against
 * every window of its key before the request goes upstream (429 when a
 * window has no room, 503 when the store cannot be asked), the
 * x-ratelimit-* headers, the settlement once the answer is done (the
 * usage the answer reports, else what was reserved), the variables, the
 * audit fields and the reviewer API's budgets.
 *
 * Windows are fixed and aligned on UTC boundaries: a minute window starts
 * at second 0 of the minute, a day window at 00:00 UTC.  A reservation must
 * fit entirely in each window of the key; the stores check every window and
 * then add to every window atomically.
 */


#include "ngx_http_zt_inference.h"


#define NGX_HTTP_ZT_USAGE_TOKENS_MAX     1000000000000LL  /* per window */
#define NGX_HTTP_ZT_USAGE_MAX_TOKENS     100000000LL      /* per choice */
#define NGX_HTTP_ZT_USAGE_N_MAX          128
#define NGX_HTTP_ZT_USAGE_DEFAULT        1024
#define NGX_HTTP_ZT_USAGE_ZONE_SIZE      (1024 * 1024)
#define NGX_HTTP_ZT_USAGE_MODEL_MAX      256


static ngx_http_zt_usage_zone_t *ngx_http_zt_usage_zone(ngx_conf_t *cf,
    ngx_str_t *value);
static ngx_int_t ngx_http_zt_usage_tokens(ngx_conf_t *cf,
    ngx_http_zt_usage_limit_t *limit, ngx_str_t *value);
static ngx_int_t ngx_http_zt_usage_prepare(ngx_http_request_t *r,
    ngx_http_zt_loc_conf_t *lcf, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_usage_t *u);
static ngx_int_t ngx_http_zt_usage_estimate(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, int64_t *prompt, int64_t *allowance,
    int64_t *choices);
static ngx_http_zt_json_member_t *ngx_http_zt_usage_body_member(
    ngx_http_zt_ctx_t *ctx, char *name);
static ngx_int_t ngx_http_zt_usage_member(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, char *name, int64_t max, int64_t *value);
static ngx_int_t ngx_http_zt_usage_finish(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_usage_t *u);
static ngx_int_t ngx_http_zt_usage_refuse(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_usage_t *u);
static ngx_int_t ngx_http_zt_usage_unavailable(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_usage_t *u);
static ngx_int_t ngx_http_zt_usage_fail(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_uint_t status, char *type, char *code,
    char *message);
static ngx_http_zt_usage_win_t *ngx_http_zt_usage_shown(
    ngx_http_zt_usage_t *u);
static ngx_int_t ngx_http_zt_usage_headers(ngx_http_request_t *r,
    ngx_http_zt_usage_win_t *w, int64_t used);
static ngx_int_t ngx_http_zt_usage_header(ngx_http_request_t *r, char *name,
    u_char *value, size_t len);
static u_char *ngx_http_zt_usage_duration(u_char *p, int64_t ms);
static ngx_int_t ngx_http_zt_usage_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_zt_usage_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_uint_t ngx_http_zt_usage_readable(ngx_http_request_t *r,
    ngx_uint_t *sse);
static void ngx_http_zt_usage_cleanup(void *data);
static void ngx_http_zt_usage_settle(ngx_http_request_t *r,
    ngx_http_zt_usage_t *u);
static void ngx_http_zt_usage_decide(ngx_http_zt_usage_t *u);
static ngx_str_t *ngx_http_zt_usage_model(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx);
static ngx_int_t ngx_http_zt_usage_model_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_usage_tokens_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_zt_usage_api_answer(ngx_http_request_t *r,
    ngx_str_t *key, ngx_http_zt_usage_win_t *redis);
static void ngx_http_zt_usage_api_write(ngx_http_zt_json_out_t *out,
    void *data);

static char  *ngx_http_zt_usage_words[] = {
    "second", "minute", "hour", "day"
};


static ngx_http_output_header_filter_pt  ngx_http_zt_usage_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_zt_usage_next_body_filter;


ngx_conf_enum_t  ngx_http_zt_usage_stores[] = {
    { ngx_string("shm"), NGX_HTTP_ZT_USAGE_SHM },
    { ngx_string("redis"), NGX_HTTP_ZT_USAGE_REDIS },
    { ngx_null_string, 0 }
};


static ngx_http_variable_t  ngx_http_zt_usage_vars[] = {

    { ngx_string("zt_model"), NULL, ngx_http_zt_usage_model_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_usage_input_tokens"), NULL,
      ngx_http_zt_usage_tokens_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("zt_usage_output_tokens"), NULL,
      ngx_http_zt_usage_tokens_variable, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* ---- configuration ---- */


/*
 * zt_usage_limit zone=NAME[:SIZE] key=VALUE tokens=N/PERIOD ...
 *                [max_tokens_default=N];
 * zt_usage_limit off;
 */

char *
ngx_http_zt_usage_limit_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zt_loc_conf_t *zlcf = conf;

    off_t                              n;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i, p, windows;
    ngx_http_zt_usage_conf_t          *ucf;
    ngx_http_zt_usage_limit_t         *limit;
    ngx_http_compile_complex_value_t   ccv;

    ucf = &zlcf->usage;
    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {

        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"zt_usage_limit off\" takes no parameters");
            return NGX_CONF_ERROR;
        }

        if (ucf->limits || ucf->off != NGX_CONF_UNSET) {
            return "is duplicate or conflicts with a limit";
        }

        ucf->off = 1;
        return NGX_CONF_OK;
    }

    if (ucf->off == 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_usage_limit\" conflicts with "
                           "\"zt_usage_limit off\"");
        return NGX_CONF_ERROR;
    }

    if (ucf->limits == NULL) {
        ucf->limits = ngx_array_create(cf->pool, 1,
                                       sizeof(ngx_http_zt_usage_limit_t));
        if (ucf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limit = ngx_array_push(ucf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(limit, sizeof(ngx_http_zt_usage_limit_t));

    for (p = 0; p < NGX_HTTP_ZT_USAGE_PERIODS; p++) {
        limit->tokens[p] = -1;
    }

    limit->max_tokens_default = NGX_HTTP_ZT_USAGE_DEFAULT;
    windows = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            if (limit->zone) {
                goto duplicate;
            }

            limit->zone = ngx_http_zt_usage_zone(cf, &value[i]);
            if (limit->zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {

            if (limit->key.value.data) {
                goto duplicate;
            }

            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (s.len == 0) {
                goto invalid;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = &limit->key;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "tokens=", 7) == 0) {

            if (ngx_http_zt_usage_tokens(cf, limit, &value[i]) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            windows++;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_tokens_default=", 19) == 0) {

            n = ngx_atoof(value[i].data + 19, value[i].len - 19);

            if (n == NGX_ERROR || n > NGX_HTTP_ZT_USAGE_MAX_TOKENS) {
                goto invalid;
            }

            limit->max_tokens_default = n;
            continue;
        }

        goto invalid;
    }

    if (limit->zone == NULL || limit->key.value.data == NULL
        || windows == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_usage_limit\" needs \"zone=\", \"key=\" "
                           "and at least one \"tokens=N/PERIOD\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate \"%V\" in \"zt_usage_limit\"", &value[i]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"zt_usage_limit\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* zone=NAME[:SIZE]: one entry per name in the main configuration */

static ngx_http_zt_usage_zone_t *
ngx_http_zt_usage_zone(ngx_conf_t *cf, ngx_str_t *value)
{
    u_char                     *p;
    ssize_t                     size;
    ngx_str_t                   name, s;
    ngx_uint_t                  i;
    ngx_http_zt_usage_zone_t  **zones, *zone;
    ngx_http_zt_main_conf_t    *zmcf;

    name.data = value->data + 5;
    name.len = value->len - 5;
    size = 0;

    p = ngx_strlchr(name.data, name.data + name.len, ':');

    if (p) {
        s.data = p + 1;
        s.len = name.data + name.len - s.data;
        name.len = p - name.data;

        size = ngx_parse_size(&s);

        if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid size in \"%V\" of \"zt_usage_limit\","
                               " at least %uz", value, 8 * ngx_pagesize);
            return NULL;
        }
    }

    /* the name is part of Redis keys: keep it plain */

    for (i = 0; i < name.len; i++) {
        if (!((name.data[i] >= 'a' && name.data[i] <= 'z')
              || (name.data[i] >= 'A' && name.data[i] <= 'Z')
              || (name.data[i] >= '0' && name.data[i] <= '9')
              || name.data[i] == '_' || name.data[i] == '-'
              || name.data[i] == '.'))
        {
            break;
        }
    }

    if (name.len == 0 || i < name.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name in \"%V\" of "
                           "\"zt_usage_limit\": letters, digits, \"_\", "
                           "\"-\" and \".\" only", value);
        return NULL;
    }

    zmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_zt_inference_module);

    if (zmcf->usage_zones == NULL) {
        zmcf->usage_zones = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_zt_usage_zone_t *));
        if (zmcf->usage_zones == NULL) {
            return NULL;
        }
    }

    zones = zmcf->usage_zones->elts;

    for (i = 0; i < zmcf->usage_zones->nelts; i++) {
        zone = zones[i];

        if (zone->name.len != name.len
            || ngx_strncmp(zone->name.data, name.data, name.len) != 0)
        {
            continue;
        }

        if (size && zone->size && size != zone->size) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the size of zone \"%V\" differs from the "
                               "size given before", &name);
            return NULL;
        }

        if (size) {
            zone->size = size;
        }

        return zone;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_zt_usage_zone_t));
    if (zone == NULL) {
        return NULL;
    }

    zone->name = name;
    zone->size = size;

    zones = ngx_array_push(zmcf->usage_zones);
    if (zones == NULL) {
        return NULL;
    }

    *zones = zone;

    return zone;
}


/* tokens=N/PERIOD, PERIOD one of s, m, h, d */

static ngx_int_t
ngx_http_zt_usage_tokens(ngx_conf_t *cf, ngx_http_zt_usage_limit_t *limit,
    ngx_str_t *value)
{
    u_char      *p, *last, *slash;
    off_t        n;
    ngx_uint_t   period;

    p = value->data + 7;
    last = value->data + value->len;

    slash = ngx_strlchr(p, last, '/');

    if (slash == NULL || last - slash != 2) {
        goto invalid;
    }

    n = ngx_atoof(p, slash - p);

    if (n == NGX_ERROR || n == 0 || n > NGX_HTTP_ZT_USAGE_TOKENS_MAX) {
        goto invalid;
    }

    for (period = 0; period < NGX_HTTP_ZT_USAGE_PERIODS; period++) {
        if (ngx_http_zt_usage_names[period] == slash[1]) {
            break;
        }
    }

    if (period == NGX_HTTP_ZT_USAGE_PERIODS) {
        goto invalid;
    }

    if (limit->tokens[period] != -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a second window per %s in \"zt_usage_limit\"",
                           ngx_http_zt_usage_words[period]);
        return NGX_ERROR;
    }

    limit->tokens[period] = n;

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"%V\" in \"zt_usage_limit\": tokens=N/s, "
                       "N/m, N/h or N/d with 0 < N <= %L expected", value,
                       (int64_t) NGX_HTTP_ZT_USAGE_TOKENS_MAX);
    return NGX_ERROR;
}


void
ngx_http_zt_usage_init_conf(ngx_http_zt_usage_conf_t *ucf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     ucf->limits = NULL;
     */

    ucf->store = NGX_CONF_UNSET_UINT;
    ucf->off = NGX_CONF_UNSET;
}


/* called at the end of the front door's merge, after the approval's */

char *
ngx_http_zt_usage_merge_conf(ngx_conf_t *cf, ngx_http_zt_usage_conf_t *prev,
    ngx_http_zt_usage_conf_t *conf)
{
    ngx_uint_t                  i;
    ngx_http_zt_loc_conf_t     *lcf;
    ngx_http_zt_main_conf_t    *zmcf;
    ngx_http_zt_usage_limit_t  *limit;

    /* like limit_req: the limits of a location replace the inherited ones */

    if (conf->limits == NULL && conf->off == NGX_CONF_UNSET) {
        conf->limits = prev->limits;
    }

    ngx_conf_merge_value(conf->off, prev->off, 0);
    ngx_conf_merge_uint_value(conf->store, prev->store,
                              NGX_HTTP_ZT_USAGE_SHM);

    /* the reviewer API answers itself: no model is called there */

    lcf = (ngx_http_zt_loc_conf_t *)
              ((u_char *) conf - offsetof(ngx_http_zt_loc_conf_t, usage));

    if (lcf->approval_api == 1) {
        conf->limits = NULL;
    }

    if (conf->limits == NULL) {
        return NGX_CONF_OK;
    }

    zmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_zt_inference_module);

    if (conf->store == NGX_HTTP_ZT_USAGE_REDIS && !zmcf->redis.configured) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_usage_limit_store redis\" needs "
                           "\"zt_redis\"");
        return NGX_CONF_ERROR;
    }

    limit = conf->limits->elts;

    for (i = 0; i < conf->limits->nelts; i++) {
        limit[i].zone->stores |= conf->store;
    }

    return NGX_CONF_OK;
}


/*
 * Postconfiguration: the filters that read the answer and settle, and the
 * shared memory of every zone a location keeps in the shm store, now that
 * every size is known.
 */

ngx_int_t
ngx_http_zt_usage_init(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_http_zt_main_conf_t    *zmcf;
    ngx_http_zt_usage_zone_t  **zones;

    ngx_http_zt_usage_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_zt_usage_header_filter;

    ngx_http_zt_usage_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_zt_usage_body_filter;

    zmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_zt_inference_module);

    if (zmcf->usage_zones == NULL) {
        return NGX_OK;
    }

    zones = zmcf->usage_zones->elts;

    for (i = 0; i < zmcf->usage_zones->nelts; i++) {

        if (!(zones[i]->stores & NGX_HTTP_ZT_USAGE_SHM)) {
            continue;
        }

        if (zones[i]->size == 0) {
            zones[i]->size = NGX_HTTP_ZT_USAGE_ZONE_SIZE;
        }

        if (ngx_http_zt_usage_shm_add(cf, zones[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_zt_usage_variables_add(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_zt_usage_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* ---- the reservation ---- */


/*
 * The access phase, once the policy let the request through: NGX_OK when
 * every window had room, NGX_DONE when a store reply will run the phases
 * again or the gateway answered (429, 503, 400, 403), else an error status.
 */

ngx_int_t
ngx_http_zt_usage_reserve(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx)
{
    ngx_int_t             rc;
    ngx_http_zt_usage_t  *u;

    u = ctx->usage;

    if (u) {
        if (u->state == NGX_HTTP_ZT_REDIS_BUSY) {
            return NGX_DONE;
        }

        return ngx_http_zt_usage_finish(r, ctx, u);
    }

    u = ngx_pcalloc(r->pool, sizeof(ngx_http_zt_usage_t));
    if (u == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->usage = u;

    u->store = lcf->usage.store;
    u->input = -1;
    u->output = -1;

    rc = ngx_http_zt_usage_prepare(r, lcf, ctx, u);
    if (rc != NGX_OK) {
        return rc;
    }

    if (u->store == NGX_HTTP_ZT_USAGE_SHM) {
        if (ngx_http_zt_usage_shm_reserve(r, u) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        u->state = NGX_HTTP_ZT_REDIS_DONE;
        return ngx_http_zt_usage_finish(r, ctx, u);
    }

    rc = ngx_http_zt_usage_redis_reserve(r, u);

    if (rc == NGX_AGAIN) {
        u->state = NGX_HTTP_ZT_REDIS_BUSY;
        return NGX_DONE;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* NGX_DECLINED: Redis cannot be asked */

    u->state = NGX_HTTP_ZT_REDIS_FAILED;
    u->outcome = NGX_HTTP_ZT_USAGE_UNAVAILABLE;

    return ngx_http_zt_usage_finish(r, ctx, u);
}


/* the cost of the request and the key of each limit */

static ngx_int_t
ngx_http_zt_usage_prepare(ngx_http_request_t *r, ngx_http_zt_loc_conf_t *lcf,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_usage_t *u)
{
    int64_t                     allowance, choices, completion;
    ngx_int_t                   rc;
    ngx_uint_t                  i, p;
    ngx_http_zt_usage_res_t    *res;
    ngx_http_zt_usage_limit_t  *limit;

    rc = ngx_http_zt_usage_estimate(r, ctx, &u->prompt, &allowance,
                                    &choices);
    if (rc != NGX_OK) {
        return rc;
    }

    limit = lcf->usage.limits->elts;
    u->nres = lcf->usage.limits->nelts;

    u->res = ngx_pcalloc(r->pool, u->nres * sizeof(ngx_http_zt_usage_res_t));
    if (u->res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < u->nres; i++) {
        res = &u->res[i];
        res->limit = &limit[i];

        if (ngx_http_complex_value(r, &limit[i].key, &res->key) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /*
         * A request that cannot be attributed to a budget is not served:
         * an empty key would otherwise share one budget with every other
         * request whose key is empty, or none at all.
         */

        if (res->key.len == 0 || res->key.len > NGX_HTTP_ZT_USAGE_KEY_MAX) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "zt: usage: the key of zone \"%V\" is %s, "
                          "refused", &limit[i].zone->name,
                          res->key.len ? "longer than 512 bytes" : "empty");

            return ngx_http_zt_usage_fail(r, ctx, NGX_HTTP_FORBIDDEN,
                                          "permission_error",
                                          "usage_key_missing",
                                          "this request cannot be "
                                          "attributed to a usage budget");
        }

        completion = (allowance >= 0) ? allowance
                                      : limit[i].max_tokens_default;

        res->cost = u->prompt + completion * choices;

        for (p = 0; p < NGX_HTTP_ZT_USAGE_PERIODS; p++) {
            if (limit[i].tokens[p] == -1) {
                continue;
            }

            res->win[res->nwin].period = p;
            res->win[res->nwin].limit = limit[i].tokens[p];
            res->nwin++;
        }
    }

    return NGX_OK;
}


/*
 * The estimate, as the README gives it: the prompt is the UTF-8 bytes of
 * every string value of a JSON body (or the bytes of any other body)
 * divided by 4, rounded up; the completion is the largest of
 * max_completion_tokens, max_tokens and max_output_tokens (or the limit's
 * max_tokens_default: allowance -1) times the largest of n and best_of.
 * Both come from the reading that judged the body: no values are built.
 */

static ngx_int_t
ngx_http_zt_usage_estimate(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    int64_t *prompt, int64_t *allowance, int64_t *choices)
{
    int64_t   v;

    static char  *limits[] = {
        "max_completion_tokens", "max_tokens", "max_output_tokens", NULL
    };
    static char  *counts[] = { "n", "best_of", NULL };
    char        **name;

    *allowance = -1;
    *choices = 1;

    if (ctx->body_error) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* text, or no body: what the model reads is all of it */

    if (!ctx->body_json_read) {
        *prompt = ((int64_t) ctx->body.len + 3) / 4;
        return NGX_OK;
    }

    *prompt = ((int64_t) ctx->body_string_bytes + 3) / 4;

    if (ctx->body_members == NULL) {
        return NGX_OK;
    }

    for (name = limits; *name; name++) {
        switch (ngx_http_zt_usage_member(r, ctx, *name,
                                         NGX_HTTP_ZT_USAGE_MAX_TOKENS, &v))
        {
        case NGX_OK:
            *allowance = ngx_max(*allowance, v);
            break;

        case NGX_DECLINED:
            break;

        default:
            return NGX_DONE;
        }
    }

    for (name = counts; *name; name++) {
        switch (ngx_http_zt_usage_member(r, ctx, *name,
                                         NGX_HTTP_ZT_USAGE_N_MAX, &v))
        {
        case NGX_OK:
            *choices = ngx_max(*choices, v);
            break;

        case NGX_DECLINED:
            break;

        default:
            return NGX_DONE;
        }
    }

    return NGX_OK;
}


/* the member of the body's outermost object called name, or NULL */

static ngx_http_zt_json_member_t *
ngx_http_zt_usage_body_member(ngx_http_zt_ctx_t *ctx, char *name)
{
    size_t                      len;
    ngx_uint_t                  i;
    ngx_http_zt_json_member_t  *m;

    len = ngx_strlen(name);
    m = ctx->body_members->elts;

    for (i = 0; i < ctx->body_members->nelts; i++) {
        if (m[i].name.len == len
            && ngx_memcmp(m[i].name.data, name, len) == 0)
        {
            return &m[i];
        }
    }

    return NULL;
}


/*
 * A count of the body, top level: NGX_OK and an integer from 1 to max,
 * NGX_DECLINED when absent or null, NGX_DONE when the gateway answered 400.
 * The reader gives an integer as a double: exact up to 2^53, far beyond
 * any max.
 */

static ngx_int_t
ngx_http_zt_usage_member(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    char *name, int64_t max, int64_t *value)
{
    u_char                     *msg;
    ngx_http_zt_json_member_t  *m;

    m = ngx_http_zt_usage_body_member(ctx, name);

    if (m == NULL || m->type == JSON_NULL) {
        return NGX_DECLINED;
    }

    if (m->type == JSON_INTEGER && m->number >= 1
        && m->number <= (double) max)
    {
        *value = (int64_t) m->number;
        return NGX_OK;
    }

    msg = ngx_pnalloc(r->pool, 128);
    if (msg == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    ngx_snprintf(msg, 128, "\"%s\" must be an integer from 1 to %L%Z",
                 name, max);

    return ngx_http_zt_usage_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                  "invalid_request_error", "invalid_value",
                                  (char *) msg);
}


static ngx_int_t
ngx_http_zt_usage_finish(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_usage_t *u)
{
    ngx_uint_t           i;
    ngx_http_cleanup_t  *cln;

    switch (u->outcome) {

    case NGX_HTTP_ZT_USAGE_RESERVED:
        break;

    case NGX_HTTP_ZT_USAGE_REFUSED:
    case NGX_HTTP_ZT_USAGE_TOO_LARGE:
        return ngx_http_zt_usage_refuse(r, ctx, u);

    default:
        return ngx_http_zt_usage_unavailable(r, ctx, u);
    }

    if (u->reserved) {
        return NGX_OK;
    }

    /*
     * The settlement runs as the answer's last buffer passes, before the
     * client has it: its next request sees the budget settled.  A request
     * that ends otherwise is settled when it is freed, whatever ends it,
     * before the log phase: $zt_audit sees what was charged.
     */

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        u->reserved = 1;
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "zt: usage: no memory for the settlement, the "
                      "reservation stays charged");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_zt_usage_cleanup;
    cln->data = r;

    u->reserved = 1;

    /* a location with limits and no zt_policy rules: the limits allowed it */

    if (ctx->decision == NGX_HTTP_ZT_DECISION_NONE) {
        ctx->decision = NGX_HTTP_ZT_DECISION_ALLOW;
    }

    for (i = 0; i < u->nres; i++) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "zt: usage: reserved %L in zone \"%V\" for \"%V\"",
                       u->res[i].cost, &u->res[i].limit->zone->name,
                       &u->res[i].key);
    }

    return NGX_OK;
}


/*
 * 429 in OpenAI's shape, with the headers its clients back off on.  A
 * request that can never fit a window is told not to retry.
 */

static ngx_int_t
ngx_http_zt_usage_refuse(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_usage_t *u)
{
    u_char                   *p, *msg;
    int64_t                   secs;
    ngx_int_t                 rc;
    ngx_str_t                 type, code, message;
    ngx_uint_t                i;
    ngx_http_zt_usage_res_t  *res;
    ngx_http_zt_usage_win_t  *w, *wi;

    res = u->blocking;
    w = NULL;

    /* the window that resets last among those without room */

    for (i = 0; i < res->nwin; i++) {
        wi = &res->win[i];

        if (wi->used + res->cost <= wi->limit) {
            continue;
        }

        if (w == NULL || (res->cost > wi->limit) > (res->cost > w->limit)
            || ((res->cost > wi->limit) == (res->cost > w->limit)
                && wi->reset > w->reset))
        {
            w = wi;
        }
    }

    if (w == NULL) {
        /* the store refused, the numbers disagree: refuse all the same */
        w = &res->win[0];
    }

    ctx->decision = NGX_HTTP_ZT_DECISION_DENY;
    ngx_str_set(&ctx->event, "usage.limit");

    if (ngx_http_zt_usage_headers(r, w, w->used) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    msg = ngx_pnalloc(r->pool, 512);
    if (msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (res->cost > w->limit) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: usage: %L tokens for \"%V\" in zone \"%V\" "
                      "exceed the limit of %L per %s", res->cost, &res->key,
                      &res->limit->zone->name, w->limit,
                      ngx_http_zt_usage_words[w->period]);

        if (ngx_http_zt_usage_header(r, "x-should-retry",
                                     (u_char *) "false", 5)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_snprintf(msg, 256, "Request too large for tokens per %s: "
                         "Limit %L, Requested %L. Reduce the prompt or "
                         "max_tokens.", ngx_http_zt_usage_words[w->period],
                         w->limit, res->cost);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: usage: \"%V\" in zone \"%V\" is over the limit "
                      "of %L per %s: used %L, requested %L", &res->key,
                      &res->limit->zone->name, w->limit,
                      ngx_http_zt_usage_words[w->period], w->used,
                      res->cost);

        secs = (w->reset + 999) / 1000;

        if (secs < 1) {
            secs = 1;
        }

        p = ngx_sprintf(msg, "%L", secs);

        if (ngx_http_zt_usage_header(r, "Retry-After", msg, p - msg)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        msg = p;
        p = ngx_sprintf(msg, "%L", ngx_max(w->reset, 0));

        if (ngx_http_zt_usage_header(r, "retry-after-ms", msg, p - msg)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        msg = p;
        p = ngx_snprintf(msg, 200, "Rate limit reached for tokens per %s: "
                         "Limit %L, Used %L, Requested %L. Please try again "
                         "in ", ngx_http_zt_usage_words[w->period],
                         w->limit, w->used, res->cost);
        p = ngx_http_zt_usage_duration(p, ngx_max(w->reset, 0));
        *p++ = '.';
    }

    ngx_str_set(&type, "tokens");
    ngx_str_set(&code, "rate_limit_exceeded");
    message.data = msg;
    message.len = p - msg;

    rc = ngx_http_zt_answer(r, NGX_HTTP_TOO_MANY_REQUESTS, &type, &code,
                            &message);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/* the store could not be asked, or has no room: fail closed, 503 */

static ngx_int_t
ngx_http_zt_usage_unavailable(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_usage_t *u)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t  *retry;

    ctx->decision = NGX_HTTP_ZT_DECISION_ERROR;
    ngx_str_set(&ctx->event, "usage.error");

    if (u->outcome == NGX_HTTP_ZT_USAGE_FULL) {
        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_zt_usage_header(r, "Retry-After", p,
                                     ngx_sprintf(p, "%T", u->full_for) - p)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_zt_answer_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "service_unavailable",
                                      "usage_store_full",
                                      "the usage store is full, retry "
                                      "later");

    } else {
        retry = ngx_http_zt_redis_retry_after(r);
        if (retry == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_zt_usage_header(r, "Retry-After", retry->data,
                                     retry->len)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_zt_answer_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "service_unavailable",
                                      "usage_store_unavailable",
                                      "the usage store is unavailable, "
                                      "retry later");
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_zt_usage_fail(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_uint_t status, char *type, char *code, char *message)
{
    ngx_int_t  rc;

    if (ctx && ctx->decision != NGX_HTTP_ZT_DECISION_ERROR) {
        ctx->decision = NGX_HTTP_ZT_DECISION_DENY;
    }

    if (ctx) {
        ngx_str_set(&ctx->event, "usage.refuse");
    }

    rc = ngx_http_zt_answer_error(r, status, type, code, message);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * The window the headers of an answer show: the one with the fewest tokens
 * left after the reservation, of those the one that resets last.
 */

static ngx_http_zt_usage_win_t *
ngx_http_zt_usage_shown(ngx_http_zt_usage_t *u)
{
    int64_t                   left, best;
    ngx_uint_t                i, j;
    ngx_http_zt_usage_win_t  *w, *shown;

    shown = NULL;
    best = 0;

    for (i = 0; i < u->nres; i++) {
        for (j = 0; j < u->res[i].nwin; j++) {
            w = &u->res[i].win[j];
            left = w->limit - w->used;

            if (shown == NULL || left < best
                || (left == best && w->reset > shown->reset))
            {
                shown = w;
                best = left;
            }
        }
    }

    return shown;
}


static ngx_int_t
ngx_http_zt_usage_headers(ngx_http_request_t *r, ngx_http_zt_usage_win_t *w,
    int64_t used)
{
    u_char  *p, *q;

    p = ngx_pnalloc(r->pool, 3 * NGX_INT64_LEN + 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    q = ngx_sprintf(p, "%L", w->limit);

    if (ngx_http_zt_usage_header(r, "x-ratelimit-limit-tokens", p, q - p)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = q;
    q = ngx_sprintf(p, "%L", ngx_max(w->limit - used, 0));

    if (ngx_http_zt_usage_header(r, "x-ratelimit-remaining-tokens", p, q - p)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = q;
    q = ngx_http_zt_usage_duration(p, ngx_max(w->reset, 0));

    return ngx_http_zt_usage_header(r, "x-ratelimit-reset-tokens", p, q - p);
}


static ngx_int_t
ngx_http_zt_usage_header(ngx_http_request_t *r, char *name, u_char *value,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


/* OpenAI's durations, Go's: "20ms", "1s", "1.5s", "6m0s", "1h0m0s" */

static u_char *
ngx_http_zt_usage_duration(u_char *p, int64_t ms)
{
    int64_t  h, m, s, f;

    if (ms == 0) {
        return ngx_cpymem(p, "0s", 2);
    }

    if (ms < 1000) {
        return ngx_sprintf(p, "%Lms", ms);
    }

    h = ms / 3600000;
    m = ms / 60000 % 60;
    s = ms / 1000 % 60;
    f = ms % 1000;

    if (h) {
        p = ngx_sprintf(p, "%Lh", h);
    }

    if (h || m) {
        p = ngx_sprintf(p, "%Lm", m);
    }

    p = ngx_sprintf(p, "%L", s);

    if (f) {
        *p++ = '.';
        *p++ = (u_char) ('0' + f / 100);

        if (f % 100) {
            *p++ = (u_char) ('0' + f / 10 % 10);

            if (f % 10) {
                *p++ = (u_char) ('0' + f % 10);
            }
        }
    }

    *p++ = 's';

    return p;
}


/* ---- the answer ---- */


static ngx_int_t
ngx_http_zt_usage_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                i, sse;
    ngx_list_part_t          *part;
    ngx_table_elt_t          *h;
    ngx_http_zt_ctx_t        *ctx;
    ngx_http_zt_usage_t      *u;
    ngx_http_zt_usage_win_t  *w;

    if (r != r->main) {
        return ngx_http_zt_usage_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    if (ctx == NULL || ctx->usage == NULL || !ctx->usage->reserved
        || ctx->usage->headers)
    {
        return ngx_http_zt_usage_next_header_filter(r);
    }

    u = ctx->usage;
    u->headers = 1;

    /* the caller's budget, not the upstream's own, is what these say */

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

        if (h[i].key.len > sizeof("x-ratelimit-") - 1
            && h[i].key.data[h[i].key.len - 1] == 's'
            && ngx_strncasecmp(h[i].key.data, (u_char *) "x-ratelimit-",
                               sizeof("x-ratelimit-") - 1) == 0
            && h[i].key.len > sizeof("-tokens") - 1
            && ngx_strncasecmp(h[i].key.data + h[i].key.len
                               - (sizeof("-tokens") - 1),
                               (u_char *) "-tokens", sizeof("-tokens") - 1)
               == 0)
        {
            h[i].hash = 0;
        }
    }

    w = ngx_http_zt_usage_shown(u);

    if (w && ngx_http_zt_usage_headers(r, w, w->used) != NGX_OK) {
        return NGX_ERROR;
    }

    u->answer_ok = (r->headers_out.status >= NGX_HTTP_OK
                    && r->headers_out.status < NGX_HTTP_SPECIAL_RESPONSE);

    if (u->answer_ok && !r->header_only
        && ngx_http_zt_usage_readable(r, &sse))
    {
        u->read = ngx_http_zt_usage_read_create(r, sse);
        if (u->read == NULL) {
            return NGX_ERROR;
        }

        r->filter_need_in_memory = 1;
    }

    return ngx_http_zt_usage_next_header_filter(r);
}


/* JSON (application/json, any +json type) or SSE, not compressed */

static ngx_uint_t
ngx_http_zt_usage_readable(ngx_http_request_t *r, ngx_uint_t *sse)
{
    u_char           *p, *last;
    size_t            len;
    ngx_table_elt_t  *h;

    h = r->headers_out.content_encoding;

    if (h && h->hash && h->value.len
        && !(h->value.len == 8
             && ngx_strncasecmp(h->value.data, (u_char *) "identity", 8)
                == 0))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: usage: an answer with \"Content-Encoding: %V\" "
                      "is not read, the reservation is charged", &h->value);
        return 0;
    }

    p = r->headers_out.content_type.data;
    last = p + r->headers_out.content_type.len;

    if (p == NULL) {
        return 0;
    }

    len = ngx_strlchr(p, last, ';') ? (size_t) (ngx_strlchr(p, last, ';') - p)
                                    : (size_t) (last - p);

    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
        len--;
    }

    *sse = 0;

    if (len == sizeof("text/event-stream") - 1
        && ngx_strncasecmp(p, (u_char *) "text/event-stream", len) == 0)
    {
        *sse = 1;
        return 1;
    }

    if (len == sizeof("application/json") - 1
        && ngx_strncasecmp(p, (u_char *) "application/json", len) == 0)
    {
        return 1;
    }

    return len > sizeof("+json") - 1
           && ngx_strncasecmp(p + len - (sizeof("+json") - 1),
                              (u_char *) "+json", sizeof("+json") - 1) == 0;
}


/* reads the answer as it passes; never changes it */

static ngx_int_t
ngx_http_zt_usage_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t            *b;
    ngx_chain_t          *cl;
    ngx_http_zt_ctx_t    *ctx;
    ngx_http_zt_usage_t  *u;

    if (r != r->main) {
        return ngx_http_zt_usage_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    if (ctx == NULL || ctx->usage == NULL || !ctx->usage->reserved) {
        return ngx_http_zt_usage_next_body_filter(r, in);
    }

    u = ctx->usage;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (u->read) {
            if (ngx_buf_in_memory(b)) {
                if (ngx_http_zt_usage_read_feed(u->read, b->pos, b->last,
                                                b->last_buf)
                    != NGX_OK)
                {
                    u->read = NULL;
                }

            } else if (ngx_buf_size(b)) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "zt: usage: a buffer of the answer is not in "
                              "memory, the reservation is charged");
                u->read = NULL;

            } else if (b->last_buf
                       && ngx_http_zt_usage_read_feed(u->read, NULL, NULL, 1)
                          != NGX_OK)
            {
                u->read = NULL;
            }
        }

        if (b->last_buf) {
            u->complete = 1;
            ngx_http_zt_usage_settle(r, u);
        }
    }

    return ngx_http_zt_usage_next_body_filter(r, in);
}


/* ---- the settlement ---- */


/*
 * What the request is charged: the usage of a complete 2xx answer that
 * reported it, else what was reserved (an upstream error, a cut stream, an
 * answer without usage: the model may have spent it all).
 */

static void
ngx_http_zt_usage_decide(ngx_http_zt_usage_t *u)
{
    ngx_uint_t  i;
    int64_t     input, output;

    if (u->decided) {
        return;
    }

    u->decided = 1;

    if (u->read && u->complete && u->answer_ok
        && ngx_http_zt_usage_read_result(u->read, &input, &output) == NGX_OK)
    {
        u->input = input;
        u->output = output;
        u->charged = input + output;
        u->from_answer = 1;
        return;
    }

    u->charged = 0;

    for (i = 0; i < u->nres; i++) {
        u->charged = ngx_max(u->charged, u->res[i].cost);
    }
}


static void
ngx_http_zt_usage_cleanup(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_zt_inference_module);

    /* an internal redirect drops the context: the reservation stays */

    if (ctx == NULL || ctx->usage == NULL || !ctx->usage->reserved) {
        return;
    }

    ngx_http_zt_usage_settle(r, ctx->usage);
}


/* charges the request, once: in the stores, and for the audit */

static void
ngx_http_zt_usage_settle(ngx_http_request_t *r, ngx_http_zt_usage_t *u)
{
    ngx_uint_t  i;

    if (u->settled) {
        return;
    }

    u->settled = 1;

    ngx_http_zt_usage_decide(u);

    if (!u->from_answer) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "zt: usage: no usage in the answer (%s), the "
                      "reservation of %L tokens is charged",
                      !u->answer_ok ? "not a 2xx answer"
                      : !u->complete ? "incomplete"
                      : u->read == NULL ? "not readable" : "none reported",
                      u->charged);
    }

    if (u->store == NGX_HTTP_ZT_USAGE_REDIS) {
        ngx_http_zt_usage_redis_settle(r, u);
        return;
    }

    for (i = 0; i < u->nres; i++) {
        ngx_http_zt_usage_shm_settle(r->connection->log, &u->res[i],
                                     u->from_answer ? u->charged
                                                    : u->res[i].cost);
    }
}


/* ---- audit and variables ---- */


/*
 * The audit's "model" (the request's) and "usage": input and output
 * tokens as the answer reported them, the reservation, what was charged
 * and whether it came from the answer; null when nothing was reserved.
 */

void
ngx_http_zt_usage_audit(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_http_zt_json_out_t *out)
{
    int64_t               reserved;
    ngx_uint_t            i;
    ngx_http_zt_usage_t  *u;

    ngx_http_zt_json_member(out, "model", ngx_http_zt_usage_model(r, ctx));
    ngx_http_zt_json_key(out, "usage");

    u = ctx->usage;

    /* decided when the request is freed, before the log phase */

    if (u == NULL || !u->reserved || !u->decided) {
        ngx_http_zt_json_text(out, (u_char *) "null", 4);
        return;
    }

    reserved = 0;

    for (i = 0; i < u->nres; i++) {
        reserved = ngx_max(reserved, u->res[i].cost);
    }

    ngx_http_zt_json_open(out, '{');

    ngx_http_zt_json_key(out, "input_tokens");

    if (u->from_answer) {
        ngx_http_zt_json_int(out, u->input);
        ngx_http_zt_json_key(out, "output_tokens");
        ngx_http_zt_json_int(out, u->output);

    } else {
        ngx_http_zt_json_text(out, (u_char *) "null", 4);
        ngx_http_zt_json_key(out, "output_tokens");
        ngx_http_zt_json_text(out, (u_char *) "null", 4);
    }

    ngx_http_zt_json_key(out, "reserved");
    ngx_http_zt_json_int(out, reserved);
    ngx_http_zt_json_key(out, "charged");
    ngx_http_zt_json_int(out, u->charged);
    ngx_http_zt_json_key(out, "from_answer");
    ngx_http_zt_json_bool(out, u->from_answer);

    ngx_http_zt_json_close(out, '}');
}


/* the request's "model", cut at 256 bytes (whole UTF-8 characters) */

static ngx_str_t *
ngx_http_zt_usage_model(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx)
{
    json_t                     *body, *v;
    ngx_str_t                  *s;
    ngx_http_zt_json_member_t  *m;

    if (ctx == NULL || !ctx->body_read) {
        return NULL;
    }

    /* a body judged for a usage limit: its members are at hand */

    if (ctx->body_members) {
        m = ngx_http_zt_usage_body_member(ctx, "model");

        if (m == NULL || m->type != JSON_STRING) {
            return NULL;
        }

        s = ngx_palloc(r->pool, sizeof(ngx_str_t));
        if (s == NULL) {
            return NULL;
        }

        *s = m->value;

        goto cut;
    }

    body = ngx_http_zt_body_json(r, ctx);

    if (body == NULL || !json_is_object(body)) {
        return NULL;
    }

    v = json_object_get(body, "model");

    if (v == NULL || !json_is_string(v)) {
        return NULL;
    }

    s = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (s == NULL) {
        return NULL;
    }

    s->data = (u_char *) json_string_value(v);
    s->len = json_string_length(v);

cut:

    if (s->len > NGX_HTTP_ZT_USAGE_MODEL_MAX) {
        s->len = NGX_HTTP_ZT_USAGE_MODEL_MAX;

        while (s->len && (s->data[s->len] & 0xc0) == 0x80) {
            s->len--;
        }
    }

    return s;
}


static ngx_int_t
ngx_http_zt_usage_model_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t          *m;
    ngx_http_zt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    m = ngx_http_zt_usage_model(r->main, ctx);

    if (m == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = m->data;
    v->len = m->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* set once the request is over (the log phase), from the answer's usage */

static ngx_int_t
ngx_http_zt_usage_tokens_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    ngx_http_zt_ctx_t    *ctx;
    ngx_http_zt_usage_t  *u;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_zt_inference_module);

    u = ctx ? ctx->usage : NULL;

    if (u == NULL || !u->decided || !u->from_answer) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = ngx_sprintf(p, "%L", data ? u->output : u->input) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* ---- the reviewer API: GET and DELETE <loc>/usage/KEY ---- */


/*
 * The reviewer API's operation (ngx_http_zt_api.c routes to it): NGX_DONE
 * when handler(r, reply, data) will get Redis's reply, for
 * ngx_http_zt_usage_api_shown(); NGX_DECLINED when Redis cannot be asked;
 * else what the request is finalized with.
 */

ngx_int_t
ngx_http_zt_usage_api(ngx_http_request_t *r, ngx_http_zt_ctx_t *ctx,
    ngx_str_t *key, ngx_uint_t reset, ngx_http_zt_redis_handler_pt handler,
    void *data)
{
    ngx_uint_t                  i, redis;
    ngx_http_zt_main_conf_t    *zmcf;
    ngx_http_zt_usage_zone_t  **zones;

    if (key->len == 0 || key->len > NGX_HTTP_ZT_USAGE_KEY_MAX) {
        return ngx_http_zt_answer_error(r, NGX_HTTP_NOT_FOUND,
                                        "not_found_error", "usage_unknown",
                                        "no such usage key");
    }

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);

    redis = 0;
    zones = zmcf->usage_zones ? zmcf->usage_zones->elts : NULL;

    for (i = 0; zones && i < zmcf->usage_zones->nelts; i++) {

        if (reset && (zones[i]->stores & NGX_HTTP_ZT_USAGE_SHM)) {
            if (ngx_http_zt_usage_shm_reset(zones[i], key) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (zones[i]->stores & NGX_HTTP_ZT_USAGE_REDIS) {
            redis = 1;
        }
    }

    if (reset) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "zt: usage of key \"%V\" reset by \"%V\"", key,
                      &ctx->id.sub);
    }

    if (redis) {
        return ngx_http_zt_usage_redis_api(r, key, reset, handler, data);
    }

    return ngx_http_zt_usage_api_answer(r, key, NULL);
}


/* the reviewer API's answer once Redis replied to ngx_http_zt_usage_api() */

ngx_int_t
ngx_http_zt_usage_api_shown(ngx_http_request_t *r, ngx_str_t *key,
    struct redisReply *reply)
{
    ngx_int_t                 rc;
    ngx_http_zt_usage_win_t  *windows;

    rc = ngx_http_zt_usage_redis_shown(r, reply, &windows);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_zt_usage_api_answer(r, key, windows);
}


/* the zones of a key in one store, as the API shows them */
typedef struct {
    ngx_http_zt_usage_zone_t       *zone;
    ngx_uint_t                      store;
    ngx_uint_t                      nwin;
    ngx_http_zt_usage_win_t        *win;
} ngx_http_zt_usage_shown_t;


typedef struct {
    ngx_str_t                      *key;
    ngx_http_zt_usage_shown_t      *shown;
    ngx_uint_t                      n;
} ngx_http_zt_usage_api_t;


/*
 * {"usage":{"key":"...","zones":[{"zone":"...","store":"shm","windows":[
 * {"period":"m","limit":N,"used":N,"remaining":N,"reset":"34s",
 * "reset_at":UNIX}]}]}}.  redis: the windows Redis has, PERIODS per zone
 * kept in Redis in the order of the zones, start -1 after the last (NULL:
 * no zone is kept in Redis).
 */

static ngx_int_t
ngx_http_zt_usage_api_answer(ngx_http_request_t *r, ngx_str_t *key,
    ngx_http_zt_usage_win_t *redis)
{
    ngx_str_t                   json;
    ngx_uint_t                  i, j, k, n, nzones, store;
    ngx_http_zt_main_conf_t    *zmcf;
    ngx_http_zt_usage_win_t    *win;
    ngx_http_zt_usage_api_t     api;
    ngx_http_zt_usage_zone_t  **zones;
    ngx_http_zt_usage_shown_t  *shown;

    zmcf = ngx_http_get_module_main_conf(r, ngx_http_zt_inference_module);
    zones = zmcf->usage_zones ? zmcf->usage_zones->elts : NULL;
    nzones = zmcf->usage_zones ? zmcf->usage_zones->nelts : 0;

    /* each store read once: both passes of the writer see the same */

    shown = ngx_pcalloc(r->pool, (2 * nzones + 1)
                                 * (sizeof(ngx_http_zt_usage_shown_t)
                                    + NGX_HTTP_ZT_USAGE_PERIODS
                                      * sizeof(ngx_http_zt_usage_win_t)));
    if (shown == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    win = (ngx_http_zt_usage_win_t *) &shown[2 * nzones + 1];
    n = 0;
    k = 0;

    for (i = 0; i < nzones; i++) {
        for (store = NGX_HTTP_ZT_USAGE_SHM; store <= NGX_HTTP_ZT_USAGE_REDIS;
             store <<= 1)
        {
            if (!(zones[i]->stores & store)) {
                continue;
            }

            shown[n].zone = zones[i];
            shown[n].store = store;
            shown[n].win = win + n * NGX_HTTP_ZT_USAGE_PERIODS;

            if (store == NGX_HTTP_ZT_USAGE_SHM) {
                if (ngx_http_zt_usage_shm_read(zones[i], key, shown[n].win,
                                               &shown[n].nwin)
                    != NGX_OK)
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

            } else if (redis) {
                for (j = 0; j < NGX_HTTP_ZT_USAGE_PERIODS; j++) {
                    if (redis[k * NGX_HTTP_ZT_USAGE_PERIODS + j].start == -1) {
                        break;
                    }

                    shown[n].win[j] = redis[k * NGX_HTTP_ZT_USAGE_PERIODS + j];
                }

                shown[n].nwin = j;
                k++;
            }

            n++;
        }
    }

    api.key = key;
    api.shown = shown;
    api.n = n;

    if (ngx_http_zt_json_build(r->pool, ngx_http_zt_usage_api_write, &api,
                               &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_zt_answer_json(r, NGX_HTTP_OK, json.data, json.len);
}


static void
ngx_http_zt_usage_api_write(ngx_http_zt_json_out_t *out, void *data)
{
    ngx_http_zt_usage_api_t *api = data;

    u_char                     *p;
    ngx_uint_t                  i, j;
    ngx_http_zt_usage_win_t    *w;
    ngx_http_zt_usage_shown_t  *z;
    u_char                      buf[NGX_INT64_LEN + 16];

    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_key(out, "usage");
    ngx_http_zt_json_open(out, '{');
    ngx_http_zt_json_member(out, "key", api->key);
    ngx_http_zt_json_key(out, "zones");
    ngx_http_zt_json_open(out, '[');

    for (i = 0; i < api->n; i++) {
        z = &api->shown[i];

        ngx_http_zt_json_open(out, '{');
        ngx_http_zt_json_member(out, "zone", &z->zone->name);
        ngx_http_zt_json_key(out, "store");

        if (z->store == NGX_HTTP_ZT_USAGE_SHM) {
            ngx_http_zt_json_str(out, (u_char *) "shm", 3);

        } else {
            ngx_http_zt_json_str(out, (u_char *) "redis", 5);
        }

        ngx_http_zt_json_key(out, "windows");
        ngx_http_zt_json_open(out, '[');

        for (j = 0; j < z->nwin; j++) {
            w = &z->win[j];

            ngx_http_zt_json_open(out, '{');
            ngx_http_zt_json_key(out, "period");
            ngx_http_zt_json_str(out,
                                 (u_char *) &ngx_http_zt_usage_names[w->period],
                                 1);

            ngx_http_zt_json_key(out, "limit");

            if (w->limit >= 0) {
                ngx_http_zt_json_int(out, w->limit);

            } else {
                ngx_http_zt_json_text(out, (u_char *) "null", 4);
            }

            ngx_http_zt_json_key(out, "used");
            ngx_http_zt_json_int(out, w->used);
            ngx_http_zt_json_key(out, "remaining");

            if (w->limit >= 0) {
                ngx_http_zt_json_int(out, ngx_max(w->limit - w->used, 0));

            } else {
                ngx_http_zt_json_text(out, (u_char *) "null", 4);
            }

            p = ngx_http_zt_usage_duration(buf, ngx_max(w->reset, 0));
            ngx_http_zt_json_key(out, "reset");
            ngx_http_zt_json_str(out, buf, p - buf);

            ngx_http_zt_json_key(out, "reset_at");
            ngx_http_zt_json_int(out,
                           w->start + ngx_http_zt_usage_seconds[w->period]);

            ngx_http_zt_json_close(out, '}');
        }

        ngx_http_zt_json_close(out, ']');
        ngx_http_zt_json_close(out, '}');
    }

    ngx_http_zt_json_close(out, ']');
    ngx_http_zt_json_close(out, '}');
    ngx_http_zt_json_close(out, '}');
}
