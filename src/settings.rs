//! Every setting, declared once as a typed value: its variable (whose lower case is its
//! `--config` file key), its flag, its `--help` heading and text, its kind (which parses it, the
//! same for a flag, a variable and the file, and holds its range) and its default, typed: a
//! duration's is a `Duration`. `cli` makes the flags from these declarations, `config` reads
//! each with `get` into the type its kind gives, and every message names a setting through its
//! declaration, so a variable's name is spelled here and nowhere else.
//!
//! A leaf: it imports only `secret`, so every stage can name the setting to fix. The few enums
//! of words a setting takes live here for that reason; their stages re-export them.

use crate::secret::Secret as SecretValue;
use clap::ValueEnum;
use std::ffi::OsStr;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::PathBuf;
use std::time::Duration;

/// What a setting's value is: its parser (flag, variable, file), and its words for `--help`.
pub trait Kind {
    type Value;
    /// How the value may be written in the file, and what the flag looks like.
    const FORM: Form;
    /// The value from its text, trimmed; the error in words, without the setting's name.
    fn parse(&self, raw: &str) -> Result<Self::Value, String>;
    /// The value from a flag or variable (clap has checked that it is text unless a path).
    fn parse_os(&self, raw: &OsStr) -> Result<Self::Value, String> {
        self.parse(raw.to_string_lossy().trim())
    }
    /// A good value in words: "a whole number from 1 to 100".
    fn expected(&self) -> String {
        "text".to_string()
    }
    /// A value as `--help` shows a default.
    fn show(&self, value: &Self::Value) -> String;
    /// The range `--help` shows: `1 to 100`.
    fn range(&self) -> Option<String> {
        None
    }
}

/// How a kind is written: which TOML values the file takes for it, and the flag's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Text,
    Path,
    /// A number, whole or not (a rate).
    Number,
    Duration,
    Bool,
    Choice,
    /// From the environment, `NAME_FILE` or the file, never a flag.
    Secret,
}

/// Any text, checked where it is used (a domain, a URL, a list).
#[derive(Clone, Copy)]
pub struct Text;
/// A file's path: any bytes the system allows.
#[derive(Clone, Copy)]
pub struct FilePath;
/// A whole number from `min` to `max`, as a `T`; `why` says what the range is for, or is empty.
#[derive(Clone, Copy)]
pub struct Whole<T> {
    min: u64,
    max: u64,
    why: &'static str,
    of: PhantomData<T>,
}
/// A duration ("90s", "4m", "1h 30m") from `min` to `max`.
#[derive(Clone, Copy)]
pub struct Span {
    min: Duration,
    max: Duration,
}
/// true, false, yes, no, on, off, 1, 0.
#[derive(Clone, Copy)]
pub struct Bool;
/// One of the words of `T`, any case.
#[derive(Clone, Copy)]
pub struct Choice<T>(PhantomData<T>);
/// A share of the rate limit ("50%") or requests a second (4, 0.5).
#[derive(Clone, Copy)]
pub struct Rate;
/// A secret.
#[derive(Clone, Copy)]
pub struct Secret;

impl Kind for Text {
    type Value = String;
    const FORM: Form = Form::Text;
    fn parse(&self, raw: &str) -> Result<String, String> {
        Ok(raw.to_string())
    }
    fn show(&self, value: &String) -> String {
        value.clone()
    }
}

impl Kind for FilePath {
    type Value = PathBuf;
    const FORM: Form = Form::Path;
    fn parse(&self, raw: &str) -> Result<PathBuf, String> {
        Ok(PathBuf::from(raw))
    }
    /// Any bytes, as given.
    fn parse_os(&self, raw: &OsStr) -> Result<PathBuf, String> {
        Ok(PathBuf::from(raw))
    }
    fn expected(&self) -> String {
        "the name of a file".to_string()
    }
    fn show(&self, value: &PathBuf) -> String {
        value.display().to_string()
    }
}

impl<T: TryFrom<u64> + ToString> Kind for Whole<T> {
    type Value = T;
    const FORM: Form = Form::Number;
    fn parse(&self, raw: &str) -> Result<T, String> {
        let in_range = |n: &u64| (self.min..=self.max).contains(n);
        let n = raw.parse().ok().filter(in_range);
        let why = Some(self.why).filter(|why| !why.is_empty());
        let why = why.map(|why| format!(" ({why})")).unwrap_or_default();
        let wrong = || format!("must be {}{why}, got '{raw}'", self.expected());
        n.and_then(|n| T::try_from(n).ok()).ok_or_else(wrong)
    }
    fn expected(&self) -> String {
        format!("a whole number from {} to {}", self.min, self.max)
    }
    fn show(&self, value: &T) -> String {
        value.to_string()
    }
    fn range(&self) -> Option<String> {
        Some(format!("{} to {}", self.min, self.max))
    }
}

impl Kind for Span {
    type Value = Duration;
    const FORM: Form = Form::Duration;
    fn parse(&self, raw: &str) -> Result<Duration, String> {
        let in_range = |d: &Duration| (self.min..=self.max).contains(d);
        let d = humantime::parse_duration(raw).ok().filter(in_range);
        let like = "written like 90s, 4m or 1h 30m";
        d.ok_or_else(|| format!("must be {}, {like}, got '{raw}'", self.expected()))
    }
    fn expected(&self) -> String {
        format!("a duration from {}", self.range().unwrap_or_default())
    }
    /// In its largest whole unit, days from two: `4m`, `24h`, `30d`, `100ms`.
    fn show(&self, value: &Duration) -> String {
        let ms = value.as_millis();
        let units = [(DAY, "d"), (HOUR, "h"), (MIN, "m"), (1, "s")].map(|(s, u)| (s * 1000, u));
        let fits = |n: u64, u| ms.is_multiple_of(n.into()) && ms > 0 && (u != "d" || ms > n.into());
        match units.into_iter().find(|(n, u)| fits(*n, *u)) {
            Some((n, u)) => format!("{}{u}", ms / u128::from(n)),
            None => format!("{ms}ms"),
        }
    }
    fn range(&self) -> Option<String> {
        let (min, max) = (self.show(&self.min), self.show(&self.max));
        Some(format!("{min} to {max}"))
    }
}

impl Kind for Bool {
    type Value = bool;
    const FORM: Form = Form::Bool;
    fn parse(&self, raw: &str) -> Result<bool, String> {
        match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(format!("must be true or false, got '{raw}'")),
        }
    }
    fn expected(&self) -> String {
        "true or false".to_string()
    }
    fn show(&self, value: &bool) -> String {
        value.to_string()
    }
}

impl<T: ValueEnum> Kind for Choice<T> {
    type Value = T;
    const FORM: Form = Form::Choice;
    fn parse(&self, raw: &str) -> Result<T, String> {
        T::from_str(raw, true).map_err(|_| format!("must be {}, got '{raw}'", self.expected()))
    }
    fn expected(&self) -> String {
        let words: Vec<String> = T::value_variants().iter().map(|v| self.show(v)).collect();
        words.join(" or ")
    }
    fn show(&self, value: &T) -> String {
        let name = value.to_possible_value().map(|p| p.get_name().to_string());
        name.unwrap_or_default()
    }
}

impl Kind for Rate {
    type Value = Share;
    const FORM: Form = Form::Number;
    fn parse(&self, raw: &str) -> Result<Share, String> {
        Share::parse(raw)
    }
    fn expected(&self) -> String {
        "a share such as \"50%\" or requests a second such as 4".to_string()
    }
    fn show(&self, value: &Share) -> String {
        value.to_string()
    }
}

impl Kind for Secret {
    type Value = SecretValue;
    const FORM: Form = Form::Secret;
    fn parse(&self, raw: &str) -> Result<SecretValue, String> {
        Ok(SecretValue::new(raw))
    }
    fn show(&self, _: &SecretValue) -> String {
        "***".to_string()
    }
}

/// A setting without a default: reading it gives an `Option`.
pub struct NoDefault;
/// A setting's default, typed: reading it gives a value.
pub struct Or<V>(pub V);

/// What reading a setting gives when it is not set: nothing, or its default.
pub trait Fallback<K: Kind> {
    type Out;
    fn or(&self, given: Option<K::Value>) -> Self::Out;
    fn shown(&self, kind: &K) -> Option<String>;
}

impl<K: Kind> Fallback<K> for NoDefault {
    type Out = Option<K::Value>;
    fn or(&self, given: Option<K::Value>) -> Option<K::Value> {
        given
    }
    fn shown(&self, _: &K) -> Option<String> {
        None
    }
}

impl<K: Kind, V: Clone + Into<K::Value>> Fallback<K> for Or<V> {
    type Out = K::Value;
    fn or(&self, given: Option<K::Value>) -> K::Value {
        given.unwrap_or_else(|| self.0.clone().into())
    }
    fn shown(&self, kind: &K) -> Option<String> {
        Some(kind.show(&self.0.clone().into()))
    }
}

/// The `--help` headings, in `--help`'s order.
pub const AUTH0: &str = "Auth0";
pub const WEBHOOK: &str = "Webhook";
pub const DELIVERY: &str = "Delivery";
pub const REPORTS: &str = "Reports";
pub const STATE: &str = "State";

/// What every setting has, whatever its kind.
#[derive(Debug, Clone, Copy)]
pub struct Name {
    /// The environment variable; its lower case is the `--config` file key.
    pub env: &'static str,
    /// The long flag, without `--`; none for a secret.
    pub flag: Option<&'static str>,
    /// The flag's value as `--help` shows it: `N`, `URL`, ...
    pub value_name: &'static str,
    pub heading: &'static str,
    /// Whether `NAME_FILE` (and the file key `name_file`) may name a file holding the value.
    pub from_file: bool,
    /// The default in words where it is no value of the kind (`no limit`, `off`).
    pub shows: Option<&'static str>,
    /// The doc comment: its first paragraph is the `-h` line, the whole is `--help`'s.
    pub help: &'static str,
}

/// One setting: its name, its kind and its default.
pub struct Setting<K, D = NoDefault> {
    pub name: Name,
    pub kind: K,
    pub default: D,
}

impl<K: Copy> Setting<K> {
    const fn of(kind: K, heading: Str, flag: Str, value: Str) -> Self {
        Setting {
            name: Name {
                env: "",
                // A secret has none.
                flag: if flag.is_empty() { None } else { Some(flag) },
                value_name: value,
                heading,
                from_file: false,
                shows: None,
                help: "",
            },
            kind,
            default: NoDefault,
        }
    }

    /// Its typed default.
    const fn default<V>(self, value: V) -> Setting<K, Or<V>> {
        Setting {
            name: self.name,
            kind: self.kind,
            default: Or(value),
        }
    }
}

impl<K, D> Setting<K, D> {
    const fn named(mut self, env: Str, help: Str) -> Self {
        self.name.env = env;
        self.name.help = help;
        self
    }

    /// The default as `--help` shows it, where it is no value of the kind.
    const fn shows(mut self, text: Str) -> Self {
        self.name.shows = Some(text);
        self
    }

    const fn or_its_file(mut self) -> Self {
        self.name.from_file = true;
        self
    }
}

impl<T, D> Setting<Whole<T>, D> {
    /// What a whole number's range is for.
    const fn because(mut self, why: Str) -> Self {
        self.kind.why = why;
        self
    }
}

type Str = &'static str;

const fn choice<T: Copy>(heading: Str, flag: Str, value: Str) -> Setting<Choice<T>> {
    Setting::of(Choice(PhantomData), heading, flag, value)
}

const fn whole<T: Copy>(head: Str, flag: Str, value: Str, min: u64, max: u64) -> Setting<Whole<T>> {
    let (why, of) = ("", PhantomData);
    Setting::of(Whole { min, max, why, of }, head, flag, value)
}

const fn span(heading: Str, flag: Str, min: Duration, max: Duration) -> Setting<Span> {
    Setting::of(Span { min, max }, heading, flag, "DURATION")
}

const fn secret(heading: Str) -> Setting<Secret> {
    Setting::of(Secret, heading, "", "").or_its_file()
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const MIN: u64 = 60;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;
const A_TENTH: Duration = Duration::from_millis(100);

impl Name {
    /// The setting as messages name it: `BATCH_SIZE (--batch-size)`.
    pub fn label(&self) -> String {
        let flag = self.flag.map(|flag| format!(" (--{flag})"));
        format!("{}{}", self.env, flag.unwrap_or_default())
    }

    /// The variable naming a file that holds the value: `NAME_FILE`.
    pub fn file_var(&self) -> String {
        format!("{}_FILE", self.env)
    }

    /// Its `--config` file key.
    pub fn key(&self) -> String {
        self.env.to_ascii_lowercase()
    }

    /// The doc comment as paragraphs of text: the `-h` line and the whole `--help` text.
    pub fn help_text(&self) -> (String, String) {
        let lines: Vec<&str> = self.help.lines().map(str::trim).collect();
        let paragraphs: Vec<String> = lines.split(|l| l.is_empty()).map(|p| p.join(" ")).collect();
        (paragraphs[0].clone(), paragraphs.join("\n\n"))
    }
}

impl<K, D> Deref for Setting<K, D> {
    type Target = Name;
    fn deref(&self) -> &Name {
        &self.name
    }
}

/// The variable's name, so that a message names the setting without spelling it.
impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.env)
    }
}

impl<K, D> std::fmt::Display for Setting<K, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.name.fmt(f)
    }
}

/// A setting whatever its kind, as the flags, the file, the man page and the docs list them.
pub trait Declared: Sync + Deref<Target = Name> {
    fn form(&self) -> Form;
    /// Checks a text with the setting's parser; the error in words, without the name.
    fn check(&self, raw: &str) -> Result<(), String>;
    fn expected(&self) -> String;
    fn range(&self) -> Option<String>;
    /// The default as `--help` shows it.
    fn shown_default(&self) -> Option<String>;
}

impl<K: Kind + Sync, D: Fallback<K> + Sync> Declared for Setting<K, D> {
    fn form(&self) -> Form {
        K::FORM
    }
    fn check(&self, raw: &str) -> Result<(), String> {
        self.kind.parse(raw).map(drop)
    }
    fn expected(&self) -> String {
        self.kind.expected()
    }
    fn range(&self) -> Option<String> {
        self.kind.range()
    }
    fn shown_default(&self) -> Option<String> {
        let shows = self.name.shows.map(str::to_string);
        shows.or_else(|| self.default.shown(&self.kind))
    }
}

/// Each setting a constant named as its variable, its doc comment its `--help`, all in `$list`.
macro_rules! declare {
    ($(#[$list_doc:meta])* $list:ident; $(
        $(#[doc = $doc:literal])*
        $name:ident: $ty:ty = $value:expr;
    )*) => {
        $(
            $(#[doc = $doc])*
            pub const $name: $ty = ($value).named(stringify!($name), concat!($($doc, "\n"),*));
        )*
        $(#[$list_doc])*
        pub const $list: &[&dyn Declared] = &[$(&$name),*];
    };
}

/// Every setting: those of [`ALL`], then those the file does not hold.
pub fn every() -> impl Iterator<Item = &'static dyn Declared> {
    ALL.iter().chain(NOT_IN_FILE).copied()
}

declare! {
    /// Every setting the `--config` file may hold, in `--help`'s order.
    ALL;
    /// Tenant domain, e.g. acme.eu.auth0.com. [required]
    ///
    /// A value with a scheme (http://127.0.0.1:8080) is used as the base URL as given.
    AUTH0_DOMAIN: Setting<Text> = Setting::of(Text, AUTH0, "domain", "DOMAIN");
    /// Token audience, when AUTH0_DOMAIN is a custom domain or a proxy.
    ///
    /// It stays the tenant's own domain: acme.eu.auth0.com or https://acme.eu.auth0.com/api/v2/.
    AUTH0_AUDIENCE: Setting<Text> = Setting::of(Text, AUTH0, "audience", "DOMAIN_OR_URL")
        .shows("https://{AUTH0_DOMAIN}/api/v2/");
    /// How long the tenant's plan keeps logs.
    ///
    /// Auth0 deletes older logs: Free 1d, Essentials 5d, Professional 10d, Enterprise 30d. Used
    /// to warn before the checkpoint falls behind it, and to name the logs lost when it did.
    AUTH0_LOG_RETENTION: Setting<Span, Or<Duration>> =
        span(AUTH0, "log-retention", secs(DAY), secs(90 * DAY)).default(secs(30 * DAY));
    /// Client ID of a machine-to-machine application granted read:logs. [required]
    AUTH0_CLIENT_ID: Setting<Text> = Setting::of(Text, AUTH0, "client-id", "ID");
    /// The M2M application's secret (required).
    AUTH0_CLIENT_SECRET: Setting<Secret> = secret(AUTH0);
    /// Most of the tenant's Auth0 rate limit this tool may use: a share (50%) or requests a second (4).
    ///
    /// One bucket of Management API requests serves every client of the tenant (your backend, the
    /// Deploy CLI, Actions): 50% leaves them half; 100% lets a backfill read as fast as allowed.
    AUTH0_RATE_LIMIT: Setting<Rate, Or<Share>> =
        Setting::of(Rate, AUTH0, "auth0-rate-limit", "SHARE").default(Share::DEFAULT);
    /// Only these Management API endpoints, e.g. "users, clients".
    ///
    /// Comma-separated. An entry may name a method: "DELETE users". `users` matches
    /// /api/v2/users and /api/v2/users/..., not /api/v2/users-by-email.
    AUTH0_API_ENDPOINTS: Setting<Text> = Setting::of(Text, AUTH0, "endpoints", "LIST").shows("all");
    /// Log type codes or Log Streams categories to forward, comma-separated.
    ///
    /// Any Auth0 code: sapi, fapi, mgmt_api_read, s, f, ... and Log Streams' category names:
    /// management.success (sapi, mgmt_api_read), management.fail, auth.login.fail,
    /// user.notification, ... (`check` prints the codes). Types without details.request are
    /// best sent with --payload-shape log-stream.
    LOG_TYPES: Setting<Text, Or<&str>> =
        Setting::of(Text, AUTH0, "log-types", "LIST").default("sapi,fapi");
    /// The most logs in one webhook request; batches fill across pages.
    BATCH_SIZE: Setting<Whole<u32>, Or<u32>> = whole(AUTH0, "batch-size", "N", 1, 100)
        .because("Auth0 returns at most 100 logs a request")
        .default(100);
    /// Where the logs are POSTed; https unless the host is loopback. [required]
    ///
    /// No user:password@ in it: credentials go in AUTHORIZATION. A URL holding a token (in its path
    /// or query) goes in a file named by WEBHOOK_URL_FILE: then only scheme://host is ever shown.
    WEBHOOK_URL: Setting<Text> = Setting::of(Text, WEBHOOK, "webhook-url", "URL").or_its_file();
    /// The webhook's Authorization header, verbatim.
    AUTHORIZATION: Setting<Secret> = secret(WEBHOOK);
    /// whsec_... key(s), space-separated, to sign requests (with
    /// SIGNATURE_SCHEME=x-hub-signature-256: any text of 16 characters or more).
    WEBHOOK_SECRET: Setting<Secret> = secret(WEBHOOK);
    /// Body: array (a JSON array), jsonl (JSON lines) or jsonobject (one log per request).
    ///
    /// Auth0 Log Streams' names work too, in any case: JSONARRAY, JSONLINES, JSONOBJECT.
    /// jsonobject is SEND_AS_BATCH=false, and refused with SEND_AS_BATCH=true.
    PAYLOAD_FORMAT: Setting<Choice<FormatSetting>> = choice(WEBHOOK, "payload-format", "FORMAT")
        .shows("array; jsonl with --payload-shape log-stream");
    /// Content-Type of every webhook request, any value, e.g. application/json.
    ///
    /// Receivers written for Auth0 Log Streams often expect application/json, also for JSON
    /// lines, and some answer 415 to anything else. With --payload-shape log-stream and no
    /// format, the default is JSON lines as application/json, as a Log Streams webhook sends.
    WEBHOOK_CONTENT_TYPE: Setting<Text> = Setting::of(Text, WEBHOOK, "content-type", "TYPE")
        .shows("application/json; application/x-ndjson for jsonl");
    /// Each item: `extension` or `log-stream`.
    ///
    /// `extension`: {log_id, type, date, request, response}; `log-stream`: {log_id, data: the
    /// whole log}, as Auth0 Log Streams sends it.
    PAYLOAD_SHAPE: Setting<Choice<PayloadShape>, Or<PayloadShape>> =
        choice(WEBHOOK, "payload-shape", "SHAPE").default(PayloadShape::Extension);
    /// How requests are signed with WEBHOOK_SECRET: standard-webhooks or x-hub-signature-256.
    ///
    /// standard-webhooks: webhook-signature, keys whsec_<base64>. x-hub-signature-256:
    /// X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>, as GitHub sends it; the key is
    /// WEBHOOK_SECRET as written, at least 16 characters. Both sign the body before gzip.
    SIGNATURE_SCHEME: Setting<Choice<SignatureScheme>> =
        choice(WEBHOOK, "signature-scheme", "SCHEME").shows("standard-webhooks");
    /// Personal data to mask in every log: email, username, first_name, last_name, phone,
    /// address (Log Streams' names), or dotted paths.
    ///
    /// A name matches its keys anywhere in the log (username: user_name and username;
    /// first_name: also given_name; last_name: family_name; phone: phone_number); a dotted path
    /// such as details.request.body.password matches that one place. Everything else is sent
    /// as Auth0 wrote it, in both shapes, the dry run and the dead-letter file.
    PII_FIELDS: Setting<Text> = Setting::of(Text, WEBHOOK, "pii-fields", "LIST").shows("none");
    /// How PII_FIELDS' values are hidden: mask ("***"), hash or drop.
    ///
    /// hash: the hex HMAC-SHA256 of the value keyed with PII_HASH_KEY (a secret, required), so
    /// the same value always gives the same token and nobody without the key can find a known
    /// address by hashing it. drop: the key and its value are removed.
    PII_METHOD: Setting<Choice<PiiMethod>> = choice(WEBHOOK, "pii-method", "METHOD").shows("mask");
    /// The key of PII_METHOD=hash, 16 characters or more.
    PII_HASH_KEY: Setting<Secret> = secret(WEBHOOK);
    /// Gzip request bodies (Content-Encoding: gzip).
    WEBHOOK_GZIP: Setting<Bool, Or<bool>> =
        Setting::of(Bool, WEBHOOK, "gzip", "BOOL").default(false);
    /// Extra header on every webhook request, 'Name: value'. Repeatable.
    ///
    /// In the environment: WEBHOOK_HEADERS='{"X-Env":"prod"}' (a JSON object).
    // `--header` repeats, the variable is a JSON object, the file's is a table: `config` reads it.
    WEBHOOK_HEADERS: Setting<Text> = Setting::of(Text, WEBHOOK, "header", "NAME: VALUE");
    /// Allow http:// webhook, Slack and healthcheck URLs to hosts other than loopback.
    ALLOW_INSECURE_HTTP: Setting<Bool, Or<bool>> =
        Setting::of(Bool, WEBHOOK, "allow-insecure-http", "BOOL").default(false);
    /// A PEM file of extra CA certificates to trust (a private CA).
    ///
    /// Certificates are always verified.
    CA_CERT: Setting<FilePath> = Setting::of(FilePath, WEBHOOK, "ca-cert", "FILE");
    /// true: one POST per batch (a JSON array); false: one POST per log.
    SEND_AS_BATCH: Setting<Bool> =
        Setting::of(Bool, DELIVERY, "send-as-batch", "BOOL").shows("true");
    /// Most webhook requests in flight at once.
    WEBHOOK_CONCURRENT_CALLS: Setting<Whole<usize>, Or<usize>> =
        whole(DELIVERY, "concurrency", "N", 1, 64).default(5);
    /// Stop fetching and retrying after this long; the next run goes on.
    ///
    /// Ends sooner once caught up; no request outlives it. Keep it below the schedule's interval.
    MAX_RUN_TIME: Setting<Span, Or<Duration>> =
        span(DELIVERY, "max-run-time", secs(1), secs(DAY)).default(secs(4 * MIN));
    /// Time allowed to connect to the webhook (and to Auth0).
    WEBHOOK_CONNECT_TIMEOUT: Setting<Span, Or<Duration>> =
        span(DELIVERY, "connect-timeout", A_TENTH, secs(5 * MIN)).default(secs(5));
    /// Time allowed for one whole webhook request, answer included.
    WEBHOOK_TIMEOUT: Setting<Span, Or<Duration>> =
        span(DELIVERY, "timeout", A_TENTH, secs(10 * MIN)).default(secs(30));
    /// Split a batch so that no request body exceeds this many bytes.
    ///
    /// Measured before gzip, which only shrinks it.
    WEBHOOK_MAX_BODY_BYTES: Setting<Whole<usize>> =
        whole(DELIVERY, "max-body-bytes", "BYTES", 1, 1 << 30).shows("no limit");
    /// Append logs the webhook refuses to this file, go on, and exit 3.
    ///
    /// A refused batch (400, 413, 422, ...) is split to find the refused logs, which alone go here,
    /// a JSON line each. Answers about the endpoint or credentials (3xx, 401, 403, 404, ...) and
    /// refusals of everything stop the run; so does any refusal without this file, before the
    /// refused log. Tenants may share it: records name their tenant; writers lock FILE.lock.
    DEAD_LETTER_FILE: Setting<FilePath> = Setting::of(FilePath, DELIVERY, "dead-letter", "FILE");
    /// Where failures (and optionally successes) are reported.
    SLACK_INCOMING_WEBHOOK_URL: Setting<Secret> = secret(REPORTS);
    /// Also report successful runs to Slack, not only failures.
    SLACK_SEND_SUCCESS: Setting<Bool, Or<bool>> =
        Setting::of(Bool, REPORTS, "slack-send-success", "BOOL").default(false);
    /// While runs keep failing, remind Slack at most this often.
    ///
    /// Slack hears of the first failed (or dead-lettered, or interrupted) run, then of the same
    /// trouble again only this long after, and of the recovery.
    SLACK_REMIND_EVERY: Setting<Span, Or<Duration>> =
        span(REPORTS, "slack-remind-every", secs(10 * MIN), secs(7 * DAY)).default(secs(6 * HOUR));
    /// Hour (UTC) after which the day's first run sends Slack a daily summary.
    ///
    /// The extension's DAILY_REPORT_TIME is read as this hour too (9 or 09:00).
    DAILY_REPORT_HOUR: Setting<Whole<u8>> = whole(REPORTS, "daily-report-hour", "HOUR", 0, 23)
        .because("an hour of the day, UTC")
        .shows("off");
    /// Cron monitor ping URL: <url>/start, <url>, <url>/<exit code>.
    HEALTHCHECK_URL: Setting<Secret> = secret(REPORTS);
    /// After every run, write a Prometheus textfile-collector file here.
    ///
    /// Written atomically, e.g. /var/lib/node_exporter/textfile/auth0-mgmt-webhooks.prom.
    METRICS_FILE: Setting<FilePath> =
        Setting::of(FilePath, REPORTS, "metrics-file", "FILE").shows("none");
    /// Start at a log id, a date, a UTC date-time or an age, once (for backfills).
    ///
    /// A log id: the logs after it. 2026-11-01, 2026-11-01T08:00:00Z, 7d, 12h: the logs stored from
    /// then on. Applied only when unlike the state's start-from, so it can stay set without
    /// rewinding each run. With no checkpoint or this, a run starts at the oldest log Auth0 keeps.
    START_FROM: Setting<Text> = Setting::of(Text, STATE, "start-from", "WHERE");
    /// State file: checkpoint, cached token, run history. One per tenant.
    STATE_FILE: Setting<FilePath> = Setting::of(FilePath, STATE, "state", "FILE")
        .shows("$XDG_STATE_HOME/auth0-mgmt-webhooks/state.json");
}

declare! {
    /// The settings of one call, not of the tenant: the `--config` file does not hold them.
    NOT_IN_FILE;
    /// Settings file (TOML).
    ///
    /// Keys: the variables' names in lower case. Flags and environment variables win over it.
    CONFIG_FILE: Setting<FilePath> = Setting::of(FilePath, STATE, "config", "FILE");
    // How this one call is read, not the tenant; not plain OUTPUT: too common a name in other
    // software's environments.
    /// How to report the end of the run: a line on stderr, or one JSON object on stdout.
    AUTH0_MGMT_WEBHOOKS_OUTPUT: Setting<Choice<Output>, Or<Output>> =
        choice(REPORTS, "output", "FORMAT").default(Output::Text);
}

/// What a `[[route]]` table may set: the settings of one destination. What a route leaves out
/// it takes from the top level.
pub const PER_ROUTE: [&dyn Declared; 22] = [
    &WEBHOOK_URL,
    &AUTHORIZATION,
    &WEBHOOK_HEADERS,
    &LOG_TYPES,
    &AUTH0_API_ENDPOINTS,
    &PAYLOAD_FORMAT,
    &PAYLOAD_SHAPE,
    &SEND_AS_BATCH,
    &BATCH_SIZE,
    &WEBHOOK_MAX_BODY_BYTES,
    &WEBHOOK_GZIP,
    &WEBHOOK_CONTENT_TYPE,
    &WEBHOOK_SECRET,
    &SIGNATURE_SCHEME,
    &PII_FIELDS,
    &PII_METHOD,
    &PII_HASH_KEY,
    &WEBHOOK_CONCURRENT_CALLS,
    &WEBHOOK_CONNECT_TIMEOUT,
    &WEBHOOK_TIMEOUT,
    &DEAD_LETTER_FILE,
    &START_FROM,
];

/// The extension's name for DAILY_REPORT_HOUR, read as it.
pub const DAILY_REPORT_TIME: &str = "DAILY_REPORT_TIME";

/// Where the state file goes by default: `$XDG_STATE_HOME`, else `$HOME/.local/state`.
pub const XDG_STATE_HOME: &str = "XDG_STATE_HOME";
pub const HOME: &str = "HOME";

/// How `run` reports the end of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// PAYLOAD_FORMAT as the user wrote it: ours, or an Auth0 Log Streams "content format".
/// `Config` turns it into the sink's `PayloadFormat` and whether to send batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatSetting {
    #[value(alias = "jsonarray")]
    Array,
    #[value(alias = "jsonlines")]
    Jsonl,
    /// One log per request: no batches.
    Jsonobject,
}

/// PAYLOAD_SHAPE: what each payload item holds, the extension's fields or the whole log as
/// Log Streams sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PayloadShape {
    Extension,
    LogStream,
}

/// SIGNATURE_SCHEME: how requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureScheme {
    StandardWebhooks,
    #[value(name = "x-hub-signature-256")]
    XHubSignature256,
}

/// PII_METHOD as set; `Config` adds the hash key to make it a `filter::pii::Method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PiiMethod {
    Mask,
    Hash,
    Drop,
}

/// `AUTH0_RATE_LIMIT`: the most of the tenant's budget this tool may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Share {
    /// A share of the bucket Auth0 reports, in (0, 1]: of its refill rate, and of its size as a
    /// burst; the rest of the bucket is left to the tenant's other clients.
    Fraction(f64),
    /// At most this many requests a second, whatever the bucket (and never into an empty one).
    PerSecond(f64),
}

impl Share {
    pub const DEFAULT: Share = Share::Fraction(0.5);

    /// `50%`, `100%`, `4`, `0.5`. The error says what is accepted.
    pub fn parse(text: &str) -> Result<Share, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "{} must be a share of the tenant's Auth0 rate limit from 1% to 100% (50%), or requests a second above 0 (4, 0.5), got '{t}'",
                AUTH0_RATE_LIMIT.label()
            )
        };
        let number = |n: &str, ok: std::ops::RangeInclusive<f64>| {
            n.trim().parse().ok().filter(|n| ok.contains(n) && *n > 0.0)
        };
        let share = match t.strip_suffix('%') {
            Some(p) => number(p, 1.0..=100.0).map(|p| Share::Fraction(p / 100.0)),
            None => number(t, 0.0..=10_000.0).map(Share::PerSecond),
        };
        share.ok_or_else(bad)
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Share::Fraction(p) => write!(f, "{}%", (p * 100.0 * 100.0).round() / 100.0),
            Share::PerSecond(r) => write!(f, "{r} requests/s"),
        }
    }
}

/// In debug builds (the tests'), a fault to inject: `cursor N` panics window N's cursor once it
/// has sent a page on, `worker` every delivery thread. Not a setting.
#[cfg(debug_assertions)]
pub const FAULT: &str = "INJECT_FAULT";
/// In a debug build, the signal's grace in seconds, so tests need not wait out 10 s.
pub const FAULT_GRACE: &str = "INJECT_GRACE";

/// Panics when [`FAULT`] names `at`.
#[cfg(debug_assertions)]
pub fn fault(at: &str) {
    if std::env::var(FAULT).is_ok_and(|f| f == at) {
        panic!("a fault injected by {FAULT}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_doc_comment_is_the_short_and_the_long_help() {
        let (short, long) = AUTH0_DOMAIN.help_text();
        assert_eq!(short, "Tenant domain, e.g. acme.eu.auth0.com. [required]");
        assert!(long.starts_with(&short));
        assert!(
            long.ends_with("is used as the base URL as given."),
            "{long}"
        );
        assert!(
            long.contains("[required]\n\nA value with a scheme"),
            "{long}"
        );
    }

    #[test]
    fn every_setting_has_help_and_a_flag_unless_secret() {
        for s in every() {
            assert!(!s.help_text().0.is_empty(), "{} has no help", s.env);
            assert_eq!(s.flag.is_none(), s.form() == Form::Secret, "{}", s.env);
            assert_eq!(s.key(), s.env.to_ascii_lowercase());
        }
    }

    #[test]
    fn labels_name_the_variable_and_the_flag() {
        assert_eq!(BATCH_SIZE.label(), "BATCH_SIZE (--batch-size)");
        assert_eq!(AUTHORIZATION.label(), "AUTHORIZATION");
        assert_eq!(WEBHOOK_URL.file_var(), "WEBHOOK_URL_FILE");
        assert_eq!(BATCH_SIZE.kind.range().as_deref(), Some("1 to 100"));
    }

    #[test]
    fn a_setting_shows_as_its_variable() {
        assert_eq!(MAX_RUN_TIME.to_string(), "MAX_RUN_TIME");
        assert_eq!(
            format!("after {MAX_RUN_TIME}, stop"),
            "after MAX_RUN_TIME, stop"
        );
        assert_eq!(format!("[{AUTHORIZATION:<15}]"), "[AUTHORIZATION  ]");
    }

    #[test]
    fn defaults_and_ranges_show_in_their_largest_unit() {
        assert_eq!(MAX_RUN_TIME.shown_default().as_deref(), Some("4m"));
        assert_eq!(
            AUTH0_LOG_RETENTION.kind.range().as_deref(),
            Some("24h to 90d")
        );
        assert_eq!(
            WEBHOOK_TIMEOUT.kind.range().as_deref(),
            Some("100ms to 10m")
        );
        assert_eq!(AUTH0_RATE_LIMIT.shown_default().as_deref(), Some("50%"));
        assert_eq!(PAYLOAD_SHAPE.shown_default().as_deref(), Some("extension"));
        assert_eq!(DAILY_REPORT_HOUR.shown_default().as_deref(), Some("off"));
    }

    /// A typed default is a value its own parser takes, in its range.
    #[test]
    fn every_typed_default_reads_back_through_its_parser() {
        for s in every().filter(|s| s.shows.is_none()) {
            if let Some(default) = s.shown_default() {
                assert_eq!(s.check(&default), Ok(()), "{}", s.env);
            }
        }
    }

    #[test]
    fn each_kind_reads_its_words() {
        assert_eq!(PII_METHOD.kind.parse("HASH"), Ok(PiiMethod::Hash));
        assert_eq!(
            PAYLOAD_FORMAT.kind.parse("jsonlines"),
            Ok(FormatSetting::Jsonl)
        );
        assert_eq!(
            PAYLOAD_FORMAT.kind.parse("xml"),
            Err("must be array or jsonl or jsonobject, got 'xml'".to_string())
        );
        assert_eq!(WEBHOOK_GZIP.kind.parse("Yes"), Ok(true));
        assert_eq!(
            BATCH_SIZE.kind.parse("500"),
            Err("must be a whole number from 1 to 100 (Auth0 returns at most 100 logs a request), got '500'".to_string())
        );
        assert_eq!(DAILY_REPORT_HOUR.kind.parse("256").ok(), None);
        assert_eq!(MAX_RUN_TIME.kind.parse("1h 30m"), Ok(secs(90 * MIN)));
    }

    /// docs/settings.md: every setting, from its declaration.
    fn settings_md() -> String {
        let mut md = String::from(
            "# Settings\n\n\
             <!-- Generated from src/settings.rs: run `UPDATE_DOCS=1 cargo test --lib settings_md` \
             after changing a setting. Do not edit by hand. -->\n\n\
             Every setting is a flag, an environment variable and a key of the `--config` file (the \
             variable's name in lower case). A flag wins over the environment, the environment over \
             the file, the file over the default. An empty value means unset. A secret has no flag \
             (every user of the machine can read a command line): it comes from the environment or \
             the file, or from a file that `NAME_FILE` names.\n",
        );
        let escape = |t: &str| t.replace('<', "\\<").replace('*', "\\*");
        for heading in [AUTH0, WEBHOOK, DELIVERY, REPORTS, STATE] {
            md += &format!("\n## {heading}\n");
            for s in every().filter(|s| s.heading == heading) {
                let mut facts = Vec::new();
                match s.flag {
                    Some(flag) => facts.push(format!("`--{flag} {}`", s.value_name)),
                    None => facts.push("A secret: no flag".to_string()),
                }
                if s.from_file {
                    facts.push(format!("or a file named by `{}`", s.file_var()));
                }
                match ALL.iter().any(|a| a.env == s.env) {
                    true => facts.push(format!("file key `{}`", s.key())),
                    false => facts.push("not in the file".to_string()),
                }
                if let Some(range) = s.range() {
                    facts.push(format!("range {range}"));
                }
                if let Some(default) = s.shown_default() {
                    facts.push(format!("default `{default}`"));
                }
                md += &format!(
                    "\n### `{}`\n\n{}\n\n{}\n",
                    s.env,
                    facts.join(" · "),
                    escape(&s.help_text().1)
                );
            }
        }
        md
    }

    /// docs/settings.md is what the declarations say; `UPDATE_DOCS=1` writes it.
    #[test]
    fn settings_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/settings.md");
        let md = settings_md();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")).unwrap();
            std::fs::write(path, &md).unwrap();
        }
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            written == md,
            "docs/settings.md is not current: run `UPDATE_DOCS=1 cargo test --lib settings_md` and commit it"
        );
    }

    proptest! {
        #[test]
        fn any_duration_text_is_accepted_in_range_or_refused_without_panic(text in "\\PC{0,30}") {
            if let Ok(d) = MAX_RUN_TIME.kind.parse(&text) {
                prop_assert!(d >= secs(1) && d <= secs(DAY));
            }
        }

        #[test]
        fn any_number_text_is_accepted_in_range_or_refused_without_panic(text in "\\PC{0,30}") {
            if let Ok(n) = BATCH_SIZE.kind.parse(&text) {
                prop_assert!((1..=100).contains(&n));
            }
            let _ = WEBHOOK_GZIP.kind.parse(&text);
            let _ = AUTH0_RATE_LIMIT.kind.parse(&text);
        }
    }
}
