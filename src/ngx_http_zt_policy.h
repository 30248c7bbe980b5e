
/*
 * zt-inference: zt_policy, the ordered allow/deny/approve rules of a
 * location and their conditions.
 */


#ifndef _NGX_HTTP_ZT_POLICY_H_INCLUDED_
#define _NGX_HTTP_ZT_POLICY_H_INCLUDED_


typedef enum {
    NGX_HTTP_ZT_COND_SCOPE = 1,
    NGX_HTTP_ZT_COND_GROUP,
    NGX_HTTP_ZT_COND_CLAIM,         /* sub=V and claim.NAME=V */
    NGX_HTTP_ZT_COND_METHOD,
    NGX_HTTP_ZT_COND_BODY_RE,       /* body~RE, body~*RE */
    NGX_HTTP_ZT_COND_JSON_EQ,       /* json:PATH=V */
    NGX_HTTP_ZT_COND_JSON_RE        /* json:PATH~RE */
} ngx_http_zt_cond_type_e;

typedef struct {
    ngx_http_zt_cond_type_e     type;
    ngx_str_t                   text;       /* as written, for messages */
    ngx_str_t                   name;       /* claim name, dotted */
    ngx_str_t                   value;      /* scope, group, claim, method */
    ngx_http_zt_regex_t         re;
    ngx_http_zt_jsonpath_t      path;
} ngx_http_zt_cond_t;


typedef enum {
    NGX_HTTP_ZT_ALLOW = 1,
    NGX_HTTP_ZT_DENY,
    NGX_HTTP_ZT_APPROVE
} ngx_http_zt_action_e;

typedef struct {
    ngx_http_zt_action_e        action;
    ngx_uint_t                  line;       /* config line, for audit */
    ngx_http_zt_cond_t         *conds;
    ngx_uint_t                  nconds;
} ngx_http_zt_rule_t;


typedef struct {
    ngx_array_t                *rules;      /* of ngx_http_zt_rule_t */
    ngx_flag_t                  enabled;    /* zt_policy off */
    unsigned                    body_re:1;      /* a body~ condition */
    unsigned                    body_json:1;    /* a json: condition */
    unsigned                    body_json_deep:1;  /* one whose path goes
                                                      past a top-level
                                                      member */
} ngx_http_zt_policy_conf_t;


char *ngx_http_zt_policy_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_zt_policy_cond_parse(ngx_conf_t *cf, ngx_http_zt_cond_t *cond,
    ngx_str_t *text);
ngx_int_t ngx_http_zt_policy_cond_holds(ngx_http_request_t *r,
    ngx_http_zt_ctx_t *ctx, ngx_http_zt_cond_t *cond);
ngx_http_zt_rule_t *ngx_http_zt_policy_decide(ngx_http_request_t *r,
    ngx_http_zt_policy_conf_t *pcf, ngx_http_zt_ctx_t *ctx);


#endif /* _NGX_HTTP_ZT_POLICY_H_INCLUDED_ */
