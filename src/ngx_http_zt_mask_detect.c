
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
    ngx_http_zt_mask_maybe_pt      maybe;
    ngx_http_zt_mask_find_pt       find;
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
static ngx_uint_t ngx_http_zt_mask_maybe_email(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_maybe_ssn(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_maybe_iban(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_maybe_phone(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_maybe_ipv4(u_char *p, u_char *last);
static ngx_uint_t ngx_http_zt_mask_maybe_jwt(u_char *p, u_char *last);
static ngx_int_t ngx_http_zt_mask_pcre(ngx_http_zt_mask_req_t *mr,
    ngx_http_zt_mask_rule_t *rule, u_char *s, size_t len, size_t off,
    ngx_uint_t partial, size_t *ms, size_t *me, size_t *hold);
static void ngx_http_zt_mask_sort(ngx_http_zt_mask_range_t *r, ngx_uint_t n);


#define NGX_HTTP_ZT_MASK_RECHECK  256


#define NGX_HTTP_ZT_OCTET  "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


static ngx_http_zt_mask_detector_t  ngx_http_zt_mask_detectors[] = {

    /* 13 to 19 digits, single spaces or dashes between them */
    { ngx_string("credit_card"),
      ngx_string("(?<![0-9])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,18}"
                 "(?![0-9])(?![ -][0-9])"),
      ngx_http_zt_mask_luhn, NULL, ngx_http_zt_mask_find_card },

    { ngx_string("email"),
      ngx_string("(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@"
                 "[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}"
                 "(?![A-Za-z0-9-])"),
      NULL, ngx_http_zt_mask_maybe_email, NULL },

    /* area 000, 666 and 9xx, group 00 and serial 0000 are never issued */
    { ngx_string("us_ssn"),
      ngx_string("(?<![0-9-])(?!000|666|9[0-9][0-9])[0-9]{3}-(?!00)[0-9]{2}-"
                 "(?!0000)[0-9]{4}(?![0-9]|-[0-9])"),
      NULL, ngx_http_zt_mask_maybe_ssn, NULL },

    { ngx_string("iban"),
      ngx_string("(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}"
                 "(?![A-Za-z0-9])"),
      ngx_http_zt_mask_iban, ngx_http_zt_mask_maybe_iban, NULL },

    /* E.164, and numbers written in groups: +1 (555) 123-4567 */
    { ngx_string("phone"),
      ngx_string("(?<![A-Za-z0-9_+])(?:\\+[1-9][0-9]{7,14}|"
                 "(?:\\+[1-9][0-9]{0,2}[ .-]?)?"
                 "(?:\\([0-9]{2,4}\\)[ .-]?|[0-9]{2,4}[ .-])"
                 "(?:[0-9]{2,4}[ .-]){0,3}[0-9]{3,8})(?![A-Za-z0-9_])"),
      ngx_http_zt_mask_phone, ngx_http_zt_mask_maybe_phone, NULL },

    { ngx_string("ipv4"),
      ngx_string("(?<![0-9.])(?:" NGX_HTTP_ZT_OCTET "\\.){3}"
                 NGX_HTTP_ZT_OCTET "(?![0-9]|\\.[0-9])"),
      NULL, ngx_http_zt_mask_maybe_ipv4, NULL },

    { ngx_string("jwt"),
      ngx_string("(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}"
                 "\\.[A-Za-z0-9_-]*"),
      NULL, ngx_http_zt_mask_maybe_jwt, NULL },

    /* OpenAI and Anthropic, AWS, GitHub, Slack, Google */
    { ngx_string("api_key"),
      ngx_string("(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{20,}|"
                 "(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|"
                 "github_pat_[A-Za-z0-9_]{22,}|xox[a-z]-[A-Za-z0-9-]{10,}|"
                 "AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])"),
      NULL, NULL, NULL },

    { ngx_null_string, ngx_null_string, NULL, NULL, NULL }
};


char *
ngx_http_zt_mask_detector(ngx_conf_t *cf, ngx_http_zt_mask_rule_t *rule,
    ngx_str_t *name)
{
    u_char                       *p;
    uint32_t                      min_len;
    ngx_uint_t                    ident;
    ngx_http_zt_mask_detector_t  *d;

    rule->name = *name;

    for (d = ngx_http_zt_mask_detectors; d->name.len; d++) {

        if (d->name.len == name->len
            && ngx_strncmp(d->name.data, name->data, name->len) == 0)
        {
            rule->validate = d->validate;
            rule->maybe = d->maybe;
            rule->find = d->find;

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
    rule->maybe = NULL;
    rule->find = NULL;

    if (ngx_http_zt_regex_compile(cf, &rule->re, name, 0) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

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
    size_t                     off, h, ms, me;
    ngx_int_t                  rc;
    ngx_uint_t                 i, j, changed;
    ngx_http_zt_mask_rule_t   *rule;
    ngx_http_zt_mask_range_t  *range, *rg;

    mr->ranges.nelts = 0;
    h = len;

    for (i = 0; i < mr->npatterns; i++) {
        rule = mr->patterns[i];
        off = from;

        while (off <= len) {

            /*
             * Most strings cannot hold a match: a complete match needs its
             * minimum length and what the pre-filter asks (a partial one
             * needs neither).  After a match the pre-filter runs again only
             * on a short rest, so a long string costs no more than before.
             */

            if (!partial
                && (len - off < rule->min_len
                    || (rule->maybe
                        && (off == from
                            || len - off <= NGX_HTTP_ZT_MASK_RECHECK)
                        && !rule->maybe(s + off, s + len))))
            {
                break;
            }

            if (!partial && rule->find) {
                if (!rule->find(s, len, off, &ms, &me)) {
                    break;
                }

            } else {
                rc = ngx_http_zt_mask_pcre(mr, rule, s, len, off, partial,
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
 * credit_card without PCRE2.  A run is digits with at most one space or
 * dash between two of them.  The lookbehinds let a match start only where
 * a run starts, the lookaheads let it end only where the run ends, so a
 * match is exactly a run of 13 to 19 digits.  Runs that start before "off"
 * are context: PCRE2 would not start a match inside them either.
 */

static ngx_uint_t
ngx_http_zt_mask_find_card(u_char *s, size_t len, size_t off, size_t *ms,
    size_t *me)
{
    size_t      i, j;
    ngx_uint_t  n;

#define ngx_http_zt_is_digit(c)  ((u_char) ((c) - '0') < 10)
#define ngx_http_zt_is_sep(c)    ((c) == ' ' || (c) == '-')

    i = off;

    while (i < len) {

        if (!ngx_http_zt_is_digit(s[i])) {
            i++;
            continue;
        }

        if ((i >= 1 && ngx_http_zt_is_digit(s[i - 1]))
            || (i >= 2 && ngx_http_zt_is_sep(s[i - 1])
                && ngx_http_zt_is_digit(s[i - 2])))
        {
            /* inside a run that started before: skip the digit */
            i++;
            continue;
        }

        n = 1;
        j = i + 1;

        for ( ;; ) {
            if (j < len && ngx_http_zt_is_digit(s[j])) {
                n++;
                j++;
                continue;
            }

            if (j + 1 < len && ngx_http_zt_is_sep(s[j])
                && ngx_http_zt_is_digit(s[j + 1]))
            {
                n++;
                j += 2;
                continue;
            }

            break;
        }

        if (n >= 13 && n <= 19) {
            *ms = i;
            *me = j;
            return 1;
        }

        i = j;
    }

#undef ngx_http_zt_is_digit
#undef ngx_http_zt_is_sep

    return 0;
}


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
