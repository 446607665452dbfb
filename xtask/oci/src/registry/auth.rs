//! Registry credentials and challenges, as GHCR, Docker Hub, Harbor and Distribution speak them:
//! a 401 carries `WWW-Authenticate: Bearer realm=…,service=…,scope=…` (fetch a token there) or
//! `Basic realm=…` (send the credentials). Secrets never reach `Debug` or an error message.

use std::collections::BTreeMap;

use base64::Engine as _;
use reqwest::blocking::Response;
use reqwest::header;

/// The user name for a registry other than ECR (with [`PASSWORD_ENV`]).
pub const USER_ENV: &str = "GATEHOUSE_REGISTRY_USER";
/// The password or access token for a registry other than ECR.
pub const PASSWORD_ENV: &str = "GATEHOUSE_REGISTRY_PASSWORD";

/// How we authenticate to a registry.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No credentials: anonymous tokens where the registry hands them out.
    Anonymous,
    /// A preset `Authorization` header (ECR: `Basic base64(AWS:<token>)` from
    /// GetAuthorizationToken).
    Header(Secret),
    /// A user name and password (or access token): sent as Basic on a Basic challenge and to
    /// the token service on a Bearer challenge.
    Login { user: String, password: Secret },
}

impl Auth {
    /// A login from `user` and `password` (as read from [`USER_ENV`] and [`PASSWORD_ENV`] at the
    /// edge), else anonymous; a user without a password is anonymous too.
    pub fn login(user: Option<String>, password: Option<String>) -> Auth {
        match (user, password) {
            (Some(user), Some(password)) if !user.is_empty() => Auth::Login {
                user,
                password: Secret(password),
            },
            _ => Auth::Anonymous,
        }
    }

    /// The login in [`USER_ENV`]/[`PASSWORD_ENV`], else anonymous: for commands to call at the
    /// edge.
    pub fn from_env() -> Auth {
        Auth::login(
            std::env::var(USER_ENV).ok(),
            std::env::var(PASSWORD_ENV).ok(),
        )
    }

    /// A preset `Authorization` header value.
    pub fn header(value: String) -> Auth {
        Auth::Header(Secret(value))
    }

    /// What to do when the registry refuses us.
    pub(super) fn remedy(&self) -> String {
        let ecr = "for ECR, AWS credentials allowed to use the repository";
        match self {
            Auth::Anonymous => format!("set {USER_ENV} and {PASSWORD_ENV} ({ecr})"),
            Auth::Login { .. } => format!(
                "check {USER_ENV} and {PASSWORD_ENV}: that account needs this access ({ecr})"
            ),
            Auth::Header(_) => format!(
                "check the AWS credentials ({ecr}); for another registry set {USER_ENV} and {PASSWORD_ENV}"
            ),
        }
    }
}

/// A credential that prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// One `WWW-Authenticate` challenge: its scheme (`Bearer`, `Basic`) and parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    scheme: String,
    params: BTreeMap<String, String>,
}

impl Challenge {
    /// Parses `Bearer realm="https://…/token",service="…",scope="repository:app:pull,push"`:
    /// quoted values may hold commas and `\"`; names are case-insensitive.
    pub fn parse(text: &str) -> Option<Challenge> {
        let text = text.trim();
        let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = params(rest);
        if let Some(scope) = params.get_mut("scope") {
            *scope = normalised(scope);
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }

    /// The response's Bearer challenge, else its Basic one, else its first.
    pub(super) fn of(response: &Response) -> Option<Challenge> {
        let all: Vec<Challenge> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(Challenge::parse)
            .collect();
        let pick = |scheme: &str| all.iter().find(|c| c.scheme == scheme).cloned();
        pick("bearer")
            .or_else(|| pick("basic"))
            .or_else(|| all.first().cloned())
    }

    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// `service` and `scope` for the token request, as far as the challenge names them.
    pub(super) fn token_query(&self) -> Vec<(&'static str, String)> {
        ["service", "scope"]
            .into_iter()
            .filter_map(|k| self.param(k).map(|v| (k, v.to_owned())))
            .collect()
    }

    /// Why a request answered with this challenge was refused, in words (no secrets: a
    /// challenge holds none).
    pub(super) fn refusal(&self) -> String {
        if !self.is_bearer() {
            return "the registry refused our credentials".to_owned();
        }
        let Some(scope) = self.param("scope") else {
            return "the registry refused our token".to_owned();
        };
        let (resource, actions) = scope.rsplit_once(':').unwrap_or((scope, ""));
        format!("the token lacks {actions} on {resource}")
    }
}

/// A scope with each resource's actions sorted: Distribution names the same need as
/// `push,pull` or `pull,push` from one request to the next.
fn normalised(scope: &str) -> String {
    let each = scope.split(' ').map(|one| match one.rsplit_once(':') {
        Some((resource, actions)) => {
            let mut actions: Vec<&str> = actions.split(',').collect();
            actions.sort_unstable();
            actions.dedup();
            format!("{resource}:{}", actions.join(","))
        }
        None => one.to_owned(),
    });
    each.collect::<Vec<_>>().join(" ")
}

/// `name=value` pairs separated by commas, values quoted or bare.
fn params(mut rest: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some((name, after)) = rest.split_once('=') else {
            return params;
        };
        let (value, after) = value(after.trim_start());
        params.insert(name.trim().to_ascii_lowercase(), value);
        rest = after;
    }
}

/// A quoted string (with `\` escapes) or a bare token, and what follows it.
fn value(text: &str) -> (String, &str) {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(',').unwrap_or(text.len());
        return (text[..end].trim().to_owned(), &text[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            '"' => return (value, &quoted[i + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

/// The `Authorization` we learned from a challenge, and for which challenge.
#[derive(Debug)]
pub(super) struct Learned {
    pub(super) header: Secret,
    scheme: String,
    scope: Option<String>,
}

impl Learned {
    pub(super) fn bearer(token: String, challenge: &Challenge) -> Learned {
        Learned {
            header: Secret(format!("Bearer {token}")),
            scheme: challenge.scheme.clone(),
            scope: challenge.param("scope").map(str::to_owned),
        }
    }

    /// Basic credentials of a login (any other `auth` has none to send).
    pub(super) fn basic(auth: &Auth, challenge: &Challenge) -> Learned {
        let pair = match auth {
            Auth::Login { user, password } => format!("{user}:{}", password.expose()),
            _ => String::new(),
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        Learned {
            header: Secret(format!("Basic {encoded}")),
            scheme: challenge.scheme.clone(),
            scope: None,
        }
    }

    /// Whether this was already the answer to `challenge` (same scheme and scope).
    pub(super) fn answers(&self, challenge: &Challenge) -> bool {
        self.scheme == challenge.scheme
            && (!challenge.is_bearer() || self.scope.as_deref() == challenge.param("scope"))
    }
}

/// `token` (or OAuth2's `access_token`) from a token service's JSON answer.
pub(super) fn token_from(body: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    ["token", "access_token"]
        .iter()
        .find_map(|k| json[k].as_str().filter(|t| !t.is_empty()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_keeps_commas_inside_quoted_values() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:gatehouse/app:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert!(c.is_bearer() && !c.is_basic());
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("registry.example"));
        assert_eq!(c.param("scope"), Some("repository:gatehouse/app:pull,push"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        assert_eq!(
            c.refusal(),
            "the token lacks pull,push on repository:gatehouse/app"
        );
    }

    #[test]
    fn a_basic_challenge_is_told_from_bearer_and_names_are_case_insensitive() {
        let c = Challenge::parse(r#"basic Realm="a \"quoted\" realm""#).unwrap();
        assert!(c.is_basic() && !c.is_bearer());
        assert_eq!(c.param("realm"), Some(r#"a "quoted" realm"#));
        assert_eq!(c.refusal(), "the registry refused our credentials");
    }

    #[test]
    fn a_challenge_without_scope_asks_for_a_token_with_service_only() {
        let c = Challenge::parse("Bearer realm=https://auth.example/token, service=hub").unwrap();
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.token_query(), vec![("service", "hub".to_owned())]);
        assert_eq!(c.refusal(), "the registry refused our token");
        assert_eq!(Challenge::parse("  "), None);
    }

    #[test]
    fn scopes_name_their_actions_in_one_order() {
        let c = Challenge::parse(
            r#"Bearer realm="r",scope="repository:a:push,pull repository:b:pull""#,
        )
        .unwrap();
        assert_eq!(
            c.param("scope"),
            Some("repository:a:pull,push repository:b:pull")
        );
    }

    #[test]
    fn a_learned_token_answers_only_its_own_scope() {
        let pull = Challenge::parse(r#"Bearer realm="r",scope="repository:a:pull""#).unwrap();
        let push = Challenge::parse(r#"Bearer realm="r",scope="repository:a:pull,push""#).unwrap();
        let learned = Learned::bearer("t".into(), &pull);
        assert!(learned.answers(&pull));
        assert!(!learned.answers(&push));
    }

    #[test]
    fn tokens_are_read_from_token_or_access_token_and_secrets_never_print() {
        assert_eq!(token_from(r#"{"token":"a"}"#).as_deref(), Some("a"));
        assert_eq!(token_from(r#"{"access_token":"b"}"#).as_deref(), Some("b"));
        assert_eq!(token_from(r#"{"token":""}"#), None);
        let auth = Auth::login(Some("ci".into()), Some("hunter2".into()));
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(matches!(
            Auth::login(Some("ci".into()), None),
            Auth::Anonymous
        ));
    }
}
