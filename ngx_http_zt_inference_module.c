
/*
 * zt-inference: a zero-trust gateway for inference APIs.
 *
 * The module's front door: its directives, its configuration structures and
 * their merging, and where it hooks into nginx (the access phase and the
 * response filters). What each directive does lives in src/, one file per
 * concern.
 */


#include "ngx_http_zt_inference.h"

#include <openssl/rand.h>


static ngx_int_t ngx_http_zt_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_zt_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_zt_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_zt_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_zt_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void ngx_http_zt_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_zt_leeway_bounds = {
    ngx_conf_check_num_bounds, 0, 3600
};


static ngx_conf_num_bounds_t  ngx_http_zt_approval_ttl_bounds = {
    ngx_conf_check_num_bounds, 1, 7 * 86400
};


static ngx_command_t  ngx_http_zt_commands[] = {

    { ngx_string("zt_jwks_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_zt_keys_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, jwt.keys),
      NULL },

    { ngx_string("zt_jwks_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_zt_jwks_request_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, jwt),
      NULL },

    { ngx_string("zt_oidc_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_zt_jwks_oidc_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, jwt),
      NULL },

    { ngx_string("zt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, jwt.issuers),
      NULL },

    { ngx_string("zt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, jwt.audiences),
      NULL },

    { ngx_string("zt_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_zt_jwt_set_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, jwt.algorithms),
      NULL },

    { ngx_string("zt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, jwt.leeway),
      &ngx_http_zt_leeway_bounds },

    { ngx_string("zt_scope_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_zt_jwt_set_claim_name,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, jwt.scope_claim),
      NULL },

    { ngx_string("zt_groups_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_zt_jwt_set_claim_name,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, jwt.groups_claim),
      NULL },

    { ngx_string("zt_forward_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, forward_token),
      NULL },

    { ngx_string("zt_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_zt_policy_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, policy),
      NULL },

    { ngx_string("zt_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, body_max),
      NULL },

    { ngx_string("zt_audit_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, audit_body),
      NULL },

    { ngx_string("zt_audit_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, audit_body_max),
      NULL },

    { ngx_string("zt_upstream_credential_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_zt_credential_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, credential),
      NULL },

    { ngx_string("zt_token_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_zt_token_cache_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zt_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_zt_redis_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zt_approval_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_zt_api_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zt_approval_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, approval_ttl),
      &ngx_http_zt_approval_ttl_bounds },

    { ngx_string("zt_mask"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_zt_mask_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, mask.rules),
      NULL },

    { ngx_string("zt_mask_pattern"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1234,
      ngx_http_zt_mask_pattern_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, mask.rules),
      NULL },

    { ngx_string("zt_mask_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1234,
      ngx_http_zt_mask_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, mask.request),
      NULL },

    { ngx_string("zt_mask_request_pattern"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_zt_mask_pattern_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, mask.request),
      NULL },

    { ngx_string("zt_mask_types"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_zt_mask_types_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zt_dpop"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_zt_dpop_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zt_dpop_replay_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_zt_main_conf_t, dpop_replay_size),
      NULL },

    { ngx_string("zt_resource_metadata"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_zt_metadata_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zt_resource_metadata_document"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_zt_metadata_document_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zt_usage_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_zt_usage_limit_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zt_usage_limit_store"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, usage.store),
      &ngx_http_zt_usage_stores },

    { ngx_string("zt_mask_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_zt_loc_conf_t, mask.buffer),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_zt_inference_module_ctx = {
    ngx_http_zt_preconfiguration,          /* preconfiguration */
    ngx_http_zt_postconfiguration,         /* postconfiguration */

    ngx_http_zt_create_main_conf,          /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_zt_create_loc_conf,           /* create location configuration */
    ngx_http_zt_merge_loc_conf             /* merge location configuration */
};


ngx_module_t  ngx_http_zt_inference_module = {
    NGX_MODULE_V1,
    &ngx_http_zt_inference_module_ctx,     /* module context */
    ngx_http_zt_commands,                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_zt_exit_process,              /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_zt_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_zt_jwks_add_variables(cf) != NGX_OK
        || ngx_http_zt_usage_variables_add(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_zt_variables_add(cf);
}


static ngx_int_t
ngx_http_zt_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_zt_access_handler;

    /* masking installs its own handler and filters */

    if (ngx_http_zt_mask_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* usage limits, above masking: the usage is read as the model sent it */

    if (ngx_http_zt_usage_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* above the masking filter: a key set fetch is never masked */

    return ngx_http_zt_jwks_filter_init(cf);
}


/* what each concern keeps for the life of a process, released as it exits */

static void
ngx_http_zt_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_zt_redis_exit_process(cycle);
    ngx_http_zt_jwt_exit_process(cycle);
    ngx_http_zt_regex_exit_process(cycle);
    ngx_http_zt_util_exit_process(cycle);
}


static void *
ngx_http_zt_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_zt_main_conf_t  *zmcf;

    zmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_zt_main_conf_t));
    if (zmcf == NULL) {
        return NULL;
    }

    if (RAND_bytes(zmcf->cache_salt, sizeof(zmcf->cache_salt)) != 1) {
        return NULL;
    }

    zmcf->dpop_replay_size = NGX_CONF_UNSET_SIZE;

    return zmcf;
}


static void *
ngx_http_zt_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_zt_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_zt_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->jwt.keys = NULL;
     *     conf->jwt.remotes = NULL;
     *     conf->jwt.oidc_issuer = { 0, NULL };
     *     conf->jwt.scope_claim = { 0, NULL };
     *     conf->jwt.groups_claim = { 0, NULL };
     *     conf->policy.rules = NULL;
     *     conf->policy.body_re = 0;
     *     conf->policy.body_json = 0;
     *     conf->credential = { 0, NULL };
     *     conf->dpop.origins = NULL;
     *     conf->metadata_document = NULL;
     */

    conf->jwt.issuers = NGX_CONF_UNSET_PTR;
    conf->jwt.audiences = NGX_CONF_UNSET_PTR;
    conf->jwt.algorithms = NGX_CONF_UNSET_UINT;
    conf->jwt.leeway = NGX_CONF_UNSET;
    conf->policy.enabled = NGX_CONF_UNSET;
    conf->body_max = NGX_CONF_UNSET_SIZE;
    conf->forward_token = NGX_CONF_UNSET;
    conf->audit_body = NGX_CONF_UNSET;
    conf->audit_body_max = NGX_CONF_UNSET_SIZE;
    conf->approval_api = NGX_CONF_UNSET;
    conf->approval_ttl = NGX_CONF_UNSET;
    conf->token_cache = NGX_CONF_UNSET_PTR;
    conf->token_cache_max_ttl = NGX_CONF_UNSET;
    conf->dpop.mode = NGX_CONF_UNSET_UINT;
    conf->metadata = NGX_CONF_UNSET_PTR;

    ngx_http_zt_mask_init_conf(&conf->mask);
    ngx_http_zt_usage_init_conf(&conf->usage);

    return conf;
}


static char *
ngx_http_zt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_zt_loc_conf_t *prev = parent;
    ngx_http_zt_loc_conf_t *conf = child;

    if (ngx_http_zt_jwt_merge_conf(cf, &prev->jwt, &conf->jwt)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* like allow/deny: rules of a location replace the inherited ones */

    if (conf->policy.rules == NULL && conf->policy.enabled == NGX_CONF_UNSET) {
        conf->policy = prev->policy;
    }

    ngx_conf_merge_value(conf->policy.enabled, prev->policy.enabled, 1);

    if (ngx_http_zt_dpop_merge(cf, prev, conf) != NGX_CONF_OK
        || ngx_http_zt_metadata_merge(cf, prev, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the resource metadata is public: clients read it to get a token */

    if (conf->metadata_document) {
        conf->policy.enabled = 0;
    }

    ngx_conf_merge_size_value(conf->body_max, prev->body_max, 1024 * 1024);
    ngx_conf_merge_value(conf->forward_token, prev->forward_token, 0);
    ngx_conf_merge_value(conf->audit_body, prev->audit_body, 0);
    ngx_conf_merge_size_value(conf->audit_body_max, prev->audit_body_max,
                              4096);
    ngx_conf_merge_str_value(conf->credential, prev->credential, "");
    ngx_conf_merge_ptr_value(conf->token_cache, prev->token_cache, NULL);
    ngx_conf_merge_value(conf->token_cache_max_ttl, prev->token_cache_max_ttl,
                         NGX_CONF_UNSET);

    if (conf->policy.rules && conf->policy.enabled
        && !ngx_http_zt_jwt_has_keys(&conf->jwt))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zt_policy\" rules need a key: "
                           "add \"zt_jwks_file\" or \"zt_jwks_request\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_sec_value(conf->approval_ttl, prev->approval_ttl, 3600);

    if (ngx_http_zt_approval_merge(cf, conf) != NGX_CONF_OK
        || ngx_http_zt_api_merge(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_zt_mask_merge_conf(cf, &prev->mask, &conf->mask)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_zt_usage_merge_conf(cf, &prev->usage, &conf->usage)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
