#!/usr/bin/env python3
"""Writes the secrets corpus: made-up keys in each provider's published format.

Seeded, so running it again writes the same files. Values are random, never real
credentials (AKIAIOSFODNN7EXAMPLE and its secret are AWS's documentation examples).
"""
import base64
import json
import random
import string

rnd = random.Random(20240601)
A62 = string.ascii_letters + string.digits
B64URL = A62 + "-_"
B64 = A62 + "+/"
HEX = "0123456789ABCDEF"
BASE32 = string.ascii_uppercase + "234567"


def r(n, alpha=A62, mixed=True):
    """n random characters of alpha; with mixed, at least one digit, upper and lower letter."""
    while True:
        s = "".join(rnd.choice(alpha) for _ in range(n))
        if not mixed or (any(c.isdigit() for c in s) and any(c.isupper() for c in s)
                         and any(c.islower() for c in s)):
            return s


def b64u(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def pem(label, lines, width=64):
    body = "\\n".join(r(width, B64) for _ in range(lines)) + "\\n" + r(24, B64) + "=="
    return f"-----BEGIN {label}-----\\n{body}\\n-----END {label}-----"


def jwt(header, payload, sig=True):
    h = b64u(json.dumps(header, separators=(",", ":")).encode())
    p = b64u(json.dumps(payload, separators=(",", ":")).encode())
    s = b64u(bytes(rnd.getrandbits(8) for _ in range(32))) if sig else ""
    return f"{h}.{p}.{s}"


aws_id = "AKIA" + r(16, BASE32, False)
positive = {
    "AWS_ACCESS_KEY": [
        "aws_access_key_id = ⟦AKIAIOSFODNN7EXAMPLE⟧",
        f"export AWS_ACCESS_KEY_ID=⟦{aws_id}⟧",
        f'{{"AccessKeyId": "⟦ASIA{r(16, BASE32, False)}⟧", "Expiration": "2026-01-01T00:00:00Z"}}',
        f"key id ⟦{aws_id}⟧ again ⟦{aws_id}⟧",
        f"arn:aws:iam::123456789012:user/⟦AIDA{r(16, BASE32, False)}⟧",
        f"role ⟦AROA{r(16, BASE32, False)}⟧ assumed",
    ],
    "AWS_SECRET_KEY": [
        "aws_secret_access_key = ⟦wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY⟧",
        f'export AWS_SECRET_ACCESS_KEY="⟦{r(40, B64)}⟧"',
        f"SecretAccessKey: ⟦{r(40, B64)}⟧",
        f"aws_secret_key='⟦{r(40, B64)}⟧'",
    ],
    "GITHUB_TOKEN": [
        f"token: ⟦ghp_{r(36)}⟧",
        f"GITHUB_TOKEN=⟦gho_{r(36)}⟧ make release",
        f"⟦ghu_{r(36)}⟧",
        f"Authorization: token ⟦ghs_{r(36)}⟧",
        f"refresh ⟦ghr_{r(36)}⟧.",
        f"fine-grained ⟦github_pat_{r(22)}_{r(59)}⟧",
        f"https://⟦ghp_{r(36)}⟧@github.com/org/repo.git",
    ],
    "GITLAB_TOKEN": [
        f"PRIVATE-TOKEN: ⟦glpat-{r(20, B64URL)}⟧",
        f"export GITLAB_TOKEN=⟦glpat-{r(20)}⟧",
    ],
    "SLACK_TOKEN": [
        f"SLACK_BOT_TOKEN=⟦xoxb-{rnd.randint(10**11, 10**12)}-{rnd.randint(10**12, 10**13)}-{r(24)}⟧",
        f"user token ⟦xoxp-{rnd.randint(10**11, 10**12)}-{rnd.randint(10**11, 10**12)}-"
        f"{rnd.randint(10**12, 10**13)}-{r(32, HEX.lower(), False)}⟧",
        f"app ⟦xapp-1-A{r(10, BASE32, False)}-{rnd.randint(10**12, 10**13)}-{r(64, HEX.lower(), False)}⟧",
    ],
    "SLACK_WEBHOOK": [
        f"post to ⟦https://hooks.slack.com/services/T{r(8, BASE32, False)}/B{r(8, BASE32, False)}/{r(24)}⟧ on failure",
        f'"url": "⟦https://hooks.slack.com/services/T{r(10, BASE32, False)}/B{r(10, BASE32, False)}/{r(24)}⟧"',
    ],
    "STRIPE_KEY": [
        f"STRIPE_SECRET_KEY=⟦sk_live_{r(24)}⟧",
        f"stripe.api_key = '⟦sk_test_{r(99)}⟧'",
        f"restricted ⟦rk_live_{r(24)}⟧",
        f"webhook secret ⟦whsec_{r(32)}⟧",
    ],
    "OPENAI_API_KEY": [
        f"OPENAI_API_KEY=⟦sk-proj-{r(156, B64URL)}⟧",
        f"legacy ⟦sk-{r(20)}T3BlbkFJ{r(20)}⟧",
        f'client = OpenAI(api_key="⟦sk-svcacct-{r(120, B64URL)}⟧")',
        f"admin ⟦sk-admin-{r(80, B64URL)}⟧",
    ],
    "ANTHROPIC_API_KEY": [
        f"ANTHROPIC_API_KEY=⟦sk-ant-api03-{r(93, B64URL)}AA⟧",
        f"x-api-key: ⟦sk-ant-admin01-{r(93, B64URL)}AA⟧",
    ],
    "GOOGLE_API_KEY": [
        f"key=⟦AIza{r(35, B64URL)}⟧&q=maps",
        f'"apiKey": "⟦AIza{r(35, B64URL)}⟧",',
    ],
    "PRIVATE_KEY": [
        f"key:\\n⟦{pem('RSA PRIVATE KEY', 3)}⟧\\nthanks",
        f"⟦{pem('PRIVATE KEY', 2)}⟧",
        f"⟦{pem('OPENSSH PRIVATE KEY', 2, 70)}⟧ done",
        f"⟦{pem('EC PRIVATE KEY', 1)}⟧",
        "⟦-----BEGIN RSA PRIVATE KEY-----\\nProc-Type: 4,ENCRYPTED\\nDEK-Info: AES-128-CBC,"
        f"{r(32, HEX, False)}\\n\\n{r(64, B64)}\\n{r(20, B64)}=\\n-----END RSA PRIVATE KEY-----⟧",
        f"truncated paste: ⟦-----BEGIN PRIVATE KEY-----\\n{r(64, B64)}\\n{r(64, B64)}⟧\\n\\nCan you check it?",
        f"⟦-----BEGIN PGP PRIVATE KEY BLOCK-----\\n\\n{r(64, B64)}\\n={r(4, B64, False)}\\n"
        "-----END PGP PRIVATE KEY BLOCK-----⟧",
    ],
    "JWT": [
        "Authorization: Bearer ⟦"
        + jwt({"alg": "HS256", "typ": "JWT"}, {"sub": "1234567890", "name": "Jane Doe", "iat": 1516239022})
        + "⟧",
        f"token=⟦{jwt({'typ': 'JWT', 'alg': 'RS256', 'kid': 'k1'}, {'iss': 'https://auth.example.com', 'exp': 1767225600})}⟧;",
        f"unsigned ⟦{jwt({'alg': 'none'}, {'sub': 'x'}, False)}⟧ token.",
        f'{{"id_token": "⟦{jwt({"alg": "ES256"}, {"aud": "app", "sub": "u-42"})}⟧"}}',
    ],
    "URL_CREDENTIALS": [
        "DATABASE_URL=postgres://app:⟦s3cr3t-Pa55⟧@db.example.com:5432/app",
        "redis://:⟦hunter2hunter2⟧@10.0.0.5:6379/0",
        "clone https://deploy:⟦x9Y8z7W6⟧@git.example.com/org/repo.git now",
        "amqp://guest:⟦guest-pass⟧@localhost:5672/",
        "mongodb+srv://admin:⟦p%40ss:word⟧@cluster0.example.net/test",
        "ftp://user:⟦pa@ss⟧@ftp.example.org/file.txt",
    ],
    "HIGH_ENTROPY_STRING": [
        f"session secret ⟦{r(40)}⟧ rotate monthly",
        f"SIGNING_KEY=⟦{r(64, B64)}⟧",
        f"encryption key: ⟦{r(43, B64URL)}=⟧",
        f'api_token: "⟦{r(32)}⟧"',
    ],
}
negative = {
    "AWS_ACCESS_KEY": [
        "AKIA is the prefix of long-term AWS key ids",
        "AKIAIOSFODNN7EXAMPL is one short",
        "AKIAIOSFODNN7EXAMPLE1 is one long",
        "xAKIAIOSFODNN7EXAMPLE is inside a word",
        "akiaiosfodnn7example is lower case",
    ],
    "AWS_SECRET_KEY": [
        "aws_secret_access_key = <your secret here>",
        "aws_secret_access_key = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "aws_secret_access_key = REPLACE_WITH_YOUR_SECRET_ACCESS_KEY",
        "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}",
    ],
    "GITHUB_TOKEN": [
        "ghp_ tokens have 36 characters",
        "ghp_short12345",
        "github_pat_ is the fine-grained prefix",
        "the ghp_ prefix inside a word: myghp_token",
    ],
    "GITLAB_TOKEN": ["glpat-short", "glpat- tokens are personal access tokens"],
    "SLACK_TOKEN": ["xoxb- is a bot token prefix", "xoxb-123"],
    "SLACK_WEBHOOK": [
        "https://hooks.slack.com/services/ is the webhook base",
        "see hooks.slack.com/services/T0/B0",
    ],
    "STRIPE_KEY": [
        f"pk_live_{r(24)} is a publishable key",
        "sk_live_ keys are secret",
        "sk_test_abc",
    ],
    "OPENAI_API_KEY": [
        "sk-learn is not a key",
        "sk-this-is-not-a-real-key-at-all-friends",
        "The prefix sk-proj- marks project keys",
    ],
    "ANTHROPIC_API_KEY": ["sk-ant- keys start like this", "sk-ant-api03-short"],
    "GOOGLE_API_KEY": ["AIza is the prefix", "AIzaSyShort"],
    "PRIVATE_KEY": [
        f"-----BEGIN PUBLIC KEY-----\\n{r(64, B64)}\\n-----END PUBLIC KEY-----",
        f"-----BEGIN CERTIFICATE-----\\n{r(64, B64)}\\n-----END CERTIFICATE-----",
        "Paste your -----BEGIN PRIVATE KEY header here",
        "----- section break -----",
    ],
    "JWT": [
        "eyJ is how base64 JSON starts",
        "eyJhbGciOiJIUzI1NiJ9 alone is only a header",
        "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxIn0.c2ln has no alg",
    ],
    "URL_CREDENTIALS": [
        "https://user@example.com/path",
        "https://example.com/a:b@c",
        "mailto:bob@example.com",
        "http://:@example.com/",
        "see https://docs.example.com/auth",
    ],
    "HIGH_ENTROPY_STRING": [
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "getUserAccountSettingsByIdentifierAndRegion2",
        "data_pipeline_v2_transform_customer_records_2024",
        "/usr/local/lib/x86_64-linux-gnu/libssl.so.3",
        "ThisIsAVeryLongCamelCaseIdentifierName42",
        f"integrity sha512-{r(86, B64)}==",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP0123456789",
        "short Zx8Qw3Er5Ty7",
    ],
}

HEAD = "# Written by generate.py (seeded random values in each published format; no real credentials).\n"
for name, lines in positive.items():
    with open(f"{name}.positive.txt", "w") as f:
        f.write(HEAD + "\n".join(lines) + "\n")
for name, lines in negative.items():
    with open(f"{name}.negative.txt", "w") as f:
        f.write(HEAD + "\n".join(lines) + "\n")
