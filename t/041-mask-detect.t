# zt_mask_pattern: built-in detectors and regexes inside every string
# value, after JSON unescaping; the rewritten string is re-escaped.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: credit_card: Luhn-valid numbers with spaces, dashes or none are masked
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern credit_card;
        echo -n '["4111 1111 1111 1111","pay 4111-1111-1111-1111 now","4111111111111111","amex 378282246310005.","visa: 4222222222222"]';
    }
--- request
GET /t
--- response_body chomp
["[REDACTED]","pay [REDACTED] now","[REDACTED]","amex [REDACTED].","visa: [REDACTED]"]



=== TEST 2: credit_card: Luhn-invalid, too short or too long digit runs stay
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern credit_card;
        echo -n '["4111 1111 1111 1112","id 1234567890123456","order 4111111111111","12345678901234567890","41111111111111111111"]';
    }
--- request
GET /t
--- response_body chomp
["4111 1111 1111 1112","id 1234567890123456","order 4111111111111","12345678901234567890","41111111111111111111"]



=== TEST 3: email is masked; things that only look like one stay
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern email;
        echo -n '["mail john.doe+tag@example.co.uk today","x@y.io","root@localhost","@handle","a@b"]';
    }
--- request
GET /t
--- response_body chomp
["mail [REDACTED] today","[REDACTED]","root@localhost","@handle","a@b"]



=== TEST 4: detectors see strings unescaped: \u0040 is an @
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern email;
        echo -n '{"e":"john\\u0040example.com","f":"write to a\\u002Eb\\u0040c.org, caf\\u00e9"}';
    }
--- request
GET /t
--- response_body chomp
{"e":"[REDACTED]","f":"write to [REDACTED], caf\u00e9"}



=== TEST 5: us_ssn: valid numbers masked, never-issued ones and dates stay
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern us_ssn;
        echo -n '["ssn 078-05-1120.","000-12-3456","666-12-3456","923-12-3456","123-00-4567","123-45-0000","2023-01-15","123-45-67890"]';
    }
--- request
GET /t
--- response_body chomp
["ssn [REDACTED].","000-12-3456","666-12-3456","923-12-3456","123-00-4567","123-45-0000","2023-01-15","123-45-67890"]



=== TEST 6: iban: mod-97 valid ones masked, a wrong check digit stays
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern iban;
        echo -n '["to DE89 3704 0044 0532 0130 00 please","GB82WEST12345698765432","DE89 3704 0044 0532 0130 01","XX00ABCDEFGHIJKLMNOP"]';
    }
--- request
GET /t
--- response_body chomp
["to [REDACTED] please","[REDACTED]","DE89 3704 0044 0532 0130 01","XX00ABCDEFGHIJKLMNOP"]



=== TEST 7: phone: grouped and E.164 numbers masked; addresses, versions, short numbers stay
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern phone;
        echo -n '["call +1 (555) 123-4567","555-123-4567","+44 20 7946 0958","+14155552671","192.168.100.100","v1.2.3","12-34","room 1234"]';
    }
--- request
GET /t
--- response_body chomp
["call [REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]","192.168.100.100","v1.2.3","12-34","room 1234"]



=== TEST 8: ipv4: addresses masked, out-of-range or malformed ones stay
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern ipv4;
        echo -n '["from 10.0.0.1:8080","192.168.1.254","256.1.1.1","1.2.3","1.2.3.4.5","01.2.3.4x"]';
    }
--- request
GET /t
--- response_body chomp
["from [REDACTED]:8080","[REDACTED]","256.1.1.1","1.2.3","1.2.3.4.5","01.2.3.4x"]



=== TEST 9: jwt: three base64url parts starting with eyJ masked, look-alikes stay
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern jwt;
        echo -n '["Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl_-x","eyJ","a.b.c","eyJhbGci.x.y"]';
    }
--- request
GET /t
--- response_body chomp
["Bearer [REDACTED]","eyJ","a.b.c","eyJhbGci.x.y"]



=== TEST 10: api_key: OpenAI, AWS, GitHub and Slack shapes masked; near misses stay
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern api_key;
        echo -n '["key sk-proj-abcdefghijklmnopqrstuv1234","AKIAIOSFODNN7EXAMPLE","ghp_abcdefghijklmnopqrstuvwxyz0123456789","xoxb-1234567890-abcdefABCDEF","sk-short","AKIA123","task-abcdefghijklmnopqrstuvwxyz","AKIAIOSFODNN7EXAMPLEX"]';
    }
--- request
GET /t
--- response_body chomp
["key [REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]","sk-short","AKIA123","task-abcdefghijklmnopqrstuvwxyz","AKIAIOSFODNN7EXAMPLEX"]



=== TEST 11: a regex of one's own, written ~REGEX
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern "~(?i)password=\S+" with=password=***;
        echo -n '{"log":"user=bob PASSWORD=hunter2 ok","other":"password"}';
    }
--- request
GET /t
--- response_body chomp
{"log":"user=bob password=*** ok","other":"password"}



=== TEST 12: the rewritten string is re-escaped; the rest of it keeps its escapes
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern credit_card 'with=<"card">';
        echo -n '{"s":"caf\\u00e9 \\"4111111111111111\\"\\n\\ud83d\\ude00 \\/ end"}';
    }
--- request
GET /t
--- response_body chomp
{"s":"caf\u00e9 \"<\"card\">\"\n\ud83d\ude00 \/ end"}



=== TEST 13: a match made of escapes is replaced whole
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern ipv4;
        echo -n '{"ip":"\\u0031\\u0030.0.0.\\u0031\\u0032 x"}';
    }
--- request
GET /t
--- response_body chomp
{"ip":"[REDACTED] x"}



=== TEST 14: keys, numbers and literals are not looked into
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern credit_card;
        echo -n '{"4111111111111111":4111111111111111,"b":true,"c":null}';
    }
--- request
GET /t
--- response_body chomp
{"4111111111111111":4111111111111111,"b":true,"c":null}



=== TEST 15: several detectors and several matches in one string
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern email with=EMAIL;
        zt_mask_pattern credit_card with=CARD;
        zt_mask_pattern ipv4;
        echo -n '{"s":"a@b.io paid 4111 1111 1111 1111 from 10.1.2.3 and c@d.io"}';
    }
--- request
GET /t
--- response_body chomp
{"s":"EMAIL paid CARD from [REDACTED] and EMAIL"}



=== TEST 16: paths and patterns together; a masked value is not looked into again
--- config
    location /t {
        default_type application/json;
        zt_mask $.user;
        zt_mask_pattern email;
        echo -n '{"user":{"email":"a@b.io"},"note":"reach me at c@d.io"}';
    }
--- request
GET /t
--- response_body chomp
{"user":"[REDACTED]","note":"reach me at [REDACTED]"}



=== TEST 17: $zt_masked counts the replacements
--- http_config
    log_format zt_masked '$uri masked=$zt_masked';
--- config
    location /t {
        access_log logs/access.log zt_masked;
        default_type application/json;
        zt_mask $.a;
        zt_mask_pattern email;
        echo -n '{"a":1,"b":"x@y.io and z@y.io","c":"none"}';
    }
--- request
GET /t
--- response_body chomp
{"a":"[REDACTED]","b":"[REDACTED] and [REDACTED]","c":"none"}
--- access_log
/t masked=3



=== TEST 18: an unknown detector name is a configuration error
--- config
    location /t {
        zt_mask_pattern credit_cards;
    }
--- request
GET /t
--- must_die
--- error_log
unknown detector "credit_cards" in "zt_mask_pattern"



=== TEST 19: an invalid regex is a configuration error
--- config
    location /t {
        zt_mask_pattern "~(unclosed";
    }
--- request
GET /t
--- must_die
--- error_log
invalid regex "(unclosed"



=== TEST 20: unless= on a detector: a group sees the addresses, others do not
--- http_config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
    zt_audience zt-gateway;
--- config
    location /t {
        zt_policy allow scope=inference:invoke;
        default_type application/json;
        zt_mask_pattern email unless=group=support;
        zt_mask_pattern credit_card;
        echo -n '{"note":"a@b.io paid with 4111111111111111"}';
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[
    "Authorization: Bearer " . ZT::Token::mint(claims => { groups => ['sales'] }),
    "Authorization: Bearer " . ZT::Token::mint(claims => { groups => ['support'] }),
]
--- response_body eval
[
    '{"note":"[REDACTED] paid with [REDACTED]"}',
    '{"note":"a@b.io paid with [REDACTED]"}',
]



=== TEST 21: a misspelt detector is an error that names the detectors: us-ssn
--- config
    location /t {
        zt_mask_pattern us-ssn;
    }
--- request
GET /t
--- must_die
--- error_log
unknown detector "us-ssn" in "zt_mask_pattern": the detectors are credit_card, email, us_ssn, iban, phone, ipv4, jwt, api_key; a regex is written "~REGEX"



=== TEST 22: a misspelt detector is an error: creditcard
--- config
    location /t {
        zt_mask_pattern creditcard;
    }
--- request
GET /t
--- must_die
--- error_log
unknown detector "creditcard" in "zt_mask_pattern"



=== TEST 23: a detector's name is case-sensitive: Credit_Card is an error
--- config
    location /t {
        zt_mask_pattern Credit_Card;
    }
--- request
GET /t
--- must_die
--- error_log
unknown detector "Credit_Card" in "zt_mask_pattern"



=== TEST 24: a misspelt detector is an error: IBAN
--- config
    location /t {
        zt_mask_pattern IBAN;
    }
--- request
GET /t
--- must_die
--- error_log
unknown detector "IBAN" in "zt_mask_pattern"



=== TEST 25: a misspelt detector is an error: ssn
--- config
    location /t {
        zt_mask_pattern ssn;
    }
--- request
GET /t
--- must_die
--- error_log
unknown detector "ssn" in "zt_mask_pattern"



=== TEST 26: a misspelt detector is an error: apikey, with options after it
--- config
    location /t {
        zt_mask_pattern apikey with=KEY;
    }
--- request
GET /t
--- must_die
--- error_log
unknown detector "apikey" in "zt_mask_pattern"



=== TEST 27: a bare regex (what a regex was before ~) is an error
--- config
    location /t {
        zt_mask_pattern "\d{3}-\d{4}";
    }
--- request
GET /t
--- must_die
--- error_log
unknown detector "\d{3}-\d{4}" in "zt_mask_pattern"



=== TEST 28: an empty regex is an error
--- config
    location /t {
        zt_mask_pattern ~;
    }
--- request
GET /t
--- must_die
--- error_log
empty regex in "zt_mask_pattern"



=== TEST 29: ~* is caseless, ~ is not; "~ REGEX" and "~* REGEX" are the same with a space
--- config
    default_type application/json;
    location = /a { zt_mask_pattern "~project-[a-z]+"; echo -n '["project-abc","PROJECT-ABC"]'; }
    location = /b { zt_mask_pattern "~*project-[a-z]+"; echo -n '["project-abc","PROJECT-ABC"]'; }
    location = /c { zt_mask_pattern ~ "project-[a-z]+" with=P; echo -n '["project-abc","PROJECT-ABC"]'; }
    location = /d { zt_mask_pattern ~* "project-[a-z]+" unless=method=POST; echo -n '["project-abc","PROJECT-ABC"]'; }
--- request eval
["GET /a", "GET /b", "GET /c", "GET /d"]
--- response_body eval
[
    '["[REDACTED]","PROJECT-ABC"]',
    '["[REDACTED]","[REDACTED]"]',
    '["P","PROJECT-ABC"]',
    '["[REDACTED]","[REDACTED]"]',
]



=== TEST 30: ~ makes a detector's name a regex that matches that word
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern ~email;
        echo -n '["my email is a@b.io"]';
    }
--- request
GET /t
--- response_body chomp
["my [REDACTED] is a@b.io"]



=== TEST 31: credit_card: up to three separators between groups, Unicode spaces, dashes and invisible joiners too
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern credit_card;
        echo -n '["a 4111\\u00a01111\\u00a01111\\u00a01111 b","4111\\u202f1111\\u202f1111\\u202f1111","4111\\u20091111\\u20091111\\u20091111","4111\\t1111\\t1111\\t1111","4111  1111  1111  1111","4111 - 1111 - 1111 - 1111","4111\\u20131111\\u20131111\\u20131111","4\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1\\u200b1","4111\\u00ad1111\\u00ad1111\\u00ad1111","4111\\u30001111\\u30001111\\u30001111","4111\\u22121111\\u22121111\\u22121111"]';
    }
--- request
GET /t
--- response_body chomp
["a [REDACTED] b","[REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]"]



=== TEST 32: credit_card: four separators, other punctuation or a Luhn-invalid number keep groups apart
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern credit_card;
        echo -n '["4111    1111    1111    1111","4111.1111.1111.1111","4111/1111/1111/1111","4111_1111_1111_1111","4111\\u00a01111\\u00a01111\\u00a01112","4111\\u00a0\\u00a0\\u00a0\\u00a01111 1111 1111","4111\\u00e91111\\u00e91111\\u00e91111"]';
    }
--- request
GET /t
--- response_body chomp
["4111    1111    1111    1111","4111.1111.1111.1111","4111/1111/1111/1111","4111_1111_1111_1111","4111\u00a01111\u00a01111\u00a01112","4111\u00a0\u00a0\u00a0\u00a01111 1111 1111","4111\u00e91111\u00e91111\u00e91111"]
