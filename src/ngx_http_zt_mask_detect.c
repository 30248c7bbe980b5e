
/*
 * zt-inference: the detectors of zt_mask_pattern.  Each built-in detector
 * is a PCRE2 pattern plus, where the shape alone gives false positives, a
 * check of the digits (Luhn for cards, mod-97 for IBANs).  An operator's own
 * regex is compiled the same way.  Matching can be partial: the SSE parser
 * asks where a match could still start at the end of what it has so far.
 */


#include "ngx_http_zt_inference.h"


typedef struct {
    ngx_str_t                      name;
    ngx_str_t                      pattern;
    ngx_http_zt_mask_validate_pt   validate;
} ngx_http_zt_mask_detector_t;


static ngx_int_t ngx_http_zt_mask_luhn(u_char *p, size_t len);
static ngx_int_t ngx_http_zt_mask_iban(u_char *p, size_t len);
static ngx_int_t ngx_http_zt_mask_phone(u_char *p, size_t len);
static void ngx_http_zt_mask_sort(ngx_http_zt_mask_range_t *r, ngx_uint_t n);


#define NGX_HTTP_ZT_OCTET  "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


static ngx_http_zt_mask_detector_t  ngx_http_zt_mask_detectors[] = {

    /* 13 to 19 digits, single spaces or dashes between them */
    { ngx_string("credit_card"),
      ngx_string("(?<![0-9])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,18}"
                 "(?![0-9])(?![ -][0-9])"),
      ngx_http_zt_mask_luhn },

    { ngx_string("email"),
      ngx_string("(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@"
                 "[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}"
                 "(?![A-Za-z0-9-])"),
      NULL },

    /* area 000, 666 and 9xx, group 00 and serial 0000 are never issued */
    { ngx_string("us_ssn"),
      ngx_string("(?<![0-9-])(?!000|666|9[0-9][0-9])[0-9]{3}-(?!00)[0-9]{2}-"
                 "(?!0000)[0-9]{4}(?![0-9]|-[0-9])"),
      NULL },

    { ngx_string("iban"),
      ngx_string("(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}"
                 "(?![A-Za-z0-9])"),
      ngx_http_zt_mask_iban },

    /* E.164, and numbers written in groups: +1 (555) 123-4567 */
    { ngx_string("phone"),
      ngx_string("(?<![A-Za-z0-9_+])(?:\\+[1-9][0-9]{7,14}|"
                 "(?:\\+[1-9][0-9]{0,2}[ .-]?)?"
                 "(?:\\([0-9]{2,4}\\)[ .-]?|[0-9]{2,4}[ .-])"
                 "(?:[0-9]{2,4}[ .-]){0,3}[0-9]{3,8})(?![A-Za-z0-9_])"),
      ngx_http_zt_mask_phone },

    { ngx_string("ipv4"),
      ngx_string("(?<![0-9.])(?:" NGX_HTTP_ZT_OCTET "\\.){3}"
                 NGX_HTTP_ZT_OCTET "(?![0-9]|\\.[0-9])"),
      NULL },

    { ngx_string("jwt"),
      ngx_string("(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}"
                 "\\.[A-Za-z0-9_-]*"),
      NULL },

    /* OpenAI and Anthropic, AWS, GitHub, Slack, Google */
    { ngx_string("api_key"),
      ngx_string("(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{20,}|"
                 "(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|"
                 "github_pat_[A-Za-z0-9_]{22,}|xox[a-z]-[A-Za-z0-9-]{10,}|"
                 "AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])"),
      NULL },

    { ngx_null_string, ngx_null_string, NULL }
};


char *
ngx_http_zt_mask_detector(ngx_conf_t *cf, ngx_http_zt_mask_rule_t *rule,
    ngx_str_t *name)
{
    u_char                       *p;
    ngx_uint_t                    ident;
    ngx_http_zt_mask_detector_t  *d;

    rule->name = *name;

    for (d = ngx_http_zt_mask_detectors; d->name.len; d++) {

        if (d->name.len == name->len
            && ngx_strncmp(d->name.data, name->data, name->len) == 0)
        {
            rule->validate = d->validate;

            if (ngx_http_zt_regex_compile(cf, &rule->re, &d->pattern, 0)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            goto jit;
        }
    }

    /*
     * "credit_cards" or "us-ssn" would otherwise be a regex that matches
     * its own name and masks nothing: a name-like word with an underscore
     * must be a detector
     */

    ident = (name->len > 0 && name->data[0] >= 'a' && name->data[0] <= 'z');

    for (p = name->data; ident && p < name->data + name->len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '_'))
        {
            ident = 0;
        }
    }

    if (ident && ngx_strlchr(name->data, name->data + name->len, '_')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown detector \"%V\" in \"zt_mask_pattern\": "
                           "use credit_card, email, us_ssn, iban, phone, "
                           "ipv4, jwt, api_key or a regex", name);
        return NGX_CONF_ERROR;
    }

    rule->validate = NULL;

    if (ngx_http_zt_regex_compile(cf, &rule->re, name, 0) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

jit:

    /* the SSE parser matches partially; without JIT for it PCRE2 interprets */
    (void) pcre2_jit_compile(rule->re.code, PCRE2_JIT_PARTIAL_HARD);

    return NGX_CONF_OK;
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
    int                        rc;
    size_t                     off, h, ms, me;
    uint32_t                   options;
    ngx_uint_t                 i, j, changed;
    PCRE2_SIZE                *ov;
    ngx_http_zt_mask_rule_t   *rule;
    ngx_http_zt_mask_range_t  *range, *rg;

    /* a worker is single-threaded: one match block serves every match */
    static pcre2_match_data  *md;

    if (md == NULL) {
        md = pcre2_match_data_create(1, NULL);
        if (md == NULL) {
            mr->err = "out of memory";
            return NGX_ERROR;
        }
    }

    mr->ranges.nelts = 0;
    h = len;
    options = partial ? PCRE2_PARTIAL_HARD : 0;

    for (i = 0; i < mr->npatterns; i++) {
        rule = mr->patterns[i];
        off = from;

        while (off <= len) {

            rc = pcre2_match(rule->re.code, s ? s : (u_char *) "", len, off,
                             options, md, NULL);

            if (rc == PCRE2_ERROR_NOMATCH) {
                break;
            }

            ov = pcre2_get_ovector_pointer(md);

            if (rc == PCRE2_ERROR_PARTIAL) {
                if (ov[0] < h) {
                    h = ov[0];
                }

                break;
            }

            if (rc < 0) {
                /* match limits: what cannot be checked is not let through */
                mr->err = "a detector failed to match (PCRE2 limit)";
                return NGX_ERROR;
            }

            ms = ov[0];
            me = ov[1];

            if (me == ms) {
                /* an empty match masks nothing: step over one character */
                off = me + 1;

                while (off < len && (s[off] & 0xc0) == 0x80) {
                    off++;
                }

                continue;
            }

            if (rule->validate == NULL
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
            }

            off = me;
        }
    }

    range = mr->ranges.elts;

    ngx_http_zt_mask_sort(range, mr->ranges.nelts);

    /* overlapping matches of different detectors become one */

    for (i = 0, j = 0; i < mr->ranges.nelts; i++) {

        if (j > 0 && range[i].start < range[j - 1].end) {
            if (range[i].end > range[j - 1].end) {
                range[j - 1].end = range[i].end;
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

    n = 0;
    sum = 0;
    odd = 0;

    for (q = p + len; q > p; /* void */) {
        q--;

        if (*q < '0' || *q > '9') {
            continue;
        }

        d = *q - '0';

        if (odd) {
            d *= 2;

            if (d > 9) {
                d -= 9;
            }
        }

        sum += d;
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
