
/*
 * zt-inference: the detectors of zt_mask_pattern.  Each built-in detector
 * is a PCRE2 pattern plus, where the shape alone gives false positives, a
 * check of the digits (Luhn for cards, mod-97 for IBANs).  An operator's own
 * regex is compiled the same way.  Matching can be partial: the SSE parser
 * asks where a match could still start at the end of what it has so far.
 */


#include "ngx_http_zt_inference.h"
#include "ngx_http_zt_mask_scan.h"


typedef struct {
    ngx_str_t                      name;
    ngx_str_t                      pattern;
    ngx_http_zt_mask_validate_pt   validate;
    ngx_http_zt_mask_maybe_pt      maybe;
    ngx_http_zt_mask_find_pt       find;
    ngx_http_zt_mask_tail_pt       tail;
} ngx_http_zt_mask_detector_t;


static ngx_int_t ngx_http_zt_mask_luhn(u_char *p, size_t len);
static ngx_int_t ngx_http_zt_mask_iban(u_char *p, size_t len);
static ngx_int_t ngx_http_zt_mask_phone(u_char *p, size_t len);
static ngx_uint_t ngx_http_zt_mask_digits(u_char *p, u_char *last,
    ngx_uint_t n);
static ngx_uint_t ngx_http_zt_mask_count(u_char *p, u_char *last, u_char ch,
    ngx_uint_t n);
static ngx_uint_t ngx_http_zt_mask_find_card(u_char *s, size_t len,
    size_t off, size_t *ms, size_t *me);
static ngx_inline size_t ngx_http_zt_mask_card_at(u_char *s, size_t len,
    size_t i, size_t *next);
static size_t ngx_http_zt_mask_tail_card(u_char *s, size_t len,
    size_t from);
static ngx_uint_t ngx_http_zt_mask_maybe_email(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_find_email(u_char *s, size_t len,
    size_t off, size_t *ms, size_t *me);
static ngx_uint_t ngx_http_zt_mask_maybe_ssn(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_maybe_iban(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_maybe_phone(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_maybe_ipv4(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_maybe_jwt(u_char *p, u_char *last);
static ngx_int_t ngx_http_zt_mask_pcre(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_rule_t *rule, u_char *s, size_t len, size_t off,
    ngx_uint_t partial, size_t *ms, size_t *me, size_t *hold);
static ngx_int_t ngx_http_zt_mask_placeholders(ngx_http_zt_mask_req_t *mr,
    u_char *s, size_t len, size_t from, ngx_uint_t partial, size_t *hold);
static void ngx_http_zt_mask_sort(ngx_http_zt_mask_range_t *r, ngx_uint_t n);


#define NGX_HTTP_ZT_MASK_RECHECK  256


#define NGX_HTTP_ZT_OCTET  "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


static ngx_http_zt_mask_detector_t  ngx_http_zt_mask_detectors[] = {

    /*
     * 13 to 19 digits, up to three separators between them (see
     * ngx_http_zt_mask_sep()), starting and ending where a group of digits
     * does
     */
    { ngx_string("credit_card"),
      ngx_string("(?<![0-9])[0-9](?:[ \\t\\-\\x{a0}\\x{ad}\\x{2000}-\\x{200b}"
                 "\\x{2010}-\\x{2014}\\x{202f}\\x{205f}\\x{2060}\\x{2212}"
                 "\\x{3000}\\x{feff}]{0,3}[0-9]){12,18}(?![0-9])"),
      ngx_http_zt_mask_luhn, NULL, ngx_http_zt_mask_find_card,
      ngx_http_zt_mask_tail_card },

    { ngx_string("email"),
      ngx_string("(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@"
                 "[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}"
                 "(?![A-Za-z0-9-])"),
      NULL, ngx_http_zt_mask_maybe_email, ngx_http_zt_mask_find_email,
      NULL },

    /* area 000, 666 and 9xx, group 00 and serial 0000 are never issued */
    { ngx_string("us_ssn"),
      ngx_string("(?<![0-9-])(?!000|666|9[0-9][0-9])[0-9]{3}-(?!00)[0-9]{2}-"
                 "(?!0000)[0-9]{4}(?![0-9]|-[0-9])"),
      NULL, ngx_http_zt_mask_maybe_ssn, NULL, NULL },

    { ngx_string("iban"),
      ngx_string("(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}"
                 "(?![A-Za-z0-9])"),
      ngx_http_zt_mask_iban, ngx_http_zt_mask_maybe_iban, NULL, NULL },

    /*
     * E.164, compact or in groups (+1 (555) 123-4567, +33 1 23 45 67 89),
     * and national numbers in groups of two digits or more (020 7946 0958,
     * (555) 123-4567); a match is a whole run of groups, never part of one
     */
    { ngx_string("phone"),
      ngx_string("(?<![A-Za-z0-9_+.-])(?<![0-9][ .-])"
                 "(?:\\+[1-9][0-9]{7,14}"
                 "|\\+[1-9][0-9]{0,3}"
                 "(?:[ .-]?\\([0-9]{1,4}\\)|[ .-][0-9]{1,8}){2,7}"
                 "|(?:\\([0-9]{2,5}\\)[ .-]?|[0-9]{2,5}[ .-])"
                 "(?:[0-9]{2,5}[ .-]){0,4}[0-9]{2,8})"
                 "(?![A-Za-z0-9_])(?![ .-]?[0-9])"),
      ngx_http_zt_mask_phone, ngx_http_zt_mask_maybe_phone, NULL, NULL },

    /* a letter before it makes a version number: v1.2.3.4 */
    { ngx_string("ipv4"),
      ngx_string("(?<![A-Za-z0-9_.])(?:" NGX_HTTP_ZT_OCTET "\\.){3}"
                 NGX_HTTP_ZT_OCTET "(?![0-9]|\\.[0-9])"),
      NULL, ngx_http_zt_mask_maybe_ipv4, NULL, NULL },

    { ngx_string("jwt"),
      ngx_string("(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}"
                 "\\.[A-Za-z0-9_-]*"),
      NULL, ngx_http_zt_mask_maybe_jwt, NULL, NULL },

    /*
     * OpenAI and Anthropic (sk-), Stripe, AWS access key ids, GitHub,
     * Slack, Google, Hugging Face, GitLab, npm, Groq, xAI
     */
    { ngx_string("api_key"),
      ngx_string("(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{20,}|"
                 "(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}|"
                 "(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|"
                 "github_pat_[A-Za-z0-9_]{22,}|xox[abposr]-[A-Za-z0-9-]{10,}|"
                 "AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z0-9]{30,}|"
                 "glpat-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36,}|"
                 "gsk_[A-Za-z0-9]{48,}|xai-[A-Za-z0-9]{40,})"
                 "(?![A-Za-z0-9_-])"),
      NULL, NULL, NULL, NULL },

    { ngx_null_string, ngx_null_string, NULL, NULL, NULL, NULL }
};


/*
 * The pattern of a zt_mask_pattern rule: a detector's name, or a regex
 * written "~REGEX", "~*REGEX" (caseless), "~ REGEX" or "~* REGEX".  Any
 * other word is an error: a misspelt detector taken as a regex would mask
 * nothing and say nothing.  *n is set to the arguments taken.
 */

char *
ngx_http_zt_mask_detector(ngx_conf_t *cf, ngx_http_zt_mask_rule_t *rule,
    ngx_str_t *value, ngx_uint_t nvalues, ngx_uint_t *n)
{
    u_char                       *p, names[256];
    uint32_t                      min_len;
    ngx_str_t                     re, *name;
    ngx_uint_t                    caseless;
    ngx_http_zt_mask_detector_t  *d;

    name = &value[0];
    rule->name = *name;
    *n = 1;

    if (name->len && name->data[0] == '~') {
        caseless = (name->len > 1 && name->data[1] == '*');

        re.data = name->data + 1 + caseless;
        re.len = name->len - 1 - caseless;

        if (re.len == 0 && nvalues > 1) {
            re = value[1];
            rule->name = re;
            *n = 2;
        }

        if (re.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty regex in \"%V\"",
                               &((ngx_str_t *) cf->args->elts)[0]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_zt_regex_compile(cf, &rule->re, &re, caseless)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&rule->label, "MASKED");

        goto jit;
    }

    for (d = ngx_http_zt_mask_detectors; d->name.len; d++) {

        if (d->name.len == name->len
            && ngx_strncmp(d->name.data, name->data, name->len) == 0)
        {
            rule->validate = d->validate;
            rule->maybe = d->maybe;
            rule->find = d->find;
            rule->tail = d->tail;

            /* placeholders are named after the detector: [CREDIT_CARD_1] */

            if (ngx_http_zt_mask_label(cf, &rule->label, &d->name)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_zt_regex_compile(cf, &rule->re, &d->pattern, 0)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            goto jit;
        }
    }

    /* the list of names, as the table has them */

    p = names;

    for (d = ngx_http_zt_mask_detectors; d->name.len; d++) {
        p = ngx_slprintf(p, names + sizeof(names), "%s%V",
                         (d == ngx_http_zt_mask_detectors) ? "" : ", ",
                         &d->name);
    }

    re.data = names;
    re.len = p - names;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown detector \"%V\" in \"%V\": the detectors "
                       "are %V; a regex is written \"~REGEX\"",
                       name, &((ngx_str_t *) cf->args->elts)[0], &re);

    return NGX_CONF_ERROR;

jit:

    /* the SSE parser matches partially; without JIT for it PCRE2 interprets */
    (void) pcre2_jit_compile(rule->re.code, PCRE2_JIT_PARTIAL_HARD);

    /* in characters: never more than the bytes of a UTF-8 match */

    if (pcre2_pattern_info(rule->re.code, PCRE2_INFO_MINLENGTH, &min_len)
        != 0)
    {
        min_len = 0;
    }

    rule->min_len = min_len;

    return NGX_CONF_OK;
}


/* a name for placeholders: letters in upper case, digits, "_" */

ngx_int_t
ngx_http_zt_mask_label(ngx_conf_t *cf, ngx_str_t *label, ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    label->len = ngx_min(name->len, 32);

    label->data = ngx_pnalloc(cf->pool, label->len);
    if (label->data == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < label->len; i++) {
        c = ngx_toupper(name->data[i]);
        label->data[i] = ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                         ? c : '_';
    }

    return NGX_OK;
}


/*
 * The rules that apply to this request: those whose "unless" does not hold
 * for the caller.  NGX_DECLINED: none, and no placeholder to restore.
 */

ngx_int_t
ngx_http_zt_mask_select(ngx_http_request_t *r, ngx_http_zt_mask_req_t *mr,
    ngx_array_t *rules, ngx_http_zt_ctx_t *zctx)
{
    ngx_int_t                 rc;
    ngx_uint_t                i, n;
    ngx_http_zt_mask_rule_t  *rule;

    rule = rules ? rules->elts : NULL;
    n = rules ? rules->nelts : 0;

    mr->r = r;
    mr->pool = r->pool;

    mr->paths = ngx_palloc(r->pool,
                           (2 * n + 1) * sizeof(ngx_http_zt_mask_rule_t *));
    if (mr->paths == NULL) {
        return NGX_ERROR;
    }

    mr->patterns = mr->paths + n;

    for (i = 0; i < n; i++) {

        /* only a condition that is proven true lifts the mask */

        if (rule[i].unless) {
            rc = ngx_http_zt_policy_cond_holds(r, zctx, rule[i].unless);

            if (rc == 1) {
                continue;
            }

            if (rc == NGX_ERROR) {
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "zt: mask: \"unless=%V\" of \"%V\" cannot be "
                              "evaluated, the rule applies",
                              &rule[i].unless->text, &rule[i].name);
            }
        }

        if (rule[i].type == NGX_HTTP_ZT_MASK_PATH) {
            mr->paths[mr->npaths++] = &rule[i];

        } else {
            mr->patterns[mr->npatterns++] = &rule[i];
        }
    }

    if (mr->npaths + mr->npatterns == 0 && mr->restore == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_array_init(&mr->ranges, r->pool, 4,
                       sizeof(ngx_http_zt_mask_range_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Finds the matches of every pattern rule in s[from, len) and leaves them,
 * sorted and merged, in mr->ranges.  With "partial", a match that could
 * still grow with more text is not a match yet: *hold is then where the
 * earliest such match starts (len when none), and no range reaches past it.
 * Bytes before "from" are context for lookbehinds only.
 */

ngx_int_t
ngx_http_zt_mask_detect(ngx_http_zt_mask_req_t *mr, u_char *s, size_t len,
    size_t from, ngx_uint_t partial, size_t *hold)
{
    size_t                     off, h, t, ms, me;
    ngx_int_t                  rc;
    ngx_uint_t                 i, j, changed, part;
    ngx_http_zt_mask_rule_t   *rule;
    ngx_http_zt_mask_range_t  *range, *rg;

    mr->ranges.nelts = 0;
    h = len;

    for (i = 0; i < mr->npatterns; i++) {
        rule = mr->patterns[i];
        off = from;

        /* a detector that says in C where a match may still grow needs
         * only complete matches of PCRE2 or of its C matcher */
        part = partial && rule->tail == NULL;

        while (off <= len) {

            /*
             * Most strings cannot hold a match: a complete match needs its
             * minimum length and what the pre-filter asks (a partial one
             * needs neither).  After a match the pre-filter runs again only
             * on a short rest, so a long string costs no more than before.
             */

            if (!part
                && (len - off < rule->min_len
                    || (rule->maybe
                        && (off == from
                            || len - off <= NGX_HTTP_ZT_MASK_RECHECK)
                        && !rule->maybe(s + off, s + len))))
            {
                break;
            }

            if (!part && rule->find) {
                if (!rule->find(s, len, off, &ms, &me)) {
                    break;
                }

            } else {
                rc = ngx_http_zt_mask_pcre(mr, rule, s, len, off, part,
                                           &ms, &me, &h);

                if (rc == NGX_ERROR) {
                    return NGX_ERROR;
                }

                if (rc == NGX_DECLINED) {
                    break;
                }
            }

            if (me == ms) {
                /* an empty match masks nothing: step over one character */
                off = me + 1;

                while (off < len && (s[off] & 0xc0) == 0x80) {
                    off++;
                }

                continue;
            }

            /* a C matcher checks what it finds */

            if (rule->validate == NULL
                || (!part && rule->find)
                || rule->validate(s + ms, me - ms) == NGX_OK)
            {
                range = ngx_array_push(&mr->ranges);
                if (range == NULL) {
                    mr->err = "out of memory";
                    return NGX_ERROR;
                }

                range->start = ms;
                range->end = me;
                range->rule = rule;
                range->restore = NULL;
            }

            off = me;
        }

        if (partial && rule->tail) {
            t = rule->tail(s, len, from);

            if (t < h) {
                h = t;
            }
        }
    }

    if (mr->restore
        && ngx_http_zt_mask_placeholders(mr, s, len, from, partial, &h)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    range = mr->ranges.elts;

    ngx_http_zt_mask_sort(range, mr->ranges.nelts);

    /*
     * Overlapping matches of different detectors become one; where a
     * placeholder overlaps a match, the mask wins.
     */

    for (i = 0, j = 0; i < mr->ranges.nelts; i++) {

        if (j > 0 && range[i].start < range[j - 1].end) {
            if (range[i].end > range[j - 1].end) {
                range[j - 1].end = range[i].end;
            }

            if (range[j - 1].rule == NULL) {
                range[j - 1].rule = range[i].rule;
                range[j - 1].restore = range[i].restore;
            }

            continue;
        }

        range[j++] = range[i];
    }

    mr->ranges.nelts = j;

    /* a complete match that straddles a partial one waits with it */

    do {
        changed = 0;

        for (i = 0; i < mr->ranges.nelts; i++) {
            rg = &range[i];

            if (rg->start < h && rg->end > h) {
                h = rg->start;
                changed = 1;
            }
        }

    } while (changed);

    for (i = 0; i < mr->ranges.nelts; i++) {
        if (range[i].start >= h) {
            break;
        }
    }

    mr->ranges.nelts = i;

    *hold = h;

    return NGX_OK;
}


/*
 * The next match of the rule's regex from off: NGX_OK and [*ms, *me), or
 * NGX_DECLINED when there is none (a partial one moves *hold back).
 */

static ngx_int_t
ngx_http_zt_mask_pcre(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_rule_t *rule, u_char *s, size_t len, size_t off,
    ngx_uint_t partial, size_t *ms, size_t *me, size_t *hold)
{
    int                rc;
    PCRE2_SIZE        *ov;
    pcre2_match_data  *md;

    md = ngx_http_zt_regex_match_data();
    if (md == NULL) {
        mr->err = "out of memory";
        return NGX_ERROR;
    }

    rc = pcre2_match(rule->re.code, s ? s : (u_char *) "", len, off,
                     partial ? PCRE2_PARTIAL_HARD : 0, md, NULL);

    if (rc == PCRE2_ERROR_NOMATCH) {
        return NGX_DECLINED;
    }

    ov = pcre2_get_ovector_pointer(md);

    if (rc == PCRE2_ERROR_PARTIAL) {
        if (ov[0] < *hold) {
            *hold = ov[0];
        }

        return NGX_DECLINED;
    }

    if (rc < 0) {
        /* match limits: what cannot be checked is not let through */
        mr->err = "a detector failed to match (PCRE2 limit)";
        return NGX_ERROR;
    }

    *ms = ov[0];
    *me = ov[1];

    return NGX_OK;
}


/*
 * The placeholders of request masking in an answer: each one found becomes
 * the value it stands for.  With "partial", a "[" near the end that may
 * still become a placeholder holds back.
 */

static ngx_int_t
ngx_http_zt_mask_placeholders(ngx_http_zt_mask_req_t *mr, u_char *s,
    size_t len, size_t from, ngx_uint_t partial, size_t *hold)
{
    u_char                      *p, *last;
    size_t                       n;
    ngx_uint_t                   i;
    ngx_http_zt_mask_range_t    *range;
    ngx_http_zt_mask_restore_t  *rs;

    rs = mr->restore->elts;
    last = s + len;

    for (p = s + from;
         p < last && (p = memchr(p, '[', last - p)) != NULL;
         p++)
    {
        n = last - p;

        for (i = 0; i < mr->restore->nelts; i++) {

            if (n >= rs[i].placeholder.len) {
                if (ngx_memcmp(p, rs[i].placeholder.data,
                               rs[i].placeholder.len)
                    != 0)
                {
                    continue;
                }

                range = ngx_array_push(&mr->ranges);
                if (range == NULL) {
                    mr->err = "out of memory";
                    return NGX_ERROR;
                }

                range->start = p - s;
                range->end = range->start + rs[i].placeholder.len;
                range->rule = NULL;
                range->restore = &rs[i];

                p += rs[i].placeholder.len - 1;
                break;
            }

            /* the end of the text may be the start of one */

            if (partial && ngx_memcmp(p, rs[i].placeholder.data, n) == 0) {
                if ((size_t) (p - s) < *hold) {
                    *hold = p - s;
                }

                return NGX_OK;
            }
        }
    }

    return NGX_OK;
}


/* what a match becomes, unescaped: in plain-text events, on one line */

ngx_str_t *
ngx_http_zt_mask_text(ngx_http_zt_mask_range_t *range, ngx_uint_t line)
{
    if (range->rule == NULL) {
        return &range->restore->value;
    }

    return line ? &range->rule->with_line : &range->rule->with;
}


static void
ngx_http_zt_mask_sort(ngx_http_zt_mask_range_t *r, ngx_uint_t n)
{
    ngx_uint_t                i, j;
    ngx_http_zt_mask_range_t  t;

    /* few matches per string: insertion sort, stable */

    for (i = 1; i < n; i++) {
        t = r[i];

        for (j = i; j > 0 && r[j - 1].start > t.start; j--) {
            r[j] = r[j - 1];
        }

        r[j] = t;
    }
}


/* a card number: 13 to 19 digits whose Luhn checksum holds */

static ngx_int_t
ngx_http_zt_mask_luhn(u_char *p, size_t len)
{
    u_char      *q;
    ngx_uint_t   n, d, sum, odd;

    static const u_char  twice[] = { 0, 2, 4, 6, 8, 1, 3, 5, 7, 9 };

    n = 0;
    sum = 0;
    odd = 0;

    for (q = p + len; q > p; /* void */) {
        q--;

        if (*q < '0' || *q > '9') {
            continue;
        }

        d = *q - '0';
        sum += odd ? twice[d] : d;
        odd = !odd;
        n++;
    }

    if (n < 13 || n > 19 || sum % 10 != 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* ISO 13616: country and check digits moved to the end, mod 97 is 1 */

static ngx_int_t
ngx_http_zt_mask_iban(u_char *p, size_t len)
{
    u_char      *q, *last, c;
    ngx_uint_t   n, i, rem;
    u_char       buf[34];

    n = 0;
    last = p + len;

    for (q = p; q < last; q++) {
        if (*q == ' ') {
            continue;
        }

        if (n == sizeof(buf)) {
            return NGX_DECLINED;
        }

        buf[n++] = *q;
    }

    if (n < 15) {
        return NGX_DECLINED;
    }

    rem = 0;

    for (i = 0; i < n; i++) {
        c = buf[(i + 4) % n];

        if (c >= '0' && c <= '9') {
            rem = (rem * 10 + (c - '0')) % 97;

        } else if (c >= 'A' && c <= 'Z') {
            rem = (rem * 100 + (c - 'A' + 10)) % 97;

        } else {
            return NGX_DECLINED;
        }
    }

    return (rem == 1) ? NGX_OK : NGX_DECLINED;
}


/*
 * A phone number has 10 to 15 digits (8 with a "+" country code); four
 * dot-separated groups are an IPv4 address, not a phone number.
 */

static ngx_int_t
ngx_http_zt_mask_phone(u_char *p, size_t len)
{
    u_char      *q, *last;
    ngx_uint_t   digits, dots, other;

    digits = 0;
    dots = 0;
    other = 0;
    last = p + len;

    for (q = p; q < last; q++) {
        if (*q >= '0' && *q <= '9') {
            digits++;

        } else if (*q == '.') {
            dots++;

        } else {
            other++;
        }
    }

    if (dots == 3 && other == 0) {
        return NGX_DECLINED;
    }

    if (digits > 15 || digits < ((*p == '+') ? 8 : 10)) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* ---- pre-filters: what every match of a detector must contain ---- */


/* 1 when [p, last) has at least n ASCII digits */

static ngx_uint_t
ngx_http_zt_mask_digits(u_char *p, u_char *last, ngx_uint_t n)
{
    for ( /* void */ ; p < last; p++) {
        if ((u_char) (*p - '0') < 10 && --n == 0) {
            return 1;
        }
    }

    return n == 0;
}


/* 1 when [p, last) has at least n bytes ch */

static ngx_uint_t
ngx_http_zt_mask_count(u_char *p, u_char *last, u_char ch, ngx_uint_t n)
{
    while (n && p < last) {
        p = memchr(p, ch, last - p);
        if (p == NULL) {
            return 0;
        }

        p++;
        n--;
    }

    return n == 0;
}


/*
 * credit_card without PCRE2.  A run is digits with at most three
 * separators between two of them (a space, a tab, a dash, or one of
 * Unicode's spaces, dashes and invisible joiners: what a locale writes
 * between groups, or a model asked to hide a number); the separators cut
 * it into groups.  A card is
 * whole groups of a run, 13 to 19 digits, whose Luhn checksum holds:
 * "4242 4242 4242 4242 12/26" holds one, an id of 25 digits without
 * separators none.  The match starts at the first group that starts a card
 * (at or after "off": groups before it are context), takes the longest
 * card from there, and grows over every card that overlaps it, so that no
 * digit of a card is left out.
 */

#define ngx_http_zt_is_digit(c)  ((u_char) ((c) - '0') < 10)

#define NGX_HTTP_ZT_CARD_GAP  3


/*
 * The bytes of the separator at s[i]: U+0020, U+0009, U+002D, U+00A0,
 * U+00AD, U+2000-U+200B, U+2010-U+2014, U+202F, U+205F, U+2060, U+2212,
 * U+3000, U+FEFF; 0 for anything else.
 */

static ngx_inline size_t
ngx_http_zt_mask_sep(u_char *s, size_t len, size_t i)
{
    u_char  c, c1, c2;

    c = s[i];

    if (c == ' ' || c == '-' || c == '\t') {
        return 1;
    }

    if (c < 0xc2) {
        return 0;
    }

    if (c == 0xc2) {
        return (len - i >= 2 && (s[i + 1] == 0xa0 || s[i + 1] == 0xad)) ? 2
                                                                       : 0;
    }

    if (len - i < 3) {
        return 0;
    }

    c1 = s[i + 1];
    c2 = s[i + 2];

    switch (c) {

    case 0xe2:
        if (c1 == 0x80) {
            return ((c2 >= 0x80 && c2 <= 0x8b) || (c2 >= 0x90 && c2 <= 0x94)
                    || c2 == 0xaf) ? 3 : 0;
        }

        if (c1 == 0x81) {
            return (c2 == 0x9f || c2 == 0xa0) ? 3 : 0;
        }

        return (c1 == 0x88 && c2 == 0x92) ? 3 : 0;

    case 0xe3:
        return (c1 == 0x80 && c2 == 0x80) ? 3 : 0;

    case 0xef:
        return (c1 == 0xbb && c2 == 0xbf) ? 3 : 0;

    default:
        return 0;
    }
}


/* the bytes of the separator that ends at s[e - 1], none before "from" */

static ngx_inline size_t
ngx_http_zt_mask_sep_back(u_char *s, size_t from, size_t e)
{
    size_t  k;

    if (e == from) {
        return 0;
    }

    if (s[e - 1] < 0x80) {
        return ngx_http_zt_mask_sep(s, e, e - 1);
    }

    for (k = 2; k <= 3; k++) {
        if (e - from >= k && ngx_http_zt_mask_sep(s, e, e - k) == k) {
            return k;
        }
    }

    return 0;
}


/*
 * Where the next group starts when one ends at q: after 1 to
 * NGX_HTTP_ZT_CARD_GAP separators and before a digit; q when none does.
 */

static ngx_inline size_t
ngx_http_zt_mask_gap(u_char *s, size_t len, size_t q)
{
    size_t      i, k;
    ngx_uint_t  n;

    /* the usual gaps first: one space or dash, or no separator at all */

    if (q + 1 < len && (s[q] == ' ' || s[q] == '-')
        && ngx_http_zt_is_digit(s[q + 1]))
    {
        return q + 1;
    }

    if (q == len || ngx_http_zt_mask_sep(s, len, q) == 0) {
        return q;
    }

    i = q;

    for (n = 0; n < NGX_HTTP_ZT_CARD_GAP && i < len; n++) {
        k = ngx_http_zt_mask_sep(s, len, i);

        if (k == 0) {
            break;
        }

        i += k;
    }

    return (i > q && i < len && ngx_http_zt_is_digit(s[i])) ? i : q;
}


/* where the up to NGX_HTTP_ZT_CARD_GAP separators that end at e begin */

static ngx_inline size_t
ngx_http_zt_mask_seps_back(u_char *s, size_t from, size_t e)
{
    size_t      k;
    ngx_uint_t  n;

    for (n = 0; n < NGX_HTTP_ZT_CARD_GAP; n++) {
        k = ngx_http_zt_mask_sep_back(s, from, e);

        if (k == 0) {
            break;
        }

        e -= k;
    }

    return e;
}


/* the same as a gap backwards: where the group before the one at q ends */

static ngx_inline size_t
ngx_http_zt_mask_gap_back(u_char *s, size_t from, size_t q)
{
    size_t  i;

    i = ngx_http_zt_mask_seps_back(s, from, q);

    return (i < q && i > from && ngx_http_zt_is_digit(s[i - 1])) ? i : q;
}

/*
 * The first ASCII digit in s[i, len), or len: a byte b is a digit exactly
 * when b ^ '0' is below 10.
 */

static ngx_inline size_t
ngx_http_zt_mask_digit(u_char *s, size_t len, size_t i)
{
    uint64_t  w, m;

    while (len - i >= 8) {
        ngx_memcpy(&w, s + i, 8);

        w ^= NGX_HTTP_ZT_ONES * '0';
        m = ngx_http_zt_swar_below(w, 10);

        if (m) {
            i += ngx_http_zt_swar_skip(m);
            break;
        }

        i += 8;
    }

    while (i < len && !ngx_http_zt_is_digit(s[i])) {
        i++;
    }

    return i;
}


static ngx_uint_t
ngx_http_zt_mask_find_card(u_char *s, size_t len, size_t off, size_t *ms,
    size_t *me)
{
    size_t  i, j, e, end, next;

    i = off;

    /* the rest of a group that started before "off" is context */

    if (i > 0) {
        while (i < len && ngx_http_zt_is_digit(s[i])
               && ngx_http_zt_is_digit(s[i - 1]))
        {
            i++;
        }
    }

    for ( ;; ) {
        i = ngx_http_zt_mask_digit(s, len, i);

        if (i == len) {
            return 0;
        }

        end = ngx_http_zt_mask_card_at(s, len, i, &next);

        if (end) {
            break;
        }

        i = next;
    }

    *ms = i;

    /* cards that start inside this one and end after it, if the run goes
     * on */

    if (ngx_http_zt_mask_gap(s, len, end) > end) {
        for (j = *ms + 1; j < end; j++) {
            if (ngx_http_zt_is_digit(s[j])
                && !ngx_http_zt_is_digit(s[j - 1]))
            {
                e = ngx_http_zt_mask_card_at(s, len, j, &next);

                if (e > end) {
                    end = e;
                }
            }
        }
    }

    *me = end;

    return 1;
}


/*
 * The end of the longest card that starts at the group at i, or 0 and in
 * *next where to look for the next one: after the run if it has too few
 * digits for any card, else after the group.
 */

static ngx_inline size_t
ngx_http_zt_mask_card_at(u_char *s, size_t len, size_t i, size_t *next)
{
    size_t      p, q, g, ends[19];
    ngx_uint_t  n, digits, counts[19];

    n = 0;
    digits = 0;
    p = i;

    for ( ;; ) {
        for (q = p; q < len && ngx_http_zt_is_digit(s[q]); q++) {
            /* void */
        }

        if (n == 0) {
            *next = q;
        }

        if (digits + (q - p) > 19) {
            break;
        }

        digits += q - p;
        ends[n] = q;
        counts[n] = digits;
        n++;

        g = ngx_http_zt_mask_gap(s, len, q);

        if (g > q) {
            p = g;
            continue;
        }

        if (digits < 13) {
            /* the whole run is too short: no card starts in it */
            *next = q;
            return 0;
        }

        break;
    }

    while (n-- > 0 && counts[n] >= 13) {
        if (ngx_http_zt_mask_luhn(s + i, ends[n] - i) == NGX_OK) {
            return ends[n];
        }
    }

    return 0;
}


/*
 * Where a card may still start at the end of s[from, len): the first group
 * of the run that reaches the end (or ends in a separator there) from which
 * that run has at most 19 digits; len when there is none.  Groups before it
 * can only start cards that end where they are now.
 */

static size_t
ngx_http_zt_mask_tail_card(u_char *s, size_t len, size_t from)
{
    size_t      p, q, hold;
    ngx_uint_t  digits;

    /* separators at the end: the next piece may bring the next group */

    p = ngx_http_zt_mask_seps_back(s, from, len);

    if (p == from || !ngx_http_zt_is_digit(s[p - 1])) {
        return len;
    }

    hold = len;
    digits = 0;

    for ( ;; ) {
        for (q = p; q > from && ngx_http_zt_is_digit(s[q - 1]); q--) {
            /* void */
        }

        digits += p - q;

        if (digits > 19) {
            break;
        }

        hold = q;

        p = ngx_http_zt_mask_gap_back(s, from, q);

        if (p == q) {
            break;
        }
    }

    return hold;
}

#undef ngx_http_zt_is_digit


/*
 * email without PCRE2, as its regex matches: the local part is every local
 * character before an "@" (a match cannot start after one of them, nor
 * before "off"), the domain is two labels or more cut by single dots, and
 * the match ends after the last label that is two letters or more.
 */

#define ngx_http_zt_is_local(c)                                               \
    (ngx_http_zt_mask_email_chars[(u_char) (c)] & 1)
#define ngx_http_zt_is_label(c)                                               \
    (ngx_http_zt_mask_email_chars[(u_char) (c)] & 2)
#define ngx_http_zt_is_alpha(c)                                               \
    (ngx_http_zt_mask_email_chars[(u_char) (c)] & 4)

/* 1: [A-Za-z0-9._%+-], 2: [A-Za-z0-9-], 4: [A-Za-z] */
static u_char  ngx_http_zt_mask_email_chars[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 3, 1, 0,     /*  %+-. */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0,     /* 0-9 */
    0, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,     /* A-O */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0, 1,     /* P-Z _ */
    0, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,     /* a-o */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0      /* p-z */
};


static ngx_uint_t
ngx_http_zt_mask_find_email(u_char *s, size_t len, size_t off, size_t *ms,
    size_t *me)
{
    u_char      *at, *p, *last, *l, *label, *end;
    ngx_uint_t   labels, alpha;

    last = s + len;

    for (at = s + off; at < last; at++) {

        at = memchr(at, '@', last - at);
        if (at == NULL) {
            return 0;
        }

        for (l = at; l > s && ngx_http_zt_is_local(l[-1]); l--) {
            /* void */
        }

        if (l == at || l < s + off) {
            continue;
        }

        /* labels: the last that is all letters, two or more, ends it */

        end = NULL;
        labels = 0;
        p = at + 1;

        for ( ;; ) {
            label = p;
            alpha = 1;

            while (p < last && ngx_http_zt_is_label(*p)) {
                alpha &= (ngx_http_zt_is_alpha(*p) != 0);
                p++;
            }

            if (p == label) {
                break;
            }

            if (++labels >= 2 && alpha && p - label >= 2) {
                end = p;
            }

            if (p + 1 < last && *p == '.' && ngx_http_zt_is_label(p[1])) {
                p++;
                continue;
            }

            break;
        }

        if (end) {
            *ms = l - s;
            *me = end - s;
            return 1;
        }
    }

    return 0;
}

#undef ngx_http_zt_is_local
#undef ngx_http_zt_is_label
#undef ngx_http_zt_is_alpha


/* an "@" and a dot after it */

static ngx_uint_t
ngx_http_zt_mask_maybe_email(u_char *p, u_char *last)
{
    p = memchr(p, '@', last - p);

    return p && memchr(p, '.', last - p) != NULL;
}


static ngx_uint_t
ngx_http_zt_mask_maybe_ssn(u_char *p, u_char *last)
{
    return ngx_http_zt_mask_count(p, last, '-', 2)
           && ngx_http_zt_mask_digits(p, last, 9);
}


/* two capital letters, two check digits */

static ngx_uint_t
ngx_http_zt_mask_maybe_iban(u_char *p, u_char *last)
{
    ngx_uint_t  n;

    n = 0;

    for ( /* void */ ; p < last - 1; p++) {
        if ((u_char) (p[0] - 'A') < 26 && (u_char) (p[1] - 'A') < 26) {
            n = 1;
            break;
        }
    }

    return n && ngx_http_zt_mask_digits(p, last, 2);
}


/* the validator wants 8 digits at least */

static ngx_uint_t
ngx_http_zt_mask_maybe_phone(u_char *p, u_char *last)
{
    return ngx_http_zt_mask_digits(p, last, 8);
}


static ngx_uint_t
ngx_http_zt_mask_maybe_ipv4(u_char *p, u_char *last)
{
    return ngx_http_zt_mask_count(p, last, '.', 3)
           && ngx_http_zt_mask_digits(p, last, 4);
}


static ngx_uint_t
ngx_http_zt_mask_maybe_jwt(u_char *p, u_char *last)
{
    return ngx_http_zt_mask_count(p, last, '.', 2)
           && ngx_strlcasestrn(p, last, (u_char *) "eyJ", 3 - 1) != NULL;
}
