# Sourced by the benchmark scripts: `member_token API` registers a member, gives it 20 tasks and
# prints its access token.
member_token() {
  local api=$1 body token
  body="{\"email\":\"bench-$$-$RANDOM@example.com\",\"password\":\"benchmark passphrase 1\"}"
  curl -sf -X POST "$api/v1/auth/register" -H 'content-type: application/json' -d "$body" >/dev/null
  token=$(curl -sf -X POST "$api/v1/auth/login" -H 'content-type: application/json' -d "$body" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  for i in $(seq 20); do
    curl -sf -X POST "$api/v1/tasks" -H "authorization: Bearer $token" -H 'content-type: application/json' \
      -d "{\"title\":\"bench task $i\"}" >/dev/null
  done
  echo "$token"
}
